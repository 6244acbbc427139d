"""Error messages of elementwise ops, cat and stack, word for word as torch says them on the CPU.

Shapes are drawn with several mismatching dimensions at once: torch names one of them (broadcasting walks
from the last dimension, cat from the first tensor and the first dimension), and so must the analysis.
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

import torch  # noqa: E402
from hypothesis import assume, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import cnnshape_ls  # noqa: E402
from cnnshape_ls.analysis import tensor_ops  # noqa: E402
from cnnshape_ls.analysis.layers import ShapeError  # noqa: E402

pytestmark = pytest.mark.torch

SETTINGS = settings(max_examples=300, deadline=None)


def torch_message(run) -> str | None:
    try:
        run()
    except (RuntimeError, IndexError) as error:
        return str(error).splitlines()[0]
    return None


def ours(run) -> str | None:
    try:
        run()
    except ShapeError as error:
        return error.message
    return None


@st.composite
def broadcast_pairs(draw) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Two shapes, of equal or different ranks, that differ in one or more aligned dimensions; the others
    equal or 1 on one side."""
    rank = draw(st.integers(1, 5))
    a, b = [], []
    for _ in range(rank):
        how = draw(st.sampled_from(["same", "same", "one", "differ"]))
        size = draw(st.integers(2, 6))
        if how == "same":
            a.append(size), b.append(size)
        elif how == "one":
            pair = [size, 1] if draw(st.booleans()) else [1, size]
            a.append(pair[0]), b.append(pair[1])
        else:
            a.append(size), b.append(draw(st.integers(2, 6).filter(lambda s, size=size: s != size)))
    cut = draw(st.integers(0, rank - 1))  # one side may be shorter: it is aligned on the last dimension
    if draw(st.booleans()):
        a = a[cut:]
    else:
        b = b[cut:]
    return tuple(a), tuple(b)


@SETTINGS
@given(broadcast_pairs())
@example(((2, 3, 4, 5), (2, 3, 5, 6)))  # H and W differ: torch names dimension 3
@example(((2, 64, 8, 8), (2, 128, 4, 4)))
def test_broadcast_names_the_dimension_torch_names(shapes) -> None:
    a, b = shapes
    expected = torch_message(lambda: torch.zeros(a) + torch.zeros(b))
    assert ours(lambda: tensor_ops.broadcast(a, b)) == expected


@st.composite
def cat_lists(draw) -> tuple[list[tuple[int, ...]], int]:
    rank = draw(st.integers(1, 4))
    dim = draw(st.integers(-rank, rank - 1))
    base = [draw(st.integers(1, 5)) for _ in range(rank)]
    shapes = []
    for _ in range(draw(st.integers(2, 4))):
        shape = list(base)
        for i in range(rank):
            if i == dim % rank or draw(st.integers(0, 3)) == 0:
                shape[i] = draw(st.integers(1, 5))  # along dim any size; elsewhere now and then another
        if draw(st.integers(0, 9)) == 0:
            shape = shape[1:] or [1, 1]  # now and then another rank
        shapes.append(tuple(shape))
    return shapes, dim


@SETTINGS
@given(cat_lists())
@example(([(2, 3, 4, 4), (2, 5, 3, 3)], 1))  # H and W differ: torch names H, of the second tensor
def test_cat_names_the_size_torch_names(case) -> None:
    shapes, dim = case
    expected = torch_message(lambda: torch.cat([torch.zeros(s) for s in shapes], dim))
    assume(expected is None or "out of range" not in expected)  # the first tensor's rank has no such dim
    assert ours(lambda: tensor_ops.cat(shapes, dim)) == expected


@SETTINGS
@given(cat_lists())
def test_stack_says_what_torch_says(case) -> None:
    shapes, dim = case
    dim = dim if dim >= 0 else dim - 1  # stack inserts a dimension: -1 is after the last
    expected = torch_message(lambda: torch.stack([torch.zeros(s) for s in shapes], dim))
    if expected is not None and "equal size" not in expected:
        return  # a dim out of range for the drawn rank: an IndexError-like message, not this rule's
    assert ours(lambda: tensor_ops.stack(shapes, dim)) == expected


RESIDUAL = """\
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, stride=2, padding=1)
    def forward(self, x):
        return self.conv(x) + x
"""


def test_a_residual_that_differs_in_h_and_w_is_reported_on_dimension_3() -> None:
    """The whole analysis: ``out + x`` of (2, 8, 4, 4) and (2, 8, 8, 8), in torch's words."""
    expected = torch_message(lambda: torch.nn.Conv2d(8, 8, 3, stride=2, padding=1)(torch.zeros(2, 8, 8, 8))
                             + torch.zeros(2, 8, 8, 8))
    result = cnnshape_ls.analyze(RESIDUAL, input="(2, 8, 8, 8)", model="Net()").to_json()
    messages = [d["message"] for d in result["diagnostics"] if d["severity"] == "error"]
    assert messages == [expected]
    assert "dimension 3" in expected
