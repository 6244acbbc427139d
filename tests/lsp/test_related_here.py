"""A place of the same file that bears on an error (issue 15): the Linear a wrong view agrees with, the
producer one off a round size. The client gets it as ``relatedInformation`` on the document's own URI, in
its position encoding, both as a push and when it pulls."""

from __future__ import annotations

import pytest
from lsprotocol import types

from helpers import diagnostics, open_document

VIEW = """import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):  # in: (BS, 1, 28, 28)
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3)
        self.conv2 = nn.Conv2d(16, 32, 3)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(32 * 7 * 7, 128)  # ünïcode before nothing, after the size

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.view(-1, 32 * 7 * 7)
        return self.fc1(x)
"""


@pytest.mark.asyncio
async def test_the_linear_a_wrong_view_agrees_with_is_related_information(client):
    uri = open_document(client, "net.py", VIEW)
    errors = [d for d in await diagnostics(client, uri, 1) if d.severity == types.DiagnosticSeverity.Error]
    assert [(d.range.start.line, d.code) for d in errors] == [(15, "view-invalid")]
    (related,) = errors[0].related_information
    assert related.location.uri == uri
    assert related.location.range.start == types.Position(line=10, character=29)
    assert related.location.range.end == types.Position(line=10, character=39)
    assert "fc1's in_features (1568)" in related.message
