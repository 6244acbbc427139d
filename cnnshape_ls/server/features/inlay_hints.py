"""Inlay hints ``# out: (BS, 16, 6, 6)`` at the end of each layer's line."""

from __future__ import annotations

from lsprotocol import types

from ...display import VERIFIED_MARK
from ..convert import position


def register(server) -> None:
    @server.feature(types.TEXT_DOCUMENT_INLAY_HINT, types.InlayHintOptions(resolve_provider=True))
    async def inlay_hints(ls, params: types.InlayHintParams) -> list[types.InlayHint]:
        located = await ls.locate(params.text_document.uri)
        if located is None or not located[0].settings.hints_enabled:
            return []
        snapshot, frame = located  # a notebook's cell: its part of the notebook's program
        codec = ls.workspace.position_codec
        first, last = frame.program_line(params.range.start.line), frame.program_line(params.range.end.line)
        hints = []
        for hint in snapshot.hints:
            if not first <= hint.line <= last or hint.line > len(snapshot.lines) or not frame.holds(hint.line):
                continue
            at = frame.position(position(codec, snapshot.lines, hint.line, hint.column))
            label = hint.label + VERIFIED_MARK if hint.verified else hint.label
            text = snapshot.lines[hint.line - 1]
            # double-clicking the hint writes the comment annotate would (on a line without a comment yet)
            insert = "  " + hint.comment if hint.comment and "#" not in text[hint.column:] else None
            hints.append(types.InlayHint(
                position=at, label=label, kind=types.InlayHintKind.Type, padding_left=True,
                text_edits=[types.TextEdit(range=types.Range(start=at, end=at), new_text=insert)] if insert else None,
                data={"uri": params.text_document.uri, "line": hint.line, "version": snapshot.version}))
        return hints

    @server.feature(types.INLAY_HINT_RESOLVE)
    async def resolve(ls, hint: types.InlayHint) -> types.InlayHint:
        data = hint.data or {}
        snapshot = await ls.snapshot(data.get("uri", ""))  # ``line`` is the program's, as the snapshot's
        if snapshot is None:
            return hint
        for line_hint in snapshot.hints:
            if line_hint.line == data.get("line"):
                hint.tooltip = types.MarkupContent(kind=types.MarkupKind.PlainText, value=line_hint.tooltip)
                break
        return hint
