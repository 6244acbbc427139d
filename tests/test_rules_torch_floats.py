"""Arguments torch refuses for their type or length, drawn at random and compared with torch on cpu.

- a float where a size goes (``nn.Linear(h / 2, 10)``, ``padding=(k - 1) / 2``): the constructor's
  allocation and the native functions' argument parsers, each in its own words;
- 1-D pools given a tuple of the wrong length;
- a convolution whose ``kernel_size`` has the wrong number of values;
- end to end, the ``//`` fix applied to a model file gives one that torch runs.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

pytest.importorskip("torch")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from support import apply_edits, torch_truth  # noqa: E402
from torch_rules_harness import Case, check, check_message  # noqa: E402

pytestmark = pytest.mark.torch

SETTINGS = settings(max_examples=80, deadline=None)


def assert_same_words(case: Case) -> str:
    """torch on cpu refuses ``case`` and the rule does too, starting with torch's words (the first line of a
    multi-line message); or both run, with the same shape. Returns what torch did."""
    theirs, ours = check(replace(case, device="cpu"), follow_fix=False)
    if theirs.kind != "ok":
        first = str(theirs.error).splitlines()[0]
        assert ours.kind == "error" and ours.error.message.startswith(first), \
            f"{case}: torch says {first!r}, rule {ours.kind}: {ours.error}"
    return theirs.kind


def a_float(draw, low: int = 1, high: int = 6) -> float:
    """What ``/`` makes of a size: a whole number or a half."""
    return draw(st.integers(low, high)) + draw(st.sampled_from([0.0, 0.0, 0.5]))


@st.composite
def float_size_cases(draw) -> Case:
    op = draw(st.sampled_from(["Linear", "Bilinear", "Embedding", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d",
                               "ConvTranspose2d", "BatchNorm2d", "InstanceNorm2d", "GroupNorm", "LayerNorm"]))
    n = int(op[-2]) if op[-2].isdigit() else 0
    c = draw(st.integers(1, 4))
    if op == "Linear":
        kwargs, inputs = {"in_features": c, "out_features": draw(st.integers(1, 4))}, [(2, c)]
    elif op == "Bilinear":
        kwargs = {"in1_features": c, "in2_features": 2, "out_features": draw(st.integers(1, 4))}
        inputs = [(2, c), (2, 2)]
    elif op == "Embedding":
        kwargs, inputs = {"num_embeddings": 5, "embedding_dim": c}, [(2, 3)]
    elif op.startswith("Conv"):
        groups = draw(st.sampled_from([1, 1, 2]))
        kwargs = {"in_channels": c * groups, "out_channels": draw(st.integers(1, 3)) * groups,
                  "kernel_size": draw(st.integers(1, 2)), "groups": groups}
        inputs = [(2, c * groups, *([5] * n))]
    elif op == "GroupNorm":
        kwargs = {"num_groups": 1, "num_channels": c, "affine": draw(st.booleans())}
        inputs = [(2, c, 3, 3)]
    elif op == "LayerNorm":
        kwargs, inputs = {"normalized_shape": c}, [(2, c)]
    else:
        kwargs = {"num_features": c, "affine": draw(st.booleans()), "track_running_stats": draw(st.booleans())}
        inputs = [(2, c, 3, 3)]
    sizes = [k for k, v in kwargs.items() if isinstance(v, int) and not isinstance(v, bool) and k != "num_groups"]
    for name in draw(st.lists(st.sampled_from(sizes), min_size=1, max_size=2, unique=True)):
        kwargs[name] = a_float(draw)
    return Case(op, kwargs, inputs, dtype=__import__("torch").long if op == "Embedding" else None)


@SETTINGS
@given(case=float_size_cases())
def test_float_size_message(case: Case) -> None:
    """A float size in a constructor: torch's allocation error, worded by the position of the first float."""
    assert_same_words(case)


@st.composite
def float_argument_cases(draw) -> Case:
    """A float stride, padding or dilation of a convolution, or any float size of a max or average pool."""
    family = draw(st.sampled_from(["Conv", "ConvTranspose", "MaxPool", "AvgPool"]))
    n = draw(st.integers(1, 3))
    op = f"{family}{n}d"
    if family.startswith("Conv"):
        kwargs = {"in_channels": 2, "out_channels": 2, "kernel_size": 3, "bias": draw(st.booleans())}
        names = ["stride", "padding", "dilation"] + (["output_padding"] if family == "ConvTranspose" else [])
        if family == "Conv" and draw(st.integers(0, 3)) == 0:
            kwargs["padding"] = "valid"
    else:
        kwargs = {"kernel_size": draw(st.integers(2, 3))}
        names = ["kernel_size", "stride", "padding"] + (["dilation"] if family == "MaxPool" else [])
        if family == "MaxPool":
            kwargs["return_indices"] = draw(st.booleans())
    for name in draw(st.lists(st.sampled_from(names), min_size=1, max_size=2, unique=True)):
        if name == "padding" and kwargs.get("padding") == "valid":
            continue
        value = a_float(draw, 0 if name in ("padding", "output_padding") else 1, 2)
        tupled = n > 1 and draw(st.booleans())  # a tuple whose first value is the float
        kwargs[name] = (value, *([1] * (n - 1))) if tupled else value
    return Case(op, kwargs, [(2, 2, *([7] * n))], native=family == "ConvTranspose")


@SETTINGS
@given(case=float_argument_cases())
def test_float_argument_message(case: Case) -> None:
    """F.convNd matches no overload; conv_transposeNd and the pools name the argument and its position."""
    assert_same_words(case)


@SETTINGS
@given(kind=st.sampled_from(["Max", "Avg"]), data=st.data())
def test_pool_1d_length_message(kind: str, data) -> None:
    """max_pool1d and avg_pool1d want one int per argument, each in its own words."""
    name = data.draw(st.sampled_from(["kernel_size", "stride", "padding"] + (["dilation"] if kind == "Max" else [])))
    length = data.draw(st.sampled_from([0, 2, 3] if name == "stride" else [2, 3]))
    kwargs = {"kernel_size": 2, name: (0 if name == "padding" else 1,) * length}
    rank = data.draw(st.sampled_from([2, 3, 3]))
    check_message(Case(f"{kind}Pool1d", kwargs, [(2, 6)[:rank - 1] + (6,)]))


@SETTINGS
@given(n=st.integers(1, 3), data=st.data())
def test_conv_kernel_length_message(n: int, data) -> None:
    """A kernel of the wrong length makes a weight of another rank: torch checks the other arguments against
    it, then the input's rank."""
    axes = data.draw(st.sampled_from([k for k in (1, 2, 3, 4) if k != n]))
    kwargs = {"in_channels": 2, "out_channels": 2, "kernel_size": (1,) * axes}
    for name in ("stride", "padding", "dilation"):
        length = data.draw(st.sampled_from([0, 1, n, axes]))
        if length:
            kwargs[name] = (0 if name == "padding" else 1,) * length
    assert check_message(Case(f"Conv{n}d", kwargs, [(2, 2, *([4] * n))]))


def test_divide_fix_gives_a_model_torch_runs() -> None:
    """``/`` in three sizes: three errors, each fixed by ``//``; the fixed file runs under torch."""
    import cnnshape_ls

    source = (
        "import torch.nn as nn\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, k=3, width=32):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv2d(3, width / 2, k, padding=(k - 1) / 2)\n"
        "        self.pool = nn.MaxPool2d(4 / 2)\n"
        "        self.fc = nn.Linear(16 * 16 * 16, 10)\n\n"
        "    def forward(self, x):\n"
        "        return self.fc(self.pool(self.conv(x)).flatten(1))\n"
    )
    assert not torch_truth(source, "Net()", [2, 3, 32, 32])["ok"]
    for _ in range(4):
        result = cnnshape_ls.analyze(source, input="(2, 3, 32, 32)").to_json()
        errors = [d for d in result["diagnostics"] if d["severity"] == "error"]
        if not errors:
            break
        assert all(d["code"] == "bad-argument" and d["fixes"] for d in errors), errors
        assert result["models"][0]["output"][-1] == 10  # the run goes on as if each were fixed
        source = apply_edits(source, errors[0]["fixes"][0]["edits"])
    assert "//" in source and "/ 2" not in source.replace("// 2", "")
    assert torch_truth(source, "Net()", [2, 3, 32, 32])["ok"]
