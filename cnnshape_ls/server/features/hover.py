"""Hover on a layer (its constructor, attribute or call): shapes, formula with numbers, parameters;
on a model's class name or variable: its summary."""

from __future__ import annotations

from lsprotocol import types

from ...display import instances_hover, layer_hover, model_summary, records_at
from ..convert import column_from_client


def register(server) -> None:
    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def hover(ls, params: types.HoverParams) -> types.Hover | None:
        located = await ls.locate(params.text_document.uri)
        if located is None:
            return None
        snapshot, frame = located  # a notebook's cell: its part of the notebook's program
        at = frame.program_position(params.position)
        line = at.line + 1
        column = column_from_client(ls.workspace.position_codec, snapshot.lines, at)
        text = snapshot.lines[line - 1] if 0 < line <= len(snapshot.lines) else ""
        word = _word_at(text, column)
        for model in snapshot.analysis.models:
            if line == model.line and word in (model.name, *model.aliases):
                return _markdown(model_summary(model, snapshot.settings.batch_name))
        shared = instances_hover(snapshot.analysis, line, column, snapshot.settings.batch_name)
        if shared is not None:  # a line several instances run with different shapes: every instance
            return _markdown(shared)
        records = records_at(snapshot.analysis, line, column) or records_at(snapshot.analysis, line)
        if not records:
            return None
        return _markdown(layer_hover(records[:3], snapshot.settings.batch_name))


def _markdown(value: str) -> types.Hover:
    return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=value))


def _word_at(text: str, column: int) -> str:
    start = column
    while start > 0 and (text[start - 1].isalnum() or text[start - 1] == "_"):
        start -= 1
    end = column
    while end < len(text) and (text[end].isalnum() or text[end] == "_"):
        end += 1
    return text[start:end]
