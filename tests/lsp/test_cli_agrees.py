"""The command line and the editor agree: the same files give the same ``# out:`` labels, the same fix-all
result and the same settings through ``cnnshape`` (run as a process) and the language server (a real client).

Every file of the corpus (``tests/corpus``, as ``manifest.json`` lists it) and every model in ``tests/models``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from conftest import SERVER, start_session
from helpers import apply_text_edits, change_document, inlay_hints, open_document, settled

TESTS = Path(__file__).resolve().parents[1]
MANIFEST = json.loads((TESTS / "corpus" / "manifest.json").read_text())
CORPUS = [TESTS / "corpus" / entry["file"] for entry in MANIFEST]
MODELS = sorted((TESTS / "models").glob("*.py"))
FILES = CORPUS + MODELS
FIX_PASSES = 3  # as cnnshape check --fix: a fix can uncover the next problem
COMMENT = re.compile(r"  # out: \(.*\)( ×\d+)?$")  # a shared line ends with its count of instances
FIRST_LINEAR = re.compile(r"nn\.Linear\((\d+)")


def broken(text: str) -> str:
    """The model with its first ``nn.Linear``'s in_features one too many: an error with fixes."""
    return FIRST_LINEAR.sub(lambda m: f"nn.Linear({int(m.group(1)) + 1}", text, count=1)


BROKEN = [path for path in MODELS if broken(path.read_text()) != path.read_text()]


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, tmp_path):
    workspace = tmp_path / "editor"
    workspace.mkdir()
    await start_session(lsp_client, "visual_studio_code", workspace, {"enabled": False})
    yield
    await lsp_client.shutdown_session()


def cnnshape(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnnshape_ls.cli", *args], capture_output=True, text=True,
                          timeout=600, check=False)


def corpus_settings() -> str:
    """The manifest's inputs as an input table of ``[tool.cnnshape]``: the corpus states none in its files."""
    rows = [f'{entry["model"].split("(")[0]} = "(BS, {", ".join(map(str, entry["input"][1:]))})"'
            for entry in MANIFEST]
    return "[tool.cnnshape.input]\n" + "\n".join(sorted(set(rows))) + "\n"


def copy_files(folder: Path) -> dict[Path, Path]:
    """The files, under ``folder`` as ``corpus/`` (with its settings) and ``models/``: source -> copy."""
    copies = {}
    for source in FILES:
        copies[source] = folder / source.parent.name / source.name
        copies[source].parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, copies[source])
    (folder / "corpus" / "pyproject.toml").write_text(corpus_settings())
    return copies


def copy_broken(folder: Path) -> dict[Path, Path]:
    """Each model with a literal ``nn.Linear`` broken, under ``folder / "broken"``: source -> copy."""
    copies = {}
    for source in BROKEN:
        copies[source] = folder / "broken" / source.name
        copies[source].parent.mkdir(parents=True, exist_ok=True)
        copies[source].write_text(broken(source.read_text()))
    return copies


def open_copy(client, copy: Path) -> tuple[str, str]:
    """Open a copy in the editor's workspace: its uri and text."""
    text = copy.read_text()
    return open_document(client, str(copy.relative_to(client.workspace_path)), text), text


async def source_action(client, uri: str, kind: str) -> list[types.TextEdit]:
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)),
        context=types.CodeActionContext(diagnostics=[], only=[kind])))
    found = [a for a in actions or [] if a.kind == kind]
    return list(found[0].edit.changes[uri]) if found else []


def test_the_comparison_covers_the_corpus_and_every_model() -> None:
    assert len(CORPUS) >= 10 and all(path.is_file() for path in CORPUS)
    assert len(MODELS) >= 30
    assert corpus_settings().count(" = ") == len({entry["model"].split("(")[0] for entry in MANIFEST})
    assert len(BROKEN) >= 20


@pytest.mark.asyncio
async def test_hints_and_both_annotate_actions_write_the_same_labels(client, tmp_path):
    in_editor = copy_files(client.workspace_path)
    copies = copy_files(tmp_path / "cli")
    annotate = cnnshape("annotate", str(tmp_path / "cli"))
    assert annotate.returncode == 0, annotate.stderr
    disagreements = []
    labelled = 0
    for source in FILES:
        uri, text = open_copy(client, in_editor[source])
        by_cli = copies[source].read_text()
        await settled(client, uri, 1)
        by_editor = apply_text_edits(text, await source_action(client, uri, "source.annotate.cnnshape"),
                                     client.encoding)
        if by_editor != by_cli:
            disagreements.append(f"{source.name}: the editor's annotate action and cnnshape annotate differ")
        # each comment the CLI wrote is the hint of its line, and each line with a one-shape hint got it
        old_lines, new_lines = text.split("\n"), by_cli.split("\n")
        assert len(old_lines) == len(new_lines), source.name
        written = {n: COMMENT.search(new).group(0).strip() for n, (old, new) in
                   enumerate(zip(old_lines, new_lines), start=1) if old != new and COMMENT.search(new)}
        changed = {n for n, (old, new) in enumerate(zip(old_lines, new_lines), start=1) if old != new}
        hints = {hint.position.line + 1: str(hint.label) for hint in await inlay_hints(client, uri)}
        # a shape known only in part, (BS, 64, ?, ?), is a hint but never a comment
        one_shape = {line: label for line, label in hints.items() if label.startswith("# out: (") and "?" not in label}
        for line in changed:
            label = one_shape.get(line)
            comment = written.get(line, "")
            shape_part, _, count = (label or "").partition("…")  # a cut label keeps a shared line's count
            cut = "…" in (label or "") and comment.startswith(shape_part) and comment.endswith(count)
            if label is None or not (comment == label or cut):
                disagreements.append(f"{source.name}:{line}: cnnshape annotate wrote {comment!r}, "
                                     f"the hint says {hints.get(line)!r}")
        for line, label in one_shape.items():
            if line not in changed:
                disagreements.append(f"{source.name}:{line}: a hint {label!r} but no comment written")
        labelled += len(changed)
    assert not disagreements, "\n".join(disagreements)
    assert labelled > 200  # the comparison saw real labels, not empty files


@pytest.mark.asyncio
async def test_fix_all_gives_the_text_of_check_fix(client, tmp_path):
    in_editor = copy_files(client.workspace_path)
    copies = copy_files(tmp_path / "cli")
    broken_in_editor = copy_broken(client.workspace_path)
    broken_copies = copy_broken(tmp_path / "cli")
    fixed = cnnshape("check", "--fix", str(tmp_path / "cli"))
    assert fixed.returncode in (0, 1), fixed.stderr
    disagreements = []
    changed_files = 0
    pairs = [(in_editor[s], copies[s]) for s in FILES] + [(broken_in_editor[s], broken_copies[s]) for s in BROKEN]
    for editor_copy, cli_copy in pairs:
        uri, text = open_copy(client, editor_copy)
        original = text
        await settled(client, uri, 1)
        version = 1
        for _ in range(FIX_PASSES):
            edits = await source_action(client, uri, "source.fixAll.cnnshape")
            new_text = apply_text_edits(text, edits, client.encoding) if edits else text
            if new_text == text:
                break
            version += 1
            text = new_text
            change_document(client, uri, text, version)
            await settled(client, uri, version)
        by_cli = cli_copy.read_text()
        if text != by_cli:
            disagreements.append(f"{cli_copy}: fix-all and cnnshape check --fix differ")
        changed_files += by_cli != original
    assert not disagreements, "\n".join(disagreements)
    assert changed_files >= 10  # fixes were compared, not only files without any


NET = """import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x)
"""
FORWARD_LINE = 10


@pytest.mark.parametrize("name", ["batch_name", "batchName"])
@pytest.mark.asyncio
async def test_pyproject_batch_name_holds_in_both(client, name):
    """The batch named in pyproject.toml, in either spelling: the server's hints and both commands say (N, 2)."""
    workspace = client.workspace_path
    (workspace / "pyproject.toml").write_text(f'[tool.cnnshape]\n{name} = "N"\n')
    uri = open_document(client, "net.py", NET)
    await settled(client, uri, 1)
    hints = {hint.position.line + 1: str(hint.label) for hint in await inlay_hints(client, uri)}
    assert hints[FORWARD_LINE] == "# out: (N, 2)"
    checked = cnnshape("check", str(workspace / "net.py"))
    assert checked.returncode == 0, checked.stderr
    assert f"fc     Linear    {FORWARD_LINE}  (N, 2)" in checked.stdout and "unknown setting" not in checked.stderr
    annotated = cnnshape("annotate", "--check", str(workspace / "net.py"))
    listed = {int(line.split(": ", 1)[0].rsplit(":", 1)[1]): line.rsplit(": ", 1)[1]
              for line in annotated.stdout.splitlines()}
    assert listed == {line: label.removeprefix("# out: ") for line, label in hints.items()}


@pytest.mark.asyncio
async def test_the_summary_command_gives_the_table_of_check(client):
    """cnnshape.showSummary answers with the per-layer table ``cnnshape check`` prints (every model of the
    file, or the one named), as text to show once: no window/showMessage besides."""
    copies = copy_files(client.workspace_path)
    seed = copies[TESTS / "corpus" / "s01_ordereddict_fc_mismatch.py"]
    uri, _ = open_copy(client, seed)
    await settled(client, uri, 1)
    messages = len(client.messages)
    shown = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="cnnshape.showSummary", arguments=[uri]))
    printed = cnnshape("check", str(seed)).stdout.replace(str(seed), seed.name)
    table = printed[:printed.index("Output shape: (BS, 1)\n") + len("Output shape: (BS, 1)")]
    assert shown == table, f"the editor's summary:\n{shown}\ncnnshape check:\n{printed}"
    assert "  fc1      Linear       17  (BS, 127)          73,279" in shown.splitlines()
    blocks = copies[TESTS / "models" / "m12_inception_block.py"]
    uri, _ = open_copy(client, blocks)
    await settled(client, uri, 1)
    every = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="cnnshape.showSummary", arguments=[uri]))
    named = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="cnnshape.showSummary", arguments=[uri, "MiniGoogLeNet"]))
    assert named.startswith(f"{blocks.name}: Model MiniGoogLeNet (") and "a3.branch1.conv" in named
    assert every.count(": Model ") > named.count(": Model ") == 1
    assert len(client.messages) == messages, "the summary also came as a message"
