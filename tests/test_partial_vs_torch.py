"""Unknown is a value, never a model: a layer built with one argument the analysis cannot follow still
gives every size that does not depend on it, and what follows goes on. Drawn at random, compared with torch.

A small ``nn.Sequential`` of conv / transposed conv / zero-pad / pool / batch-norm / activation / dropout /
adaptive-pool / flatten / linear layers is drawn with sizes that fit (now and then one that does not), and
one drawn argument, or one entry of a tuple argument (``kernel_size=(3, ?)``, ``padding=(1, ?, 0, 2)``), is
written as ``int(os.environ.get("CNNSHAPE_UNSET_VAR", "3"))``: Python gives its value, the analysis cannot.
Checked: every size the analysis gives is torch's, no error where torch runs, an error where we give one
is torch's, and the sizes that do not depend on the unknown argument are really given (so a model that
turned wholly unknown fails the test); the hover names the argument and the call it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

pytest.importorskip("torch")

import torch  # noqa: E402
from hypothesis import event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import cnnshape_ls  # noqa: E402

pytestmark = pytest.mark.torch

UNFOLLOWED = 'int(os.environ.get("CNNSHAPE_UNSET_VAR", "{}"))'


@dataclass
class Drawn:
    """One layer: its class, its keyword arguments in order, and which output dims keep known when one
    argument is unknown (by the argument's name; ``*`` for any other)."""

    op: str
    args: list[tuple[str, int | float | tuple]] = field(default_factory=list)
    keeps: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def text(self, unknown: str | None) -> str:
        """``unknown`` is an argument's name, or ``name[i]`` for one entry of a tuple."""
        parts = []
        for k, v in self.args:
            if isinstance(v, tuple):
                entries = [UNFOLLOWED.format(e) if unknown == f"{k}[{i}]" else str(e) for i, e in enumerate(v)]
                parts.append(f"{k}=({', '.join(entries)})")
            else:
                parts.append(f"{k}={UNFOLLOWED.format(v) if k == unknown else v}")
        return f"nn.{self.op}({', '.join(parts)})"

    def unknowable(self) -> list[str]:
        """The arguments (or tuple entries) that may be written as an unfollowed expression."""
        out: list[str] = []
        for k, v in self.args:
            if isinstance(v, tuple):
                out.extend(f"{k}[{i}]" for i in range(len(v)))
            elif isinstance(v, int):
                out.append(k)
        return out


@st.composite
def models(draw) -> tuple[list[Drawn], tuple[int, ...], int, str]:
    """Layers, the input, and the (layer index, argument) written as an expression the analysis cannot follow."""
    c, h, w = draw(st.integers(1, 4)), draw(st.integers(4, 12)), draw(st.integers(4, 12))
    shape = (2, c, h, w)
    layers: list[Drawn] = []
    flat: int | None = None
    for _ in range(draw(st.integers(1, 5))):
        wrong = draw(st.integers(0, 9)) == 0  # now and then a size that does not fit: torch's error
        if flat is not None:
            out = draw(st.integers(1, 8))
            layers.append(Drawn("Linear", [("in_features", flat + wrong), ("out_features", out)],
                                {"in_features": (0, 1), "out_features": (0,)}))
            flat = out
            continue
        kind = draw(st.sampled_from(["conv", "conv", "convt", "pad", "max", "avg", "bn", "relu", "dropout",
                                     "adaptive", "flatten"]))
        if kind == "conv":
            out, s, p = draw(st.integers(1, 6)), draw(st.integers(1, 2)), draw(st.integers(0, 1))
            kh, kw = min(draw(st.integers(1, 3)), h + 2 * p), min(draw(st.integers(1, 3)), w + 2 * p)
            kernel = (kh, kw) if draw(st.booleans()) else min(kh, kw)
            kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
            layers.append(Drawn("Conv2d", [("in_channels", c + wrong), ("out_channels", out), ("kernel_size", kernel),
                                           ("stride", s), ("padding", p)],
                                {"in_channels": (0, 1, 2, 3), "out_channels": (0, 2, 3), "kernel_size[0]": (0, 1, 3),
                                 "kernel_size[1]": (0, 1, 2), "*": (0, 1)}))
            c, h, w = out, (h + 2 * p - kh) // s + 1, (w + 2 * p - kw) // s + 1
        elif kind == "convt":
            out, k, s = draw(st.integers(1, 6)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
            p = min(draw(st.integers(0, 1)), ((min(h, w) - 1) * s + k - 1) // 2)
            layers.append(Drawn("ConvTranspose2d", [("in_channels", c + wrong), ("out_channels", out),
                                                    ("kernel_size", k), ("stride", s), ("padding", p)],
                                {"in_channels": (0, 1, 2, 3), "out_channels": (0, 2, 3), "*": (0, 1)}))
            c, h, w = out, (h - 1) * s - 2 * p + k, (w - 1) * s - 2 * p + k
        elif kind == "pad":
            pads = tuple(draw(st.integers(0, 2)) for _ in range(4))
            layers.append(Drawn("ZeroPad2d", [("padding", pads)],
                                {"padding[0]": (0, 1, 2), "padding[1]": (0, 1, 2),
                                 "padding[2]": (0, 1, 3), "padding[3]": (0, 1, 3)}))
            h, w = h + pads[2] + pads[3], w + pads[0] + pads[1]
        elif kind in ("max", "avg"):
            k = min(draw(st.integers(1, 3)), h, w)
            s, p = draw(st.integers(1, 2)), draw(st.integers(0, k // 2))
            layers.append(Drawn("MaxPool2d" if kind == "max" else "AvgPool2d",
                                [("kernel_size", k), ("stride", s), ("padding", p)], {"*": (0, 1)}))
            h, w = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        elif kind == "bn":
            layers.append(Drawn("BatchNorm2d", [("num_features", c + wrong)], {"*": (0, 1, 2, 3)}))
        elif kind == "relu":
            layers.append(Drawn("ReLU"))
        elif kind == "dropout":
            layers.append(Drawn("Dropout", [("p", 0.5)], {"*": (0, 1, 2, 3)}))
        elif kind == "adaptive":
            size = draw(st.integers(1, 3))
            layers.append(Drawn("AdaptiveAvgPool2d", [("output_size", size)], {"*": (0, 1)}))
            h = w = size
        else:
            layers.append(Drawn("Flatten", [("start_dim", 1)], {"start_dim": ()}))
            flat = c * h * w
        if h < 1 or w < 1:
            break
    choices = [(i, name) for i, layer in enumerate(layers) for name in layer.unknowable()]
    if not choices:
        layers.append(Drawn("Conv2d", [("in_channels", c), ("out_channels", 3), ("kernel_size", 1)],
                            {"in_channels": (0, 1, 2, 3), "out_channels": (0, 2, 3), "*": (0, 1)}) if flat is None
                      else Drawn("Linear", [("in_features", flat), ("out_features", 3)],
                                 {"in_features": (0, 1), "out_features": (0,)}))
        choices = [(len(layers) - 1, layers[-1].args[0][0])]
    index, name = draw(st.sampled_from(choices))
    return layers, shape, index, name


def source_of(layers: list[Drawn], index: int, name: str) -> str:
    body = ",\n            ".join(layer.text(name if i == index else None) for i, layer in enumerate(layers))
    return f'''import os
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            {body},
        )

    def forward(self, x):
        return self.body(x)
'''


def torch_calls(source: str, shape: tuple[int, ...]) -> tuple[list[list[int]], bool]:
    """Each layer's output shape as torch gives it, in order, and whether the whole model ran."""
    namespace: dict = {}
    exec(compile(source, "model.py", "exec"), namespace)
    net = namespace["Net"]()
    calls: list[list[int]] = []
    for module in net.body:
        module.register_forward_hook(lambda _m, _i, out: calls.append(list(out.shape)))
    try:
        with torch.no_grad():
            net(torch.zeros(shape))
    except RuntimeError:
        return calls, False
    return calls, True


@settings(max_examples=150, deadline=None)
@given(models())
def test_an_unknown_argument_leaves_every_other_size_known(drawn) -> None:
    layers, shape, index, name = drawn
    source = source_of(layers, index, name)
    analysis = cnnshape_ls.analyze(source, input=str(shape), model="Net()")
    result = analysis.to_json()
    ours = [layer for layer in result["models"][0]["layers"] if layer["path"] and layer["path"].startswith("body.")]
    for layer in ours:  # a shape known in part is in out_partial, its unknown sizes null
        layer["out"] = layer.get("out_partial", layer["out"])
    errors = [d for d in result["diagnostics"] if d["severity"] == "error"]
    truth, ran = torch_calls(source, shape)
    context = f"\n{source}\ninput {shape}, unknown {name} of layer {index}\nours {ours}\ntorch {truth}"
    assert len(ours) == len(layers), context
    for mine, theirs in zip(ours, truth):  # every size we give is torch's
        assert mine["out"] is None or len(mine["out"]) == len(theirs), context
        for d, t in zip(mine["out"] or (), theirs):
            assert d is None or d == t, context
    if ran:
        assert not errors, f"torch runs it, we report {errors}{context}"
        output = result["models"][0].get("output_partial", result["models"][0]["output"])
        assert output is None or all(d is None or d == t for d, t in zip(output, truth[-1])), context
    elif not errors:  # the layer torch stops at: we could not check it, a size it needs is unknown to us
        failed = ours[len(truth)]  # "in" is null unless fully known
        assert failed["in"] is None or len(truth) == index, context
    # the layer with the unknown argument still gives what does not depend on it
    layer, record = layers[index], ours[index]
    if record["in"] is not None and (ran or len(truth) > index):
        keeps = layer.keeps.get(name, layer.keeps.get("*", ()))
        event(f"{len(keeps)} sizes that must stay known, torch {'runs' if ran else 'fails'}")
        assert record["out"] is not None or not keeps, context
        for axis in keeps:
            assert record["out"][axis] is not None, f"dim {axis} should be known{context}"
    # the hover says which argument could not be followed, and the call it came from
    leaf = next(r for r in analysis.models[0].records if r.path == f"body.{index}")
    argument = name.split("[")[0]
    assert any(line.startswith(f"{argument}: os.environ.get(...)") for line in leaf.unknown_args), leaf.unknown_args


def U(value: int) -> str:  # noqa: N802 - reads as the unknown it writes
    return UNFOLLOWED.format(value)


OTHER_LAYERS = [  # (the layer, its input, the output dims that must stay known)
    (f"nn.Conv1d(3, 5, {U(3)})", (2, 3, 10), (0, 1)),
    (f"nn.LazyConv2d({U(4)}, 3)", (2, 3, 8, 8), (0, 2, 3)),
    (f"nn.LazyLinear({U(5)})", (2, 7), (0,)),
    (f"nn.MaxPool3d({U(2)})", (2, 3, 4, 4, 4), (0, 1)),
    (f"nn.MaxPool2d(2, stride={U(1)}, ceil_mode=True)", (2, 3, 5, 5), (0, 1)),
    (f"nn.LPPool2d(2, {U(2)})", (2, 3, 6, 6), (0, 1)),
    (f"nn.AdaptiveMaxPool2d(({U(3)}, 2))", (2, 3, 6, 6), (0, 1, 3)),
    (f"nn.AdaptiveAvgPool1d({U(3)})", (2, 3, 6), (0, 1)),
    (f"nn.ConstantPad1d(({U(1)}, 2), 0.5)", (2, 3, 5), (0, 1)),
    (f"nn.ReflectionPad2d((1, 1, {U(2)}, 0))", (2, 3, 5, 5), (0, 1, 3)),
    (f"nn.Upsample(scale_factor={U(2)})", (2, 3, 5, 5), (0, 1)),
    (f"nn.Upsample(size=({U(7)}, 4), mode='bilinear')", (2, 3, 5, 5), (0, 1)),
    (f"nn.PixelShuffle({U(2)})", (2, 8, 3, 3), (0,)),
    (f"nn.PixelUnshuffle({U(2)})", (2, 3, 4, 4), (0,)),
    (f"nn.ChannelShuffle({U(2)})", (2, 4, 3, 3), (0, 1, 2, 3)),
    (f"nn.GroupNorm({U(2)}, 4)", (2, 4, 3, 3), (0, 1, 2, 3)),
    (f"nn.LayerNorm({U(3)})", (2, 4, 3), (0, 1, 2)),
    (f"nn.InstanceNorm1d({U(4)}, affine=True)", (2, 4, 3), (0, 1, 2)),
    (f"nn.Softmax(dim={U(1)})", (2, 3), (0, 1)),
    (f"nn.LeakyReLU({U(0)})", (2, 3, 4), (0, 1, 2)),
    (f"nn.Dropout2d(p={U(0)})", (2, 3, 4, 4), (0, 1, 2, 3)),
    (f"nn.Linear(7, {U(4)})", (2, 5, 7), (0, 1)),
]


@pytest.mark.parametrize(("layer", "shape", "keeps"), OTHER_LAYERS)
def test_other_layers_with_an_unknown_argument(layer: str, shape: tuple[int, ...], keeps: tuple[int, ...]) -> None:
    source = source_of([Drawn("Identity")], 0, "").replace("nn.Identity()", layer)
    result = cnnshape_ls.analyze(source, input=str(shape), model="Net()").to_json()
    model = result["models"][0]
    (ours,) = [entry for entry in model["layers"] if entry["path"] == "body.0"]
    out = ours.get("out_partial", ours["out"])
    truth, ran = torch_calls(source, shape)
    assert ran and not [d for d in result["diagnostics"] if d["severity"] == "error"], result["diagnostics"]
    assert out is not None and len(out) == len(truth[0]), (out, truth)
    assert all(d is None or d == t for d, t in zip(out, truth[0])), (out, truth)
    assert all(out[axis] is not None for axis in keeps), (out, truth)
    assert None in out or not keeps or len(keeps) == len(out), out  # the argument really was unknown


FORWARDS = [  # (forward's body on x, the input, the output dims that must stay known)
    (f"return F.max_pool2d(x, {U(2)})", (2, 3, 8, 8), (0, 1)),
    (f"return F.pad(x, (1, {U(2)}, 0, 3))", (2, 3, 8, 8), (0, 1, 2)),
    (f"return F.avg_pool1d(x, kernel_size={U(3)}, stride=1)", (2, 3, 8), (0, 1)),
    (f"return F.interpolate(x, scale_factor={U(2)})", (2, 3, 4, 4), (0, 1)),
    (f"return F.max_pool2d(x, {U(2)}).view(-1, 6)", (2, 3, 4, 4), (1,)),
    (f"return F.max_pool2d(x, {U(2)}).reshape(2, 3, -1)", (2, 3, 4, 4), (0, 1)),
    (f"return self.fc(F.adaptive_avg_pool2d(x, {U(2)}).view(-1, 12))", (2, 3, 8, 8), (1,)),
]


@pytest.mark.parametrize(("body", "shape", "keeps"), FORWARDS)
def test_functional_forms_and_views_after_an_unknown(body: str, shape: tuple[int, ...], keeps: tuple[int, ...]) -> None:
    source = f'''import os
import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(12, 5)

    def forward(self, x):
        {body}
'''
    result = cnnshape_ls.analyze(source, input=str(shape), model="Net()").to_json()
    model = result["models"][0]
    out = model.get("output_partial", model["output"])
    namespace: dict = {}
    exec(compile(source, "model.py", "exec"), namespace)
    with torch.no_grad():
        truth = list(namespace["Net"]()(torch.zeros(shape)).shape)
    assert not [d for d in result["diagnostics"] if d["severity"] == "error"], result["diagnostics"]
    assert out is not None and len(out) == len(truth), (out, truth)
    assert all(d is None or d == t for d, t in zip(out, truth)), (out, truth)
    assert all(out[axis] is not None for axis in keeps) and None in out, (out, truth)
