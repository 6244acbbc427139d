"""Indexing a tensor in ``forward`` (``x[:, :64]``, ``x[..., ::2]``, ``x[:, 0]``, ``x[:, None]``) is recorded
on its line like an op (issue 16: every line whose shape is known has a hint), with torch's shape: drawn
keys over drawn shapes, each compared with torch on the meta device. A key torch rejects never shows a shape.
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

import torch  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import cnnshape_ls  # noqa: E402
from cnnshape_ls.analysis.findings import shape_text  # noqa: E402
from cnnshape_ls.display import line_hints  # noqa: E402

from support import input_text  # noqa: E402

pytestmark = pytest.mark.torch

BOUND = st.one_of(st.none(), st.integers(-9, 9))


@st.composite
def keys(draw: st.DrawFn, rank: int) -> str:
    """The text of an index: slices, integers, None and at most one Ellipsis, at most ``rank`` dimensions."""
    parts: list[str] = []
    used = 0
    ellipsis = False
    for _ in range(draw(st.integers(1, rank + 1))):
        kind = draw(st.sampled_from(["slice", "slice", "int", "none", "ellipsis"]))
        if kind == "ellipsis" and not ellipsis:
            ellipsis = True
            parts.append("...")
        elif kind == "none":
            parts.append("None")
        elif used < rank and kind == "int":
            used += 1
            parts.append(str(draw(st.integers(-6, 6))))
        elif used < rank:
            used += 1
            lower, upper = draw(BOUND), draw(BOUND)
            step = draw(st.one_of(st.none(), st.integers(1, 3)))
            text = f"{'' if lower is None else lower}:{'' if upper is None else upper}"
            parts.append(text + (f":{step}" if step is not None else ""))
    return ", ".join(parts)


def model_source(key: str) -> str:
    return (
        "import torch.nn as nn\n\n\n"
        "class Net(nn.Module):\n"
        "    def forward(self, x):\n"
        f"        y = x[{key}]\n"
        "        return y\n"
    )


@settings(max_examples=150, deadline=None)
@given(shape=st.lists(st.integers(1, 7), min_size=2, max_size=4).map(tuple), data=st.data())
def test_an_index_line_has_torch_shape_or_none(shape: tuple[int, ...], data: st.DataObject) -> None:
    key = data.draw(keys(len(shape)))
    source = model_source(key)
    try:
        expected = tuple(eval(f"torch.empty({shape}, device='meta')[{key}]").shape)  # noqa: S307 - drawn text
    except (IndexError, TypeError, RuntimeError):
        expected = None
    result = cnnshape_ls.analyze(source, input=input_text(shape), model="Net()").to_json()
    ours = [tuple(layer["out"]) for m in result["models"] for layer in m["layers"]
            if layer["line"] == 6 and layer["out"] is not None]
    if expected is None:
        assert not ours, f"torch rejects x[{key}] on {shape}, we say {ours}"
        return
    assert ours in ([], [expected]), f"x[{key}] on {shape}: torch {expected}, ours {ours}"


def test_index_lines_get_hints_in_a_model() -> None:
    """Channel halves and a crop: each line's hint is the shape torch gives there."""
    source = (
        "import torch\nimport torch.nn as nn\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv2d(3, 32, 3)\n\n"
        "    def forward(self, x):\n"
        "        x = self.conv(x)\n"
        "        a = x[:, :16]\n"
        "        b = x[:, 16:, 1:-1, ::2]\n"
        "        return a, b\n"
    )
    analysis = cnnshape_ls.analyze(source, input="(BS, 3, 12, 12)", model="Net()")
    hints = {hint.line: hint.label for hint in line_hints(analysis, source.splitlines())}
    x = torch.empty(2, 3, 12, 12, device="meta")
    x = torch.nn.Conv2d(3, 32, 3, device="meta")(x)
    for line, made in ((12, x[:, :16]), (13, x[:, 16:, 1:-1, ::2])):
        want = "# out: " + shape_text(("BS", *made.shape[1:]))
        assert hints.get(line) == want, (line, hints.get(line), want)
