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
