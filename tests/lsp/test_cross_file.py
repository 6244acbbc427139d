"""A model that imports its blocks and constants from other files of the workspace."""

from __future__ import annotations

import pytest
from lsprotocol import types

from helpers import change_document, diagnostics, inlay_hints, open_document

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
