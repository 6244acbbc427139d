"""What the user sees where a layer argument cannot be followed: hints with ``?`` for the unknown sizes only,
hovers that name the argument and the call, checks that still run where the sizes are known, and no
``# out:`` comment written for a shape known only in part. (Compared with torch in test_partial_vs_torch.py.)"""

from __future__ import annotations

import cnnshape_ls
from cnnshape_ls.display import annotate_edits, layer_hover, line_hints

MODEL = '''import os
import torch.nn as nn
from somewhere_not_installed import kernel_for


class Net(nn.Module):
    def __init__(self, width=int(os.environ.get("WIDTH", "16"))):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, kernel_size=kernel_for(3))
        self.bn = nn.BatchNorm2d(8)
        self.body = Block(width)
        self.pool = nn.AdaptiveAvgPool2d(kernel_for(1))
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.stem(x)
        x = self.bn(x)
        x = self.body(x)
        x = self.pool(x)
        x = x.flatten(1)
        return self.fc(x)


class Block(nn.Module):
    def __init__(self, cin):
        super().__init__()
        self.conv = nn.Conv2d(cin, 64, 3, padding=1)

    def forward(self, x):
        return self.conv(x)
'''


def analyzed(source: str = MODEL):
    return cnnshape_ls.analyze(source, input="(2, 3, 32, 32)", model="Net()")


def record(analysis, path: str):
    return next(r for r in analysis.models[0].records if r.path == path)


def test_every_size_that_does_not_depend_on_the_unknown_argument_is_given() -> None:
    analysis = analyzed()
    assert record(analysis, "stem").output == (2, 8, None, None)  # kernel unknown: spatial only
    assert record(analysis, "bn").output == (2, 8, None, None)
    assert record(analysis, "body.conv").output == (2, 64, None, None)  # in_channels unknown: 64 out
    assert record(analysis, "pool").output == (2, 64, None, None)
    assert record(analysis, "fc").output == (2, 10)  # pinned by out_features
    assert analysis.models[0].output == (2, 10)
    assert not [d for d in analysis.diagnostics if d.severity == "error"]


def test_hints_show_question_marks_and_no_comment_is_written_for_them() -> None:
    analysis = analyzed()
    lines = MODEL.splitlines()
    labels = {h.line: h.label for h in line_hints(analysis, lines)}
    assert labels[16] == "# out: (BS, 8, ?, ?)" or labels[16] == "# out: (2, 8, ?, ?)"
    assert labels[21] in ("# out: (2, 10)", "# out: (BS, 10)")
    written = {e.line for e in annotate_edits(analysis, MODEL)}
    assert 16 not in written and 21 in written


def test_the_hover_names_the_argument_and_the_call_it_came_from() -> None:
    analysis = analyzed()
    stem = layer_hover([record(analysis, "stem")])
    assert "kernel_size: kernel_for(...) could not be followed" in stem
    # an argument passed down from the constructor's default, through Block(width)
    conv = record(analysis, "body.conv")
    assert conv.unknown_args == ("in_channels: os.environ.get(...) could not be followed",)
    assert record(analysis, "fc").unknown_args == ()


def test_a_size_pinned_after_the_unknown_is_still_checked_where_it_is_known() -> None:
    wrong = MODEL.replace("nn.BatchNorm2d(8)", "nn.BatchNorm2d(16)")
    errors = [d for d in analyzed(wrong).diagnostics if d.severity == "error"]
    assert [d.code for d in errors] == ["norm-num-features"]
    # the channels after the unknown kernel are known: a conv wanting others is torch's error too
    wrong = MODEL.replace("nn.BatchNorm2d(8)", "nn.Conv2d(5, 8, 1)")
    errors = [d for d in analyzed(wrong).diagnostics if d.severity == "error"]
    assert [d.code for d in errors] == ["conv-in-channels"]
    # a Linear after a flatten of unknown sizes cannot be checked: no error, its width is known
    narrow = MODEL.replace("nn.Linear(64, 10)", "nn.Linear(63, 10)")
    analysis = analyzed(narrow)
    assert not [d for d in analysis.diagnostics if d.severity == "error"]
    assert record(analysis, "fc").output == (2, 10)


def test_a_conv_whose_kernel_is_unknown_still_checks_its_channels() -> None:
    source = MODEL.replace("nn.Conv2d(3, 8, kernel_size=kernel_for(3))", "nn.Conv2d(4, 8, kernel_size=kernel_for(3))")
    analysis = analyzed(source)
    errors = [d for d in analysis.diagnostics if d.severity == "error"]
    assert [d.code for d in errors] == ["conv-in-channels"]
    assert "to have 4 channels, but got 3 channels instead" in errors[0].message
    assert record(analysis, "stem").output == (2, 8, None, None)


def test_the_json_keeps_out_for_full_shapes_and_adds_the_part_known() -> None:
    model = analyzed().to_json()["models"][0]
    stem = next(layer for layer in model["layers"] if layer["path"] == "stem")
    assert stem["out"] is None and stem["out_partial"] == [2, 8, None, None]
    fc = next(layer for layer in model["layers"] if layer["path"] == "fc")
    assert fc["out"] == [2, 10] and "out_partial" not in fc


def test_a_name_is_followed_to_the_assignment_that_made_it_unknown() -> None:
    source = '''import torch.nn as nn
from somewhere_not_installed import kernel_for

K = kernel_for(3)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.pad = 2 * K
        self.conv = nn.Conv2d(3, 8, K, padding=self.pad)
        self.pool = nn.MaxPool2d(kernel_size=(2, K))

    def forward(self, x):
        return self.pool(self.conv(x))
'''
    analysis = analyzed(source)
    conv = record(analysis, "conv")
    assert conv.output == (2, 8, None, None)
    assert conv.unknown_args == ("kernel_size: kernel_for(...) could not be followed",
                                 "padding: kernel_for(...) could not be followed")
    pool = record(analysis, "pool")  # one entry of the kernel unknown: only its axis
    assert pool.output == (2, 8, None, None)
    assert pool.unknown_args == ("kernel_size: kernel_for(...) could not be followed",)
