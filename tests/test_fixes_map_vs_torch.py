"""The window that made a map the wrong size (issue 15, generated kinds 9 and 11): a conv's or a pool's
kernel_size / stride / padding changed, so that a later Linear, a hard-coded view, or a later window no longer
fits. The error stays where torch fails; the window's argument is a related place, with a second (checked)
fix that changes it. Each test applies the fixes and runs torch on the result."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import cnnshape_ls
from cnnshape_ls.analysis.findings import Finding, Fix, Related, Span
from cnnshape_ls.analysis.fixes_map import MAX_NAMED, Candidate, keep_shown, named

from support import apply_edits, torch_truth

pytestmark = pytest.mark.torch

SHAPE = [2, 3, 32, 32]


def _errors(source: str, shape: list[int] = SHAPE) -> list[dict]:
    result = cnnshape_ls.analyze(source, input=str(tuple(shape)), model="Net()").to_json()
    return [d for d in result["diagnostics"] if d["severity"] == "error"]


def _runs(source: str, shape: list[int] = SHAPE) -> bool:
    return torch_truth(source, "Net()", shape)["ok"]


def _line_of(source: str, text: str) -> int:
    return next(i for i, line in enumerate(source.splitlines(), 1) if text in line)


def _fix_editing(error: dict, line: int) -> dict:
    return next(f for f in error["fixes"] if any(e["line"] == line for e in f["edits"]))


# ------------------------------------------------------------------ kind 9: a Linear that no longer fits
LENET = """\
import torch.nn as nn
import torch.nn.functional as F
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.pool = nn.MaxPool2d(2, {stride})
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 10)
    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        return self.fc2(F.relu(self.fc1(x.flatten(1))))
"""


def test_a_pools_stride_named_where_the_linear_no_longer_fits() -> None:
    """``MaxPool2d(2, 3)`` (applied twice) makes a 2x2 map where fc1 takes 5x5. The error stays on fc1 with
    its own fix first (no sibling says the stride is the outlier); the pool's stride is a related place, and
    the second fix, stride 2, gives back the model torch runs."""
    source, right = LENET.format(stride=3), LENET.format(stride=2)
    assert not _runs(source) and _runs(right)
    (error,) = _errors(source)
    assert error["code"] == "linear-in-features" and error["line"] == _line_of(source, "self.fc1 = ")
    pool_line = _line_of(source, "MaxPool2d")
    (related,) = [r for r in error["related"] if r["line"] == pool_line]
    assert "stride=3 here makes the map 16x2x2" in related["message"]
    assert "nn.Linear(16 * 2 * 2, 120)" in apply_edits(source, error["fixes"][0]["edits"])
    assert _runs(apply_edits(source, error["fixes"][0]["edits"]))
    assert apply_edits(source, _fix_editing(error, pool_line)["edits"]) == right


BLOCKS = """\
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(kernel_size=2, stride={stride}),
            nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.fc = nn.Linear(64 * 4 * 4, 10)
    def forward(self, x):
        return self.fc(self.features(x).flatten(1))
"""


def test_the_pool_that_breaks_its_siblings_pattern_goes_first() -> None:
    """Every other pool strides by 2, this one by 4: the pool's fix goes first (the evident mistake), and
    the Linear's own fix stays offered; each runs."""
    source, right = BLOCKS.format(stride=4), BLOCKS.format(stride=2)
    assert not _runs(source) and _runs(right)
    (error,) = _errors(source)
    assert error["line"] == _line_of(source, "self.fc = ")
    assert [r["line"] for r in error["related"]] == [7]
    assert apply_edits(source, error["fixes"][0]["edits"]) == right
    consumer = apply_edits(source, _fix_editing(error, error["line"])["edits"])
    assert "nn.Linear(64 * 2 * 2, 10)" in consumer and _runs(consumer)


MNIST = """\
import torch.nn as nn
import torch.nn.functional as F
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, 10)
    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), {kernel}))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        x = x.view(-1, 320)
        return self.fc2(F.relu(self.fc1(x)))
"""


def test_a_functional_pools_kernel_named_where_the_view_no_longer_fits() -> None:
    """``F.max_pool2d(..., 3)`` where the other pool has 2: ``view(-1, 320)`` fails (torch's error is the
    view's). The view's fix (with fc1's) stays first; the pool's kernel is related, its fix the second."""
    shape = [2, 1, 28, 28]
    source, right = MNIST.format(kernel=3), MNIST.format(kernel=2)
    assert not _runs(source, shape) and _runs(right, shape)
    (error,) = _errors(source, shape)
    assert error["code"] == "view-invalid" and error["line"] == 13
    assert 11 in [r["line"] for r in error["related"]]
    first = apply_edits(source, error["fixes"][0]["edits"])
    assert "x.view(-1, 20 * 2 * 2)" in first and _runs(first, shape)
    assert apply_edits(source, _fix_editing(error, 11)["edits"]) == right


def test_no_window_named_where_every_change_would_break_the_convs_pattern() -> None:
    """Three unpadded 3x3 convs and a Linear written for one padded: each conv's padding=1 would fit, and
    each would break what the others agree on. No window is named; the Linear's fix stands alone."""
    source = """\
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.ReLU())
        self.fc = nn.Linear(8 * 28 * 28, 10)
    def forward(self, x):
        return self.fc(self.features(x).flatten(1))
"""
    (error,) = _errors(source)
    assert error.get("related", []) == [] and len(error["fixes"]) == 1
    assert _runs(apply_edits(source, error["fixes"][0]["edits"]))


def _candidate(node: object, score: int) -> Candidate:
    window = SimpleNamespace(layer=SimpleNamespace(node=node))
    return Candidate(window, "stride", 2, score, (5, 5), True)  # type: ignore[arg-type]


def test_tied_windows_are_named_only_where_few() -> None:
    """The best-supported candidates, one per window, where at most two windows tie; none where more do."""
    nodes = [object() for _ in range(MAX_NAMED + 1)]
    assert len(named([_candidate(n, 2) for n in nodes[:MAX_NAMED]])) == MAX_NAMED
    assert named([_candidate(n, 2) for n in nodes]) == []
    best = _candidate(nodes[0], 6)
    assert named([best, *(_candidate(n, 2) for n in nodes[1:])]) == [best]
    assert named([_candidate(nodes[0], 0)]) == []  # an edit that breaks an agreement is no cause


def test_a_place_shown_for_a_dropped_fix_goes_with_it() -> None:
    span, other = Span(3, 4, 3, 5), Span(5, 0, 5, 1)
    dropped, kept = Fix("a", []), Fix("b", [])
    dropped.shows = Related(None, span, "the pool's stride (dropped)")
    kept.shows = Related(None, other, "the conv's padding")
    finding = Finding(Span(9, 0, 9, 1), "error", "linear-in-features", "m",
                      related=[dropped.shows, kept.shows, Related(None, Span(1, 0, 1, 1), "another")])
    keep_shown(finding, [kept], [dropped])
    assert [r.message for r in finding.related] == ["the conv's padding", "another"]


# ------------------------------------------------------------------ kind 11: a later window too large
DCGAN = """\
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(3, 16, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
            nn.Conv2d(16, 32, 4, {stride}, 1, bias=False), nn.LeakyReLU(0.2),
            nn.Conv2d(32, 64, 4, 2, 1, bias=False), nn.LeakyReLU(0.2),
            nn.Conv2d(64, 1, 4, 1, 0, bias=False), nn.Sigmoid(),
        )
    def forward(self, x):
        return self.main(x).view(-1, 1)
"""


def test_the_conv_that_shrank_the_map_too_far_is_named_and_fixed_first() -> None:
    """A discriminator whose convs all stride by 2 but one by 4: the last conv's 4x4 window is larger than
    the 2x2 map (torch fails there, and the error stays). The conv that strides by 4 is a related place, and
    its fix goes first: it gives back the model torch runs."""
    source, right = DCGAN.format(stride=4), DCGAN.format(stride=2)
    assert not _runs(source) and _runs(right)
    (error,) = _errors(source)
    assert error["code"] == "output-too-small" and error["line"] == 9
    assert 7 in [r["line"] for r in error["related"]]
    assert apply_edits(source, error["fixes"][0]["edits"]) == right  # the model torch runs, its shapes as meant
