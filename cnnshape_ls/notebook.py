"""A notebook's code cells, in order, as one Python program, and positions both ways.

The kernel runs a notebook's cells one after the other in one namespace, so the analysis reads them as one
file: a model defined in cell 3, built in cell 5 and called with ``model(torch.randn(4, 1, 28, 28))`` in
cell 6 gets its input from that call, as in a ``.py`` file. Each cell keeps its own lines: line ``k`` of a
cell is line ``first_line + k - 1`` of the program, and columns are the same, so every position maps back
by a shift.

IPython's own syntax is not Python and would cost a cell its hints as a syntax error; it is masked, line for
line (never moving a position):

- a line magic or shell line (``%matplotlib inline``, ``!pip install torch``), and a help line
  (``model?``, ``??nn.Conv2d``) become ``pass`` at their indentation; ``files = !ls`` becomes
  ``files = None``; a backslash-continued magic blanks its continuation lines;
- a cell magic whose body is Python (``%%time``, ``%%timeit``, ``%%capture``, ``%%prun``) loses only its
  ``%%`` line; any other cell magic (``%%bash``, ``%%writefile``, ``%%html``, ...) blanks the whole cell.

Lines inside a string or a bracket are never taken for magics. No LSP types here: the command line and the
server both use this module.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .analysis.findings import Edit, Span
from .analysis.source import split_lines

PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun"})
"""Cell magics whose body the kernel runs as Python: the body is analyzed, the ``%%`` line masked."""

HELP_LINE = re.compile(r"^(\?{1,2}[\w.*]+|[\w.*\[\]'\"]+\?{1,2})\s*$")
ASSIGNED_MAGIC = re.compile(r"^([A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*)\s*=\s*[%!]")


# ---------------------------------------------------------------------- masking IPython syntax
@dataclass
class _Scanner:
    """Where a line starts: inside a string, a bracket or a backslash continuation, or at a statement."""

    depth: int = 0
    quote: str | None = None
    continued: bool = False

    @property
    def at_statement(self) -> bool:
        return self.depth == 0 and self.quote is None and not self.continued

    def feed(self, line: str) -> None:
        i, n = 0, len(line)
        commented = False
        while i < n:
            ch = line[i]
            if self.quote is not None:
                if ch == "\\":
                    i += 2
                    continue
                if line.startswith(self.quote, i):
                    i += len(self.quote)
                    self.quote = None
                    continue
                i += 1
                continue
            if ch == "#":
                commented = True
                break
            if ch in "([{":
                self.depth += 1
            elif ch in ")]}":
                self.depth = max(self.depth - 1, 0)
            elif ch in "'\"":
                self.quote = line[i:i + 3] if line[i:i + 3] in ('"""', "'''") else ch
                i += len(self.quote)
                continue
            i += 1
        ends_with_backslash = not commented and line.endswith("\\")
        if self.quote is not None and len(self.quote) == 1 and not ends_with_backslash:
            self.quote = None  # a one-line string left open: Python's error, not a reason to mask lines after
        self.continued = ends_with_backslash and self.quote is None


def _masked_line(line: str) -> str | None:
    """The line's stand-in if it is IPython syntax at the start of a statement, else None."""
    body = line.lstrip()
    indent = line[:len(line) - len(body)]
    if body.startswith(("%", "!")) or HELP_LINE.match(body.rstrip()):
        return indent + "pass"
    assigned = ASSIGNED_MAGIC.match(body)
    if assigned:
        return f"{indent}{assigned.group(1)} = None"
    return None


def mask_ipython(source: str) -> str:
    """``source`` with IPython's syntax masked; the same number of lines, every Python line unchanged."""
    lines = split_lines(source)
    start = 0
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].startswith("%%"):
        parts = lines[first][2:].split()
        if not parts or parts[0] not in PYTHON_CELL_MAGICS:
            return "\n".join("" for _ in lines)  # not Python: the kernel hands the body to another program
        lines = [*lines[:first], "", *lines[first + 1:]]
        start = first + 1
    out = lines[:start]
    scanner = _Scanner()
    magic_continues = False
    for line in lines[start:]:
        if magic_continues:
            out.append("")
            magic_continues = line.endswith("\\")
            continue
        masked = _masked_line(line) if scanner.at_statement else None
        if masked is not None:
            out.append(masked)
            magic_continues = line.endswith("\\")
            continue
        scanner.feed(line)
        out.append(line)
    return "\n".join(out)


# ---------------------------------------------------------------------- cells as one program
@dataclass(frozen=True)
class CodeCell:
    source: str
    number: int
    """The cell's number as users count: 1-based among all the notebook's cells, markdown ones included."""
    key: str = ""
    """What names the cell elsewhere: its URI in an editor; "" on the command line."""


@dataclass(frozen=True)
class CellPlace:
    number: int
    key: str
    first_line: int
    """The program's line (1-based) of the cell's first line."""
    line_count: int

    @property
    def last_line(self) -> int:
        return self.first_line + self.line_count - 1

    def contains(self, line: int) -> bool:
        return self.first_line <= line <= self.last_line

    def cell_line(self, program_line: int) -> int:
        return program_line - self.first_line + 1

    def program_line(self, cell_line: int) -> int:
        return cell_line + self.first_line - 1

    def cell_span(self, span: Span) -> Span:
        return Span(self.cell_line(span.line), span.column, self.cell_line(span.end_line), span.end_column)


@dataclass(frozen=True)
class Program:
    """The code cells as one program (IPython syntax masked), and where each cell is in it."""

    text: str
    cells: tuple[CellPlace, ...]
    sources: tuple[str, ...]
    """Each cell's own text, unmasked, in the order of ``cells``."""

    def cell_at(self, line: int) -> CellPlace | None:
        """The cell holding the program's ``line`` (1-based)."""
        starts = [c.first_line for c in self.cells]
        at = bisect_right(starts, line) - 1
        if at < 0 or not self.cells[at].contains(line):
            return None
        return self.cells[at]

    def place(self, key: str) -> CellPlace | None:
        return next((c for c in self.cells if c.key == key), None)

    def locate(self, span: Span) -> tuple[CellPlace, Span] | None:
        """The cell ``span`` starts in and the span in that cell's lines; one running into the next cell
        ends at the end of its own."""
        cell = self.cell_at(span.line)
        if cell is None:
            return None
        if span.end_line > cell.last_line:
            last = split_lines(self.sources[self.cells.index(cell)])
            span = Span(span.line, span.column, cell.last_line, len(last[-1]) if last else 0)
        return cell, cell.cell_span(span)

    def edits_by_cell(self, edits: Iterable[Edit]) -> dict[int, list[Edit]] | None:
        """This buffer's edits grouped by the index of their cell in ``cells``, in cell positions;
        None when one crosses from one cell into another (the cells are separate texts)."""
        grouped: dict[int, list[Edit]] = {}
        for edit in edits:
            cell = self.cell_at(edit.span.line)
            if cell is None or not cell.contains(edit.span.end_line):
                return None
            grouped.setdefault(self.cells.index(cell), []).append(Edit(cell.cell_span(edit.span), edit.new_text))
        return grouped


def build_program(cells: Sequence[CodeCell]) -> Program:
    lines: list[str] = []
    places = []
    for cell in cells:
        cell_lines = split_lines(mask_ipython(cell.source))
        places.append(CellPlace(cell.number, cell.key, len(lines) + 1, len(cell_lines)))
        lines.extend(cell_lines)
    return Program("\n".join(lines), tuple(places), tuple(c.source for c in cells))


# ---------------------------------------------------------------------- the JSON form, in cells
def cell_json(entry: dict[str, Any], program: Program) -> dict[str, Any]:
    """One ``files`` entry of ``cnnshape check --format json`` with every line of the program told as a line
    of its cell: each object with a ``line`` gets ``cell`` (the number users see), ``def_line`` gets
    ``def_cell``. Places in other files (``related``, edits with a ``path``) are left as they are."""

    def at(obj: dict[str, Any], line_key: str, cell_key: str) -> None:
        line = obj.get(line_key)
        if not isinstance(line, int):
            return
        cell = program.cell_at(line)
        if cell is None:
            return
        obj[line_key] = cell.cell_line(line)
        obj[cell_key] = cell.number
        if line_key == "line" and isinstance(obj.get("end_line"), int):
            end = min(obj["end_line"], cell.last_line)
            obj["end_line"] = cell.cell_line(end)

    for model in entry.get("models", []):
        at(model, "line", "cell")
        for layer in model.get("layers", []):
            at(layer, "line", "cell")
            at(layer, "def_line", "def_cell")
    for diag in entry.get("diagnostics", []):
        at(diag, "line", "cell")
        for fix in diag.get("fixes", []):
            for edit in fix["edits"]:
                at(edit, "line", "cell")
        for fix in diag.get("workspace_fixes", []):
            for edit in fix["edits"]:
                if edit.get("path") in (None, entry.get("path")):
                    at(edit, "line", "cell")
    return entry


__all__ = ["CellPlace", "CodeCell", "PYTHON_CELL_MAGICS", "Program", "build_program", "cell_json", "mask_ipython"]
