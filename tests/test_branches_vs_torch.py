"""Branches in ``__init__`` whose condition the analysis cannot tell, drawn at random and compared with torch.

An instance's attributes are shared by both branches: a layer assigned in one branch and another layer in
the other must leave a module that may be either (unknown), never the branch that happened to run last
(an EfficientNet "static same" stem: ``ZeroPad2d`` when padding is needed, else ``Identity``; that stem
itself is drawn against torch in tests/test_reach_forward_vs_torch.py).
"""

from __future__ import annotations

import textwrap

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


def test_only_weight_init_loops_are_left_unrun() -> None:
    """The loops above as the analysis sees them: only the first is skipped (a loop over anything but the
    module's own walk, or one that sets an attribute or applies a module, runs)."""
    import ast

    from cnnshape_ls.analysis.branches import initialises_only

    def loop(text: str) -> ast.For:
        return ast.parse(textwrap.dedent(text)).body[0]

    assert initialises_only(loop(INIT_LOOPS["init"]))
    assert not initialises_only(loop(INIT_LOOPS["stride"]))
    assert not initialises_only(loop(INIT_LOOPS["replace"]))
    assert not initialises_only(loop("for layer in self.layers:\n    nn.init.zeros_(layer.weight)"))
    assert not initialises_only(loop("for m in self.modules():\n    x = m(x)"))
