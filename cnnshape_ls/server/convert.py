"""From the engine's positions (1-based lines, code-point columns) to LSP ones in the client's encoding."""

from __future__ import annotations

import re
from bisect import bisect_left

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from ..analysis.findings import Edit, Finding, Span

SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "information": types.DiagnosticSeverity.Information,
}


def position(codec: PositionCodec, lines: list[str], line: int, column: int) -> types.Position:
    """``line`` is 1-based, ``column`` counts code points."""
    row, column = max(line - 1, 0), max(column, 0)
    if row < len(lines) and lines[row][:column].isascii():
        return types.Position(line=row, character=column)  # one unit per character in every encoding
    return codec.position_to_client_units(lines, types.Position(line=row, character=column))


def to_range(codec: PositionCodec, lines: list[str], span: Span) -> types.Range:
    return types.Range(start=position(codec, lines, span.line, span.column),
                       end=position(codec, lines, span.end_line, span.end_column))


def column_from_client(codec: PositionCodec, lines: list[str], pos: types.Position) -> int:
    return codec.position_from_client_units(lines, types.Position(line=pos.line, character=pos.character)).character


BATCH = re.compile(r"\bBS\b")


def diagnostic(codec: PositionCodec, lines: list[str], finding: Finding, batch_name: str = "BS") -> types.Diagnostic:
    message = finding.message if batch_name == "BS" else BATCH.sub(batch_name, finding.message)
    return types.Diagnostic(
        range=to_range(codec, lines, finding.span),
        message=message,
        severity=SEVERITY.get(finding.severity, types.DiagnosticSeverity.Information),
        code=finding.code,
        source=finding.source,
        data={"fixes": len(finding.fixes)},
    )


def text_edit(codec: PositionCodec, lines: list[str], edit: Edit) -> types.TextEdit:
    return types.TextEdit(range=to_range(codec, lines, edit.span), new_text=edit.new_text)


def workspace_edit(codec: PositionCodec, lines: list[str], uri: str, edits: list[Edit],
                   version: int | None = None) -> types.WorkspaceEdit:
    text_edits = [text_edit(codec, lines, e) for e in non_overlapping(edits)]
    return types.WorkspaceEdit(changes={uri: text_edits})


def non_overlapping(edits: list[Edit]) -> list[Edit]:
    """Edits sorted, dropping any that overlaps one already taken (first come, first kept).

    The edits taken so far are kept sorted by start; they do not overlap each other, so their ends are
    sorted too and a new edit can only overlap its neighbours there: O(n log n) (10,000 layers' fixes).
    """
    taken: list[Edit] = []
    ordered: list[Edit] = []
    keys: list[tuple[int, int, int, int]] = []
    for edit in edits:
        s = edit.span
        key = (s.line, s.column, s.end_line, s.end_column)
        at = bisect_left(keys, key)
        if any(_overlap(s, ordered[i].span) for i in range(max(at - 2, 0), min(at + 2, len(ordered)))):
            continue
        keys.insert(at, key)
        ordered.insert(at, edit)
        taken.append(edit)
    return sorted(taken, key=lambda e: (e.span.line, e.span.column))


def _overlap(a: Span, b: Span) -> bool:
    a_start, a_end = (a.line, a.column), (a.end_line, a.end_column)
    b_start, b_end = (b.line, b.column), (b.end_line, b.end_column)
    if a_start == a_end and b_start == b_end:
        return a_start == b_start
    return a_start < b_end and b_start < a_end


