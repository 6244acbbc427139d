"""Mistakes upstream of the layer that breaks: one error, on the line to change, whose first fix torch runs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import cnnshape_ls

from support import apply_edits, assert_one_error_fixed, errors_and_first_fix, torch_truth

pytestmark = pytest.mark.torch

TEMPLATE = """\
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = {conv1}
        self.bn1 = {bn1}
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.fc = nn.Linear(32 * 16 * 16, 10)
    def forward(self, x):
        x = self.pool(self.bn1(self.conv1(x)).relu())
        x = self.bn2(self.conv2(x)).relu()
        return self.fc(x.flatten(1))
"""
RIGHT = {"conv1": "nn.Conv2d(3, 16, 3, padding=1)", "bn1": "nn.BatchNorm2d(16)"}
MISTAKES = {
    # the producer's out_channels changed: bn1 and conv2 (after a pool) both still say 16
    "out_channels changed": ({"conv1": "nn.Conv2d(3, 32, 3, padding=1)"}, 5),
    # in and out swapped in one conv: its input says 3, the layers after it say 16
    "in and out swapped": ({"conv1": "nn.Conv2d(16, 3, 3, padding=1)"}, 5),
    # a BatchNorm of the wrong rank
    "BatchNorm1d on an image": ({"bn1": "nn.BatchNorm1d(16)"}, 6),
}


@pytest.mark.parametrize("name", sorted(MISTAKES))
def test_one_error_on_the_line_to_change_and_a_fix_torch_runs(name: str) -> None:
    changes, line = MISTAKES[name]
    assert_one_error_fixed(TEMPLATE.format(**{**RIGHT, **changes}), TEMPLATE.format(**RIGHT), line)


def test_a_layer_applied_twice_is_one_consumer() -> None:
    """A siamese network runs bn1 twice: its own number is what is wrong, not conv1's out_channels."""
    source = TEMPLATE.format(conv1=RIGHT["conv1"], bn1="nn.BatchNorm2d(8)").replace(
        "x = self.pool(self.bn1(self.conv1(x)).relu())",
        "x = self.pool(self.bn1(self.conv1(x)).relu() + self.bn1(self.conv1(x)))")
    result = cnnshape_ls.analyze(source, input="(2, 3, 32, 32)", model="Net()").to_json()
    errors = [d for d in result["diagnostics"] if d["severity"] == "error"]
    assert [d["line"] for d in errors] == [6]
    assert torch_truth(apply_edits(source, errors[0]["fixes"][0]["edits"]), "Net()", [2, 3, 32, 32])["ok"]


FLATTENS = ["x.view(-1)", "x.reshape(-1)", "x.flatten()", "torch.flatten(x)", "torch.flatten(x, 0)",
            "torch.flatten(x, start_dim=0)", "self.flat(x)"]
FLAT_NET = """\
import torch
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.flat = nn.Flatten(0)
        self.fc = nn.Linear(4 * 30 * 30, 10)
    def forward(self, x):
        x = self.conv(x)
        x = {flatten}
        return self.fc(x)
"""


@pytest.mark.parametrize("flatten", FLATTENS)
def test_a_flatten_that_takes_the_batch_too(flatten: str) -> None:
    """torch says mat1 and mat2 cannot be multiplied at the Linear; the line to change is the flatten."""
    source = FLAT_NET.format(flatten=flatten)
    assert not torch_truth(source, "Net()", [2, 3, 32, 32])["ok"]
    for stated in ("(2, 3, 32, 32)", "(BS, 3, 32, 32)"):
        result = cnnshape_ls.analyze(source, input=stated, model="Net()").to_json()
        errors = [d for d in result["diagnostics"] if d["severity"] == "error"]
        assert [(d["line"], d["code"]) for d in errors] == [(7 if flatten == "self.flat(x)" else 11, "view-invalid")]
        fixed = apply_edits(source, errors[0]["fixes"][0]["edits"])
        truth = torch_truth(fixed, "Net()", [2, 3, 32, 32])
        assert truth["ok"] and truth["output"] == [2, 10]
    one = cnnshape_ls.analyze(source, input="(1, 3, 32, 32)", model="Net()").to_json()
    assert not [d for d in one["diagnostics"] if d["severity"] == "error"]  # torch runs a batch of one


BLOCKS = """\
import torch.nn as nn
class Block(nn.Module):
    def __init__(self, inplanes, planes):
        super().__init__()
        self.conv = nn.Conv2d(inplanes, planes, 3, padding=1)
    def forward(self, x):
        return self.conv(x).relu()
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = Block(3, 16)
        self.b = Block({second}, 32)
        self.c = Block(32, 64)
    def forward(self, x):
        return self.c(self.b(self.a(x)))
"""


def test_a_block_given_the_wrong_size_where_it_is_made() -> None:
    """Block(8, 32) after a block that makes 16 channels: no number suits the shared Conv2d(inplanes, ...),
    the argument of that one Block(...) is the line to change."""
    source = BLOCKS.format(second=8)
    assert not torch_truth(source, "Net()", [2, 3, 16, 16])["ok"]
    result = cnnshape_ls.analyze(source, input="(2, 3, 16, 16)", model="Net()").to_json()
    errors = [d for d in result["diagnostics"] if d["severity"] == "error"]
    assert [(d["line"], d["code"]) for d in errors] == [(12, "conv-in-channels")]
    fixed = apply_edits(source, errors[0]["fixes"][0]["edits"])
    assert fixed == BLOCKS.format(second=16)
    assert torch_truth(fixed, "Net()", [2, 3, 16, 16])["ok"]


RESIDUAL = """\
import torch.nn as nn
class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, {kernel}, padding=1)
    def forward(self, x):
        out = self.conv2(self.conv1(x).relu())
        return (out + x).relu()
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.blocks = nn.Sequential(Block(8), Block(8))
    def forward(self, x):
        return self.blocks(self.stem(x))
"""


def test_a_residual_branch_whose_convolution_changed_the_size() -> None:
    """A 5x5 kernel with padding 1 shrinks the branch, the identity does not: the error is on that conv,
    and its fix (here the padding, right for both copies of the block) gives code torch runs."""
    source = RESIDUAL.format(kernel=5)
    assert not torch_truth(source, "Net()", [2, 3, 16, 16])["ok"]
    result = cnnshape_ls.analyze(source, input="(2, 3, 16, 16)", model="Net()").to_json()
    errors = [d for d in result["diagnostics"] if d["severity"] == "error"]
    assert [(d["line"], d["code"]) for d in errors] == [(6, "add-mismatch")]
    fixed = apply_edits(source, errors[0]["fixes"][0]["edits"])
    truth = torch_truth(fixed, "Net()", [2, 3, 16, 16])
    assert truth["ok"] and truth["output"] == [2, 8, 16, 16]


def test_a_view_that_mixes_the_samples_is_the_views_error() -> None:
    """view(-1, 640) of a (2, 320) batch runs in torch, and hands the Linear one row of two samples."""
    source = FLAT_NET.format(flatten="x.view(-1, 2 * 4 * 30 * 30)")
    assert not torch_truth(source, "Net()", [2, 3, 32, 32])["ok"]
    errors, fixed = errors_and_first_fix(source, "Net()", [2, 3, 32, 32])
    assert [d["line"] for d in errors] == [11]
    assert "mixes the samples" in errors[0]["message"]
    truth = torch_truth(fixed, "Net()", [2, 3, 32, 32])
    assert truth["ok"] and truth["calls"][-1][1] == [2, 10], fixed


SE_NET = """\
import torch.nn as nn
class SE(nn.Module):
    def __init__(self, channel):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(nn.Linear(channel, channel // 4), nn.ReLU(), nn.Linear(channel // 4, channel))
    def forward(self, x):
        b, c, _, _ = x.size()
        y = self.pool(x).view({view})
        return x * self.fc(y).view(b, c, 1, 1)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 32, 3, padding=1)
        self.s1 = SE(32)
        self.c2 = nn.Conv2d(32, 64, 3, padding=1)
        self.s2 = SE(64)
    def forward(self, x):
        return self.s2(self.c2(self.s1(self.c1(x))))
"""


@pytest.mark.parametrize("view", ["-1, 32 * 2 * 2", "b, 64"])
def test_a_view_in_a_block_used_with_two_sizes_gets_a_fix_for_both(view: str) -> None:
    """No one number fits both SE blocks (32 and 64 channels): never a literal, and never one edit twice."""
    source = SE_NET.format(view=view)
    assert torch_truth(SE_NET.format(view="b, c"), "Net()", [2, 3, 8, 8])["ok"]
    errors, fixed = errors_and_first_fix(source, "Net()", [2, 3, 8, 8])
    assert errors[0]["line"] == 9
    edits = errors[0]["fixes"][0]["edits"]
    assert len({(e["line"], e["column"]) for e in edits}) == len(edits)
    assert torch_truth(fixed, "Net()", [2, 3, 8, 8])["ok"], fixed


def test_a_norm_and_a_linear_after_a_flatten_agree_on_the_convs_channels() -> None:
    """Conv2d(1, 65) then BatchNorm2d(64) and, after pooling, Linear(64): one mistake, the conv's."""
    source = textwrap.dedent("""\
        import torch.nn as nn
        model = nn.Sequential(
            nn.Conv2d(1, 65, 3),
            nn.BatchNorm2d(64),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(64, 10),
        )
        """)
    errors, fixed = errors_and_first_fix(source, "model", [2, 1, 28, 28])
    assert [d["line"] for d in errors] == [3]
    assert torch_truth(fixed, "model", [2, 1, 28, 28])["ok"], fixed


BOTTLENECK = """\
import torch.nn as nn
class Block(nn.Module):
    expansion = 4
    def __init__(self, planes):
        super().__init__()
        self.conv1 = nn.Conv2d(planes * 4, planes, 1)
        self.conv2 = nn.Conv2d(planes, {out}, 1)
        self.bn2 = nn.BatchNorm2d(self.expansion * planes)
    def forward(self, x):
        return self.bn2(self.conv2(self.conv1(x)))
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.Sequential(Block(16), Block(16), nn.Conv2d(64, 128, 1), Block(32))
    def forward(self, x):
        return self.blocks(x)
"""


def test_a_producer_built_many_times_takes_its_consumers_expression() -> None:
    source = BOTTLENECK.format(out="self.expansion * planes + 1")
    assert torch_truth(BOTTLENECK.format(out="self.expansion * planes"), "Net()", [2, 64, 8, 8])["ok"]
    errors, fixed = errors_and_first_fix(source, "Net()", [2, 64, 8, 8])
    assert errors[0]["line"] == 7
    assert {e["line"] for e in errors[0]["fixes"][0]["edits"]} == {7}
    assert "planes" in fixed.splitlines()[6].split(",")[1], fixed  # written with the block's parameter
    assert torch_truth(fixed, "Net()", [2, 64, 8, 8])["ok"], fixed



def test_sizes_swapped_in_a_block_built_many_times() -> None:
    """SE-ResNet's block with Conv2d(planes, inplanes) for Conv2d(inplanes, planes): one fix, on the conv,
    changes both names (right in every copy)."""
    right = (Path(__file__).parent / "models" / "m34_se_resnet.py").read_text()
    wrong = "self.conv1 = nn.Conv2d(planes, inplanes, 3"
    source = right.replace("self.conv1 = nn.Conv2d(inplanes, planes, 3", wrong)
    assert source != right
    errors, fixed = errors_and_first_fix(source, "SEResNet()", [2, 3, 32, 32])
    assert [d["line"] for d in errors] == [source.splitlines().index(next(
        line for line in source.splitlines() if wrong in line)) + 1]
    assert fixed == right


INCEPTION = """\
import torch
import torch.nn as nn
class BasicConv2d(nn.Module):
    def __init__(self, cin, cout, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(cout)
    def forward(self, x):
        return self.bn(self.conv(x)).relu()
class Inception(nn.Module):
    def __init__(self, in_planes, n1, n3):
        super().__init__()
        self.b1 = BasicConv2d(in_planes, n1, kernel_size=1)
        self.b2 = BasicConv2d(in_planes, n3, kernel_size=3, padding=1)
    def forward(self, x):
        return torch.cat([self.b1(x), self.b2(x)], 1)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.a = Inception(16, 8, 8)
        self.b = Inception({planes}, 16, 16)
    def forward(self, x):
        return self.b(self.a(self.stem(x)))
"""


def test_a_size_passed_on_through_two_blocks_is_changed_where_it_is_written() -> None:
    """Inception(17, ...) passes in_planes on to BasicConv2d, whose conv fails: the 17 is what to change."""
    source = INCEPTION.format(planes=17)
    assert torch_truth(INCEPTION.format(planes=16), "Net()", [2, 3, 8, 8])["ok"]
    errors, fixed = errors_and_first_fix(source, "Net()", [2, 3, 8, 8])
    assert [d["line"] for d in errors] == [22]
    assert fixed == INCEPTION.format(planes=16)


def test_a_view_that_mixes_the_samples_before_a_linear_that_fits_is_a_warning() -> None:
    """Linear(640) after view(-1, 640) of (2, 320): torch runs, and returns one row for two samples."""
    source = FLAT_NET.format(flatten="x.view(-1, 2 * 4 * 30 * 30)").replace(
        "nn.Linear(4 * 30 * 30, 10)", "nn.Linear(2 * 4 * 30 * 30, 10)")
    truth = torch_truth(source, "Net()", [2, 3, 32, 32])
    assert truth["ok"] and truth["calls"][-1][1][0] == 1  # the batch of 2 came out as 1
    result = cnnshape_ls.analyze(source, input="(2, 3, 32, 32)", model="Net()").to_json()
    assert [(d["line"], d["severity"]) for d in result["diagnostics"]] == [(11, "warning")]
    assert "only for some batch sizes" in result["diagnostics"][0]["message"]


SLIP = """\
import torch.nn as nn
model = nn.Sequential(
    nn.Conv2d(3, {conv_out}, 3),
    nn.ReLU(),
    nn.Conv2d({conv_in}, 64, 3),
    nn.AdaptiveAvgPool2d(1),
    nn.Flatten(),
    nn.Linear(64, {fc_out}),
    nn.Linear({fc_in}, 10),
)
"""


@pytest.mark.parametrize("sizes", [
    {"conv_out": 33, "conv_in": 32, "fc_out": 128, "fc_in": 128},
    {"conv_out": 31, "conv_in": 32, "fc_out": 128, "fc_in": 128},
    {"conv_out": 32, "conv_in": 33, "fc_out": 128, "fc_in": 128},
    {"conv_out": 32, "conv_in": 64, "fc_out": 128, "fc_in": 128},
    {"conv_out": 32, "conv_in": 32, "fc_out": 129, "fc_in": 128},
    {"conv_out": 32, "conv_in": 32, "fc_out": 128, "fc_in": 129},
])
def test_a_size_that_one_layer_makes_and_one_takes_is_the_takers(sizes: dict) -> None:
    """Where one layer makes a size and the one after it wants another, the error is the one after it's, as
    torch and the seed corpus put it (s01: fc1 makes 127, fc2 wants 128, fix line 19) even where the maker's
    size looks like the slip (33 for 32); the alternative fix changes the maker."""
    source = SLIP.format(**sizes)
    errors, fixed = errors_and_first_fix(source, "model", [2, 3, 16, 16])
    consumer = 5 if sizes["conv_out"] != sizes["conv_in"] else 9
    assert [d["line"] for d in errors] == [consumer], errors
    assert torch_truth(fixed, "model", [2, 3, 16, 16])["ok"], fixed
    assert any("out_" in fix["title"] for fix in errors[0]["fixes"][1:]), errors[0]["fixes"]


CAT_BLOCKS = """\
import torch
import torch.nn as nn
class Mixed(nn.Module):
    def __init__(self, cin, a, b):
        super().__init__()
        self.left = nn.Conv2d(cin, a, 1)
        self.right = nn.Conv2d(cin, b, 3, padding=1)
    def forward(self, x):
        return torch.cat([self.left(x), self.right(x)], 1)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Mixed(3, 8, {width})
        self.second = Mixed(16, 16, 16)
        self.head = nn.Conv2d(32, 10, 1)
    def forward(self, x):
        return self.head(self.second(self.first(x)))
"""


def test_channels_made_by_another_blocks_cat_name_that_blocks_call() -> None:
    """Mixed(3, 8, 9) makes 17 channels where the next Mixed takes 16: torch fails in the second block, and
    the call that built the first, whose argument made the odd part, is shown as related information."""
    source = CAT_BLOCKS.format(width=9)
    truth = torch_truth(source, "Net()", [2, 3, 8, 8])
    assert not truth["ok"]  # on the meta device: "Invalid channel dimensions"
    result = cnnshape_ls.analyze(source, input="(2, 3, 8, 8)", model="Net()").to_json()
    [error] = [d for d in result["diagnostics"] if d["severity"] == "error"]
    assert error["code"] == "conv-in-channels"
    related = [r for r in error["related"] if r["line"] == 13]
    assert related and "makes the 17 channels (8 + 9, concatenated)" in related[0]["message"], error["related"]
    assert torch_truth(apply_edits(source, error["fixes"][0]["edits"]), "Net()", [2, 3, 8, 8])["ok"]
    right = cnnshape_ls.analyze(CAT_BLOCKS.format(width=8), input="(2, 3, 8, 8)", model="Net()").to_json()
    assert not [d for d in right["diagnostics"] if d["severity"] == "error"]


FLATTENED = """\
import torch
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.MaxPool2d(2),
            nn.Conv2d(16, {width}, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Linear(32 * 7 * 7, 10)
    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))
"""


def test_a_linear_after_a_flatten_names_the_conv_that_made_the_channels() -> None:
    """Conv2d(16, 64) where the head takes 32 * 7 * 7: torch fails at the Linear, where the error stays; the
    conv's out_channels is related information, and both fixes are offered and run."""
    source = FLATTENED.format(width=64)
    assert not torch_truth(source, "Net()", [2, 1, 28, 28])["ok"]
    result = cnnshape_ls.analyze(source, input="(2, 1, 28, 28)", model="Net()").to_json()
    [error] = [d for d in result["diagnostics"] if d["severity"] == "error"]
    assert (error["line"], error["code"]) == (13, "linear-in-features")
    assert [r["line"] for r in error["related"]] == [9] and "makes the 64 channels" in error["related"][0]["message"]
    assert [f["title"] for f in error["fixes"]] == ["Change in_features to 3136 (64 * 7 * 7)",
                                                    "Change out_channels of layer features.2 (Conv2d) to 32"]
    for fix in error["fixes"]:
        assert torch_truth(apply_edits(source, fix["edits"]), "Net()", [2, 1, 28, 28])["ok"], fix["title"]
    assert apply_edits(source, error["fixes"][1]["edits"]) == FLATTENED.format(width=32)


def test_the_conv_fix_is_not_offered_where_a_norm_wants_its_channels() -> None:
    """A BatchNorm2d(64) after the conv: making the conv give 32 channels would break the norm, so only the
    Linear's fix is offered."""
    source = FLATTENED.format(width=64).replace("nn.ReLU(),", "nn.BatchNorm2d(64),")
    assert torch_truth(apply_edits(source, []), "Net()", [2, 1, 28, 28])["ok"] is False
    result = cnnshape_ls.analyze(source, input="(2, 1, 28, 28)", model="Net()").to_json()
    [error] = [d for d in result["diagnostics"] if d["severity"] == "error"]
    assert [f["title"] for f in error["fixes"]] == ["Change in_features to 3136 (64 * 7 * 7)"]
    assert not torch_truth(source.replace("nn.Conv2d(16, 64", "nn.Conv2d(16, 32"), "Net()", [2, 1, 28, 28])["ok"]


TWO_HEADS = """\
import torch
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(32, 64)
        self.mu = nn.Linear(64, {mu})
        self.gate = nn.Linear(64, 16)
        self.out = nn.Linear(16, 4)
    def forward(self, x):
        h = self.body(x).relu()
        return self.out(self.mu(h) + self.gate(h))
"""


def test_an_add_of_two_linears_outputs_names_both_and_fixes_the_one_that_runs() -> None:
    """mu makes 17 features, gate 16, and the Linear after the add takes 16: torch fails at the add; both
    Linears are related places, and of the two fixes only mu's lets the model run, so only it is offered."""
    source = TWO_HEADS.format(mu=17)
    assert not torch_truth(source, "Net()", [2, 32])["ok"]
    result = cnnshape_ls.analyze(source, input="(2, 32)", model="Net()").to_json()
    [error] = [d for d in result["diagnostics"] if d["severity"] == "error"]
    assert (error["line"], error["code"]) == (12, "add-mismatch")
    assert sorted(r["line"] for r in error["related"]) == [7, 8]
    assert [f["title"] for f in error["fixes"]] == ["Change out_features of mu to 16"]
    fixed = apply_edits(source, error["fixes"][0]["edits"])
    assert fixed == TWO_HEADS.format(mu=16) and torch_truth(fixed, "Net()", [2, 32])["ok"]


STAGES = """\
import torch.nn as nn
class Net(nn.Module):
    def __init__(self, widths=(8, 16, 32)):
        super().__init__()
        self.stages = nn.ModuleList()
        for cin, cout in zip(widths[:-1], widths[1:]):
            self.stages.append(nn.Sequential(nn.Conv2d(cin, {out}, 3, padding=1), nn.ReLU()))
        self.stem = nn.Conv2d(3, widths[0], 3, padding=1)
        self.head = nn.Conv2d(widths[-1], 10, 1)
    def forward(self, x):
        x = self.stem(x)
        for stage in self.stages:
            x = stage(x)
        return self.head(x)
"""


def test_a_conv_built_in_a_loop_gets_the_name_that_holds_the_size_in_every_copy() -> None:
    """``Conv2d(cin, cout + 1)`` in a loop: each copy gives the next one channel too many. The consumer is
    written ``cin``, which in the producer's copy is another size; the name there that holds the size
    wanted, and that the argument is written with, is ``cout``."""
    source = STAGES.format(out="cout + 1")
    assert not torch_truth(source, "Net()", [2, 3, 16, 16])["ok"]
    result = cnnshape_ls.analyze(source, input="(2, 3, 16, 16)", model="Net()").to_json()
    errors = [d for d in result["diagnostics"] if d["severity"] == "error"]
    assert [(d["line"], d["code"]) for d in errors] == [(7, "conv-in-channels")]
    fixed = apply_edits(source, errors[0]["fixes"][0]["edits"])
    assert fixed == STAGES.format(out="cout") and torch_truth(fixed, "Net()", [2, 3, 16, 16])["ok"]


def test_a_guess_that_leaves_the_error_is_not_offered() -> None:
    """``Conv2d(cin, 2 * cin + 1)`` in a loop: no name holds what each next copy wants, and the consumer's
    ``cin`` means another size in the producer's copy; a guess is offered only where the check shows it ends
    the problem, so every first fix offered makes torch run (the model has this one mistake)."""
    source = STAGES.format(out="2 * cin + 1")
    assert not torch_truth(source, "Net()", [2, 3, 16, 16])["ok"]
    result = cnnshape_ls.analyze(source, input="(2, 3, 16, 16)", model="Net()").to_json()
    errors = [d for d in result["diagnostics"] if d["severity"] == "error"]
    assert errors
    for error in errors:
        if error["fixes"]:
            fixed = apply_edits(source, error["fixes"][0]["edits"])
            assert torch_truth(fixed, "Net()", [2, 3, 16, 16])["ok"], error["fixes"][0]["title"]


MINUS_FOR_ASSIGN = """\
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(4 * 3 * 3, 10))
    def forward(self, x):
        x {op} self.fc(x)
        return x
"""


def test_a_subtraction_whose_value_is_dropped_was_an_assignment() -> None:
    """``x - self.fc(x)`` on a line of its own: torch fails on the broadcast; the statement's value is
    dropped, so the fix that runs is ``x = self.fc(x)``."""
    source = MINUS_FOR_ASSIGN.format(op="-")
    assert not torch_truth(source, "Net()", [2, 4, 3, 3])["ok"]
    errors, fixed = errors_and_first_fix(source, "Net()", [2, 4, 3, 3])
    assert [(d["line"], d["code"]) for d in errors] == [(7, "add-mismatch")]
    assert fixed == MINUS_FOR_ASSIGN.format(op="=")
    truth = torch_truth(fixed, "Net()", [2, 4, 3, 3])
    assert truth["ok"] and truth["output"] == [2, 10]


def test_a_subtraction_whose_value_is_used_is_not_taken_for_an_assignment() -> None:
    source = MINUS_FOR_ASSIGN.format(op="-").replace("        x - self.fc(x)\n        return x",
                                                       "        return x - self.fc(x)")
    result = cnnshape_ls.analyze(source, input="(2, 4, 3, 3)", model="Net()").to_json()
    [error] = [d for d in result["diagnostics"] if d["severity"] == "error"]
    assert not any("Assign" in f["title"] for f in error["fixes"])


TYPO_WIDTH = """\
import torch.nn as nn
net = nn.Sequential(
    nn.Conv2d(1, {width}, kernel_size=3, padding=1), nn.ReLU(),
    nn.Conv2d(96, 256, kernel_size=3, padding=1), nn.ReLU(),
    nn.Conv2d(256, 384, kernel_size=3, padding=1),
)
"""


@pytest.mark.parametrize(("width", "first"), [(966, "Change out_channels of layer 0 (Conv2d) to 96"),
                                              (128, "Change in_channels to 128")])
def test_a_width_that_is_not_round_among_round_ones_is_the_typo(width: int, first: str) -> None:
    """``Conv2d(1, 966)`` before ``Conv2d(96, 256)`` among 256 and 384: torch fails at the second conv, where
    the error stays, but 966 is the odd one, so its fix goes first; ``128`` is a width people write, so the
    consumer's fix goes first as torch puts the error."""
    source = TYPO_WIDTH.format(width=width)
    assert not torch_truth(source, "net", [1, 1, 16, 16])["ok"]
    errors, fixed = errors_and_first_fix(source, "net", [1, 1, 16, 16])
    assert [(d["line"], d["code"]) for d in errors] == [(4, "conv-in-channels")]
    assert errors[0]["fixes"][0]["title"] == first
    assert torch_truth(fixed, "net", [1, 1, 16, 16])["ok"]


FORGOTTEN_SPATIAL = """\
import torch.nn as nn
class Net(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, hidden, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(in_features={size}, out_features=10))
    def forward(self, x):
        return self.classifier(self.features(x))
"""


def test_a_linear_given_the_channels_after_a_halving_pool_gets_the_spatial_sizes_it_forgot() -> None:
    """``Linear(in_features=hidden)`` after a hidden x 7 x 7 map and a MaxPool2d(2) (the course's bug): the
    pool halves the map, it is not a global pool, so the first fix is ``hidden * 7 * 7``, in the author's
    words; the global pool's kernel stays offered after it."""
    source = FORGOTTEN_SPATIAL.format(size="hidden")
    assert not torch_truth(source, "Net(10)", [2, 1, 28, 28])["ok"]
    errors, fixed = errors_and_first_fix(source, "Net(10)", [2, 1, 28, 28])
    assert [(d["line"], d["code"]) for d in errors] == [(9, "linear-in-features")]
    assert fixed == FORGOTTEN_SPATIAL.format(size="hidden * 7 * 7")
    assert torch_truth(fixed, "Net(10)", [2, 1, 28, 28])["ok"]
    assert any("MaxPool2d" in f["title"] for f in errors[0]["fixes"][1:])
