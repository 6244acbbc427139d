"""A block built several times, over stdio: the shared line's hint, the hover's instance list, no model
notes or code lens on the block."""

from __future__ import annotations

import re

import pytest
from lsprotocol import types

from helpers import ROOT, diagnostics, inlay_hints, open_document, settled

MODELS = ROOT / "tests" / "models"


def _line_of(text: str, needle: str) -> int:
    """0-based line of the first line containing ``needle``."""
    return next(i for i, line in enumerate(text.split("\n")) if needle in line)


@pytest.mark.asyncio
async def test_hover_lists_every_instance_of_a_shared_line(client):
    text = (MODELS / "m12_inception_block.py").read_text().replace(
        "class MiniGoogLeNet", "# in: (BS, 3, 32, 32)\nclass MiniGoogLeNet")
    uri = open_document(client, "m12.py", text)
    await settled(client, uri, 1)
    line = _line_of(text, "x = self.conv(x)")
    column = text.split("\n")[line].index("self.conv") + 6
    hover = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=line, character=column)))
    value = hover.contents.value
    assert "19 instances" in value and "(BS, out_channels, 16|32, 16|32) ×19" in value
    listed = re.findall(r"^(\S+)\s+\(BS, \d+, \d+, \d+\) -> \(BS, \d+, \d+, \d+\)$", value, re.MULTILINE)
    assert listed[:3] == ["pre_layers", "a3.branch1", "a3.branch2.0"] and len(listed) == 12
    assert "and 7 more" in value
    # the conv of BasicConv2d(3, 64, kernel_size=3): 64*3*3*3 weights, no bias
    assert "`in_channels=3, out_channels=64` (1×): 1,728" in value

    hints = {h.position.line: h for h in await inlay_hints(client, uri)}
    assert hints[line].label == "# out: (BS, out_channels, 16|32, 16|32) ×19"


@pytest.mark.asyncio
async def test_a_block_has_no_model_notes_or_lens(client):
    text = (MODELS / "m07_resnet_cifar.py").read_text()
    uri = open_document(client, "m07.py", text)
    found = await diagnostics(client, uri, 1)
    block_line = _line_of(text, "class BasicBlock")
    unbuilt_line = _line_of(text, "class Bottleneck")
    on_block = [d for d in found if d.range.start.line == block_line]
    assert not on_block, [d.message for d in on_block]
    # a class no model of the file builds keeps its notes
    assert any(d.code == "model-arguments" for d in found if d.range.start.line == unbuilt_line)
    lenses = await client.text_document_code_lens_async(types.CodeLensParams(
        text_document=types.TextDocumentIdentifier(uri=uri)))
    lines = {lens.range.start.line for lens in lenses}
    assert block_line not in lines and _line_of(text, "class ResNet") in lines
