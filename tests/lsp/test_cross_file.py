"""A model that imports its blocks and constants from other files of the workspace."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types

from helpers import apply_text_edits, change_document, diagnostics, inlay_hints, open_document

BLOCKS = """import torch.nn as nn

WIDTH = 16


class ConvBlock(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.conv = nn.Conv2d(i, o, 3, padding=1)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        return self.pool(self.conv(x))
"""

NET = """import torch.nn as nn

from blocks import WIDTH, ConvBlock


# in: (BS, 3, 32, 32)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = ConvBlock(3, WIDTH)
        self.fc = nn.Linear(16 * 16 * 16, 10)

    def forward(self, x):
        x = self.block(x)
        return self.fc(x.flatten(1))
"""


@pytest.mark.asyncio
async def test_imported_blocks_and_constants(client):
    blocks = open_document(client, "blocks.py", BLOCKS)
    net = open_document(client, "net.py", NET)
    assert not [d for d in await diagnostics(client, net, 1) if d.severity == types.DiagnosticSeverity.Error]
    labels = {h.position.line: h.label for h in await inlay_hints(client, net)}
    assert labels[13] == "# out: (BS, 16, 16, 16)"  # the imported block's output, on the line that calls it
    change_document(client, blocks, BLOCKS.replace("WIDTH = 16", "WIDTH = 8"), 2)
    await diagnostics(client, blocks, 2)
    found = await diagnostics(client, net, None if client.profile.startswith("neovim") else 1)
    if not client.profile.startswith("neovim"):
        import asyncio
        import time
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
                d.severity == types.DiagnosticSeverity.Error for d in client.diagnostics.get(net, [])):
            await asyncio.sleep(0.05)
        found = client.diagnostics.get(net, [])
    error = next(d for d in found if d.severity == types.DiagnosticSeverity.Error)
    assert error.message == "mat1 and mat2 shapes cannot be multiplied (BSx2048 and 4096x10)"


FACTORY = """import torch.nn as nn


def make_conv(i, o):
    return nn.Conv2d(i, o, 3)


def make_stack(i):
    return nn.Sequential(nn.Conv2d(i, 4, 3), nn.ReLU())
"""

USES_FACTORY = """import torch.nn as nn

from factory import make_conv, make_stack


# in: (BS, 3, 16, 16)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = make_conv(3, 8)
        self.stack = make_stack(8)
        self.flat = nn.Flatten()

    def forward(self, x):
        x = self.conv(x)
        x = self.stack(x)
        return self.flat(x)


seq = nn.Sequential(
    make_conv(3, 5),
    nn.ReLU(),
)
"""


@pytest.mark.asyncio
async def test_layers_built_by_another_files_functions(client):
    """Their hints go on the lines of this file that build or apply them, never on line numbers of the
    other file (``nn.Conv2d`` is on line 5 of factory.py)."""
    open_document(client, "factory.py", FACTORY)
    net = open_document(client, "net.py", USES_FACTORY)
    await diagnostics(client, net, 1)
    labels = {h.position.line + 1: h.label for h in await inlay_hints(client, net)}
    assert labels[15] == "# out: (BS, 8, 14, 14)"  # applied here
    assert labels[11] == "# out: (BS, 4, 12, 12)"  # the layers of a Sequential another file built, where it is built
    assert labels[16] == "# out: (BS, 4, 12, 12)"
    assert labels[17] == "# out: (BS, 576)"
    assert labels[21] == "# out: (BS, 5, H - 2, W - 2)"  # a Sequential element another file built
    assert labels[22] == "# out: (BS, 5, H - 2, W - 2)"
    assert set(labels) <= {10, 11, 12, 15, 16, 17, 21, 22}


# ---------------------------------------------------------------------- errors inside an imported block


HEAD = """import torch.nn as nn


class Head(nn.Module):
    def __init__(self, channels, classes):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(channels, classes)

    def forward(self, x):
        return self.fc(self.pool(x).flatten(1))
"""

BUILDS_HEAD = """import torch.nn as nn

from heads import Head


# in: (BS, 3, 32, 32)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1)
        self.head = Head(16, 10)

    def forward(self, x):
        x = self.conv(x)
        return self.head(x)
"""


def edits_by_uri(edit: types.WorkspaceEdit) -> dict[str, list[types.TextEdit]]:
    """The text edits of a workspace edit per document, whichever form it takes."""
    if edit.document_changes:
        return {change.text_document.uri: list(change.edits) for change in edit.document_changes}
    return {uri: list(edits) for uri, edits in (edit.changes or {}).items()}


async def error_of(client, uri: str) -> types.Diagnostic:
    found = [d for d in await diagnostics(client, uri, 1) if d.severity == types.DiagnosticSeverity.Error]
    assert len(found) == 1, found
    return found[0]


async def actions_for(client, uri: str, error: types.Diagnostic, only=None) -> list[types.CodeAction]:
    return list(await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=error.range,
        context=types.CodeActionContext(diagnostics=[error], only=only))) or [])


@pytest.mark.asyncio
async def test_error_inside_an_imported_block(client):
    """A block of blocks.py given 16 channels where its conv takes 3: the error is on the line of net.py
    that applies it, points into blocks.py, and its fix edits blocks.py only when picked."""
    from support import CROSS_FILE_BLOCK, CROSS_FILE_USES_BLOCK, torch_truth_of_files

    blocks = open_document(client, "blocks.py", CROSS_FILE_BLOCK)
    net = open_document(client, "net.py", CROSS_FILE_USES_BLOCK)
    error = await error_of(client, net)
    assert error.code == "conv-in-channels"
    assert error.message.startswith("In blocks.py, line 7: Given groups=1, weight of size [8, 3, 3, 3]")
    assert (error.range.start.line, error.range.start.character, error.range.end.character) == (16, 12, 25)
    (related,) = error.related_information
    assert related.location.uri == blocks
    assert related.location.range.start == types.Position(line=6, character=30)
    # the layers after it cannot run: no shape is claimed for them
    labels = {h.position.line + 1: h.label for h in await inlay_hints(client, net)}
    assert labels[16] == "# out: (BS, 16, 32, 32)"
    assert 17 not in labels and 18 not in labels

    quick = [a for a in await actions_for(client, net, error) if a.kind == types.CodeActionKind.QuickFix]
    assert quick[0].title == "Change in_channels to 16 (blocks.py, line 7)"
    assert not any(a.is_preferred for a in quick)  # an editor's auto-fix must not apply it unasked
    edits = edits_by_uri(quick[0].edit)
    assert set(edits) == {blocks}
    if client.profile == "visual_studio_code":
        assert quick[0].edit.document_changes is not None  # VS Code takes versioned document changes
        assert quick[0].edit.document_changes[0].text_document.version == 1
    fixed = apply_text_edits(CROSS_FILE_BLOCK, edits[blocks], client.encoding)
    assert "nn.Conv2d(16, 8, 3, padding=1)" in fixed
    assert torch_truth_of_files({"blocks.py": fixed, "net.py": CROSS_FILE_USES_BLOCK}, "net.py", "Net()",
                                [2, 3, 32, 32])["ok"]

    fix_all = await actions_for(client, net, error, only=["source.fixAll.cnnshape"])
    assert all(blocks not in edits_by_uri(a.edit) for a in fix_all)  # fix-all never edits the other file

    change_document(client, blocks, fixed, 2)
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        found = await diagnostics(client, net)
        labels = {h.position.line + 1: h.label for h in await inlay_hints(client, net)}
        if not any(d.severity == types.DiagnosticSeverity.Error for d in found) and labels.get(18):
            break
        assert asyncio.get_running_loop().time() < deadline, found
        await asyncio.sleep(0.05)
    assert labels[18] == "# out: (BS, 10)"


@pytest.mark.asyncio
async def test_head_built_with_the_wrong_size(client):
    """A head of heads.py whose Linear takes the size net.py gives it: the fix is net.py's argument,
    fix-all applies it, and the error points into heads.py."""
    from support import torch_truth_of_files

    heads = open_document(client, "heads.py", HEAD)
    net = open_document(client, "net.py", BUILDS_HEAD)
    error = await error_of(client, net)
    assert error.code == "linear-in-features"
    assert error.message == "In heads.py, line 8: mat1 and mat2 shapes cannot be multiplied (BSx64 and 16x10)"
    assert (error.range.start.line, error.range.start.character, error.range.end.character) == (10, 25, 27)
    (related,) = error.related_information
    assert related.location.uri == heads and related.location.range.start.line == 7
    quick = [a for a in await actions_for(client, net, error) if a.kind == types.CodeActionKind.QuickFix]
    assert quick[0].is_preferred and quick[0].title == "Change channels of this Head to 64"
    fix_all = await actions_for(client, net, error, only=["source.fixAll.cnnshape"])
    (edit,) = [a.edit for a in fix_all]
    assert set(edits_by_uri(edit)) == {net}
    fixed = apply_text_edits(BUILDS_HEAD, edits_by_uri(edit)[net], client.encoding)
    assert "self.head = Head(64, 10)" in fixed
    assert torch_truth_of_files({"heads.py": HEAD, "net.py": fixed}, "net.py", "Net()", [2, 3, 32, 32])["ok"]
