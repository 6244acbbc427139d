"""Fixes for a map of the wrong spatial size (issue 15, kinds 1, 6 and 8): a window larger than its input, a
global pool with the wrong kernel before the classifier, a view or classifier sized for another input. Each
test applies the first fix and runs torch on the result."""

from __future__ import annotations

import pytest

import cnnshape_ls

from support import apply_edits, errors_and_first_fix, torch_truth

pytestmark = pytest.mark.torch

SHAPE = [2, 3, 32, 32]


def _diagnostics(source: str, shape: list[int] = SHAPE) -> list[dict]:
    return cnnshape_ls.analyze(source, input=str(tuple(shape)), model="Net()").to_json()["diagnostics"]


def _torch_fails_then_first_fix_runs(source: str, shape: list[int] = SHAPE) -> tuple[list[dict], str]:
    assert not torch_truth(source, "Net()", shape)["ok"]
    errors, fixed = errors_and_first_fix(source, "Net()", shape)
    assert torch_truth(fixed, "Net()", shape)["ok"], fixed
    return errors, fixed


# ------------------------------------------------------------------ kind 1: output too small
STAGES = """\
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d({pool}),
            nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(128, 128, 3{last}), nn.ReLU(),
        )
        self.fc = nn.Linear({features}, 10)
    def forward(self, x):
        return self.fc(self.features(x).flatten(1))
"""


def test_padding_on_the_conv_whose_window_is_larger_than_its_input() -> None:
    """A 3x3 conv on a 2x2 map with padding=0 written: the fix pads it, and the squiggle is ``padding=0``."""
    source = STAGES.format(pool=4, last=", padding=0", features="128 * 2 * 2")
    errors, fixed = _torch_fails_then_first_fix_runs(source)
    assert [e["code"] for e in errors] == ["output-too-small"]
    assert "Kernel size can't be greater than actual input size" in errors[0]["message"]
    line = source.splitlines()[8]
    assert errors[0]["line"] == 9
    assert line[errors[0]["column"] - 1:errors[0]["end_column"] - 1] == "padding=0"
    assert "nn.Conv2d(128, 128, 3, padding=1)" in fixed


def test_the_pool_that_shrank_the_map_when_padding_would_break_the_classifier() -> None:
    """32 -> 16 -> (pool 8) 2 -> 1: the last conv's 3x3 window does not fit. Padding it would give the
    Linear a 1x1 map where it takes 2x2, so the first fix that runs is the pool's kernel (2, as written in
    the other stages)."""
    source = STAGES.format(pool=8, last="", features="128 * 2 * 2")
    right = STAGES.format(pool=2, last="", features="128 * 2 * 2")
    assert torch_truth(right, "Net()", SHAPE)["ok"]
    errors, fixed = _torch_fails_then_first_fix_runs(source)
    assert errors[0]["line"] == 9  # where torch fails
    assert fixed == right
    titles = [f["title"] for f in errors[0]["fixes"]]
    for fix in errors[0]["fixes"]:  # every fix offered runs
        assert torch_truth(apply_edits(source, fix["edits"]), "Net()", SHAPE)["ok"], fix["title"]
    assert not any(t.startswith("Pad") for t in titles)


FUNCTIONAL = """\
import torch.nn as nn
import torch.nn.functional as F
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 5)
        self.conv2 = nn.Conv2d(16, 32, 5)
        self.fc = nn.Linear(32, 10)
    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), {k1})
        x = F.max_pool2d(F.relu(self.conv2(x)), {k2})
        x = F.max_pool2d(x, 5)
        return self.fc(x.flatten(1))
"""


def test_a_functional_pool_larger_than_its_input() -> None:
    """32 -> 28 -> (pool 4) 7 -> 3 -> (pool 2) 1: ``F.max_pool2d(x, 5)`` on 1x1. The fix that runs (the
    Linear takes 32 values, a 1x1 map) is the smaller kernel of the pool before it."""
    source = FUNCTIONAL.format(k1=4, k2=2)
    errors, fixed = _torch_fails_then_first_fix_runs(source)
    assert errors[0]["code"] == "output-too-small" and errors[0]["line"] == 12
    assert "Output size is too small" in errors[0]["message"]
    assert fixed != source


def test_the_smallest_input_the_model_accepts() -> None:
    """As information on the model: the input size torch accepts, and one less it rejects."""
    source = STAGES.format(pool=4, last="", features="128")
    notes = [d for d in _diagnostics(source) if d["severity"] == "information" and d["code"] == "output-too-small"]
    assert len(notes) == 1, notes
    size = int(notes[0]["message"].split("accepts is ")[1].split("x")[0])
    assert torch_truth(source, "Net()", [2, 3, size, size])["ok"]
    assert not torch_truth(source, "Net()", [2, 3, size - 1, size - 1])["ok"]


# ------------------------------------------------------------------ kind 6: a global pool's kernel
GLOBAL_POOL = """\
import torch.nn as nn
import torch.nn.functional as F
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(64, 128, 3, stride=2, padding=1)
        self.conv3 = nn.Conv2d(128, 256, 3, stride=2, padding=1)
        self.linear = nn.Linear({features}, 10)
    def forward(self, x):
        out = F.relu(self.conv1(x))
        out = F.relu(self.conv2(out))
        out = F.relu(self.conv3(out))
        out = {pool}
        out = out.view(out.size(0), -1)
        return self.linear(out)
"""


@pytest.mark.parametrize("pool, fixed_pool", [("F.avg_pool2d(out, 2)", "F.avg_pool2d(out, 4)"),
                                              ("F.max_pool2d(out, kernel_size=2)", "F.max_pool2d(out, kernel_size=4)")])
def test_a_global_pool_first_when_the_linear_takes_the_last_convs_width(pool: str, fixed_pool: str) -> None:
    source = GLOBAL_POOL.format(features=256, pool=pool)
    errors, fixed = _torch_fails_then_first_fix_runs(source)
    assert errors[0]["code"] == "linear-in-features" and errors[0]["line"] == 9  # where torch fails
    assert fixed == GLOBAL_POOL.format(features=256, pool=fixed_pool)
    titles = [f["title"] for f in errors[0]["fixes"]]
    assert titles[1].startswith("Use F.adaptive_"), titles
    for fix in errors[0]["fixes"][1:]:  # the adaptive pool, then in_features = 256 * 2 * 2: each runs
        assert torch_truth(apply_edits(source, fix["edits"]), "Net()", SHAPE)["ok"], fix["title"]
    assert "nn.Linear(256 * 2 * 2, 10)" in apply_edits(source, errors[0]["fixes"][2]["edits"])


def test_the_linears_number_first_when_it_is_not_the_width() -> None:
    """``Linear(512, ...)`` after a 2x2 pool of a 4x4 map of 256: no pool kernel gives 512; in_features goes."""
    source = GLOBAL_POOL.format(features=512, pool="F.avg_pool2d(out, 2)")
    errors, fixed = _torch_fails_then_first_fix_runs(source)
    assert "nn.Linear(256 * 2 * 2, 10)" in fixed
    assert not any("pool" in f["title"] for f in errors[0]["fixes"])


# ------------------------------------------------------------------ kind 8: sized for another input
VIEW_FOR_ANOTHER_INPUT = """\
import torch.nn as nn
import torch.nn.functional as F
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.conv3 = nn.Conv2d(64, 64, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear({fc}, 128)
        self.fc2 = nn.Linear(128, 10)
    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = self.pool(F.relu(self.conv3(x)))
        x = x.view({view})
        return self.fc2(F.relu(self.fc1(x)))
"""


@pytest.mark.parametrize("view", ["-1, 64 * 8 * 8", "x.size(0), 64 * 8 * 8", "-1, 4096"])
def test_a_view_written_for_64x64_on_a_72x72_input(view: str) -> None:
    """A 72x72 input gives a 9x9 map: one diagnostic, on the view, whose fix writes 64 * 9 * 9 in the view
    and in fc1 (the Linear agrees with the view)."""
    source = VIEW_FOR_ANOTHER_INPUT.format(fc="64 * 8 * 8", view=view)
    shape = [2, 3, 72, 72]
    errors, fixed = _torch_fails_then_first_fix_runs(source, shape)
    assert [e["line"] for e in errors] == [16]
    assert "64 * 9 * 9" in fixed.splitlines()[15] and "nn.Linear(64 * 9 * 9, 128)" in fixed


SEQUENTIAL_FOR_28 = """\
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(64 * 7 * 7, 10))
    def forward(self, x):
        return self.classifier(self.features(x))
"""


def test_a_classifier_written_for_28x28_given_64x64() -> None:
    errors, fixed = _torch_fails_then_first_fix_runs(SEQUENTIAL_FOR_28, [2, 1, 64, 64])
    assert [e["line"] for e in errors] == [9]
    assert "nn.Linear(64 * 16 * 16, 10)" in fixed


NAMED_SIZE = """\
import torch.nn as nn
import torch.nn.functional as F
{top}
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        {init}
        self.fc1 = nn.Linear({name}, 128)
        self.fc2 = nn.Linear(128, 10)
    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.reshape(-1, {name})
        return self.fc2(F.relu(self.fc1(x)))
"""


@pytest.mark.parametrize("top, init, name", [("", "self.num_flat = 64 * 7 * 7", "self.num_flat"),
                                             ("FLAT = 3136", "pass", "FLAT")])
def test_a_size_written_as_a_name_changes_where_it_is_written(top: str, init: str, name: str) -> None:
    """The view and the Linear both say ``self.num_flat`` (28x28's size) for a 64x64 input: one edit, of
    the name's value, in the style it was written; the error stays on the view."""
    source = NAMED_SIZE.format(top=top, init=init, name=name)
    errors, fixed = _torch_fails_then_first_fix_runs(source, [2, 1, 64, 64])
    assert [e["line"] for e in errors] == [16]
    assert len(errors[0]["fixes"][0]["edits"]) == 1
    expected = "64 * 16 * 16" if "*" in init else "16384"
    assert fixed == source.replace("64 * 7 * 7" if "*" in init else "3136", expected)


POOL_MODULE = """\
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(64, 128, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(128, 256, 3, stride=2, padding=1), nn.ReLU(),
        )
        self.avgpool = nn.AvgPool2d(kernel_size={k}, stride={k})
        self.fc = nn.Linear(256, 10)
    def forward(self, x):
        x = self.avgpool(self.features(x))
        x = x.view(x.size(0), -1)
        return self.fc(x)
"""


def test_a_pool_module_written_for_32x32_given_64x64() -> None:
    """An 8x8 map pooled by 4: the kernel and the stride written with it both become 8."""
    errors, fixed = _torch_fails_then_first_fix_runs(POOL_MODULE.format(k=4), [2, 3, 64, 64])
    assert errors[0]["line"] == 11
    assert fixed == POOL_MODULE.format(k=8)
