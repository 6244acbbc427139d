"""``cnnshape annotate``: writing and refreshing ``# out:`` comments, idempotently, and ``--check``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import cnnshape_ls
from cnnshape_ls.analysis.inputs import parse_shape
from cnnshape_ls.analysis.labels import comment_matches
from cnnshape_ls.cli import main
from cnnshape_ls.cli.annotate import annotate_text

CORPUS = Path(__file__).resolve().parent / "corpus"
CHECK_LINE = re.compile(r"^(?P<path>.+\.py):(?P<line>\d+): (?P<kind>missing|stale) out comment: (?P<shape>\(.*\))$")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    target = tmp_path / "corpus"
    target.mkdir()
    for src in sorted(CORPUS.glob("*.py")):
        (target / src.name).write_bytes(src.read_bytes())
    return target


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.py"))}


def test_annotate_corpus_is_idempotent_and_keeps_shapes(corpus: Path, capsys) -> None:
    original = snapshot(corpus)
    assert main(["annotate", "--check", str(corpus)]) == 1
    listed = capsys.readouterr().out.splitlines()
    assert listed and all(CHECK_LINE.match(line) for line in listed[:-1] + listed[-1:])
    assert snapshot(corpus) == original  # --check changes nothing

    assert main(["annotate", str(corpus)]) == 0
    first = snapshot(corpus)
    assert first != original
    wrote = int(re.search(r"Wrote (\d+) out comment", capsys.readouterr().out).group(1))
    assert wrote == len(listed)

    assert main(["annotate", str(corpus)]) == 0
    assert snapshot(corpus) == first
    assert "Wrote 0 out comments" in capsys.readouterr().out
    assert main(["annotate", "--check", str(corpus)]) == 0
    assert capsys.readouterr().out == ""

    for name, data in first.items():
        text = data.decode()
        ast.parse(text)
        before = cnnshape_ls.analyze(original[name].decode(), path=name).to_json()
        after = cnnshape_ls.analyze(text, path=name).to_json()
        assert after["models"] == before["models"], name
        assert not [d for d in after["diagnostics"] if d["code"] == "stale-comment"], name
        # only comments were added: the code is the same
        assert ast.dump(ast.parse(text)) == ast.dump(ast.parse(original[name].decode()))


def test_annotate_check_lists_stale_and_missing(corpus: Path, capsys) -> None:
    path = corpus / "s01_ordereddict_fc_mismatch.py"
    text = path.read_text().replace("# out: (BS, 16, 6, 6)", "# out: (BS, 16, 5, 5)")
    path.write_text(text)
    assert main(["annotate", "--check", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert f"{path}:15: stale out comment: (BS, 16, 6, 6)" in out
    assert f"{path}:11: missing out comment: (BS, 8, 30, 30)" in out
    assert f"{path}:10: missing out comment: (BS, 8, 30, 30)" not in out  # already right
    assert path.read_text() == text


def test_annotate_existing_comments(corpus: Path, capsys) -> None:
    path = corpus / "s01_ordereddict_fc_mismatch.py"
    assert main(["annotate", str(path)]) == 0
    lines = path.read_text().splitlines()
    assert lines[9] == "    ('conv1', nn.Conv2d(3, 8, 3)),  # out: (BS, 8, 30, 30)"  # kept as it was
    assert lines[15] == "    ('flatten', nn.Flatten()),  # shape: (3, 16*6*6)  # out: (BS, 576)"  # appended
    assert lines[18] == "    ('fc2', nn.Linear(128, 64)),  # out: (BS, 64)"


EDGE = '''import torch.nn as nn
import torch.nn.functional as F

DOC = """
x = self.conv(x)
"""


# in: (BS, 3, 32, 32)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Conv2d(3 if i == 0 else 8, 8, 3) for i in range(3)])
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(8 * 26 * 26, 10))

    def forward(self, x):
        for blk in self.blocks:
            x = blk(x)
        for _ in range(2): x = self.conv(x)
        x = F.relu(  # activation
            x)
        y = self.conv(x); s = """a string
that goes on"""
        x = x + \\
            self.conv(x)
        x = self.conv(x) \\
            + x
        x = self.conv(x)  # noqa: E501
        x = self.conv(x)  # out: (BS, 8, 99, 99) after the block
        x = self.conv(x)  # out: (B,8,26,26)
        x = self.conv(x)  # out: ???
        return self.head(x)
'''


def annotated_lines(text: str) -> dict[int, str]:
    analysis = cnnshape_ls.analyze(text, path="edge.py")
    new_text, _ = annotate_text(text, analysis)
    return dict(enumerate(new_text.split("\n"), start=1))


def test_annotate_edge_cases() -> None:
    lines = annotated_lines(EDGE)
    old = dict(enumerate(EDGE.split("\n"), start=1))
    assert lines[5] == old[5]  # inside a string
    # a layer applied in a loop, a different shape each time: what holds for every run, and how many
    assert lines[19] == "            x = blk(x)  # out: (BS, 8, 26|28|30, 26|28|30) ×3"
    assert lines[20] == "        for _ in range(2): x = self.conv(x)  # out: (BS, 8, 26, 26)"  # same shape each time
    assert lines[15].endswith("nn.Linear(8 * 26 * 26, 10))  # out: (BS, 10)")  # the last of the line's layers
    assert lines[21] == "        x = F.relu(  # activation  # out: (BS, 8, 26, 26)"  # after an open bracket
    assert lines[23] == old[23]  # the line ends inside a string
    assert lines[25] == old[25]  # a backslash continuation: no comment can go there
    assert lines[27] == old[27]
    assert lines[29] == "        x = self.conv(x)  # noqa: E501  # out: (BS, 8, 26, 26)"
    assert lines[30] == "        x = self.conv(x)  # out: (BS, 8, 26, 26) after the block"
    assert lines[31] == old[31]  # the batch may be named differently
    assert lines[32] == "        x = self.conv(x)  # out: (BS, 8, 26, 26)"
    new_text = "\n".join(lines.values())
    ast.parse(new_text)
    assert annotated_lines(new_text) == lines  # idempotent


def test_annotate_partly_unknown_shapes_are_skipped() -> None:
    text = ("import torch.nn as nn\n\n"
            "# in: (BS, 1, 12, 12)\n"
            "tiny = nn.Sequential(\n"
            "    nn.Conv2d(1, 8, 3),\n"
            "    nn.MaxPool2d(8),\n"
            "    nn.Conv2d(8, 16, 3),\n"
            "    nn.Flatten(),\n"
            ")\n")
    lines = annotated_lines(text)
    assert lines[5].endswith("# out: (BS, 8, 10, 10)")
    assert lines[6].endswith("# out: (BS, 8, 1, 1)")
    assert "# out:" not in lines[7] and "# out:" not in lines[8]  # the convolution fails: unknown from there


def test_annotate_keeps_crlf(tmp_path: Path, capsys) -> None:
    path = tmp_path / "crlf.py"
    path.write_bytes(b"import torch.nn as nn\r\n\r\n# in: (BS, 3, 32, 32)\r\nm = nn.Sequential(\r\n"
                     b"    nn.Conv2d(3, 8, 3),\r\n    nn.ReLU(),\r\n)\r\n")
    assert main(["annotate", str(path)]) == 0
    data = path.read_bytes()
    assert b"    nn.Conv2d(3, 8, 3),  # out: (BS, 8, 30, 30)\r\n" in data
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert main(["annotate", "--check", str(path)]) == 0


def test_annotate_options_and_errors(corpus: Path, capsys) -> None:
    path = corpus / "s09_mnist_wrong_size.py"
    assert main(["annotate", str(path), "--input", "(BS, 1, 28, 28)", "--batch-name", "N"]) == 0
    assert "nn.Conv2d(1, 32, kernel_size=7, stride=2),  # out: (N, 32, 11, 11)" in path.read_text()
    assert main(["annotate", str(corpus / "missing.py")]) == 2
    assert main(["annotate", str(path), "--input", "(BS, 1,"]) == 2


def test_comment_matches() -> None:
    shape = parse_shape("(BS, 16, 6, 6)", "BS")
    assert comment_matches("(BS, 16, 6, 6)", shape)
    assert comment_matches("[N,16,6,6]", shape)  # the batch may be named otherwise
    assert not comment_matches("(BS, 16, 5, 5)", shape)
    assert not comment_matches("(BS, 16, 6)", shape)


def test_form_feed_files_are_left_alone(tmp_path: Path, capsys) -> None:
    # the analysis numbers lines with str.splitlines, which breaks at a form feed where Python does not
    path = tmp_path / "ff.py"
    text = "import torch.nn as nn\n\x0c\n# in: (BS, 3, 32, 32)\nm = nn.Sequential(\n    nn.Conv2d(3, 8, 3),\n)\n"
    path.write_text(text)
    assert main(["annotate", str(path)]) == 0
    assert path.read_text() == text
    assert "left alone" in capsys.readouterr().err


CONV3D = '''import torch.nn as nn


# in: (BS, 3, 8, 32, 32)
class Video(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv3d(3, 8, 3)
        self.conv2 = nn.Conv3d(8, 16, 3)

    def forward(self, x):
        x = self.conv1(x)
        return self.conv2(x)
'''


def test_annotate_writes_every_hinted_line_with_the_hints_text() -> None:
    from cnnshape_ls.analysis.source import split_lines
    from cnnshape_ls.display import line_hints

    analysis = cnnshape_ls.analyze(CONV3D, path="video.py")
    new_text, changes = annotate_text(CONV3D, analysis)
    hints = {h.line: h.label for h in line_hints(analysis, split_lines(CONV3D))}
    assert {c.line for c in changes} == set(hints) == {8, 9, 12, 13}  # the __init__ lines too
    lines = new_text.split("\n")
    for line, label in hints.items():
        assert lines[line - 1].endswith("  " + label)
    assert lines[7] == "        self.conv1 = nn.Conv3d(3, 8, 3)  # out: (BS, 8, 6, 30, 30)"


BLOCKS = '''import torch.nn as nn


class Block(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1),
            nn.ReLU(),
        )

    def forward(self, x):
        return self.body(x)


# in: (BS, 3, 16, 16)
net = nn.Sequential(Block(3, 8), Block(8, 16))
'''


def test_a_block_line_run_with_several_shapes_gets_what_holds_for_every_copy() -> None:
    analysis = cnnshape_ls.analyze(BLOCKS, path="blocks.py")
    new_text, changes = annotate_text(BLOCKS, analysis)
    changed = {c.line: c.shape for c in changes}
    # 8 channels in one copy, 16 in the other: each the copy's cout, never one copy's number
    assert changed[8] == changed[9] == changed[13] == "(BS, cout, 16, 16) ×2"
    assert changed[17] == "(BS, 16, 16, 16)"
    assert not [f for f in analysis.findings if f.code == "stale-comment"]
    assert not [f for f in cnnshape_ls.analyze(new_text, path="blocks.py").findings if f.code == "stale-comment"]
    # a comment with one copy's shape is false for the other: stale, refreshed with the shared label
    conv = "nn.Conv2d(cin, cout, 3, padding=1),"
    written = BLOCKS.replace(conv, conv + "  # out: (BS, 8, 16, 16)")
    stale = [f for f in cnnshape_ls.analyze(written, path="blocks.py").findings if f.code == "stale-comment"]
    assert [f.fixes[0].edits[0].new_text for f in stale] == ["(BS, cout, 16, 16)"]
    for true_for_both in ("(BS, 8|16, 16, 16)", "(N, cout, 16, 16) ×2", "(BS, *, 16, 16)"):
        written = BLOCKS.replace(conv, conv + f"  # out: {true_for_both}")
        assert not [f for f in cnnshape_ls.analyze(written, path="blocks.py").findings
                    if f.code == "stale-comment"], true_for_both
