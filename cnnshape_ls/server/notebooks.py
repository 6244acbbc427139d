"""Notebook documents (LSP 3.17): a notebook's Python cells, in order, are one program, analyzed as one
document; each cell is shown its own part of it.

A notebook's :class:`~.state.DocumentState` is keyed by the notebook's URI and analyzes the program
:func:`cnnshape_ls.notebook.build_program` makes of its cells (IPython lines masked, every line in place),
with the same debounce and :class:`~cnnshape_ls.analysis.cache.ModelCache` as a file: an edit in one cell
changes only that cell's lines of the program, so only the models it touches are analyzed again.

Requests name a cell's URI; :class:`Frame` says where that cell is in the program (``offset`` lines
before it), so every feature works in the program's lines and shifts what it sends by the frame. A
snapshot carries the program it analyzed (``Snapshot.cells``), so a request is answered with the cells
as they were when the snapshot was made, never with a cell moved since.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from lsprotocol import types

from ..analysis.findings import Edit
from ..notebook import CodeCell, Program, build_program
from .convert import OtherFiles, diagnostic, non_overlapping, read_file, text_edit, to_range

NOTEBOOK_SYNC = types.NotebookDocumentSyncOptions(
    notebook_selector=[types.NotebookDocumentFilterWithCells(
        notebook="jupyter-notebook", cells=[types.NotebookCellLanguage(language="python")])],
    save=False)
"""What the server announces: Jupyter notebooks, their Python cells."""


@dataclass(frozen=True)
class Frame:
    """Where a client's document is in the analyzed text: a whole file (``offset`` 0, no ``count``), or one
    cell of a notebook's program."""

    uri: str
    offset: int = 0
    """The program's lines before this document's first line."""
    count: int | None = None
    """Its number of lines; None: to the end (a file)."""

    def holds(self, line: int) -> bool:
        """Whether the program's ``line`` (1-based) is in this document."""
        return line > self.offset and (self.count is None or line <= self.offset + self.count)

    def program_line(self, client_line: int) -> int:
        """The program's line (1-based) of the client's 0-based ``client_line``."""
        return client_line + self.offset + 1

    def program_position(self, position: types.Position) -> types.Position:
        """The client's position as the same position of the program (0-based)."""
        return types.Position(line=position.line + self.offset, character=position.character)

    def position(self, position: types.Position) -> types.Position:
        """A position of the program (0-based, already in the client's units) as this document's."""
        if not self.offset:
            return position
        return types.Position(line=position.line - self.offset, character=position.character)

    def range(self, where: types.Range) -> types.Range:
        if not self.offset:
            return where
        return types.Range(start=self.position(where.start), end=self.position(where.end))


def frame_of(snapshot: Any, uri: str) -> Frame | None:
    """The frame of ``uri`` in ``snapshot``: the whole text for a file; None for a cell the snapshot's
    program does not hold (added since)."""
    program: Program | None = getattr(snapshot, "cells", None)
    if program is None:
        return Frame(uri)
    place = program.place(uri) or next((p for p in program.cells if unquote(p.key) == unquote(uri)), None)
    if place is None:
        return None
    return Frame(uri, place.first_line - 1, place.line_count)


def cell_frames(snapshot: Any) -> list[Frame]:
    program: Program = snapshot.cells
    return [Frame(p.key, p.first_line - 1, p.line_count) for p in program.cells]


# ---------------------------------------------------------------------- the program of an open notebook
def program_of(workspace: Any, notebook: types.NotebookDocument) -> Program:
    """The notebook's Python code cells as one program, each cell keyed by its URI; cells are numbered as
    the user counts them (1-based among all cells)."""
    cells = []
    for number, cell in enumerate(notebook.cells, start=1):
        if cell.kind != types.NotebookCellKind.Code:
            continue
        document = workspace.text_documents.get(unquote(cell.document))  # pygls keys them unquoted
        if document is None or (document.language_id or "python") != "python":
            continue
        cells.append(CodeCell(document.source, number, cell.document))
    return build_program(cells)


def notebook_of(workspace: Any, uri: str) -> types.NotebookDocument | None:
    """The open notebook named by ``uri``, or holding the cell ``uri``."""
    return workspace.get_notebook_document(notebook_uri=uri) or workspace.get_notebook_document(cell_uri=uri)


# ---------------------------------------------------------------------- what is sent, per cell
def frame_diagnostics(workspace: Any, snapshot: Any, frame: Frame) -> list[types.Diagnostic]:
    """The diagnostics of the document ``frame`` shows (a file's, or one cell's) in its positions."""
    others = OtherFiles(workspace.text_documents, read_file)
    found = []
    for finding in snapshot.findings:
        if not frame.holds(finding.span.line):
            continue
        item = diagnostic(workspace.position_codec, snapshot.lines, finding, snapshot.settings.batch_name, others,
                          frame.uri if frame.count is None else None)  # a cell: related places of the file left out
        item.range = frame.range(item.range)
        if frame.count is not None and item.range.end.line >= frame.count:  # never past the cell's end
            last = snapshot.lines[frame.offset + frame.count - 1] if frame.offset + frame.count <= len(
                snapshot.lines) else ""
            item.range = types.Range(start=item.range.start,
                                     end=types.Position(line=frame.count - 1, character=len(last)))
        found.append(item)
    return found


def cells_edit(codec: Any, snapshot: Any, edits: list[Edit], others: OtherFiles | None = None) -> types.WorkspaceEdit:
    """Edits of a notebook's program as a workspace edit of its cells, each by its cell's URI; an edit of
    another file (an imported block's) by that file's URI. One that crosses from a cell into the next is
    left out (the cells are separate texts)."""
    program: Program = snapshot.cells
    changes: dict[str, list[types.TextEdit]] = {}
    for edit in non_overlapping([e for e in edits if e.path is None]):
        place = program.cell_at(edit.span.line)
        if place is None or not place.contains(edit.span.end_line):
            continue
        made = text_edit(codec, snapshot.lines, edit)
        frame = Frame(place.key, place.first_line - 1, place.line_count)
        changes.setdefault(place.key, []).append(types.TextEdit(range=frame.range(made.range),
                                                                new_text=made.new_text))
    if others is not None:
        for edit in non_overlapping([e for e in edits if e.path is not None]):
            changes.setdefault(others.uri(edit.path), []).append(
                types.TextEdit(range=to_range(codec, others.lines(edit.path), edit.span), new_text=edit.new_text))
    return types.WorkspaceEdit(changes=changes)


__all__ = ["Frame", "NOTEBOOK_SYNC", "cell_frames", "cells_edit", "frame_diagnostics", "frame_of", "notebook_of",
           "program_of"]
