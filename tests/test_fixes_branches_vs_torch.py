"""Issue 15, kinds 2 to 5 and 7: the fix on the layer or argument that made the size, checked by torch.

Each test applies the first fix of the one error and runs the result under torch.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import cnnshape_ls

from support import apply_edits, torch_truth

pytestmark = pytest.mark.torch

MODELS = Path(__file__).parent / "models"


def analyze(source: str, model: str, shape: tuple[int, ...]) -> list[dict]:
    result = cnnshape_ls.analyze(source, input=str(shape), model=model).to_json()
    return [d for d in result["diagnostics"] if d["severity"] == "error"]


def fixed_by_first(source: str, model: str, shape: tuple[int, ...]) -> tuple[dict, str]:
    """The one error, and the text after its first fix, which torch must run."""
    assert not torch_truth(source, model, list(shape))["ok"]
    errors = analyze(source, model, shape)
    assert len(errors) == 1, errors
    fixed = apply_edits(source, errors[0]["fixes"][0]["edits"])
    truth = torch_truth(fixed, model, list(shape))
    assert truth["ok"], textwrap.indent(fixed, "  ")
    return errors[0], fixed


def line_of(source: str, text: str) -> int:
    return next(i for i, line in enumerate(source.splitlines(), start=1) if text in line)


# ---------------------------------------------------------------------- kind 2: residual adds
BLOCK = """\
import torch.nn as nn
class Block(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential({projection})
    def forward(self, x):
        out = self.conv2(self.conv1(x).relu())
        return (out + self.shortcut(x)).relu()
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.l1 = Block(16, 32, 2)
        self.l2 = Block(32, 32)
    def forward(self, x):
        return self.l2(self.l1(self.stem(x)))
"""
RIGHT_PROJECTION = "nn.Conv2d(cin, cout, 1, stride), nn.BatchNorm2d(cout)"


@pytest.mark.parametrize("projection", [
    "nn.Conv2d(cin, cout // 2, 1, stride), nn.BatchNorm2d(cout // 2)",  # out_channels, and the norm after it
    "nn.Conv2d(cin, cout, 1), nn.BatchNorm2d(cout)",  # no stride where the branch has one
    "nn.Conv2d(cin, cin, 1, 1), nn.BatchNorm2d(cin)",  # both
])
def test_a_shortcut_projection_that_makes_another_size(projection: str) -> None:
    """The add fails; the fix is the projection's, on its line, and gives back the right block."""
    source = BLOCK.format(projection=projection)
    error, fixed = fixed_by_first(source, "Net()", (2, 3, 16, 16))
    assert error["code"] == "add-mismatch"
    assert error["line"] == 9
    assert {e["line"] for e in error["fixes"][0]["edits"]} == {9}
    assert torch_truth(fixed, "Net()", [2, 3, 16, 16])["output"] == [2, 32, 8, 8]


PLAIN = """\
import torch.nn as nn
class Block(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
    def forward(self, x):
        out = self.conv2(self.conv1(x).relu())
        return (out + x).relu()
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.blocks = nn.Sequential(Block(16, 16), Block(16, 32, {stride}), Block(32, 32))
    def forward(self, x):
        return self.blocks(self.stem(x))
"""


@pytest.mark.parametrize("stride", [1, 2])
def test_a_block_without_a_projection_gets_one(stride: int) -> None:
    """Block(16, 32) adds its 32 channels to the 16 it was given: one fix makes a 1x1 projection in __init__
    (with the block's stride) and applies it in forward; every copy of the block then runs."""
    source = PLAIN.format(stride=stride)
    error, fixed = fixed_by_first(source, "Net()", (2, 3, 16, 16))
    assert error["code"] == "add-mismatch"
    edits = error["fixes"][0]["edits"]
    assert len(edits) == 2
    made = "nn.Conv2d(cin, cout, 1, stride)" if stride == 2 else "nn.Conv2d(cin, cout, 1"
    assert made in fixed and "self.shortcut(x)" in fixed
    side = 16 // stride
    assert torch_truth(fixed, "Net()", [2, 3, 16, 16])["output"] == [2, 32, side, side]


# ---------------------------------------------------------------------- kind 7: the shortcut's condition
@pytest.mark.parametrize("file, right, model, shape", [
    ("m07_resnet_cifar.py", "if stride != 1 or in_planes != self.expansion * planes:", "ResNet50()", (2, 3, 32, 32)),
    ("m08_resnet_imagenet.py", "if stride != 1 or self.inplanes != planes * block.expansion:",
     "resnet50(num_classes=10)", (2, 3, 64, 64)),
    ("m35_mobilenet_v2.py", "self.use_res_connect = self.stride == 1 and inp == oup", "MobileNetV2()",
     (2, 3, 64, 64)),
])
def test_a_shortcut_made_only_when_the_stride_changes(file: str, right: str, model: str, shape: tuple) -> None:
    """``if stride != 1:`` where the channels change too: the error is on the condition, torch's place is
    related information, and the fix gives back the condition the model was written with."""
    original = (MODELS / file).read_text()
    condition = right.split(" or ")[0] + ":" if " or " in right else right.split(" and ")[0]
    head, found, tail = original.rpartition(right)  # m07: the Bottleneck's, the block ResNet50 builds
    assert found
    source = head + condition + tail
    error, fixed = fixed_by_first(source, model, shape)
    assert error["line"] == head.count("\n") + 1
    assert error["message"].startswith("The size of tensor a (")
    assert [r["message"].split(":")[0] for r in error["related"]] == ["torch fails here"]
    assert fixed == original


# ---------------------------------------------------------------------- kind 3: a block after a cat
UNET = """\
import torch
import torch.nn as nn
class DoubleConv(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.double_conv = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1), nn.BatchNorm2d(out_channels), nn.ReLU(),
            nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1), nn.BatchNorm2d(out_channels), nn.ReLU())
    def forward(self, x):
        return self.double_conv(x)
class Up(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.conv = DoubleConv(in_channels, out_channels)
    def forward(self, x1, x2):
        return self.conv(torch.cat([self.up(x1), x2], dim=1))
class UNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.inc = DoubleConv(3, 16)
        self.down1 = nn.Sequential(nn.MaxPool2d(2), DoubleConv(16, 32))
        self.down2 = nn.Sequential(nn.MaxPool2d(2), DoubleConv(32, 64))
        self.up1 = Up({up1}, 32)
        self.up2 = Up(32 + 16, 16)
        self.outc = nn.Conv2d(16, 2, kernel_size=1)
    def forward(self, x):
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x = self.up1(self.down2(x2), x2)
        return self.outc(self.up2(x, x1))
"""


def test_a_decoder_block_built_for_the_upsampled_part_only() -> None:
    """Up(64, 32) is fed cat([up, skip]) of 64 + 32 channels: the error is on the 64 of that call, and the
    fix writes the sum of the parts as the file writes them."""
    source = UNET.format(up1=64)
    error, fixed = fixed_by_first(source, "UNet()", (2, 3, 32, 32))
    assert error["code"] == "conv-in-channels"
    assert error["line"] == line_of(source, "self.up1 = Up(64, 32)")
    assert "self.up1 = Up(64 + 32, 32)" in fixed
    assert torch_truth(fixed, "UNet()", [2, 3, 32, 32])["output"] == [2, 2, 32, 32]


def test_a_helper_function_block_after_a_cat() -> None:
    """``block(features * 2, ...)`` where the cat makes ``features * 2 + features * 2``: the helper's call is
    the place, and the sum is written with the names the parts are written with."""
    right = (MODELS / "m15_unet_simple.py").read_text()
    source = right.replace("self.dec2 = block(features * 2 * 2, features * 2)",
                           "self.dec2 = block(features * 2, features * 2)")
    assert source != right
    error, fixed = fixed_by_first(source, "UNet()", (2, 1, 64, 64))
    assert error["line"] == line_of(source, "self.dec2 = block(")
    assert "self.dec2 = block(features * 2 + features * 2, features * 2)" in fixed


# ---------------------------------------------------------------------- kind 4: a view the Linear agrees with
VIEW = """\
import torch.nn as nn
import torch.nn.functional as F
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3)
        self.conv2 = nn.Conv2d(16, 32, 3)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(32 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)
    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.view(-1, 32 * 7 * 7)
        return self.fc2(F.relu(self.fc1(x)))
"""


def test_a_wrong_view_and_the_linear_that_agrees_with_it() -> None:
    """One error, on the view; fc1's in_features is related information; the one fix changes both."""
    error, fixed = fixed_by_first(VIEW, "Net()", (2, 1, 28, 28))
    assert error["line"] == 14 and error["code"] == "view-invalid"
    (related,) = error["related"]
    assert related["line"] == 9 and "fc1's in_features (1568)" in related["message"]
    assert {e["line"] for e in error["fixes"][0]["edits"]} == {9, 14}
    assert "nn.Linear(32 * 5 * 5, 128)" in fixed and "x.view(-1, 32 * 5 * 5)" in fixed


# ---------------------------------------------------------------------- kind 5: a producer one off
STAGE = """\
import torch.nn as nn
model = nn.Sequential(
    nn.Conv2d(3, 32, 3, padding=1),
    nn.ReLU(),
    nn.Conv2d(32, {mid}, 3, padding=1),
    nn.ReLU(),
    nn.Conv2d({mid}, {made}, 3, padding=1),
    nn.ReLU(),
    nn.Conv2d({taken}, 256, 3, padding=1),
)
"""


@pytest.mark.parametrize("mid, made, taken, producer_first", [
    (64, 129, 128, True),  # 64 -> 129 breaks "every conv doubles the width": the producer's fix first
    (64, 96, 128, True),  # 64 -> 96 too
    (64, 128, 127, False),  # the consumer's 127 is the odd one: its own fix first
    (48, 129, 128, True),  # no one ratio, but 129 is the only width not a multiple of 8 among 32, 48, 256
    (50, 129, 128, False),  # no ratio and 50 is not round either: torch's place, the consumer's
])
def test_a_producer_one_off_a_round_size(mid: int, made: int, taken: int, producer_first: bool) -> None:
    """The error stays where torch fails (line 9), the producer's line is related information, both fixes
    are offered, and the first is the producer's only where it alone breaks the stage's pattern."""
    source = STAGE.format(mid=mid, made=made, taken=taken)
    error, fixed = fixed_by_first(source, "model", (2, 3, 8, 8))
    assert error["line"] == 9
    assert [r["line"] for r in error["related"]] == [7]
    lines = [{e["line"] for e in fix["edits"]} for fix in error["fixes"]]
    assert {7} in lines and {9} in lines
    assert lines[0] == ({7} if producer_first else {9})
    for fix in error["fixes"]:
        assert torch_truth(apply_edits(source, fix["edits"]), "model", [2, 3, 8, 8])["ok"]


WIDER = """\
import torch.nn as nn
class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c * 2, 3, padding=1)
    def forward(self, x):
        out = self.conv2(self.conv1(x).relu())
        return (out + x).relu()
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.blocks = nn.Sequential(Block(16), Block(16))
        self.head = nn.Conv2d(16, 10, 1)
    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))
"""


def test_a_branch_conv_that_widens_where_the_blocks_after_it_keep_the_width() -> None:
    """A projection would make 32 channels the next Block(16) cannot take: the fix is the branch's conv,
    written with the block's parameter, and the projection (checked, and failing) is not offered."""
    error, fixed = fixed_by_first(WIDER, "Net()", (2, 3, 16, 16))
    assert error["line"] == 6
    assert "self.conv2 = nn.Conv2d(c, c, 3, padding=1)" in fixed
    assert [f["title"] for f in error["fixes"]] == ["Change out_channels of blocks.0.conv2 to c"]


FUSION = """\
import torch
import torch.nn as nn
class DenseBlock(nn.Module):
    def __init__(self, channels, growth, layers=3):
        super().__init__()
        self.layers = nn.ModuleList([nn.Conv2d(channels + growth * i, growth, 3, padding=1) for i in range(layers)])
        self.fuse = nn.Conv2d(channels + growth * layers, {fused}, 1)
    def forward(self, x):
        features = x
        for layer in self.layers:
            features = torch.cat([features, layer(features).relu()], 1)
        return x + self.fuse(features)
"""


def test_a_residual_blocks_fusion_conv_that_makes_the_growth_is_fixed_before_a_new_shortcut() -> None:
    """A residual dense block whose 1x1 fusion conv makes ``growth`` channels where the add needs
    ``channels``: the fix is that conv's ``out_channels`` (the error moves there, torch's place related); a
    new shortcut is still offered second, both run."""
    source = FUSION.format(fused="growth")
    model, shape = "DenseBlock(16, 8)", [2, 16, 6, 6]
    assert not torch_truth(source, model, shape)["ok"]
    error, fixed = fixed_by_first(source, model, tuple(shape))
    assert error["line"] == 7
    assert fixed == FUSION.format(fused="channels")
    assert [f["title"].split(":")[0] for f in error["fixes"]] == [
        "Change out_channels of fuse to channels", "Add a shortcut that projects channels to growth channels"]
    for fix in error["fixes"]:
        assert torch_truth(apply_edits(source, fix["edits"]), model, shape)["ok"], fix["title"]
