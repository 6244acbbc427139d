"""Every feature, end to end over stdio, checked against torch where shapes are concerned."""

from __future__ import annotations

import pytest
from lsprotocol import types

from helpers import ROOT, apply_text_edits, change_document, diagnostics, inlay_hints, open_document, settled

CORPUS = ROOT / "tests" / "corpus"


def _encoding(client) -> str:
    result = client.capabilities  # what the client announced
    encodings = (result.general.position_encodings if result and result.general else None) or ["utf-16"]
    return "utf-8" if "utf-8" in encodings else "utf-16"


@pytest.mark.asyncio
async def test_diagnostic_on_the_layer_at_fault(client):
    text = (CORPUS / "s01_ordereddict_fc_mismatch.py").read_text()
    uri = open_document(client, "s01.py", text)
    found = await diagnostics(client, uri, 1)
    errors = [d for d in found if d.severity == types.DiagnosticSeverity.Error]
    assert len(errors) == 1
    assert errors[0].code == "linear-in-features" and errors[0].source == "cnnshape"
    assert errors[0].range.start.line == 18  # fc2's in_features, 0-based line 18
    assert errors[0].message == "mat1 and mat2 shapes cannot be multiplied (BSx127 and 128x64)"


@pytest.mark.asyncio
async def test_inlay_hints_and_their_edits(client):
    text = (CORPUS / "s03_three_blocks.py").read_text().replace(
        "class ThreeBlockNet", "# in: (BS, 3, 32, 32)\nclass ThreeBlockNet")
    uri = open_document(client, "s03.py", text)
    await settled(client, uri, 1)
    hints = await inlay_hints(client, uri)
    by_line = {h.position.line + 1: h for h in hints}
    lines = text.split("\n")
    conv_line = next(i for i, line in enumerate(lines, 1) if "nn.Conv2d(3, 16" in line)
    assert by_line[conv_line].label == "# out: (BS, 16, 32, 32)"
    fc_call = next(i for i, line in enumerate(lines, 1) if "return self.fc(out)" in line)
    assert by_line[fc_call].label == "# out: (BS, 10)"
    edit = by_line[conv_line].text_edits[0]
    assert edit.new_text == "  # out: (BS, 16, 32, 32)"
    assert edit.range.start.character == len(lines[conv_line - 1])
    resolved = await client.inlay_hint_resolve_async(by_line[conv_line])
    assert "->" in resolved.tooltip.value


@pytest.mark.asyncio
async def test_hover_shows_shapes_formula_and_parameters(client):
    text = (CORPUS / "s01_ordereddict_fc_mismatch.py").read_text()
    uri = open_document(client, "s01.py", text)
    await settled(client, uri, 1)
    hover = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=9, character=20)))
    value = hover.contents.value
    assert "(BS, 3, 32, 32)" in value and "(BS, 8, 30, 30)" in value
    assert "H_out = floor((32 + 2*0 - 1*(3 - 1) - 1) / 1) + 1 = 30" in value
    assert "224" in value


@pytest.mark.asyncio
async def test_quick_fix_gives_code_that_runs(client):
    text = (CORPUS / "s09_mnist_wrong_size.py").read_text().replace(
        "mnist_model = nn.Sequential(", "# in: (BS, 1, 28, 28)\nmnist_model = nn.Sequential(")
    uri = open_document(client, "s09.py", text)
    found = await diagnostics(client, uri, 1)
    error = next(d for d in found if d.severity == types.DiagnosticSeverity.Error)
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=error.range,
        context=types.CodeActionContext(diagnostics=[error])))
    quick = [a for a in actions if a.kind == types.CodeActionKind.QuickFix]
    assert quick and quick[0].is_preferred
    fixed = apply_text_edits(text, quick[0].edit.changes[uri])
    assert "nn.Linear(32 * 11 * 11, 10)" in fixed
    change_document(client, uri, fixed, 2)
    after = await diagnostics(client, uri, 2)
    assert not [d for d in after if d.severity == types.DiagnosticSeverity.Error]


@pytest.mark.asyncio
async def test_fix_all_and_annotate_source_actions(client):
    text = (CORPUS / "s10_channel_mismatch.py").read_text().replace("class Net", "# in: (BS, 3, 32, 32)\nclass Net")
    uri = open_document(client, "s10.py", text)
    await settled(client, uri, 1)
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)),
        context=types.CodeActionContext(diagnostics=[], only=["source"])))
    kinds = {a.kind: a for a in actions}
    assert "source.fixAll.cnnshape" in kinds and "source.annotate.cnnshape" in kinds
    fixed = apply_text_edits(text, kinds["source.fixAll.cnnshape"].edit.changes[uri])
    assert "nn.Conv2d(16, 32, 3, padding=1)" in fixed
    annotated = apply_text_edits(text, kinds["source.annotate.cnnshape"].edit.changes[uri])
    assert "self.conv1 = nn.Conv2d(3, 16, 3, padding=1)  # out: (BS, 16, 32, 32)" in annotated


def _units(text: str, encoding: str) -> int:
    if encoding == "utf-8":
        return len(text.encode("utf-8"))
    if encoding == "utf-32":
        return len(text)
    return len(text.encode("utf-16-le")) // 2


@pytest.mark.asyncio
async def test_hints_and_edits_are_placed_exactly_after_wide_characters(client):
    text = ("from collections import OrderedDict\nimport torch.nn as nn\n\n# in: (BS, 3, 32, 32)\n"
            "model = nn.Sequential(OrderedDict([\n"
            "    ('卷积😀', nn.Conv2d(3, 4, 3)),  # 4, 6, 14，14\n"
            "    ('池化', nn.Conv2d(5, 6, 3)),\n]))\n")
    uri = open_document(client, "wide.py", text)
    found = await diagnostics(client, uri, 1)
    lines = text.split("\n")
    hints = {h.position.line: h for h in await inlay_hints(client, uri)}
    code_end = lines[5].index("  #")
    assert hints[5].position.character == _units(lines[5][:code_end], client.encoding)
    assert hints[5].label == "# out: (BS, 4, 30, 30)"
    error = next(d for d in found if d.severity == types.DiagnosticSeverity.Error)
    start = lines[6].index("5")
    assert error.range.start.line == 6
    assert error.range.start.character == _units(lines[6][:start], client.encoding)
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=error.range,
        context=types.CodeActionContext(diagnostics=[error])))
    fixed = apply_text_edits(text, actions[0].edit.changes[uri], client.encoding)
    assert "('池化', nn.Conv2d(4, 6, 3))," in fixed


@pytest.mark.asyncio
async def test_half_typed_buffer_keeps_good_hints(client):
    text = (CORPUS / "s03_three_blocks.py").read_text().replace(
        "class ThreeBlockNet", "# in: (BS, 3, 32, 32)\nclass ThreeBlockNet") + (
        "\n\n# in: (BS, 1, 28, 28)\nother = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU())\n")
    uri = open_document(client, "half.py", text)
    await settled(client, uri, 1)
    before = {h.position.line: h.label for h in await inlay_hints(client, uri)}
    broken = text.replace("        out = self.layer2(out)\n", "        out = self.layer2(out\n")
    change_document(client, uri, broken, 2)
    await settled(client, uri, 2)
    after = {h.position.line: h.label for h in await inlay_hints(client, uri)}
    other_line = len(text.split("\n")) - 2
    assert after[other_line] == before[other_line] == "# out: (BS, 4, 26, 26)"
    conv_line = next(i for i, line in enumerate(text.split("\n")) if "nn.Conv2d(3, 16" in line)
    assert after.get(conv_line) == before[conv_line]


@pytest.mark.asyncio
async def test_code_lens_summarises_each_model(client):
    text = (CORPUS / "s06_bn_demo.py").read_text()
    uri = open_document(client, "s06.py", text)
    await settled(client, uri, 1)
    lenses = await client.text_document_code_lens_async(types.CodeLensParams(
        text_document=types.TextDocumentIdentifier(uri=uri)))
    assert any("params" in lens.command.title and "(BS, 10)" in lens.command.title for lens in lenses)
