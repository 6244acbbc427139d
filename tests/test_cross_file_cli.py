"""Errors inside a block imported from another file of the project (issue 13, part 6), from the command line.

The same code in one file gives the error; across files it is reported on the line of the importing file
that builds or applies the block, with the place in the other file as related information, and nothing
after it is shown as if the model worked. A fix of the other file is never applied by ``--fix``; applying
the fix offered gives a model torch runs.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from test_cli import validate_report

from cnnshape_ls.cli import main

from support import CROSS_FILE_BLOCK as BLOCK
from support import CROSS_FILE_USES_BLOCK as USES_BLOCK
from support import apply_edits, torch_truth_of_files

HEAD = """\
import torch.nn as nn


class Head(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(16, classes)

    def forward(self, x):
        return self.fc(self.pool(x).flatten(1))
"""

USES_HEAD = """\
import torch.nn as nn

from heads import Head


# in: (BS, 3, 32, 32)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.head = Head(10)

    def forward(self, x):
        x = self.conv(x)
        return self.head(x)
"""

SIZED_BLOCK = """\
import torch.nn as nn


class ConvBlock(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.conv = nn.Conv2d(i, o, 3, padding=1)

    def forward(self, x):
        return self.conv(x)
"""

USES_SIZED_BLOCK = """\
import torch.nn as nn

from blocks import ConvBlock


# in: (BS, 3, 32, 32)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.block = ConvBlock(8, 32)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.block(self.stem(x))
        return self.fc(x.mean((2, 3)))
"""

# (other file, its text, the model's file, where the error goes: line and the text there, the line of
# the other file it comes from, its code, whether the fix edits the other file)
CASES = {
    "block-in-channels": ("blocks.py", BLOCK, USES_BLOCK, 17, "self.block(x)", 7, "conv-in-channels", True),
    "head-linear": ("heads.py", HEAD, USES_HEAD, 15, "self.head(x)", 8, "linear-in-features", True),
    "builder-argument": ("blocks.py", SIZED_BLOCK, USES_SIZED_BLOCK, 11, "8", 7, "conv-in-channels", False),
}


def one_file(other_name: str, other: str, model: str) -> str:
    """The two files as one: the block's code in place of its import."""
    module = Path(other_name).stem
    body = [line for line in other.splitlines() if not line.startswith("import ")]
    lines = [line for line in model.splitlines() if not line.startswith(f"from {module} import")]
    return "\n".join([lines[0], *body, *lines[1:]]) + "\n"


def check_json(capsys, *args: str) -> tuple[int, dict]:
    code = main(["check", "--format", "json", "--no-verify", *args])
    return code, json.loads(capsys.readouterr().out)


def project(tmp_path: Path, other_name: str, other: str, model: str) -> Path:
    (tmp_path / other_name).write_text(other)
    (tmp_path / "net.py").write_text(model)
    return tmp_path / "net.py"


@pytest.mark.parametrize("case", CASES)
def test_an_imported_blocks_error_is_reported_where_this_file_uses_it(tmp_path: Path, capsys, case: str) -> None:
    other_name, other, model, line, there, other_line, code, fix_elsewhere = CASES[case]
    assert not torch_truth_of_files({other_name: other, "net.py": model}, "net.py", "Net()", [2, 3, 32, 32])["ok"]
    single = tmp_path / "single"
    single.mkdir()
    (single / "net.py").write_text(one_file(other_name, other, model))
    _, alone = check_json(capsys, str(single / "net.py"))
    assert [d["code"] for d in alone["files"][0]["diagnostics"] if d["severity"] == "error"] == [code]

    exit_code, report = check_json(capsys, str(project(tmp_path, other_name, other, model)))
    validate_report(report)
    assert exit_code == 1
    (error,) = [d for d in report["files"][0]["diagnostics"] if d["severity"] == "error"]
    assert error["code"] == code
    assert error["line"] == line
    assert model.splitlines()[line - 1][error["column"] - 1:error["end_column"] - 1] == there
    assert error["message"].startswith(f"In {other_name}, line {other_line}: ")
    (related,) = error["related"]
    assert related["path"] == str(tmp_path / other_name) and related["line"] == other_line
    assert related["message"] == error["message"].split(": ", 1)[1]
    # nothing after the layer that cannot run is shown as if it had run
    (net,) = report["files"][0]["models"]
    assert net["output"] is None
    assert net["layers"][-1]["out"] is None


@pytest.mark.parametrize("case", CASES)
def test_the_fix_gives_a_model_torch_runs(tmp_path: Path, capsys, case: str) -> None:
    other_name, other, model, *_, fix_elsewhere = CASES[case]
    _, report = check_json(capsys, str(project(tmp_path, other_name, other, model)))
    (error,) = [d for d in report["files"][0]["diagnostics"] if d["severity"] == "error"]
    if fix_elsewhere:
        assert error["fixes"] == []  # nothing fix-all or --fix may apply to this file
        preferred = error["workspace_fixes"][0]
        assert {e["path"] for e in preferred["edits"]} == {str(tmp_path / other_name)}
        assert other_name in preferred["title"]
        other = apply_edits(other, [{k: v for k, v in e.items() if k != "path"} for e in preferred["edits"]])
    else:
        assert "workspace_fixes" not in error
        model = apply_edits(model, error["fixes"][0]["edits"])
    truth = torch_truth_of_files({other_name: other, "net.py": model}, "net.py", "Net()", [2, 3, 32, 32])
    assert truth["ok"], truth
    exit_code, fixed = check_json(capsys, str(project(tmp_path, other_name, other, model)))
    assert exit_code == 0 and not [d for d in fixed["files"][0]["diagnostics"] if d["severity"] == "error"]
    assert fixed["files"][0]["models"][0]["output"] == ["BS", *truth["output"][1:]]


@pytest.mark.parametrize("case", CASES)
def test_fix_never_edits_another_file(tmp_path: Path, capsys, case: str) -> None:
    other_name, other, model, *_, fix_elsewhere = CASES[case]
    path = project(tmp_path, other_name, other, model)
    exit_code = main(["check", "--no-verify", "--fix", str(tmp_path)])
    out = capsys.readouterr().out
    assert (tmp_path / other_name).read_text() == other
    if fix_elsewhere:
        assert exit_code == 1 and path.read_text() == model
        assert "Applied 0 fixes in 0 files" in out
    else:
        assert exit_code == 0 and path.read_text() != model
        assert torch_truth_of_files({other_name: other, "net.py": path.read_text()}, "net.py", "Net()",
                                    [2, 3, 32, 32])["ok"]


def test_text_and_sarif_name_the_other_file(tmp_path: Path, capsys) -> None:
    project(tmp_path, "blocks.py", BLOCK, USES_BLOCK)
    assert main(["check", "--no-verify", str(tmp_path / "net.py")]) == 1
    text = capsys.readouterr().out
    assert f"{tmp_path / 'net.py'}:17:13: error conv-in-channels In blocks.py, line 7: Given groups=1" in text
    assert f"    in: {tmp_path / 'blocks.py'}:7:31\n" in text
    assert (f"    fix in {tmp_path / 'blocks.py'} (not applied by --fix): Change in_channels to 16 "
            "(blocks.py, line 7)") in text
    assert "Output shape: ?" in text and "(BS, 10)" not in text

    assert main(["check", "--no-verify", "--format", "sarif", str(tmp_path / "net.py")]) == 1
    (result,) = [r for r in json.loads(capsys.readouterr().out)["runs"][0]["results"] if r["level"] == "error"]
    (related,) = result["relatedLocations"]
    assert related["physicalLocation"]["artifactLocation"]["uri"] == (tmp_path / "blocks.py").as_uri()
    assert related["physicalLocation"]["region"]["startLine"] == 7
    (change,) = result["fixes"][0]["artifactChanges"]
    assert change["artifactLocation"]["uri"] == (tmp_path / "blocks.py").as_uri()


def test_relative_paths_stay_relative(tmp_path: Path, capsys, monkeypatch) -> None:
    project(tmp_path, "blocks.py", BLOCK, USES_BLOCK)
    monkeypatch.chdir(tmp_path)
    _, report = check_json(capsys, "net.py")
    (error,) = [d for d in report["files"][0]["diagnostics"] if d["severity"] == "error"]
    assert error["related"][0]["path"] == "blocks.py"
    assert {e["path"] for f in error["workspace_fixes"] for e in f["edits"]} == {"blocks.py", "net.py"}


def test_an_imported_blocks_own_mistake(tmp_path: Path, capsys) -> None:
    """A block whose layers disagree with each other: the error is the block's, shown where it is used."""
    block = textwrap.dedent("""\
        import torch.nn as nn


        class Pair(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Conv2d(3, 8, 3)
                self.b = nn.Conv2d(16, 4, 3)

            def forward(self, x):
                return self.b(self.a(x))
        """)
    model = USES_BLOCK.replace("from blocks import Block", "from pair import Pair").replace(
        "self.block = Block()", "self.block = Pair()").replace("Conv2d(3, 16, 3, padding=1)", "Conv2d(3, 3, 1)")
    model = model.replace("nn.Linear(8, 10)", "nn.Linear(4, 10)")
    _, report = check_json(capsys, str(project(tmp_path, "pair.py", block, model)))
    (error,) = [d for d in report["files"][0]["diagnostics"] if d["severity"] == "error"]
    assert error["line"] == 17 and error["related"][0]["line"] == 8
    fixed = apply_edits(block, [{k: v for k, v in e.items() if k != "path"}
                                for e in error["workspace_fixes"][0]["edits"]])
    assert "nn.Conv2d(8, 4, 3)" in fixed
    assert torch_truth_of_files({"pair.py": fixed, "net.py": model}, "net.py", "Net()", [2, 3, 32, 32])["ok"]


def test_a_package_names_the_other_file_from_the_importers_folder(tmp_path: Path, capsys, monkeypatch) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    layers = tmp_path / "pkg" / "layers"
    layers.mkdir(parents=True)
    for folder in (tmp_path / "pkg", layers):
        (folder / "__init__.py").write_text("")
    (layers / "blocks.py").write_text(BLOCK)
    (tmp_path / "pkg" / "net.py").write_text(USES_BLOCK.replace("from blocks import", "from .layers.blocks import"))
    monkeypatch.chdir(tmp_path)
    _, report = check_json(capsys, "pkg/net.py")
    (error,) = [d for d in report["files"][0]["diagnostics"] if d["severity"] == "error"]
    assert error["message"].startswith("In layers/blocks.py, line 7: ")
    assert error["related"][0]["path"] == "pkg/layers/blocks.py"
    assert error["workspace_fixes"][0]["title"] == "Change in_channels to 16 (layers/blocks.py, line 7)"
