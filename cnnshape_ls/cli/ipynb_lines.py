"""Where a notebook's code is in the ``.ipynb`` file itself, for the formats that point into files
(``--format github``, ``--format sarif``): they have no place for a cell, and GitHub shows an annotation on
a line of the file's JSON text.

Jupyter and nbformat write each cell's ``source`` as a JSON list with one string per source line, each on a
line of its own::

    "source": [
     "class Net(nn.Module):\\n",
     "    def forward(self, x):\\n",
    ]

so a place in a cell has a line and column in the file. The places are read from the file's text and kept
only where the strings, decoded, are the cell's source exactly (a notebook written in another layout, or
edited by hand, gets no file places, and the report falls back to naming the cell).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..analysis.findings import Edit, Span
from ..notebook import Program

SOURCE_KEY = '"source": ['


@dataclass(frozen=True)
class JsonString:
    """One source line of a cell, as a JSON string on a line of the file."""

    line: int
    """The file's line (1-based)."""
    column: int
    """The file's column (0-based, code points) of the string's first character, after its opening quote."""
    text: str
    """The source line it holds, without its line break."""
    ascii_only: bool
    """Written with ``\\uXXXX`` escapes for non-ASCII characters (``json.dumps``'s ``ensure_ascii``)."""

    def column_of(self, column: int) -> int:
        """The file's column of the source line's ``column``."""
        return self.column + len(escape(self.text[:column], self.ascii_only))


@dataclass(frozen=True)
class FilePlaces:
    """The file positions of code cells' lines: ``(cell number, line in the cell)`` to its JSON string."""

    strings: dict[tuple[int, int], JsonString] = field(default_factory=dict)

    def span(self, program: Program, span: Span) -> Span | None:
        """``span`` (a place in the program the cells make) in the file's text; ``None`` where it is not
        in one cell or the cell's lines were not found in the file."""
        found = program.locate(span)
        if found is None:
            return None
        cell, in_cell = found
        start = self.strings.get((cell.number, in_cell.line))
        end = self.strings.get((cell.number, in_cell.end_line))
        if start is None or end is None:
            return None
        return Span(start.line, start.column_of(in_cell.column), end.line, end.column_of(in_cell.end_column))

    def string(self, program: Program, span: Span) -> JsonString | None:
        """The JSON string holding a one-line ``span``."""
        found = program.locate(span)
        if found is None or found[1].line != found[1].end_line:
            return None
        cell, in_cell = found
        return self.strings.get((cell.number, in_cell.line))


@dataclass(frozen=True)
class Positions:
    """How the analyzed text's positions are written in the file: as they are for a Python file (no
    ``program``); through its JSON text for a notebook, where a place not found there has none and messages
    name the cell."""

    program: Program | None = None
    file_places: FilePlaces | None = None

    def span(self, span: Span) -> Span | None:
        if self.program is None:
            return span
        return None if self.file_places is None else self.file_places.span(self.program, span)

    def message(self, span: Span, text: str) -> str:
        return text if self.program is None else cell_prefix(self.program, span) + text

    def inserted(self, edit: Edit) -> str | None:
        """The edit's new text as the file holds it; ``None`` for a notebook edit that is not within one line
        of a cell (a JSON string cannot take a line break)."""
        if self.program is None:
            return edit.new_text
        string = None if self.file_places is None else self.file_places.string(self.program, edit.span)
        return None if string is None or "\n" in edit.new_text else escape(edit.new_text, string.ascii_only)


def escape(text: str, ascii_only: bool) -> str:
    """``text`` as it is written inside a JSON string."""
    return json.dumps(text, ensure_ascii=ascii_only)[1:-1]


def source_blocks(raw: str) -> list[list[tuple[int, int, str]] | None]:
    """Every ``"source": [...]`` list of the file in order: ``(line, column of the opening quote, element)``
    for each string, or ``None`` for a source written in another layout."""
    blocks: list[list[tuple[int, int, str]] | None] = []
    current: list[tuple[int, int, str]] | None = None
    for number, line in enumerate(raw.split("\n"), 1):
        stripped = line.strip()
        if current is None:
            if stripped.startswith(SOURCE_KEY):
                rest = stripped[len(SOURCE_KEY):]
                if rest in ("]", "],"):
                    blocks.append([])
                elif rest:
                    blocks.append(None)  # strings on the key's own line: not Jupyter's layout
                else:
                    current = []
            elif stripped.startswith('"source":'):
                blocks.append(None)  # one string for the whole cell
            continue
        if stripped in ("]", "],"):
            blocks.append(current)
            current = None
            continue
        element = stripped[:-1] if stripped.endswith(",") else stripped
        current.append((number, len(line) - len(line.lstrip()), element))
    return blocks


def read_block(block: list[tuple[int, int, str]], source: str) -> list[JsonString] | None:
    """The block's strings where, decoded, they are ``source`` line by line; else ``None``."""
    strings: list[JsonString] = []
    texts: list[str] = []
    for line, quote_column, element in block:
        try:
            text = json.loads(element)
        except ValueError:
            return None
        if not isinstance(text, str):
            return None
        ascii_only = json.dumps(text, ensure_ascii=True) == element
        if not ascii_only and json.dumps(text, ensure_ascii=False) != element:
            return None  # escaped in a way column arithmetic cannot follow
        texts.append(text)
        strings.append(JsonString(line, quote_column + 1, text.removesuffix("\n").removesuffix("\r"),
                                  ascii_only))
    return strings if "".join(texts) == source else None


def file_places(raw: str, program: Program, cell_count: int) -> FilePlaces:
    """The file positions of the code cells of a notebook whose file text is ``raw`` and which has
    ``cell_count`` cells in all."""
    blocks = source_blocks(raw)
    if len(blocks) != cell_count:
        return FilePlaces()  # a "source" key elsewhere, or cells not all written in this layout
    strings: dict[tuple[int, int], JsonString] = {}
    for cell, source in zip(program.cells, program.sources):
        block = blocks[cell.number - 1]
        found = None if block is None else read_block(block, source)
        for index, string in enumerate(found or ()):
            strings[(cell.number, index + 1)] = string
    return FilePlaces(strings)


def cell_prefix(program: Program, span: Span) -> str:
    """``cell 3, line 5: ``, which the message starts with (the annotation is on the file's JSON text)."""
    found = program.locate(span)
    if found is None:
        return ""
    cell, in_cell = found
    return f"cell {cell.number}, line {in_cell.line}: "


__all__ = ["FilePlaces", "JsonString", "Positions", "cell_prefix", "escape", "file_places"]
