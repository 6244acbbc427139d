"""``cnnshape annotate``: write or refresh ``# out: (BS, 16, 6, 6)`` comments at the end of layer lines.

Each line that has an inlay hint in the editor gets that hint's text, through the same
function the editor's "Annotate layer shapes" action uses (:func:`cnnshape_ls.display.annotate_edits`):
a layer's call, and its ``__init__`` line where it is used once. Lines are left
alone where the shape is unknown (or partly so), where one line gives different
shapes on different runs (a layer applied in a loop, a block built several times), and where a comment
cannot go at the end of the line (inside a multi-line string, after a
backslash continuation). An existing ``# out:`` comment is refreshed in place;
another comment is kept, with the ``# out:`` comment appended after it.

``--check`` changes nothing: it lists the missing and stale comments and exits 1
if there are any. Annotating twice changes nothing the second time.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO

from ..analysis.edits import apply_edits
from ..analysis.result import Analysis
from ..display import CannotAnnotate, annotate_edits
from . import files
from .check import EXIT_ERRORS, EXIT_OK, EXIT_USAGE, Request, UsageError, analyze_text, build_requests, run_all
from .check import validate_options as validate_analysis_options
from .notebooks import apply_by_cell, is_notebook, read_notebook, write_notebook


@dataclass(frozen=True)
class Change:
    line: int
    kind: str  # "missing" | "stale"
    shape: str
    cell: int | None = None
    """In a notebook: the cell's number (``line`` is then the cell's line)."""

    def where(self, display: str) -> str:
        return f"{display}[cell {self.cell}]:{self.line}" if self.cell is not None else f"{display}:{self.line}"


@dataclass
class AnnotateOutcome:
    display: str
    changes: list[Change] = field(default_factory=list)
    error: str | None = None
    skipped: str | None = None
    """Why the file was left alone (it does not tokenize, ...): a warning, not an error."""


def annotate_text(text: str, analysis: Analysis, batch_name: str = "BS") -> tuple[str, list[Change]]:
    """The text with its ``# out:`` comments written or refreshed, and what changed: the edits of the
    editor's annotate action (:func:`cnnshape_ls.display.annotate_edits`), applied."""
    edits = annotate_edits(analysis, text, batch_name)
    changes = [Change(e.line, e.kind, e.comment.removeprefix("# out: ")) for e in edits]
    new_text, _ = apply_edits(text, [e.edit for e in edits])
    return new_text, changes


# ---------------------------------------------------------------------- the command
def annotate_notebook(request: Request, *, write: bool) -> AnnotateOutcome:
    """:func:`annotate_file` for a notebook: the comments go into its code cells, and the notebook is written
    back with nbformat (outputs and metadata as they were)."""
    outcome = AnnotateOutcome(request.display)
    path = Path(request.path)
    try:
        notebook = read_notebook(path)
        program = notebook.program
        analysis = analyze_text(program.text, request)
        try:
            edits = annotate_edits(analysis, program.text, request.batch_name)
        except CannotAnnotate as err:
            outcome.skipped = f"{request.display}: left alone: {err}"
            return outcome
        for e in edits:
            cell = program.cell_at(e.line)
            outcome.changes.append(Change(cell.cell_line(e.line) if cell else e.line, e.kind,
                                          e.comment.removeprefix("# out: "), cell.number if cell else None))
        sources, _ = apply_by_cell(notebook, [[e.edit] for e in edits])
        if write and sources != list(program.sources):
            write_notebook(path, notebook.with_sources(sources))
    except files.SourceError as err:
        outcome.error = f"{request.display}: {err}"
    except Exception as err:  # noqa: BLE001 - one file's crash must not lose the others
        outcome.error = f"{request.display}: internal error in the analysis: {type(err).__name__}: {err}"
    return outcome


def annotate_file(request: Request, *, write: bool) -> AnnotateOutcome:
    if is_notebook(request.path):
        return annotate_notebook(request, write=write)
    outcome = AnnotateOutcome(request.display)
    path = Path(request.path)
    try:
        source = files.read_source(path)
        analysis = analyze_text(source.text, request)
        try:
            new_text, outcome.changes = annotate_text(source.text, analysis, request.batch_name)
        except CannotAnnotate as err:
            outcome.skipped = f"{request.display}: left alone: {err}"
            return outcome
        if write and new_text != source.text:
            source.text = new_text
            files.write_source(path, source)
    except files.SourceError as err:
        outcome.error = f"{request.display}: {err}"
    except Exception as err:  # noqa: BLE001 - one file's crash must not lose the others
        outcome.error = f"{request.display}: internal error in the analysis: {type(err).__name__}: {err}"
    return outcome


def run(args: argparse.Namespace, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    try:
        validate_analysis_options(args)
    except UsageError as err:
        print(f"cnnshape: error: {err}", file=stderr)
        return EXIT_USAGE
    requests, problems = build_requests(args, stderr=stderr)
    outcomes = run_all(partial(annotate_file, write=not args.check), requests)
    lines = 0
    changed_files = 0
    for outcome in outcomes:
        if outcome.error:
            problems.append(outcome.error)
            continue
        if outcome.skipped:
            print(f"cnnshape: warning: {outcome.skipped}", file=stderr)
        if outcome.changes:
            changed_files += 1
            lines += len(outcome.changes)
        if args.check:
            for change in outcome.changes:
                print(f"{change.where(outcome.display)}: {change.kind} out comment: {change.shape}", file=stdout)
    if not args.check:
        print(f"Wrote {lines} out comment{'s' if lines != 1 else ''} in {changed_files} "
              f"file{'s' if changed_files != 1 else ''}", file=stdout)
    for problem in problems:
        print(f"cnnshape: error: {problem}", file=stderr)
    if problems:
        return EXIT_USAGE
    return EXIT_ERRORS if args.check and lines else EXIT_OK


__all__ = ["annotate_file", "annotate_text", "run"]
