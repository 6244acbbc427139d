"""From the engine's positions (1-based lines, code-point columns) to LSP ones in the client's encoding."""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from ..analysis.findings import Edit, Finding, Fix, Span
from ..analysis.source import split_lines

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


@dataclass
class OtherFiles:
    """The files of the workspace an analysis read besides the buffer (an imported block's): their URI as
    the client names it, their lines (the open buffer's, else the file's) and open version."""

    documents: dict[str, Any]
    """The workspace's open text documents, by URI."""
    read: Callable[[str], str | None] = field(default=lambda path: None)
    """A file's text from disk, for one that is not open."""
    known: dict[str, tuple[str, list[str], int | None]] = field(default_factory=dict)

    def _find(self, path: str) -> tuple[str, list[str], int | None]:
        if path not in self.known:
            for uri, document in list(self.documents.items()):
                if urlparse(uri).scheme == "file" and unquote(urlparse(uri).path) == path:
                    self.known[path] = (uri, document.lines, document.version)
                    break
            else:
                text = self.read(path)
                self.known[path] = (Path(path).as_uri(), split_lines(text) if text is not None else [], None)
        return self.known[path]

    def uri(self, path: str) -> str:
        return self._find(path)[0]

    def lines(self, path: str) -> list[str]:
        return self._find(path)[1]

    def version(self, path: str) -> int | None:
        return self._find(path)[2]


def read_file(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def diagnostic(codec: PositionCodec, lines: list[str], finding: Finding, batch_name: str = "BS",
               others: OtherFiles | None = None, uri: str | None = None) -> types.Diagnostic:
    """``uri``: the document's, for related places of its own (``Related.path`` None); without it they are left out."""
    message = finding.message if batch_name == "BS" else BATCH.sub(batch_name, finding.message)
    related = None
    if finding.related:  # an error inside an imported block: where, in that file; or a place here that bears on it
        related = [types.DiagnosticRelatedInformation(
            location=types.Location(uri=others.uri(r.path), range=to_range(codec, others.lines(r.path), r.span))
            if r.path is not None else types.Location(uri=uri, range=to_range(codec, lines, r.span)),
            message=r.message if batch_name == "BS" else BATCH.sub(batch_name, r.message))
            for r in finding.related if (others is not None if r.path is not None else uri is not None)] or None
    return types.Diagnostic(
        range=to_range(codec, lines, finding.span),
        message=message,
        severity=SEVERITY.get(finding.severity, types.DiagnosticSeverity.Information),
        code=finding.code,
        source=finding.source,
        related_information=related,
        data={"fixes": len(finding.fixes)},
    )


def snapshot_diagnostics(workspace: Any, snapshot: Any, uri: str | None = None) -> list[types.Diagnostic]:
    """The diagnostics of a document's snapshot (pushed when it lands, or pulled), in the client's positions."""
    others = OtherFiles(workspace.text_documents, read_file)
    return [diagnostic(workspace.position_codec, snapshot.lines, f, snapshot.settings.batch_name, others, uri)
            for f in snapshot.findings]


def text_edit(codec: PositionCodec, lines: list[str], edit: Edit) -> types.TextEdit:
    return types.TextEdit(range=to_range(codec, lines, edit.span), new_text=edit.new_text)


def workspace_edit(codec: PositionCodec, lines: list[str], uri: str, edits: list[Edit],
                   version: int | None = None) -> types.WorkspaceEdit:
    text_edits = [text_edit(codec, lines, e) for e in non_overlapping(edits)]
    return types.WorkspaceEdit(changes={uri: text_edits})


def fix_edit(codec: PositionCodec, lines: list[str], uri: str, version: int | None, fix: Fix,
             others: OtherFiles, document_changes: bool) -> types.WorkspaceEdit:
    """A fix as a workspace edit; one that edits another file (an imported block's) names that document:
    a versioned ``documentChanges`` entry per file where the client takes them, else ``changes`` by URI."""
    if not fix.elsewhere:
        return workspace_edit(codec, lines, uri, fix.edits)
    per_file: dict[str | None, list[Edit]] = {}
    for edit in fix.edits:
        per_file.setdefault(edit.path, []).append(edit)
    files = []
    for path, edits in per_file.items():
        if path is None:
            files.append((uri, version, [text_edit(codec, lines, e) for e in non_overlapping(edits)]))
        else:
            other = others.lines(path)
            files.append((others.uri(path), others.version(path),
                          [text_edit(codec, other, e) for e in non_overlapping(edits)]))
    if document_changes:
        return types.WorkspaceEdit(document_changes=[
            types.TextDocumentEdit(text_document=types.OptionalVersionedTextDocumentIdentifier(uri=u, version=v),
                                   edits=list(e)) for u, v, e in files])
    return types.WorkspaceEdit(changes={u: e for u, _, e in files})


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


