"""Driving the client: open documents, wait for analyses, read diagnostics either way."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from lsprotocol import types

ROOT = Path(__file__).resolve().parents[2]


def open_document(client, name: str, text: str, version: int = 1) -> str:
    path = client.workspace_path / name
    path.write_text(text)
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)))
    return uri


def change_document(client, uri: str, text: str, version: int) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))


def pulls(client) -> bool:
    return client.profile.startswith("neovim")


async def diagnostics(client, uri: str, version: int | None = None, timeout: float = 10.0) -> list:
    """The diagnostics of ``uri``: pulled where the client pulls, else the next push for ``version``."""
    if pulls(client):
        report = await client.text_document_diagnostic_async(
            types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri)))
        return list(report.items)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = client.diagnostics.get(uri)
        if found is not None and (version is None or client.diagnostic_versions.get(uri) == version):
            return list(found)
        await asyncio.sleep(0.02)
    raise TimeoutError(f"no diagnostics for {uri} version {version}")


async def settled(client, uri: str, version: int) -> None:
    """Wait until the analysis of ``version`` has landed (diagnostics are its visible sign)."""
    await diagnostics(client, uri, version)


async def inlay_hints(client, uri: str, lines: int = 10_000) -> list[types.InlayHint]:
    result = await client.text_document_inlay_hint_async(types.InlayHintParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(start=types.Position(line=0, character=0),
                          end=types.Position(line=lines, character=0))))
    return list(result or [])


def apply_text_edits(text: str, edits: list[types.TextEdit], encoding: str = "utf-16") -> str:
    lines = text.split("\n")

    def offset(line: str, units: int) -> int:
        if encoding == "utf-32":
            return units
        count = 0
        for i, ch in enumerate(line):
            if count >= units:
                return i
            count += len(ch.encode("utf-16-le")) // 2 if encoding == "utf-16" else len(ch.encode("utf-8"))
        return len(line)

    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        s, e = edit.range.start, edit.range.end
        head = lines[s.line][: offset(lines[s.line], s.character)]
        tail = lines[e.line][offset(lines[e.line], e.character):]
        lines[s.line: e.line + 1] = (head + edit.new_text + tail).split("\n")
    return "\n".join(lines)
