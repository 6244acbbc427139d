"""``cnnshape annotate``: write or refresh ``# out: (BS, 16, 6, 6)`` comments at the end of layer lines.

A line gets the output shape of the last layer applied on it. Lines are left
alone where the shape is unknown (or partly so), where one line gives different
shapes on different runs (a layer applied in a loop), and where a comment
cannot go at the end of the line (inside a multi-line string, after a
backslash continuation). An existing ``# out:`` comment is refreshed in place;
another comment is kept, with the ``# out:`` comment appended after it.

``--check`` changes nothing: it lists the missing and stale comments and exits 1
if there are any. Annotating twice changes nothing the second time.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import tokenize
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO

from ..analysis.findings import shape_text
from ..analysis.result import ModelResult
from . import files
from .check import EXIT_ERRORS, EXIT_OK, EXIT_USAGE, Request, UsageError, analyse_text, build_requests, run_all
from .check import validate_options as validate_analysis_options
from .edits import LineIndex, TextEdit, apply_text_edits, odd_line_breaks

OUT_START = re.compile(r"#\s*out:")
OUT_SHAPE = re.compile(r"#\s*out:\s*(?P<shape>[(\[][^)\]]*[)\]])")


@dataclass(frozen=True)
class Change:
    line: int
    kind: str  # "missing" | "stale"
    shape: str


@dataclass
class AnnotateOutcome:
    display: str
    changes: list[Change] = field(default_factory=list)
    error: str | None = None
    skipped: str | None = None
    """Why the file was left alone (it does not tokenize, ...): a warning, not an error."""


# ---------------------------------------------------------------------- which shape goes on which line
def line_shapes(models: Iterable[ModelResult]) -> dict[int, str]:
    """The ``# out:`` text for each line that has one certain, fully known shape."""
    found: dict[int, set[str]] = {}
    for model in models:
        for line, shapes in _model_line_shapes(model).items():
            found.setdefault(line, set()).update(shapes)
    out = {}
    for line, shapes in found.items():
        if len(shapes) == 1 and "?" not in (text := next(iter(shapes))):
            out[line] = text
    return out


def _model_line_shapes(model: ModelResult) -> dict[int, set[str]]:
    """Each line's final shape per run of it: a line run twice (a loop, a reused block) may end in two shapes.

    Records are in execution order. A run of a line ends when a call already seen in it comes again: the same
    call position (``column``), or, for layers listed in a container (no call position), the same module.
    """
    visits: dict[int, list[tuple[set, list]]] = {}
    for record in model.records:
        key: tuple = ((record.column, record.end_column) if (record.column or record.end_column)
                      else (record.path, record.op))
        runs = visits.setdefault(record.line, [])
        if not runs or key in runs[-1][0]:
            runs.append((set(), [None]))
        runs[-1][0].add(key)
        output = record.output
        runs[-1][1][0] = None if output is None or any(d is None for d in output) else shape_text(output)
    return {line: {shape if shape is not None else "?" for _, (shape,) in runs} for line, runs in visits.items()}


# ---------------------------------------------------------------------- where a comment can go
@dataclass(frozen=True)
class LineSlot:
    comment_column: int | None
    comment: str | None


class CannotAnnotate(Exception):
    pass


def comment_slots(text: str) -> dict[int, LineSlot]:
    """The lines whose end is outside any string and not continued by a backslash, with their comment if any."""
    if re.search(r"\r(?!\n)", text):
        raise CannotAnnotate("it has lines ending in a lone carriage return")
    if odd_line_breaks(text):
        raise CannotAnnotate("it has a form feed or another character the analysis counts as a line break")
    slots: dict[int, LineSlot] = {}
    comments: dict[int, tuple[int, str]] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                comments[tok.start[0]] = (tok.start[1], tok.string)
            elif tok.type in (tokenize.NL, tokenize.NEWLINE):
                line = tok.start[0]
                column, comment = comments.get(line, (None, None))
                slots[line] = LineSlot(column, comment)
    except (tokenize.TokenError, SyntaxError) as err:
        raise CannotAnnotate(f"it does not tokenize: {err}")
    return slots


def comment_matches(written: str, shape: str) -> bool:
    """Whether a written shape says ``shape``, ignoring spaces and how the batch is named (as ``stale-comment``)."""
    got = [t.replace(" ", "") for t in written.strip("()[] ").split(",") if t.strip()]
    want = [t.replace(" ", "") for t in shape.strip("()").split(",") if t.strip()]
    if len(got) != len(want):
        return False
    for i, (g, w) in enumerate(zip(got, want)):
        if g == w:
            continue
        if i == 0 and g.isidentifier() and (w.isidentifier() or w.isdigit()):
            continue
        return False
    return True


def plan(text: str, shapes: dict[int, str]) -> tuple[list[Change], list[TextEdit]]:
    """The changes to make (in line order) and the edits that make them."""
    slots = comment_slots(text)
    index = LineIndex(text)
    changes: list[Change] = []
    edits: list[TextEdit] = []
    for line in sorted(shapes):
        slot = slots.get(line)
        if slot is None or line > len(index.starts):
            continue
        shape = shapes[line]
        ours = f"# out: {shape}"
        start = index.starts[line - 1]
        content = text[start:start + index.lengths[line - 1]]
        if slot.comment is not None:
            found = OUT_START.search(slot.comment)
            if found is not None:
                written = OUT_SHAPE.match(slot.comment, found.start())
                if written is not None and comment_matches(written.group("shape"), shape):
                    continue
                begin = start + slot.comment_column + found.start()
                end = start + slot.comment_column + (written.end() if written else len(slot.comment))
                changes.append(Change(line, "stale", shape))
                edits.append(TextEdit(begin, end, ours))
                continue
        code_end = start + len(content.rstrip())
        changes.append(Change(line, "missing", shape))
        edits.append(TextEdit(code_end, start + len(content), f"  {ours}"))
    return changes, edits


def annotate_text(text: str, models: Iterable[ModelResult]) -> tuple[str, list[Change]]:
    """The text with its ``# out:`` comments written or refreshed, and what changed."""
    changes, edits = plan(text, line_shapes(models))
    return apply_text_edits(text, edits), changes


# ---------------------------------------------------------------------- the command
def annotate_file(request: Request, *, write: bool) -> AnnotateOutcome:
    outcome = AnnotateOutcome(request.display)
    path = Path(request.path)
    try:
        source = files.read_source(path)
        analysis = analyse_text(source.text, request)
        try:
            new_text, outcome.changes = annotate_text(source.text, analysis.models)
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
                print(f"{outcome.display}:{change.line}: {change.kind} out comment: {change.shape}", file=stdout)
    if not args.check:
        print(f"Wrote {lines} out comment{'s' if lines != 1 else ''} in {changed_files} "
              f"file{'s' if changed_files != 1 else ''}", file=stdout)
    for problem in problems:
        print(f"cnnshape: error: {problem}", file=stderr)
    if problems:
        return EXIT_USAGE
    return EXIT_ERRORS if args.check and lines else EXIT_OK


__all__ = ["annotate_file", "annotate_text", "line_shapes", "plan", "run"]
