"""Objects made with ``type(...)`` and parameters made from data (issue 14), compared with Python, numpy and
torch: ``args = type('Args', (), {'n_classes': 10})()`` read back; ``nn.Parameter(torch.Tensor(np.linspace(
...)).view(-1, 1))`` (SincNet) counted with torch's shape; tensors of data (nested lists, numpy arrays) and
the numpy arithmetic that makes them (``mel / 2``, ``np.diff(hz)``, slices)."""

from __future__ import annotations

import textwrap

import pytest

pytest.importorskip("torch")
np = pytest.importorskip("numpy")

import torch  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from cnnshape_ls.analysis.engine import evaluate_module  # noqa: E402
from cnnshape_ls.analysis.layers import UNKNOWN  # noqa: E402
from cnnshape_ls.analysis.source import parse_tolerant  # noqa: E402
from cnnshape_ls.analysis.values import Tensor  # noqa: E402

from support import assert_follows_torch_whole  # noqa: E402

pytestmark = pytest.mark.torch

SETTINGS = settings(max_examples=60, deadline=None)


def ours(source: str, name: str = "RESULT") -> object:
    return evaluate_module(parse_tolerant(textwrap.dedent(source))).vars.get(name, UNKNOWN)


def python(source: str, name: str = "RESULT") -> object:
    namespace: dict = {}
    exec(compile(textwrap.dedent(source), "values.py", "exec"), namespace)
    return namespace[name]


# ---------------------------------------------------------------------- type(...)
@SETTINGS
@given(st.dictionaries(st.sampled_from(["n_classes", "width", "depth", "drop", "name"]),
                       st.one_of(st.integers(-5, 300), st.floats(0, 1), st.text("abc", max_size=3)), max_size=5),
       st.sampled_from(["Args", ""]), st.booleans(), st.booleans())
def test_type_made_objects_read_back(fields: dict, name: str, instance: bool, overwrite: bool) -> None:
    """``type(name, (), d)`` and its instance: every attribute read back is Python's."""
    made = f"type({name!r}, (), {fields!r})" + ("()" if instance else "")
    reads = ", ".join(f"args.{key}" for key in sorted(fields))
    source = f"""
    args = {made}
    {"args.width = 7" if overwrite else ""}
    RESULT = ({reads}{"," if fields else ""} {"args.width" if overwrite else "0"})
    """
    assert ours(source) == python(source)


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 40), st.integers(1, 16), st.booleans())
def test_type_made_args_build_a_model(n_classes: int, width: int, shared_dict: bool) -> None:
    """A model whose sizes come from an ``args`` object made with ``type(...)`` (the held-out batch's case)."""
    config = f"{{'n_classes': {n_classes}, 'width': {width}, 'act': nn.ReLU}}"
    made = f"cfg = {config}; args = type('', (), cfg)()" if shared_dict else f"args = type('Args', (), {config})()"
    source = f"""
    import torch.nn as nn

    {made}

    class Net(nn.Module):
        def __init__(self, args):
            super().__init__()
            self.conv = nn.Conv2d(3, args.width, 3)
            self.act = args.act()
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(args.width, args.n_classes)

        def forward(self, x):
            return self.fc(self.pool(self.act(self.conv(x))).flatten(1))

    model = Net(args)
    """
    assert_follows_torch_whole(source, (2, 3, 16, 16), model="model")


def test_type_with_bases_and_unknowns() -> None:
    source = """
    class Base:
        depth = 4

    Cfg = type('Cfg', (Base,), {'width': 8})
    RESULT = (Cfg.depth, Cfg().width)
    """
    assert ours(source) == python(source)
    assert ours("import os\nRESULT = type('X', (), os.environ)().a\n") is UNKNOWN


# ---------------------------------------------------------------------- data
numbers = st.one_of(st.integers(-1000, 1000), st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False))


@SETTINGS
@given(st.lists(numbers, min_size=2, max_size=12), numbers, st.sampled_from(["+", "-", "*", "/"]),
       st.booleans(), st.sampled_from(["", "[1:]", "[:-1]", "[::2]"]))
def test_numpy_arithmetic_of_1d_arrays(items: list, scalar: float, op: str, swapped: bool, cut: str) -> None:
    """Item by item as numpy computes it, or unknown (never another number)."""
    expression = f"{scalar!r} {op} a{cut}" if swapped else f"a{cut} {op} {scalar!r}"
    source = f"""
    import numpy as np
    a = np.array({items!r})
    RESULT = ({expression}).tolist()
    DIFF = np.diff(np.array({items!r})).tolist()
    """
    with np.errstate(divide="raise", over="raise", invalid="raise", under="ignore"):  # numpy warns of these
        try:
            want = python(source)
        except (FloatingPointError, ZeroDivisionError, OverflowError):
            want = None
    got = ours(source)
    if got is not UNKNOWN:
        assert want is not None and got == want and [type(v) for v in got] == [type(v) for v in want]
    diff = ours(source, "DIFF")
    if diff is not UNKNOWN:
        assert diff == python(source, "DIFF")


nested = st.recursive(st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=4),
                      lambda inner: st.lists(inner, min_size=1, max_size=3), max_leaves=20)


@SETTINGS
@given(nested, st.sampled_from(["torch.Tensor", "torch.tensor", "torch.as_tensor", "torch.FloatTensor"]))
def test_tensors_of_data_have_torch_shape(data: list, constructor: str) -> None:
    """A rectangular nest of numbers gives torch's shape; one torch refuses is unknown."""
    got = ours(f"import torch\nRESULT = {constructor}({data!r})\n")
    try:
        want = tuple(eval(constructor, {"torch": torch})(data).shape)
    except (ValueError, TypeError):
        want = None
    if want is None:  # torch refuses uneven data: never a shape here
        assert got is UNKNOWN or isinstance(got, Tensor) and got.shape is None
    elif constructor == "torch.tensor" and len(data) == 1 and isinstance(data[0], float):
        assert got == data[0]  # torch.tensor([h2 - h1]) is read as the number it holds (F.pad amounts)
    else:
        assert isinstance(got, Tensor) and got.shape == want, (got, want)


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 64), st.integers(3, 51).filter(lambda k: k % 2 == 1), st.sampled_from([8000, 16000]),
       st.integers(1, 60), st.booleans())
def test_sincnet_parameters_from_data(out_channels: int, kernel: int, rate: int, low: int, diff: bool) -> None:
    """SincNet's band edges: ``nn.Parameter(torch.Tensor(np.linspace(...)).view(-1, 1))``; the filters they
    make give the convolution's shape, and the parameters are counted with torch's shapes."""
    band = "np.diff(hz)" if diff else "hz[1:] - hz[:-1]"
    source = f"""
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Net(nn.Module):
        def __init__(self, out_channels={out_channels}, kernel_size={kernel}, sample_rate={rate}):
            super().__init__()
            low_hz = {low}
            high_hz = sample_rate / 2 - (50 + 50)
            mel = np.linspace(low_hz, high_hz, out_channels + 1)
            hz = mel / 2
            self.low_hz_ = nn.Parameter(torch.Tensor(hz[:-1]).view(-1, 1))
            self.band_hz_ = nn.Parameter(torch.Tensor({band}).view(-1, 1))
            self.window = nn.Parameter(torch.Tensor(np.linspace(0, 1, kernel_size)))
            self.bn = nn.BatchNorm1d(out_channels)

        def forward(self, x):
            filters = (self.low_hz_ + self.band_hz_) * self.window
            return self.bn(F.conv1d(x, filters.view(self.low_hz_.shape[0], 1, -1)))
    """
    assert_follows_torch_whole(source, (2, 1, 400))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 64), st.integers(1, 64), st.booleans())
def test_dataclass_init_from_a_subclass_and_shallow_copies(width: int, depth: int, keyword: bool) -> None:
    """torchvision's EfficientNet configs: a subclass's ``super().__init__(...)`` is the dataclass's generated
    one, and ``copy.copy`` of a config is a new object with the same attributes."""
    call = "super().__init__(width=w * 2, depth=d)" if keyword else "super().__init__(w * 2, d)"
    source = f"""
    import copy
    from dataclasses import dataclass

    @dataclass
    class _Config:
        width: int
        depth: int

    class Config(_Config):
        def __init__(self, w, d):
            {call}

    first = Config({width}, {depth})
    second = copy.copy(first)
    second.width = 1
    RESULT = (first.width, first.depth, second.width, second.depth, second is first)
    """
    assert ours(source) == python(source)
