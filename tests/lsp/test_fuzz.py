"""Typing every prefix of every corpus file: the server never errs, never dies, never loses good hints."""

from __future__ import annotations

import random

import pytest
from lsprotocol import types

from helpers import ROOT, change_document, diagnostics, inlay_hints, open_document

CORPUS = sorted((ROOT / "tests" / "corpus").glob("*.py"))
SENTINEL = """import torch.nn as nn

# in: (BS, 3, 32, 32)
sentinel = nn.Sequential(
    nn.Conv2d(3, 8, 3),
    nn.MaxPool2d(2),
    nn.Flatten(),
    nn.Linear(8 * 15 * 15, 10),
)


"""
SENTINEL_LINES = SENTINEL.count("\n")


def prefixes(text: str, by_char_step: int | None) -> list[str]:
    if by_char_step:
        return [text[:i] for i in range(0, len(text) + 1, by_char_step)]
    lines = text.split("\n")
    return ["\n".join(lines[:i]) for i in range(len(lines) + 1)]


def deletions(text: str, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        start = rng.randrange(len(text))
        out.append(text[:start] + text[start + rng.randint(1, 40):])
    return out


async def sentinel_hints(client, uri: str) -> dict[int, str]:
    return {h.position.line: h.label for h in await inlay_hints(client, uri, SENTINEL_LINES)
            if h.position.line < SENTINEL_LINES}


@pytest.mark.asyncio
async def test_typing_every_prefix(client):
    uri = open_document(client, "typing.py", SENTINEL)
    await diagnostics(client, uri, 1)
    expected = await sentinel_hints(client, uri)
    assert expected[4] == "# out: (BS, 8, 30, 30)" and expected[7] == "# out: (BS, 10)"
    texts = []
    for i, path in enumerate(CORPUS):
        text = path.read_text()
        texts += prefixes(text, 11 if i in (0, 4) else None)
        texts += deletions(text, 8, seed=i)
    version = 1
    for text in texts:
        version += 1
        change_document(client, uri, SENTINEL + text, version)
        await diagnostics(client, uri, version)
        assert await sentinel_hints(client, uri) == expected, f"sentinel hints changed at version {version}"
    errors = [m for m in client.log_messages if m.type == types.MessageType.Error]
    assert not errors, errors[:3]
