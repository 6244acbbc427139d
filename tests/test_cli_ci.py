"""``cnnshape`` in CI: ``--format github`` annotations, the pre-commit hook, and the folders a walk never enters."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cnnshape_ls.analysis.findings import Edit, Finding, Fix, Span
from cnnshape_ls.cli import files as cli_files
from cnnshape_ls.cli import main
from cnnshape_ls.cli.github import annotation, escape_data, escape_property

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "corpus"
CHANNELS = "s10_channel_mismatch.py"  # conv2 = nn.Conv2d(8, 32, ...) after a conv with 16 channels out
STALE = "import torch.nn as nn\n# in: (BS, 4)\nnet = nn.Sequential(nn.Linear(4, 2))  # out: (BS, 3)\n"


def github_lines(capsys, *args: str) -> tuple[int, list[str]]:
    code = main(["check", "--format", "github", *args])
    return code, capsys.readouterr().out.splitlines()


def copy_model(folder: Path, name: str = CHANNELS) -> Path:
    target = folder / name
    target.write_bytes((CORPUS / name).read_bytes())
    return target


# ---------------------------------------------------------------------- --format github
def test_github_error_lines_are_exact(tmp_path: Path, capsys, monkeypatch) -> None:
    copy_model(tmp_path)
    monkeypatch.chdir(tmp_path)
    line = (CORPUS / CHANNELS).read_text().splitlines()[9]
    col = line.index("Conv2d(8") + len("Conv2d(") + 1  # the wrong in_channels, 1-based
    code, lines = github_lines(capsys, "--input", "(BS, 3, 32, 32)", CHANNELS)
    assert code == 1
    assert lines == [
        f"::error file={CHANNELS},line=10,col={col},endLine=10,endColumn={col + 1},title=cnnshape conv-in-channels"
        "::Given groups=1, weight of size [32, 8, 3, 3], expected input[BS, 16, 16, 16] to have 8 channels, "
        "but got 16 channels instead%0Afix: Change in_channels to 16"]


def test_github_positions_agree_with_json(tmp_path: Path, capsys, monkeypatch) -> None:
    """Every diagnostic of the JSON report is one annotation, at the same 1-based place, in the same order."""
    monkeypatch.chdir(tmp_path)
    names = [copy_model(tmp_path, p.name).name for p in sorted(CORPUS.glob("s*.py"))]
    code, lines = github_lines(capsys, *names)
    assert main(["check", "--format", "json", *names]) == code == 1
    report = json.loads(capsys.readouterr().out)
    commands = {"error": "error", "warning": "warning", "information": "notice"}
    expected = [f"::{commands[d['severity']]} file={f['path']},line={d['line']},col={d['column']},"
                f"endLine={d['end_line']},endColumn={d['end_column']},title=cnnshape {d['code']}::"
                for f in report["files"] for d in f["diagnostics"]]
    assert len(lines) == len(expected) > 2
    assert [line[:len(prefix)] for line, prefix in zip(lines, expected)] == expected
    assert {line.split(" ", 1)[0] for line in lines} == {"::error", "::notice"}


def test_github_warning_and_paths(tmp_path: Path, capsys, monkeypatch) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "net.py").write_text(STALE)
    monkeypatch.chdir(tmp_path)
    code, lines = github_lines(capsys, "sub")
    assert code == 0  # a stale comment is a warning: the exit code is that of the other formats
    assert lines == ["::warning file=sub/net.py,line=3,col=46,endLine=3,endColumn=53,title=cnnshape stale-comment"
                     "::This comment says (BS, 3), but the output is (BS, 2)%0Afix: Update the comment to (BS, 2)"]
    # an absolute path under the current folder is written relative to it, as GitHub matches it to the checkout
    code, absolute = github_lines(capsys, str(tmp_path / "sub" / "net.py"))
    assert absolute == lines


def test_github_escaping() -> None:
    assert escape_data("50% done\r\nnext: a, b") == "50%25 done%0D%0Anext: a, b"
    assert escape_property("a:b,c%d\ne") == "a%3Ab%2Cc%25d%0Ae"
    finding = Finding(Span(2, 4, 2, 9), "information", "odd-code",
                      "100% of rows: dropped\nsee: docs, usage",
                      fixes=[Fix("Use 50%", [Edit(Span(2, 4, 2, 9), "x")])])
    assert annotation(finding, "dir,x/a:b.py") == (
        "::notice file=dir%2Cx/a%3Ab.py,line=2,col=5,endLine=2,endColumn=10,title=cnnshape odd-code"
        "::100%25 of rows: dropped%0Asee: docs, usage%0Afix: Use 50%25")


def test_github_clean_file_prints_nothing(tmp_path: Path, capsys) -> None:
    clean = tmp_path / "clean.py"
    clean.write_text("import torch.nn as nn\n# in: (BS, 4)\nnet = nn.Sequential(nn.Linear(4, 2))\n")
    code = main(["check", "--format", "github", str(clean)])
    captured = capsys.readouterr()
    assert code == 0 and captured.out == "" and captured.err == ""


def test_github_exit_code_for_nothing_to_check(tmp_path: Path, capsys) -> None:
    code, lines = github_lines(capsys, str(tmp_path))
    assert code == 2 and lines == []


# ---------------------------------------------------------------------- folders never walked
NEVER_WALKED = {
    ".ipynb_checkpoints": [".ipynb_checkpoints/net-checkpoint.py"],
    ".venv": [".venv/lib/python3.11/site-packages/pkg/mod.py"],
    "venv": ["venv/lib/mod.py"],
    "pyvenv.cfg": ["tools/env-3.11/pyvenv.cfg", "tools/env-3.11/lib/mod.py"],
    "site-packages": ["vendor/lib/site-packages/pkg/mod.py"],
}


@pytest.mark.parametrize("kind", sorted(NEVER_WALKED))
def test_folder_never_walked(tmp_path: Path, capsys, kind: str) -> None:
    for rel, text in [("model.py", "x = 1\n"), ("tools/helper.py", "x = 1\n"),
                      *((rel, "x = (\n") for rel in NEVER_WALKED[kind])]:  # read, it would be a syntax error
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert cli_files.walk_folder(tmp_path) == ["model.py", "tools/helper.py"]
    assert main(["check", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2 files checked" in out and "skipped" not in out  # not walked at all: not counted as ignored


# ---------------------------------------------------------------------- pre-commit
def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def is_git_checkout(folder: Path) -> bool:
    if shutil.which("git") is None:
        return False
    top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=folder, capture_output=True, text=True)
    return top.returncode == 0 and Path(top.stdout.strip()).resolve() == folder


@pytest.mark.slow
def test_pre_commit_hook(tmp_path: Path) -> None:
    """The hook of .pre-commit-hooks.yaml, installed by pre-commit from this repository (pip, in its own venv):
    fails on a broken model with the diagnostic, passes once ``cnnshape check --fix`` fixed it."""
    pre_commit = shutil.which("pre-commit", path=os.path.dirname(sys.executable)) or shutil.which("pre-commit")
    if pre_commit is None:
        pytest.fail("pre-commit is not installed: it is in the test extra (pip install -e '.[test]')")
    if not is_git_checkout(REPO):
        pytest.skip("not a git checkout: pre-commit try-repo needs one")
    project = tmp_path / "project"
    project.mkdir()
    git("init", "-q", ".", cwd=project)
    model = copy_model(project)
    git("add", CHANNELS, cwd=project)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the hook runs what pre-commit installed
    env.update(PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"), PIP_DISABLE_PIP_VERSION_CHECK="1",
               PRE_COMMIT_COLOR="never")

    def try_repo() -> subprocess.CompletedProcess[str]:
        # try-repo clones this repository at HEAD, with its uncommitted changes to tracked files on top
        return subprocess.run([pre_commit, "try-repo", str(REPO), "cnnshape-check", "--all-files"], cwd=project,
                              env=env, capture_output=True, text=True, timeout=600)

    failed = try_repo()
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "cnnshape check" in failed.stdout and "Failed" in failed.stdout
    assert f"{CHANNELS}:10:32: error conv-in-channels" in failed.stdout
    fixed = subprocess.run([sys.executable, "-m", "cnnshape_ls.cli", "check", "--fix", CHANNELS], cwd=project,
                           capture_output=True, text=True, timeout=120)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "nn.Conv2d(16, 32, 3, padding=1)" in model.read_text()
    passed = try_repo()
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout and "error" not in passed.stdout
