"""Branches in ``__init__`` whose condition the analysis cannot tell, drawn at random and compared with torch.

An instance's attributes are shared by both branches: a layer assigned in one branch and another layer in
the other must leave a module that may be either (unknown), never the branch that happened to run last
(an EfficientNet "static same" stem: ``ZeroPad2d`` when padding is needed, else ``Identity``).
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import cnnshape_ls  # noqa: E402

from support import torch_truth  # noqa: E402

pytestmark = pytest.mark.torch

CHANNELS = 3
LAYERS = [
    "nn.Identity()",
    "nn.ZeroPad2d((0, 1, 0, 1))",
    "nn.Conv2d(3, 3, 3, padding=1)",
    "nn.Conv2d(3, 3, 1)",
    "nn.Conv2d(3, 3, 3)",
    "nn.MaxPool2d(2)",
]
# conditions Python can tell and the analysis cannot (it never runs os)
CONDITIONS = ["len(os.getcwd()) > 0", "len(os.getcwd()) < 0"]


@st.composite
def branchy_models(draw) -> str:
    names = [f"m{i}" for i in range(draw(st.integers(1, 3)))]
    body = [f"        self.{name} = {draw(st.sampled_from(LAYERS))}" for name in names]

    def block(indent: str, depth: int) -> list[str]:
        lines = []
        for _ in range(draw(st.integers(1, 2))):
            if depth < 2 and draw(st.booleans()):
                lines.append(f"{indent}if {draw(st.sampled_from(CONDITIONS))}:")
                lines += block(indent + "    ", depth + 1)
                if draw(st.booleans()):
                    lines.append(f"{indent}else:")
                    lines += block(indent + "    ", depth + 1)
            else:
                lines.append(f"{indent}self.{draw(st.sampled_from(names))} = {draw(st.sampled_from(LAYERS))}")
        return lines

    body += block("        ", 0)
    applied = "\n".join(f"        x = self.{name}(x)" for name in names)
    return f'''
import os
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
{chr(10).join(body)}

    def forward(self, x):
{applied}
        return x
'''


def assert_never_wrong(source: str, shape: list[int]) -> None:
    truth = torch_truth(source, "Net()", shape)
    ours = cnnshape_ls.analyze(source, input=str(tuple(shape)), model="Net()").to_json()
    model = ours["models"][0]
    errors = [d for d in ours["diagnostics"] if d["severity"] == "error"]
    if not truth["ok"]:
        return  # a pool that shrinks too far: whether we tell is another test's business
    assert not errors, f"torch runs it, we report {errors}\n{source}"
    assert model["output"] in (None, truth["output"]), f"ours {model['output']}, torch {truth['output']}\n{source}"
    ours_by_name = {layer["path"]: layer["out"] for layer in model["layers"]}
    for name, shape_there in truth["calls"]:
        assert ours_by_name.get(name) in (None, shape_there), f"{name}: ours {ours_by_name[name]}, torch {shape_there}"
    if model["params"] is not None:
        assert model["params"] == truth["params"], source


@settings(max_examples=80, deadline=None)
@given(branchy_models(), st.integers(4, 9))
def test_branches_the_analysis_cannot_choose_are_never_a_wrong_shape(source: str, size: int) -> None:
    assert_never_wrong(source, [2, CHANNELS, size, size])


def test_static_same_padding_stem() -> None:
    """Issue 14's wrong shape: the pad is computed from ``self.stride`` in a conv subclass; 224 vs 225."""
    source = '''
import math
from functools import partial
import torch.nn as nn

class Conv2dStaticSamePadding(nn.Conv2d):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, image_size=None, **kwargs):
        super().__init__(in_channels, out_channels, kernel_size, stride, **kwargs)
        self.stride = self.stride if len(self.stride) == 2 else [self.stride[0]] * 2
        ih, iw = (image_size, image_size) if isinstance(image_size, int) else image_size
        kh, kw = self.weight.size()[-2:]
        sh, sw = self.stride
        oh, ow = math.ceil(ih / sh), math.ceil(iw / sw)
        pad_h = max((oh - 1) * self.stride[0] + (kh - 1) * self.dilation[0] + 1 - ih, 0)
        pad_w = max((ow - 1) * self.stride[1] + (kw - 1) * self.dilation[1] + 1 - iw, 0)
        if pad_h > 0 or pad_w > 0:
            self.static_padding = nn.ZeroPad2d((pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        else:
            self.static_padding = nn.Identity()

    def forward(self, x):
        x = self.static_padding(x)
        x = super().forward(x)
        return x

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        Conv2d = partial(Conv2dStaticSamePadding, image_size=224)
        self.conv_stem = Conv2d(3, 32, kernel_size=3, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(32)

    def forward(self, x):
        return self.bn(self.conv_stem(x))
'''
    assert_never_wrong(source, [2, 3, 224, 224])


INIT_LOOPS = {
    "init": """
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.data.normal_(0, math.sqrt(2. / n))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                m.bias.data.zero_()""",
    # not weight initialisation: these change what the model computes, so they must be run
    "stride": """
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.zeros_(m.weight)
                m.stride = (2, 2)""",
    "replace": """
        for name, m in list(self.named_children()):
            if isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                setattr(self, name, nn.Identity())""",
}


@pytest.mark.parametrize("loop", sorted(INIT_LOOPS))
def test_a_weight_init_loop_changes_nothing_and_other_loops_still_run(loop: str) -> None:
    source = f'''
import math
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)
{INIT_LOOPS[loop]}

    def forward(self, x):
        return self.bn(self.conv(x))
'''
    assert_never_wrong(source, [2, 3, 16, 16])
    ours = cnnshape_ls.analyze(source, input="(2, 3, 16, 16)", model="Net()").to_json()["models"][0]
    truth = torch_truth(source, "Net()", [2, 3, 16, 16])
    if loop != "replace":  # setattr under a name from a loop: the analysis may say unknown, never wrong
        assert ours["output"] == truth["output"], (loop, ours["output"], truth["output"])
