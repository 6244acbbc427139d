"""One long analysis never holds back another document or a request (issue 13, part 5).

A buffer whose analysis takes its whole step budget (forty models that each loop a million times) is
opened; meanwhile another document is analyzed and answered, and the long document's own hovers are
answered from its last analysis. Code actions on a 10,000-layer Sequential are answered, and so is the
hover sent after them.
"""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types

from helpers import change_document, diagnostics, open_document, pulls

SMALL = """import torch.nn as nn

# in: (BS, 8)
class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc(x)
"""
SMALL_FC_LINE = 6  # 0-based line of the Linear


def slow_model(name: str) -> str:
    return (f"class {name}(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
            "        self.fc = nn.Linear(4, 2)\n        for i in range(1000):\n            for j in range(1000):\n"
            "                k = i + j\n\n    def forward(self, x):\n        return self.fc(x)\n\n")


SLOW = SMALL + "\n" + "".join(slow_model(f"Slow{i}") for i in range(40))


def hover_params(uri: str, line: int, character: int = 14) -> types.HoverParams:
    return types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri),
                             position=types.Position(line=line, character=character))


@pytest.mark.asyncio
async def test_another_document_is_served_during_a_long_analysis(client):
    if pulls(client):
        pytest.skip("the order of pushed diagnostics shows which analysis landed first")
    slow = open_document(client, "slow.py", SLOW)
    fast = open_document(client, "fast.py", SMALL)
    await diagnostics(client, fast, 1, timeout=30)
    hover = await asyncio.wait_for(client.text_document_hover_async(hover_params(fast, SMALL_FC_LINE)), 30)
    assert hover is not None and "(BS, 2)" in hover.contents.value
    assert slow not in client.diagnostics, "the small document waited for the long analysis"
    found = await diagnostics(client, slow, 1, timeout=60)
    assert any(d.code == "analysis-budget" for d in found)


@pytest.mark.asyncio
async def test_a_hover_is_answered_from_the_last_analysis_while_the_next_runs(client):
    uri = open_document(client, "doc.py", SMALL)
    await diagnostics(client, uri, 1)
    change_document(client, uri, SLOW, 2)
    hover = await asyncio.wait_for(client.text_document_hover_async(hover_params(uri, SMALL_FC_LINE)), 30)
    assert hover is not None and "(BS, 2)" in hover.contents.value
    if not pulls(client):
        assert client.diagnostic_versions.get(uri) == 1, "the hover waited for the long analysis"
        await diagnostics(client, uri, 2, timeout=60)


@pytest.mark.asyncio
async def test_code_actions_on_10000_layers_then_a_hover(client):
    text = "import torch.nn as nn\n\n# in: (BS, 4)\nmodel = nn.Sequential(\n" + \
        "    nn.Linear(4, 4),\n" * 10_000 + ")\n"
    uri = open_document(client, "long.py", text)
    await diagnostics(client, uri, 1, timeout=60)
    everything = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=10_010, character=0))
    actions = await asyncio.wait_for(client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=everything,
        context=types.CodeActionContext(diagnostics=[]))), 30)
    annotate = [a for a in actions if a.title == "Annotate layer shapes"]
    assert annotate and len(annotate[0].edit.changes[uri]) == 10_000
    hover = await asyncio.wait_for(client.text_document_hover_async(hover_params(uri, 4, 8)), 30)
    assert hover is not None and "(BS, 4)" in hover.contents.value
