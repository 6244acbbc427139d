"""The ``cnnshape`` command line: ``check`` (text, json, sarif, --fix), file walking, settings, exit codes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnnshape_ls
from cnnshape_ls.analysis.edits import LineIndex, apply_edits, apply_fixes, fixes_to_apply
from cnnshape_ls.analysis.findings import Edit, Finding, Fix, Span
from cnnshape_ls.cli import files as cli_files
from cnnshape_ls.cli import main, serve_main

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "corpus"
MANIFEST = {entry["id"]: entry for entry in json.loads((CORPUS / "manifest.json").read_text())}
KNOWN_SOURCES = {"annotation", "docstring", "example_input_array", "call", "cli", "config", "inferred", None}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A writable copy of the seed corpus."""
    target = tmp_path / "corpus"
    target.mkdir()
    for src in sorted(CORPUS.glob("*.py")):
        dst = target / src.name
        dst.write_bytes(src.read_bytes())
    return target


def corpus_file(folder: Path, sid: str) -> Path:
    return folder / MANIFEST[sid]["file"]


def manifest_input(sid: str) -> str:
    dims = MANIFEST[sid]["input"]
    return "(BS, " + ", ".join(str(d) for d in dims[1:]) + ")"


def run_json(capsys, *args: str) -> tuple[int, dict]:
    code = main(["check", "--format", "json", *args])
    out = capsys.readouterr().out
    return code, json.loads(out)


# ---------------------------------------------------------------------- JSON contract
def _check_shape(value) -> None:
    assert value is None or isinstance(value, list)
    for d in value or []:
        assert isinstance(d, (int, str)) and not isinstance(d, bool)


def _check_span(item: dict) -> None:
    for key in ("line", "column", "end_line", "end_column"):
        assert isinstance(item[key], int) and item[key] >= 1, (key, item)
    assert (item["end_line"], item["end_column"]) >= (item["line"], item["column"])


def validate_report(report: dict) -> None:
    assert set(report) == {"version", "files"}
    assert report["version"] == 1
    for entry in report["files"]:
        assert set(entry) == {"path", "models", "diagnostics"}
        assert isinstance(entry["path"], str)
        for model in entry["models"]:
            assert set(model) == {"name", "line", "input", "input_source", "output", "params", "layers"}
            assert isinstance(model["name"], str) and isinstance(model["line"], int) and model["line"] >= 1
            _check_shape(model["input"])
            _check_shape(model["output"])
            assert model["input_source"] in KNOWN_SOURCES
            assert model["params"] is None or isinstance(model["params"], (int, str))
            for layer in model["layers"]:
                assert set(layer) == {"path", "op", "line", "def_line", "in", "out", "params"}
                assert layer["path"] is None or isinstance(layer["path"], str)
                assert isinstance(layer["op"], str) and layer["op"]
                assert isinstance(layer["line"], int) and layer["line"] >= 1
                assert layer["def_line"] is None or isinstance(layer["def_line"], int)
                _check_shape(layer["in"])
                _check_shape(layer["out"])
        for diag in entry["diagnostics"]:
            # an error inside an imported block adds where it is there and the fixes that edit that file
            assert set(diag) - {"related", "workspace_fixes"} == {"line", "column", "end_line", "end_column",
                                                                  "severity", "code", "source", "message", "fixes"}
            for related in diag.get("related", []):
                assert set(related) == {"path", "line", "column", "end_line", "end_column", "message"}
                _check_span(related)
            for fix in diag.get("workspace_fixes", []):
                assert set(fix) == {"title", "edits"}
                for edit in fix["edits"]:
                    assert set(edit) == {"path", "line", "column", "end_line", "end_column", "new_text"}
                    _check_span(edit)
            _check_span(diag)
            assert diag["severity"] in ("error", "warning", "information")
            assert diag["source"] in ("cnnshape", "torch")
            assert isinstance(diag["code"], str) and isinstance(diag["message"], str)
            for fix in diag["fixes"]:
                assert set(fix) == {"title", "edits"} and isinstance(fix["title"], str)
                for edit in fix["edits"]:
                    assert set(edit) == {"line", "column", "end_line", "end_column", "new_text"}
                    _check_span(edit)
                    assert isinstance(edit["new_text"], str)


def test_json_folder_matches_contract(corpus: Path, capsys) -> None:
    code, report = run_json(capsys, str(corpus))
    validate_report(report)
    paths = [entry["path"] for entry in report["files"]]
    assert paths == sorted(str(corpus / name) for name in os.listdir(corpus))  # walked, in a stable order
    assert len(paths) == 11
    assert code == 1  # s01 and s10 have errors without any --input


def test_json_entry_is_the_api_result_with_the_given_path(corpus: Path, capsys) -> None:
    path = corpus_file(corpus, "s01")
    code, report = run_json(capsys, str(path))
    assert code == 1
    expected = cnnshape_ls.analyze(path.read_text(), path=str(path)).to_json()
    assert report["files"] == [expected]
    diag = next(d for d in report["files"][0]["diagnostics"] if d["code"] == "linear-in-features")
    assert diag["line"] == MANIFEST["s01"]["fix_line"]
    line = path.read_text().splitlines()[diag["line"] - 1]
    assert line[diag["column"] - 1:diag["end_column"] - 1] == "128"  # 1-based, end exclusive


def test_path_is_reported_as_given(corpus: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(corpus)
    _, report = run_json(capsys, "./" + MANIFEST["s02"]["file"])
    assert report["files"][0]["path"] == "./" + MANIFEST["s02"]["file"]
    _, report = run_json(capsys, ".")
    assert report["files"][0]["path"] == MANIFEST["s01"]["file"]


# ---------------------------------------------------------------------- exit codes
@pytest.mark.parametrize("sid, expected", [("s02", 0), ("s03", 0), ("s01", 1), ("s10", 1)])
def test_exit_codes(corpus: Path, sid: str, expected: int, capsys) -> None:
    assert main(["check", str(corpus_file(corpus, sid))]) == expected


@pytest.mark.parametrize("sid", sorted(MANIFEST))
def test_manifest_inputs_give_the_expected_verdict(corpus: Path, sid: str, capsys) -> None:
    entry = MANIFEST[sid]
    code = main(["check", str(corpus_file(corpus, sid)), "--input", manifest_input(sid)])
    assert code == (1 if entry["expect_error"] else 0)


def test_missing_path_is_a_usage_error(corpus: Path, capsys) -> None:
    code = main(["check", str(corpus / "nope.py"), str(corpus_file(corpus, "s02"))])
    err = capsys.readouterr().err
    assert code == 2
    assert "nope.py" in err and "no such file" in err


@pytest.mark.parametrize("shape", ["(BS, 3,", "(BS, 3.5, 32)", "", "(BS, 0, 32, 32)", "((BS, 3))"])
def test_bad_input_is_a_usage_error(corpus: Path, shape: str, capsys) -> None:
    assert main(["check", str(corpus_file(corpus, "s02")), "--input", shape]) == 2
    assert "--input" in capsys.readouterr().err


@pytest.mark.parametrize("shape", ["(BS, 3, 32, 32)", "[B,3,32,32]", "3x32x32"])
def test_input_forms(corpus: Path, shape: str, capsys) -> None:
    code, report = run_json(capsys, str(corpus_file(corpus, "s02")), "--input", shape)
    assert code == 0
    model = report["files"][0]["models"][0]
    assert model["input"] == ["BS", 3, 32, 32] and model["input_source"] == "cli"


def test_unreadable_file_is_an_io_error(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.py"
    bad.write_bytes(b"# -*- coding: utf-8 -*-\nx = '\xff\xfe'\n")
    assert main(["check", str(bad)]) == 2
    assert "cannot decode" in capsys.readouterr().err


def test_usage_errors_from_argparse(capsys) -> None:
    assert main([]) == 2
    assert main(["check"]) == 2
    assert main(["check", "x.py", "--format", "xml"]) == 2
    assert main(["--version"]) == 0


def test_model_option(corpus: Path, capsys) -> None:
    s10 = str(corpus_file(corpus, "s10"))
    code, report = run_json(capsys, s10, "--model", "Net(num_classes=5)", "--input", "(BS, 3, 32, 32)")
    assert code == 1
    assert report["files"][0]["models"][0]["output"] == ["BS", 5]
    assert main(["check", s10, "--model", "Missing"]) == 2
    assert "no model named Missing" in capsys.readouterr().err
    assert main(["check", s10, "--model", "Net(("]) == 2
    # in a folder, files without the model are simply skipped
    code, report = run_json(capsys, str(corpus), "--model", "Net")
    assert [len(e["models"]) for e in report["files"]].count(1) == 1


HIDDEN_WIDTH = """import torch.nn as nn

WIDTH = int.from_bytes(b"\x16", "big")


# in: (BS, 3, 8, 8)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, WIDTH, 3)
        self.fc = nn.Linear(16 * 6 * 6, 10)

    def forward(self, x):
        return self.fc(self.conv(x).flatten(1))
"""


def test_verify_adds_what_only_torch_sees(tmp_path: Path, corpus: Path, capsys) -> None:
    pytest.importorskip("torch")
    hidden = tmp_path / "hidden.py"
    hidden.write_text(HIDDEN_WIDTH)
    assert main(["check", str(hidden), "--no-verify"]) == 0  # the static engine cannot evaluate WIDTH
    capsys.readouterr()
    code, report = run_json(capsys, str(hidden), "--verify")
    assert code == 1
    error = next(d for d in report["files"][0]["diagnostics"] if d["severity"] == "error")
    assert error["source"] == "torch" and error["line"] == 11
    assert error["message"] == "mat1 and mat2 shapes cannot be multiplied (BSx792 and 576x10)"
    assert error["fixes"][0]["edits"][0]["new_text"] == "792"
    assert main(["check", str(corpus_file(corpus, "s01")), "--verify"]) == 1


# ---------------------------------------------------------------------- text
def test_text_report(corpus: Path, capsys) -> None:
    path = corpus_file(corpus, "s01")
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"{path}: Model model (input (BS, 3, 32, 32) from annotation)"
    assert re.match(r"\s+Layer\s+Type\s+Line\s+Output shape\s+Param #$", lines[1])
    assert any(re.match(r"\s+conv1\s+Conv2d\s+10\s+\(BS, 8, 30, 30\)\s+224$", line) for line in lines)
    assert "Total params: 82,992" in out and "Output shape: (BS, 1)" in out
    assert f"{path}:19:23: error linear-in-features mat1 and mat2 shapes cannot be multiplied" in out
    assert "    fix: " in out
    table = lines[1:lines.index("")]  # the header holds the path, whatever its length
    assert all(len(line) <= 100 for line in table)


def test_text_report_is_narrow_for_long_names(tmp_path: Path, capsys) -> None:
    path = tmp_path / "wide.py"
    path.write_text("import torch.nn as nn\n\n# in: (batch_size_of_the_run, 3, 32, 32)\n"
                    "a_really_quite_long_model_name = nn.Sequential(nn.Conv2d(3, 1000000, 3), nn.Flatten())\n")
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    table = [line for line in out.splitlines() if line.startswith("  ")]
    assert table and all(len(line) <= 100 for line in table)


# ---------------------------------------------------------------------- --fix
@pytest.mark.parametrize("sid", ["s01", "s09", "s10"])
def test_fix_leaves_no_errors(corpus: Path, sid: str, capsys) -> None:
    path = corpus_file(corpus, sid)
    before = path.read_text()
    shape = manifest_input(sid)
    code = main(["check", str(path), "--fix", "--input", shape])
    out = capsys.readouterr().out
    assert code == 0, out
    assert re.search(r"Applied [1-9]\d* fix(es)? in 1 file", out)
    after = path.read_text()
    assert after != before
    assert not cnnshape_ls.analyze(after, path=str(path), input=shape).errors
    entry = MANIFEST[sid]
    changed = [i + 1 for i, (a, b) in enumerate(zip(before.splitlines(), after.splitlines())) if a != b]
    assert changed == [entry["fix_line"]]
    line = after.splitlines()[entry["fix_line"] - 1]
    numbers = re.findall(r"\d+(?:\s*\*\s*\d+)*", line)
    assert any(eval(n) == entry["fix_value"] for n in numbers)  # noqa: S307 - digits and * only


def test_fix_with_json_keeps_stdout_json(corpus: Path, capsys) -> None:
    path = corpus_file(corpus, "s10")
    code = main(["check", str(path), "--fix", "--format", "json"])
    captured = capsys.readouterr()
    assert code == 0
    validate_report(json.loads(captured.out))
    assert "Applied 1 fix" in captured.err


def test_fix_updates_stale_comments_and_keeps_line_endings(tmp_path: Path, capsys) -> None:
    path = tmp_path / "stale.py"
    path.write_bytes(b"import torch.nn as nn\r\n\r\n# in: (BS, 3, 32, 32)\r\nm = nn.Sequential(\r\n"
                     b"    nn.Conv2d(3, 8, 3),  # out: (BS, 8, 32, 32)\r\n    nn.Conv2d(4, 8, 3),\r\n)\r\n")
    assert main(["check", str(path), "--fix"]) == 0
    data = path.read_bytes()
    assert b"# out: (BS, 8, 30, 30)\r\n" in data and b"nn.Conv2d(8, 8, 3)" in data
    assert data.count(b"\r\n") == 7 and b"\n" not in data.replace(b"\r\n", b"")


def test_clean_file_is_not_rewritten(corpus: Path, capsys) -> None:
    path = corpus_file(corpus, "s02")
    stamp = path.stat().st_mtime_ns
    assert main(["check", str(path), "--fix"]) == 0
    assert path.stat().st_mtime_ns == stamp
    assert "Applied 0 fixes in 0 files" in capsys.readouterr().out


# ---------------------------------------------------------------------- SARIF
def test_sarif(corpus: Path, capsys) -> None:
    code = main(["check", str(corpus), "--format", "sarif"])
    log = json.loads(capsys.readouterr().out)
    assert code == 1
    assert log["version"] == "2.1.0" and "sarif" in log["$schema"]
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "cnnshape"
    rule_ids = [r["id"] for r in driver["rules"]]
    assert len(rule_ids) == len(set(rule_ids))
    assert run["columnKind"] == "unicodeCodePoints"
    results = run["results"]
    assert results
    for result in results:
        assert result["level"] in ("error", "warning", "note")
        assert rule_ids[result["ruleIndex"]] == result["ruleId"]
        region = result["locations"][0]["physicalLocation"]["region"]
        assert all(region[k] >= 1 for k in ("startLine", "startColumn", "endLine", "endColumn"))
        assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    error = next(r for r in results if r["ruleId"] == "linear-in-features")
    assert error["level"] == "error"
    assert error["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 19, "startColumn": 23, "endLine": 19, "endColumn": 26}
    replacement = error["fixes"][0]["artifactChanges"][0]["replacements"][0]
    assert replacement["insertedContent"]["text"] == "127"
    assert replacement["deletedRegion"]["startLine"] == 19
    notes = [r for r in results if r["ruleId"] == "input-unknown"]
    assert notes and all(r["level"] == "note" for r in notes)


# ---------------------------------------------------------------------- walking and settings
def make_tree(root: Path, rels: list[str]) -> None:
    for rel in rels:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x = 1\n")


def git_init(folder: Path) -> None:
    """A work tree: by ``git init`` where git is installed (the walk itself never runs git), else a bare .git."""
    if shutil.which("git") is None:
        (folder / ".git").mkdir(parents=True)
        return
    subprocess.run(["git", "init", "-q", str(folder)], check=True)


def test_walk_respects_gitignore(tmp_path: Path) -> None:
    git_init(tmp_path)
    (tmp_path / ".gitignore").write_text("ignored/\nbuild_*.py\n")
    make_tree(tmp_path, ["a.py", "pkg/b.py", "ignored/c.py", "build_x.py", "notes.txt"])
    assert cli_files.walk_folder(tmp_path) == ["a.py", "pkg/b.py"]
    assert cli_files.walk_folder(tmp_path / "pkg") == ["b.py"]
    walk = cli_files.scan_folder(tmp_path)
    assert walk.ignored == 2


def test_walk_skips_hidden_folders_and_environments(tmp_path: Path) -> None:
    make_tree(tmp_path, ["a.py", "sub/b.py", ".hidden/c.py", "venv/lib/d.py", "myenv/pyvenv.cfg", "myenv/e.py",
                         "__pycache__/f.py", "node_modules/g.py", "sub/readme.md", ".ipynb_checkpoints/h.py",
                         "lib/site-packages/i.py"])
    (tmp_path / ".gitignore").write_text("sub/\n")  # outside a git work tree: git would not read it either
    assert cli_files.walk_folder(tmp_path) == ["a.py", "sub/b.py"]


# patterns of gitignore(5) and paths they must (or must not) ignore, checked against git where it is installed
IGNORE_RULES = "\n".join([
    "# a comment, then a blank line", "",
    "*.gen.py", "/top_only.py", "docs/*.py", "!docs/keep.py", "data/", "**/fixtures/*.py", "deep/**/x.py",
    "build/**", "\\#hash.py",
    "trailing.py   ",  # trailing spaces do not count
    "[ab]_case.py", "[!c]_neg.py", "sub/nested/",
]) + "\n"
IGNORE_TREE = [
    "main.py", "model.gen.py", "pkg/model.gen.py", "top_only.py", "pkg/top_only.py", "docs/a.py", "docs/keep.py",
    "docs/deeper/b.py", "data/c.py", "pkg/data/d.py", "tests/fixtures/e.py", "fixtures/f.py", "deep/x.py",
    "deep/a/b/x.py", "deep/a/y.py", "build/g.py", "build/sub/h.py", "#hash.py", "trailing.py", "a_case.py",
    "c_case.py", "b_neg.py", "c_neg.py", "sub/nested/i.py", "other/sub/nested/j.py", "sub/k.py",
    "inner/local.py", "inner/kept.py", "inner/deeper/local.py",
]


def test_gitignore_rules(tmp_path: Path) -> None:
    git_init(tmp_path)
    (tmp_path / ".gitignore").write_text(IGNORE_RULES)
    make_tree(tmp_path, IGNORE_TREE)
    (tmp_path / "inner" / ".gitignore").write_text("local.py\n!/kept.py\n")
    (tmp_path / ".gitignore").write_text(IGNORE_RULES + "inner/kept.py\n")
    expected = sorted(["main.py", "pkg/top_only.py", "docs/keep.py", "docs/deeper/b.py",
                       "deep/a/y.py", "c_case.py", "c_neg.py", "other/sub/nested/j.py", "sub/k.py",
                       "inner/kept.py"])
    found = cli_files.walk_folder(tmp_path)
    assert found == expected
    if shutil.which("git") is not None:  # and git agrees (run here with fsmonitor off, in a repository we made)
        listed = subprocess.run(["git", "-c", "core.fsmonitor=", "-C", str(tmp_path), "ls-files", "--others",
                                 "--exclude-standard", "-z"], capture_output=True, check=True).stdout.decode()
        assert sorted(n for n in listed.split("\0") if n.endswith(".py")) == found


def test_walk_of_a_subfolder_uses_the_gitignore_files_above_it(tmp_path: Path) -> None:
    git_init(tmp_path)
    (tmp_path / ".gitignore").write_text("generated_*.py\n/pkg/old/\n")
    (tmp_path / ".git" / "info").mkdir(exist_ok=True)
    (tmp_path / ".git" / "info" / "exclude").write_text("scratch.py\n")
    make_tree(tmp_path, ["pkg/a.py", "pkg/generated_b.py", "pkg/old/c.py", "pkg/scratch.py"])
    walk = cli_files.scan_folder(tmp_path / "pkg")
    assert walk.files == ["a.py"] and walk.ignored == 3


def test_check_never_runs_git_config_commands(tmp_path: Path) -> None:
    """core.fsmonitor in .git/config is a command git runs on ls-files or status: checking must not run it."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "repo"
    git_init(repo)
    subprocess.run(["git", "-C", str(repo), "config", "core.fsmonitor", "touch pwned; echo"], check=True)
    (repo / "net.py").write_text("import torch.nn as nn\nnet = nn.Sequential(nn.Linear(4, 2))\n")
    # the hole is real with this git: ls-files runs the command (in the work tree)
    subprocess.run(["git", "-C", str(repo), "ls-files", "--others", "--exclude-standard"], capture_output=True)
    assert (repo / "pwned").exists(), "this git did not run core.fsmonitor: the test would prove nothing"
    (repo / "pwned").unlink()
    result = subprocess.run([sys.executable, "-m", "cnnshape_ls.cli", "check", "repo"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "1 file checked" in result.stdout
    assert not (repo / "pwned").exists() and not (tmp_path / "pwned").exists()


def test_named_paths_are_checked_even_when_ignored(tmp_path: Path, capsys) -> None:
    git_init(tmp_path)
    (tmp_path / ".gitignore").write_text("models/\nscratch.py\n")
    bad = "import torch.nn as nn\n# in: (BS, 4)\nnet = nn.Sequential(nn.Linear(3, 2))\n"
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "net.py").write_text(bad)
    (tmp_path / "scratch.py").write_text(bad)
    code, report = run_json(capsys, str(tmp_path / "models"))
    assert code == 1 and [f["path"] for f in report["files"]] == [os.path.join(str(tmp_path / "models"), "net.py")]
    code, report = run_json(capsys, str(tmp_path / "scratch.py"))
    assert code == 1 and len(report["files"]) == 1


def test_walk_says_what_it_skipped(tmp_path: Path, capsys) -> None:
    git_init(tmp_path)
    (tmp_path / ".gitignore").write_text("vendored/\nold_*.py\n")
    make_tree(tmp_path, ["a.py", "vendored/b.py", "vendored/deep/c.py", "old_d.py"])
    assert main(["check", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().splitlines()[-2:] == ["1 file checked, 0 models: 0 errors, 0 warnings, 0 notes",
                                               "3 files skipped: ignored by .gitignore"]
    assert main(["check", "--format", "json", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)["files"]) == 1
    assert "3 files skipped: ignored by .gitignore" in captured.err


def test_nothing_to_check_is_an_error(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no python here\n")
    assert main(["check", str(empty)]) == 2
    assert f"no Python files found under {empty}" in capsys.readouterr().err
    git_init(tmp_path / "repo")
    (tmp_path / "repo" / ".gitignore").write_text("*.py\n")
    make_tree(tmp_path / "repo", ["a.py", "b.py"])
    assert main(["check", str(tmp_path / "repo")]) == 2
    err = capsys.readouterr().err
    assert f"no Python files found under {tmp_path / 'repo'} (2 files skipped: ignored by .gitignore)" in err
    assert main(["check", str(tmp_path / "repo" / "a.py")]) == 0  # named: checked


def test_pyproject_settings(corpus: Path, capsys) -> None:
    (corpus / "pyproject.toml").write_text('[tool.cnnshape]\ninput = "(N, 1, 28, 28)"\nbatchName = "N"\n')
    path = corpus_file(corpus, "s09")
    code, report = run_json(capsys, str(path))
    model = report["files"][0]["models"][0]
    assert model["input"] == ["N", 1, 28, 28] and model["input_source"] == "config"
    assert code == 1  # 28x28 is what makes s09 wrong
    # the command line wins
    code, report = run_json(capsys, str(path), "--input", "(N, 1, 32, 32)")
    assert code == 0 and report["files"][0]["models"][0]["input_source"] == "cli"


def test_pyproject_table_of_models(corpus: Path, capsys) -> None:
    sub = corpus / "sub"
    sub.mkdir()
    shutil.copy(corpus_file(corpus, "s09"), sub / "mnist.py")
    (corpus / "pyproject.toml").write_text('[tool.cnnshape.input]\nmnist_model = "[B, 1, 28, 28]"\n')
    (sub / "pyproject.toml").write_text('[project]\nname = "no-settings-here"\n')  # passed over
    code, report = run_json(capsys, str(sub / "mnist.py"))
    assert report["files"][0]["models"][0]["input"] == ["BS", 1, 28, 28]
    assert code == 1


def test_bad_pyproject_is_a_warning(corpus: Path, capsys) -> None:
    (corpus / "pyproject.toml").write_text("[tool.cnnshape\ninput = 3\n")
    assert main(["check", str(corpus_file(corpus, "s02"))]) == 0
    assert "pyproject.toml" in capsys.readouterr().err


def test_duplicates_are_checked_once(corpus: Path, capsys) -> None:
    s02 = str(corpus_file(corpus, "s02"))
    _, report = run_json(capsys, s02, s02, str(corpus))
    paths = [e["path"] for e in report["files"]]
    assert len(paths) == 11 and paths[0] == s02


# ---------------------------------------------------------------------- edits
def test_apply_edits_bottom_up_and_skips_overlaps() -> None:
    text = "abc\ndéf\r\nghi"
    edits = [Edit(Span(1, 0, 1, 1), "A"), Edit(Span(2, 1, 2, 2), "E"), Edit(Span(2, 0, 2, 3), "zzz"),
             Edit(Span(3, 3, 3, 3), "!")]
    assert apply_edits(text, edits) == ("Abc\ndEf\r\nghi!", 3)


def test_apply_fixes_is_all_or_nothing() -> None:
    text = "x = 1\ny = 2\n"
    first = Fix("first", [Edit(Span(1, 4, 1, 5), "10")])
    clashing = Fix("clash", [Edit(Span(2, 4, 2, 5), "20"), Edit(Span(1, 4, 1, 5), "30")])
    separate = Fix("separate", [Edit(Span(2, 0, 2, 1), "z")])
    assert apply_fixes(text, [first, clashing, separate]) == ("x = 10\nz = 2\n", 2)


def test_fix_all_chooses_the_preferred_fix_of_errors_and_warnings() -> None:
    """What both fix-all (the editor) and --fix apply: one function, tested here on its own."""
    text = "x = 1\ny = 2\nz = 3\n"
    first = Fix("first", [Edit(Span(1, 4, 1, 5), "10")])
    clashing = Fix("clash", [Edit(Span(2, 4, 2, 5), "20"), Edit(Span(1, 4, 1, 5), "30")])
    warning = Fix("warning", [Edit(Span(3, 4, 3, 5), "30")])
    findings = [Finding(Span(1, 4, 1, 5), "error", "a", "", [first, Fix("alternative", [])]),
                Finding(Span(1, 4, 1, 5), "error", "b", "", [first]),  # the same fix on another finding
                Finding(Span(2, 4, 2, 5), "error", "c", "", [clashing]),
                Finding(Span(2, 0, 2, 0), "information", "d", "", [Fix("note", [Edit(Span(2, 0, 2, 1), "w")])]),
                Finding(Span(3, 4, 3, 5), "warning", "stale-comment", "", [warning])]
    assert fixes_to_apply(text, findings) == [first, warning]


def test_line_index_counts_lines_as_python() -> None:
    index = LineIndex("a\rbc\r\nd\n")
    assert index.starts == [0, 2, 6] and index.lengths == [1, 2, 1]
    assert index.offset(2, 99) == 4 and index.offset(9, 0) == 8


# ---------------------------------------------------------------------- processes and entry points
def test_python_m_cnnshape_ls_cli(corpus: Path) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-m", "cnnshape_ls.cli", "check", "--format", "json", str(corpus)],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    validate_report(report)
    assert len(report["files"]) == 11
    codes = {d["code"] for e in report["files"] for d in e["diagnostics"] if d["severity"] == "error"}
    assert {"linear-in-features", "conv-in-channels"} <= codes


def test_serve_starts_the_language_server(monkeypatch) -> None:
    import cnnshape_ls.server as server

    seen = []
    monkeypatch.setattr(server, "run", lambda tcp: seen.append(tcp) or 0)
    assert main(["serve", "--tcp", "127.0.0.1:0"]) == 0
    assert main(["serve"]) == 0
    assert serve_main(["--tcp", ":2087"]) == 0
    assert seen == ["127.0.0.1:0", None, ":2087"]  # both commands parse the options once, the same way
    assert main(["serve", "--tcp", "localhost"]) == 2  # no port: a usage error, before any server starts


def test_pre_commit_hooks_file() -> None:
    text = (REPO / ".pre-commit-hooks.yaml").read_text()
    assert "id: cnnshape-check" in text and "entry: cnnshape check" in text
    assert "id: cnnshape-annotate-check" in text and "entry: cnnshape annotate --check" in text


def test_examples(capsys) -> None:
    examples = REPO / "docs" / "examples"
    assert main(["check", str(examples / "cifar_sequential.py")]) == 0
    assert main(["annotate", "--check", str(examples / "cifar_sequential.py")]) == 0
    capsys.readouterr()
    code, report = run_json(capsys, str(examples / "lenet.py"))
    assert code == 1
    (error,) = [d for d in report["files"][0]["diagnostics"] if d["severity"] == "error"]
    assert error["code"] == "linear-in-features"
    assert error["fixes"][0]["edits"][0]["new_text"].replace(" ", "") in ("16*5*5", "400")


def test_imports_of_the_project_are_followed(tmp_path: Path, capsys) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "blocks.py").write_text(
        "import torch.nn as nn\n\nWIDTH = 16\n\n\nclass ConvBlock(nn.Module):\n"
        "    def __init__(self, cin, cout):\n        super().__init__()\n"
        "        self.conv = nn.Conv2d(cin, cout, 3, padding=1)\n        self.pool = nn.MaxPool2d(2)\n\n"
        "    def forward(self, x):\n        return self.pool(self.conv(x))\n")
    net = pkg / "net.py"
    net.write_text(
        "import torch.nn as nn\n\nfrom .blocks import WIDTH, ConvBlock\n\n\n# in: (BS, 3, 32, 32)\n"
        "class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.b1 = ConvBlock(3, WIDTH)\n        self.fc = nn.Linear(WIDTH * 15 * 15, 10)\n\n"
        "    def forward(self, x):\n        return self.fc(self.b1(x).flatten(1))\n")
    code, report = run_json(capsys, str(net))
    assert code == 1
    model = report["files"][0]["models"][0]
    assert [layer["path"] for layer in model["layers"] if layer["path"]] == ["b1.conv", "b1.pool", "fc"]
    (error,) = [d for d in report["files"][0]["diagnostics"] if d["severity"] == "error"]
    assert error["code"] == "linear-in-features" and "4096" in error["message"]


def test_fix_leaves_form_feed_files_alone(tmp_path: Path, capsys) -> None:
    path = tmp_path / "ff.py"
    text = ("import torch.nn as nn\n\x0c\n# in: (BS, 3, 32, 32)\nm = nn.Sequential(\n    nn.Conv2d(3, 8, 3),\n"
            "    nn.Conv2d(4, 8, 3),\n)\n")
    path.write_text(text)
    main(["check", str(path), "--fix"])
    assert path.read_text() == text
    assert "not fixed" in capsys.readouterr().err


# ---------------------------------------------------------------------- the ignore rules against git itself
PATTERN_PARTS = ["a", "b", "c", "*", "?", "**", "*.py", "x.py", "[ab]", "[!a]*", "b*"]
TREE_DIRS = ["a", "b", "c", "ab"]
TREE_FILES = ["x.py", "y.py", "a.py", "b.py", "ab.py"]


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_walk_agrees_with_git_on_generated_ignore_files(tmp_path_factory, data) -> None:
    """Random .gitignore files (root and one subfolder) over a random tree: the walk keeps what git keeps."""
    def pattern() -> str:
        parts = data.draw(st.lists(st.sampled_from(PATTERN_PARTS), min_size=1, max_size=3))
        text = "/".join(parts)
        text = data.draw(st.sampled_from(["", "/"])) + text + data.draw(st.sampled_from(["", "/"]))
        return data.draw(st.sampled_from(["", "!"])) + text

    root = tmp_path_factory.mktemp("repo")
    git_init(root)
    files = data.draw(st.lists(st.tuples(st.lists(st.sampled_from(TREE_DIRS), max_size=3),
                                         st.sampled_from(TREE_FILES)), min_size=1, max_size=12))
    make_tree(root, sorted({"/".join([*dirs, name]) for dirs, name in files}))
    (root / ".gitignore").write_text("\n".join(pattern() for _ in range(data.draw(st.integers(1, 4)))) + "\n")
    sub = data.draw(st.sampled_from(TREE_DIRS))
    if (root / sub).is_dir():
        (root / sub / ".gitignore").write_text("\n".join(pattern() for _ in range(data.draw(st.integers(0, 2)))))
    listed = subprocess.run(["git", "-c", "core.fsmonitor=", "-C", str(root), "ls-files", "--others",
                             "--exclude-standard", "-z"], capture_output=True, check=True).stdout.decode()
    expected = sorted(n for n in listed.split("\0") if n.endswith(".py"))
    walk = cli_files.scan_folder(root)
    rules = (root / ".gitignore").read_text()
    assert walk.files == expected, rules
    assert walk.ignored == len({p for p in root.rglob("*.py") if ".git" not in p.parts}) - len(expected), rules
