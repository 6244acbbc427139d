"""A layer is added in one place: one ``LayerRule`` gives hints, hovers, input inference, parameter counts,
fixes, its functional form and its weight's shape.

The made-up ``Halve2d`` (a 2x2 stride-2 "conv" from in_channels to out_channels) is registered in a copy of
the rule table, in use only inside ``layers.using``; the global table is never changed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import cnnshape_ls
from cnnshape_ls import display
from cnnshape_ls.analysis import dims, layers
from cnnshape_ls.analysis.layers.base import Args, Call, Functional, LayerRule, ShapeError, channels_first


def halve(call: Call) -> tuple:
    x = call.x
    want = call.args.dim("in_channels")
    if x[1] != want:
        raise ShapeError("conv-in-channels", f"Halve2d expected {want} channels, got {dims.to_text(x[1])}",
                         blame="in_channels", expected=x[1],
                         recover=(x[0], call.args.get("out_channels"), *(dims.floordiv(d, 2) for d in x[2:])))
    return (x[0], call.args.get("out_channels"), *(dims.floordiv(d, 2) for d in x[2:]))


def halve_params(args: Args, resolved: dict) -> dims.Dim:
    return dims.add(dims.mul(dims.mul(args.dim("in_channels"), args.dim("out_channels")), 4),
                    args.dim("out_channels"))


def halve_weights(args: Args, name: str) -> tuple | None:
    out, inp = args.get("out_channels"), args.get("in_channels")
    return (out, inp, 2, 2) if name == "weight" else (out,)


HALVE = LayerRule("Halve2d", "Convolution", ("in_channels", "out_channels", "bias"), {"bias": True}, halve,
                  "out = (N, out_channels, H // 2, W // 2)", halve_params,
                  "in_channels*out_channels*4 + out_channels (bias)",
                  functional=(Functional("halve2d", ("in_channels", "out_channels")),),
                  input_template=channels_first(2, "in_channels"), weights=halve_weights,
                  producer_arg="out_channels")

MODEL = """\
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.utils.weight_norm(nn.Halve2d(3, 8))
        self.second = nn.Halve2d(8, 16)
        self.fc = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x):
        x = self.first(x)
        x = self.second(x)
        x = F.halve2d(x, 16, 16)
        return self.fc(x.flatten(1))
"""


@pytest.fixture
def with_halve() -> Iterator[layers.RuleTable]:
    with layers.using(layers.TABLE.with_rules(HALVE)) as table:
        yield table


def test_hints_hover_input_and_params_follow_from_the_rule(with_halve) -> None:
    analysis = cnnshape_ls.analyze(MODEL)
    model = analysis.model("Net")
    described = model.to_json()
    assert described["input_source"] == "inferred" and described["input"] == ["BS", 3, 32, 32]  # via the Linear
    assert described["output"] == ["BS", 10]
    assert not [f for f in analysis.findings if f.severity in ("error", "warning")]
    hints = {hint.line: hint.label for hint in display.line_hints(analysis, MODEL.splitlines())}
    assert hints[13] == "# out: (BS, 8, 16, 16)" and hints[14] == "# out: (BS, 16, 8, 8)"
    assert hints[15] == "# out: (BS, 16, 4, 4)"  # F.halve2d, the functional form
    second = next(r for r in model.records if r.path == "second")
    hover = display.layer_hover([second])
    assert "out = (N, out_channels, H // 2, W // 2)" in hover
    assert "8*16*4 + 16 (bias) = 528" in hover
    first = next(r for r in model.records if r.path == "first")
    # weight_norm adds one weight_g per output channel: the first size of the rule's weight
    assert first.params == 3 * 8 * 4 + 8 + 8
    assert model.params == first.params + 528 + (256 * 10 + 10)


def test_an_error_gets_its_fix_from_the_rule(with_halve) -> None:
    broken = MODEL.replace("nn.Halve2d(8, 16)", "nn.Halve2d(4, 16)")
    analysis = cnnshape_ls.analyze(broken)
    [error] = [f for f in analysis.findings if f.severity == "error"]
    assert error.code == "conv-in-channels" and error.layer_path == "second"
    texts = [edit.new_text for fix in error.fixes for edit in fix.edits]
    assert "8" in texts  # in_channels to what comes in, or the producer's out_channels (producer_arg) to 4
    assert analysis.model("Net").to_json()["output"] == ["BS", 10]  # the run went on as if fixed


def test_the_weight_shape_comes_from_the_rule(with_halve) -> None:
    source = MODEL.replace("x = F.halve2d(x, 16, 16)", "x = x + self.second.bias.view(1, -1, 1, 1)")
    analysis = cnnshape_ls.analyze(source)
    view = next(r for r in analysis.model("Net").records if r.line == 15 and r.op.endswith(".view"))
    assert view.output == (1, 16, 1, 1)  # the bias is (out_channels,)
    hints = {hint.line: hint.label for hint in display.line_hints(analysis, source.splitlines())}
    assert hints[15] == "# out: (BS, 16, 4, 4)"  # what the line ends with: x + the bias, broadcast
    assert analysis.model("Net").to_json()["output"] == ["BS", 10]


def test_the_global_table_is_untouched() -> None:
    with layers.using(layers.TABLE.with_rules(HALVE)) as table:
        assert table.by_op["Halve2d"] is HALVE and layers.rules_in_use() is table
    assert "Halve2d" not in layers.RULES and layers.rules_in_use() is layers.TABLE
    analysis = cnnshape_ls.analyze(MODEL)
    halves = [r for m in analysis.models for r in m.records if r.op == "Halve2d"]
    assert halves and all(r.output is None and r.params is None for r in halves)  # modules it cannot see into


def test_a_model_starting_with_pixel_unshuffle_gets_an_inferred_input() -> None:
    source = """\
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.down = nn.PixelUnshuffle(2)
        self.conv = nn.Conv2d(12, 8, 3, padding=1)

    def forward(self, x):
        return self.conv(self.down(x))
"""
    described = cnnshape_ls.analyze(source).model("Net").to_json()
    assert described["input_source"] == "inferred"
    assert described["input"][:2] == ["BS", "C"] and len(described["input"]) == 4
