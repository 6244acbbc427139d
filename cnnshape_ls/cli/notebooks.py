"""Notebooks on the command line: read with ``nbformat`` (the Jupyter project's own library), analyzed as one
program (:mod:`cnnshape_ls.notebook`), fixed and annotated cell by cell, written back with ``nbformat``.

Only the sources of code cells change: outputs, execution counts, metadata and the other cells are written
back as they were read, in nbformat's own layout (the one Jupyter writes). Cells are numbered as users
count them: 1-based among all the notebook's cells, markdown cells included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..analysis.edits import apply_edits
from ..analysis.findings import Edit, Span
from ..notebook import CodeCell, Program, build_program
from .files import SourceError
from .ipynb_lines import FilePlaces, file_places

SUFFIX = ".ipynb"


def is_notebook(path: str | Path) -> bool:
    return str(path).endswith(SUFFIX)


@dataclass
class NotebookFile:
    notebook: Any
    """The ``nbformat.NotebookNode`` as read (outputs and metadata kept for writing back)."""
    program: Program
    cell_indices: tuple[int, ...]
    """The index in ``notebook.cells`` of each cell of ``program``."""

    def with_sources(self, sources: list[str]) -> NotebookFile:
        """The same notebook with these code cell sources (in the order of ``program``)."""
        for index, source in zip(self.cell_indices, sources):
            self.notebook.cells[index].source = source
        return read_cells(self.notebook)


def language(notebook: Any) -> str:
    metadata = notebook.get("metadata", {})
    name = metadata.get("language_info", {}).get("name") or metadata.get("kernelspec", {}).get("language")
    return str(name or "python").lower()


def read_cells(notebook: Any) -> NotebookFile:
    """The code cells of a Python notebook as one program (none for a notebook of another language)."""
    cells, indices = [], []
    if language(notebook) == "python":
        for index, cell in enumerate(notebook.cells):
            if cell.get("cell_type") == "code":
                cells.append(CodeCell(str(cell.get("source", "")), index + 1))
                indices.append(index)
    return NotebookFile(notebook, build_program(cells), tuple(indices))


def read_notebook(path: Path) -> NotebookFile:
    import nbformat

    try:
        notebook = nbformat.read(str(path), as_version=nbformat.NO_CONVERT)
    except OSError as err:
        raise SourceError(f"cannot read: {err.strerror or err}") from err
    except Exception as err:  # noqa: BLE001 - nbformat raises several kinds for a file that is not a notebook
        raise SourceError(f"not a notebook nbformat can read: {type(err).__name__}: {err}") from err
    return read_cells(notebook)


def notebook_places(path: Path, file: NotebookFile) -> FilePlaces:
    """Where the notebook's code lines are in the file's JSON text as it is on disk now."""
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return FilePlaces()
    return file_places(raw, file.program, len(file.notebook.cells))


def write_notebook(path: Path, file: NotebookFile) -> None:
    import nbformat

    try:
        nbformat.write(file.notebook, str(path), version=nbformat.NO_CONVERT)
    except OSError as err:
        raise SourceError(f"cannot write: {err.strerror or err}") from err


def apply_by_cell(file: NotebookFile, groups: list[list[Edit]]) -> tuple[list[str], int]:
    """The cells' sources with each group of edits (program positions; a fix's edits) applied in their
    cells, whole or not at all; and how many groups were applied. A group with an edit that crosses from
    one cell into another is left out (the cells are separate texts)."""
    sources = list(file.program.sources)
    by_cell: dict[int, list[Edit]] = {}
    applied = 0
    for group in groups:
        grouped = file.program.edits_by_cell(group)
        if not grouped:
            continue
        applied += 1
        for index, cell_edits in grouped.items():
            by_cell.setdefault(index, []).extend(cell_edits)
    for index, cell_edits in by_cell.items():
        sources[index], _ = apply_edits(sources[index], cell_edits)
    return sources, applied


def location(display: str, program: Program | None) -> Callable[[Span], str]:
    """How a place is written in the text report: ``net.py:5:12``, ``net.ipynb[cell 3]:5:12``."""
    if program is None:
        return lambda span: f"{display}:{span.line}:{span.column + 1}"

    def where(span: Span) -> str:
        found = program.locate(span)
        if found is None:
            return f"{display}:{span.line}:{span.column + 1}"
        cell, in_cell = found
        return f"{display}[cell {cell.number}]:{in_cell.line}:{in_cell.column + 1}"

    return where


def line_label(program: Program | None) -> Callable[[int], str]:
    """A layer's line in the text report's table: ``12``, or ``3:5`` (cell 3, line 5) in a notebook."""
    if program is None:
        return str

    def label(line: int) -> str:
        cell = program.cell_at(line)
        return f"{cell.number}:{cell.cell_line(line)}" if cell is not None else str(line)

    return label


__all__ = ["NotebookFile", "apply_by_cell", "is_notebook", "line_label", "location", "notebook_places",
           "read_cells", "read_notebook", "write_notebook"]
