"""Fixes checked by analyzing the fixed text (analysis/checking.py): the first fix is one after which the
model has no error, one root cause gives one error, and guesses that do not work are never offered."""

from __future__ import annotations

import textwrap

import pytest

import cnnshape_ls
from cnnshape_ls.analysis import engine
from cnnshape_ls.analysis.edits import apply_edits as apply_span_edits

from support import assert_one_error_fixed

UNET_UP = """\
import torch
import torch.nn as nn
def block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU())
class Net(nn.Module):
    def __init__(self, features=16):
        super().__init__()
        self.enc1 = block(3, features)
        self.enc2 = block(features, features * 2)
        self.pool = nn.MaxPool2d(2)
        self.up = {up}
        self.dec = block(features * 2, features)
    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        return self.dec(torch.cat([self.up(e2), e1], dim=1))
"""
UP_RIGHT = "nn.ConvTranspose2d(features * 2, features, 2, stride=2)"

FIRE = """\
import torch
import torch.nn as nn
class Fire(nn.Module):
    def __init__(self, inplanes, squeeze, e1, e3):
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze, 1)
        self.expand1x1 = nn.Conv2d(squeeze, {e1}, 1)
        self.expand3x3 = nn.Conv2d(squeeze, e3, 3, padding=1)
    def forward(self, x):
        x = self.squeeze(x).relu()
        return torch.cat([self.expand1x1(x), self.expand3x3(x)], 1)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 32, 3), Fire(32, 8, 16, 16), Fire(32, 8, 16, 16),
                                      Fire(32, 16, 32, 32))
        self.head = nn.Conv2d(64, 10, 1)
    def forward(self, x):
        return self.head(self.features(x)).mean((2, 3))
"""

HELPER_BN = """\
import torch.nn as nn
def conv_bn(inp, oup):
    return nn.Sequential(nn.Conv2d(inp, {out}, 1, bias=False), nn.BatchNorm2d(oup), nn.ReLU())
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(conv_bn(3, 16), conv_bn(16, 32), conv_bn(32, 32), nn.AdaptiveAvgPool2d(1))
        self.fc = nn.Linear(32, 10)
    def forward(self, x):
        return self.fc(self.body(x).flatten(1))
"""

CASES = {
    # the transposed conv's sizes are swapped; the cat after it is what fails further on
    "swapped sizes before a cat": (UNET_UP.format(up="nn.ConvTranspose2d(features, features * 2, 2, stride=2)"),
                                   UNET_UP.format(up=UP_RIGHT), 11),
    # one branch of a block built three times makes one channel too many
    "a cat branch": (FIRE.format(e1="e1 + 1"), FIRE.format(e1="e1"), 7),
    # a helper's conv makes one channel too many for the norm after it, in every copy
    "a helper's conv": (HELPER_BN.format(out="oup + 1"), HELPER_BN.format(out="oup"), 3),
}


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(CASES))
def test_one_error_whose_first_fix_torch_runs(name: str) -> None:
    assert_one_error_fixed(*CASES[name])


@pytest.mark.parametrize("name", sorted(CASES))
def test_without_checking_the_first_fix_leaves_an_error(name: str) -> None:
    """What the checking adds: the unchecked first fix only moves the mistake along (or there is none)."""
    source, _, _ = CASES[name]
    options = engine.Options(input="(2, 3, 32, 32)", model="Net()", check_fixes=False)
    errors = [f for f in engine.analyze_source(source, None, options).findings if f.severity == "error"]
    first = next((f.fixes[0] for f in errors if f.fixes and not f.fixes[0].tentative), None)
    if first is None:
        return  # nothing was offered unchecked
    fixed, _ = apply_span_edits(source, first.edits)
    after = cnnshape_ls.analyze(fixed, input="(2, 3, 32, 32)", model="Net()").to_json()
    assert any(d["severity"] == "error" for d in after["diagnostics"])


def test_a_guess_that_does_not_work_is_not_offered() -> None:
    """Conv2d(16, 16) given 8 channels: swapping its sizes changes nothing, so only in_channels is offered."""
    source = textwrap.dedent("""\
        import torch.nn as nn
        net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(16, 8, 3), nn.Conv2d(8, 4, 3))
        """)
    result = cnnshape_ls.analyze(source, input="(2, 3, 32, 32)").to_json()
    errors = [d for d in result["diagnostics"] if d["severity"] == "error"]
    assert len(errors) == 1
    titles = [f["title"] for f in errors[0]["fixes"]]
    assert not any(t.startswith("Swap") for t in titles), titles
    assert titles[0] == "Change in_channels to 8"


def test_two_mistakes_keep_two_errors() -> None:
    """Fixing one mistake does not end the other: both stay, each with its own fix."""
    source = textwrap.dedent("""\
        import torch.nn as nn
        net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(16, 8, 3), nn.Flatten(), nn.Linear(100, 10))
        """)
    result = cnnshape_ls.analyze(source, input="(2, 3, 32, 32)").to_json()
    errors = [d for d in result["diagnostics"] if d["severity"] == "error"]
    assert [d["code"] for d in errors] == ["conv-in-channels", "linear-in-features"], errors
