"""Torch verification over LSP: what only torch can see, agreement marks, and trouble that costs nothing."""

from __future__ import annotations

import asyncio
import time

import pytest
from lsprotocol import types

from helpers import diagnostics, inlay_hints, open_document

pytest.importorskip("torch")

HIDDEN_WIDTH = """import torch.nn as nn

WIDTH = int.from_bytes(b"\x16", "big")   # 22: code the static engine does not evaluate


# in: (BS, 3, 8, 8)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, WIDTH, 3)
        self.fc = nn.Linear(16 * 6 * 6, 10)

    def forward(self, x):
        x = self.conv(x).flatten(1)
        return self.fc(x)
"""


async def torch_diagnostics(client, uri: str, version: int, timeout: float = 30.0) -> list:
    """Diagnostics of ``version`` once torch's have arrived (they come after the static ones)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await diagnostics(client, uri, version)
        if any(d.source == "torch" for d in found):
            return found
        await asyncio.sleep(0.1)
        if client.profile.startswith("visual"):
            client.diagnostics.pop(uri, None)
    raise TimeoutError("no diagnostics from torch")


@pytest.mark.asyncio
async def test_torch_finds_what_static_analysis_cannot(verifying_client):
    client = verifying_client
    uri = open_document(client, "hidden.py", HIDDEN_WIDTH)
    found = await torch_diagnostics(client, uri, 1)
    error = next(d for d in found if d.source == "torch" and d.severity == types.DiagnosticSeverity.Error)
    assert error.code == "linear-in-features"
    assert error.message == "mat1 and mat2 shapes cannot be multiplied (BSx792 and 576x10)"
    line = HIDDEN_WIDTH.split("\n")[error.range.start.line]
    assert "nn.Linear(16 * 6 * 6, 10)" in line
    hints = {h.position.line: h.label for h in await inlay_hints(client, uri)}
    assert hints[9].startswith("# out: (BS, 22, 6, 6)")  # filled in from torch
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=error.range,
        context=types.CodeActionContext(diagnostics=[error])))
    assert actions and actions[0].edit.changes[uri][0].new_text == "792"


@pytest.mark.asyncio
async def test_agreement_is_marked(verifying_client):
    client = verifying_client
    text = HIDDEN_WIDTH.replace('int.from_bytes(b"\x16", "big")', "16").replace("16 * 6 * 6", "16 * 6 * 6")
    uri = open_document(client, "agree.py", text)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        hints = await inlay_hints(client, uri)
        if any(h.label.endswith("✓") for h in hints):
            break
        await asyncio.sleep(0.2)
    labels = {h.position.line: h.label for h in await inlay_hints(client, uri)}
    assert labels[9] == "# out: (BS, 16, 6, 6) ✓"
    hover = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=9, character=20)))
    assert "✓ torch agrees" in hover.contents.value


HELPER_WIDTH = """import torch.nn as nn
from helper_w import WIDTH


# in: (BS, 3)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, WIDTH)
        self.head = nn.Linear(WIDTH, 2)

    def forward(self, x):
        return self.head(self.fc(x))
"""


async def labels_when(client, uri: str, line: int, wanted: str, timeout: float = 30.0) -> dict[int, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        labels = {h.position.line: h.label for h in await inlay_hints(client, uri)}
        if labels.get(line) == wanted:
            return labels
        await asyncio.sleep(0.1)
    raise TimeoutError(f"line {line} never showed {wanted!r}: {labels}")


@pytest.mark.asyncio
async def test_an_edited_workspace_module_is_verified_as_saved(verifying_client):
    """Issue 13: `from helper_w import WIDTH`, helper_w.py saved from 4 to 5: the next verification imports 5
    (it kept importing 4: a false torch-mismatch, and a ✓ on a Linear that would crash)."""
    client = verifying_client
    helper = client.workspace_path / "helper_w.py"
    helper.write_text("WIDTH = 4\n")
    uri = open_document(client, "uses_helper.py", HELPER_WIDTH)
    await labels_when(client, uri, 8, "# out: (BS, 4) ✓")
    helper.write_text("WIDTH = 5\n")
    client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[
        types.FileEvent(uri=helper.as_uri(), type=types.FileChangeType.Changed)]))
    edited = HELPER_WIDTH.replace("return self.head(self.fc(x))", "return self.head(self.fc(x))  # edited")
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=edited)]))
    await labels_when(client, uri, 8, "# out: (BS, 5) ✓")
    found = await diagnostics(client, uri, 2)
    assert not [d for d in found if d.source == "torch"], [d.message for d in found]
