"""Parsing that survives typing, and positions in the user's text.

A buffer being edited rarely parses. :func:`parse_tolerant` blanks out the
smallest block (method, class or top-level statement) around each syntax error
and parses again, so every other model in the file keeps its results. Line
numbers never move: blanked lines stay as empty lines.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

MAX_REPAIRS = 25


@dataclass(frozen=True)
class SyntaxProblem:
    line: int
    column: int
    message: str


@dataclass
class SourceFile:
    text: str
    lines: list[str]
    tree: ast.Module
    problems: list[SyntaxProblem] = field(default_factory=list)
    blanked: set[int] = field(default_factory=set)
    """1-based lines removed to make the rest parse."""
    calls: list[ast.Call] | None = None
    """Calls of names (``model(x)``), indexed on first use by the input finder."""
    factories: dict | None = None
    """How the file builds each class it calls with arguments, indexed on first use."""
    naming: dict[str, list[str]] | None = None
    """The top-level statements' texts by the names they mention, indexed on first use."""
    outline: list | None = None
    """The top-level statements with the names each defines and uses (:mod:`focus`), on first use."""
    spans: dict[ast.AST, Any] = field(default_factory=dict)
    """Each node's span in code points, found once per analysis."""
    parts: dict[ast.AST, list] = field(default_factory=dict)
    """The sub-expressions of each constructor call whose values a fix may write back, found once."""
    built: dict[ast.AST, list] = field(default_factory=dict)
    assigned: dict[str, list] | None = None
    """The values assigned to each name at the top level (``K = kernel_for(3)``), indexed on first use."""
    unfollowed: set[ast.AST] = field(default_factory=set)
    """Calls that gave an unknown value from known arguments: where an unknown started (for hovers)."""

    def call_around(self, node: ast.AST | None) -> ast.Call | None:
        """The call ``node`` is a positional or keyword argument of."""
        return next((call for call in self._nodes_around(node) if isinstance(call, ast.Call) and (
            any(arg is node for arg in call.args) or any(k.value is node for k in call.keywords))), None)

    def statement_of_value(self, node: ast.AST | None) -> ast.stmt | None:
        """The statement whose value ``node`` is (``x = node``, ``node`` on a line of its own)."""
        return next((stmt for stmt in self._nodes_around(node)
                     if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr, ast.Return))
                     and stmt.value is node), None)

    def _nodes_around(self, node: ast.AST | None) -> Iterator[ast.AST]:
        """The nodes of the top-level statements that hold ``node``'s line (nodes keep no parent, and a walk
        of the whole file would cost more than the analysis of most models)."""
        line = getattr(node, "lineno", None)
        if line is None:
            return
        for stmt in self.tree.body:
            first = min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", ()))])
            if first <= line <= (stmt.end_lineno or stmt.lineno):  # two may share it: ``a = f(x); b = g(y)``
                yield from ast.walk(stmt)

    def line_text(self, line: int) -> str:
        return self.lines[line - 1] if 0 < line <= len(self.lines) else ""

    def column(self, line: int, byte_offset: int) -> int:
        """ast's UTF-8 byte offset on ``line`` as a 0-based code-point column."""
        text = self.line_text(line)
        if text.isascii():
            return byte_offset
        return len(text.encode("utf-8")[:byte_offset].decode("utf-8", errors="ignore"))

    def segment(self, node: ast.AST) -> str:
        """The text of ``node`` (ast.get_source_segment splits the whole buffer each call: too slow)."""
        line, end_line = getattr(node, "lineno", None), getattr(node, "end_lineno", None)
        if line is None or end_line is None:
            return ""
        first = self.line_text(line).encode("utf-8")
        if line == end_line:
            return first[node.col_offset:node.end_col_offset].decode("utf-8", errors="replace")
        parts = [first[node.col_offset:].decode("utf-8", errors="replace")]
        parts += [self.line_text(n) for n in range(line + 1, end_line)]
        parts.append(self.line_text(end_line).encode("utf-8")[:node.end_col_offset].decode("utf-8", errors="replace"))
        return "\n".join(parts)


@dataclass(eq=False)
class ForeignFile:
    """The file an imported node comes from (``node._cnnshape_foreign``): positions and text of an
    imported block's nodes are read in its lines, never in the analyzed buffer's."""

    path: str
    source: SourceFile
    shown: str = ""
    """How messages name it: relative to the analyzed file's folder (``layers/blocks.py``)."""
    installed: bool = False
    """A module of an installed package (:mod:`libraries`), not a file of the workspace."""


def foreign_file(node: Any) -> ForeignFile | None:
    found = getattr(node, "_cnnshape_foreign", None)
    return found if isinstance(found, ForeignFile) else None


def is_installed(node: Any) -> bool:
    """A node of an installed package's module (:mod:`libraries`)."""
    origin = foreign_file(node)
    return origin is not None and origin.installed


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _block_around(lines: list[str], line_no: int) -> tuple[int, int]:
    """The 0-based [start, end) lines of the innermost def/class block holding ``line_no``
    (or of the top-level statement), used to cut out a syntax error."""
    idx = min(max(line_no - 1, 0), len(lines) - 1)
    # Find the nearest header line at or above idx that starts a def/class or a top-level statement.
    start = idx
    while start > 0:
        text = lines[start]
        stripped = text.lstrip()
        if stripped and not stripped.startswith("#"):
            if re.match(r"(async\s+def|def|class)\b", stripped) or _indent(text) == 0:
                if not stripped.startswith(("@", ")", "]", "}")):
                    break
        start -= 1
    header_indent = _indent(lines[start])
    while start > 0 and lines[start - 1].lstrip().startswith("@"):
        start -= 1
    end = max(idx + 1, start + 1)
    while end < len(lines):
        text = lines[end]
        if text.strip() and not text.lstrip().startswith("#") and _indent(text) <= header_indent:
            break
        end += 1
    return start, end


def _statement_lines(lines: list[str], line_no: int) -> tuple[int, int]:
    """The 0-based [start, end) lines of the statement at ``line_no``: the line and any lines
    indented deeper that continue it (an unclosed bracket swallows them)."""
    idx = min(max(line_no - 1, 0), len(lines) - 1)
    indent = _indent(lines[idx])
    end = idx + 1
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > indent) \
            and not lines[idx].rstrip().endswith(":"):
        end += 1
    return idx, end


LINE_BREAK = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> list[str]:
    """Lines as Python and LSP count them (str.splitlines also breaks at form feeds and more)."""
    return LINE_BREAK.split(text)


def parse_tolerant(text: str, filename: str = "<buffer>", chunks: ChunkCache | None = None) -> SourceFile:
    """Parse what parses. With a document's ``chunks``, top-level statements whose text and line did
    not change since the last version are not parsed again (typing changes one of them)."""
    lines = split_lines(text)
    if chunks is not None:
        parsed = _parse_by_chunks(lines, filename, chunks)
        if parsed is not None:
            return SourceFile(text, lines, *parsed)
    tree, problems, blanked = _repair_and_parse(list(lines), 0, filename)
    return SourceFile(text, lines, tree, problems, blanked)


def _repair_and_parse(work: list[str], offset: int, filename: str
                      ) -> tuple[ast.Module, list[SyntaxProblem], set[int]]:
    """Parse ``work`` (lines ``offset + 1`` on of the file), blanking what does not parse."""
    problems: list[SyntaxProblem] = []
    blanked: set[int] = set()
    tried: set[int] = set()
    lead = "\n" * offset  # blank lines in front: the tree's line numbers are the file's
    for _ in range(MAX_REPAIRS):
        try:
            return ast.parse(lead + "\n".join(work), filename), problems, blanked
        except SyntaxError as err:
            line = min(max((err.lineno or offset + len(work)) - offset, 1), len(work))
            if not work:
                break
            if line not in tried:
                problems.append(SyntaxProblem(line + offset, max((err.offset or 1) - 1, 0), err.msg))
                # first cut only the statement being typed; if that is not enough, its whole block
                tried.add(line)
                start, end = _statement_lines(work, line)
            else:
                start, end = _block_around(work, line)
            pad = " " * _indent(work[start])
            for i in range(start, end):
                work[i] = ""
                blanked.add(i + 1 + offset)
            if pad:
                work[start] = pad + "pass"
        except (RecursionError, MemoryError, ValueError) as err:
            problems.append(SyntaxProblem(offset + 1, 0, f"cannot parse: {type(err).__name__}"))
            break
    return ast.Module(body=[], type_ignores=[]), problems, blanked


# ---------------------------------------------------------------------- parsing by top-level statement
MAX_CHUNKS = 4096
CHUNK_START = re.compile(r"[^\s#)\]}@\\]")
CONTINUATIONS = ("else", "elif", "except", "finally", "from __future__")
UNCLOSED = ("was never closed", "unterminated", "unexpected EOF", "EOF while")


@dataclass
class ChunkCache:
    """One document's parsed top-level statements, by their line and text: an edit re-parses only its own."""

    parsed: dict[tuple[int, str], tuple[list[ast.stmt], list[SyntaxProblem], set[int]]] = field(
        default_factory=dict)

    def keep_only(self, used: set[tuple[int, str]]) -> None:
        for key in [k for k in self.parsed if k not in used]:
            del self.parsed[key]


def top_level_chunks(lines: list[str]) -> list[tuple[int, int]]:
    """0-based [start, end) line ranges, each a run of whole top-level statements.

    A chunk starts at a line of code in column 0; it runs on while its brackets, triple quotes or a
    line continuation are open, or after a decorator. The counts are rough (a bracket in a string
    counts too): a wrong count only makes a chunk bigger, or makes its parse fail."""
    return [(start, end) for start, end, _ in _chunks_with_text(lines)]


def _chunks_with_text(lines: list[str]) -> list[tuple[int, int, str]]:
    """:func:`top_level_chunks` with each chunk's text, joined once (it is also the cache's key)."""
    starts = [i for i, line in enumerate(lines)
              if line and CHUNK_START.match(line) and not line.startswith(CONTINUATIONS)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    starts.append(len(lines))
    chunks: list[tuple[int, int, str]] = []
    begin = depth = doubles = singles = 0
    pieces: list[str] = []
    for previous, start in zip(starts, starts[1:]):
        piece = "\n".join(lines[previous:start])
        pieces.append(piece)
        depth += piece.count("(") + piece.count("[") + piece.count("{") \
            - piece.count(")") - piece.count("]") - piece.count("}")
        doubles += piece.count('"""')
        singles += piece.count("\'\'\'")
        if start == len(lines):
            break
        if depth > 0 or doubles % 2 or singles % 2 or piece.rstrip().endswith("\\") \
                or _last_code_line(lines, previous, start).startswith("@"):
            continue
        chunks.append((begin, start, "\n".join(pieces)))
        begin = start
        pieces = []
        depth = doubles = singles = 0
    chunks.append((begin, len(lines), "\n".join(pieces)))
    return chunks


def _last_code_line(lines: list[str], begin: int, end: int) -> str:
    for i in range(end - 1, begin - 1, -1):
        line = lines[i]
        if line.strip() and not line.lstrip().startswith("#"):
            return line
    return ""


def _parse_by_chunks(lines: list[str], filename: str, cache: ChunkCache
                     ) -> tuple[ast.Module, list[SyntaxProblem], set[int]] | None:
    """The module parsed chunk by chunk, reusing the document's earlier parses; None where a chunk
    before the last ends inside an unclosed construct (the chunking may be wrong there: the caller
    parses the whole)."""
    chunks = _chunks_with_text(lines)
    if len(chunks) > MAX_CHUNKS:
        return None
    body: list[ast.stmt] = []
    problems: list[SyntaxProblem] = []
    blanked: set[int] = set()
    used: set[tuple[int, str]] = set()
    for start, end, text in chunks:
        key = (start, text)
        parsed = cache.parsed.get(key)
        if parsed is None:
            tree, chunk_problems, chunk_blanked = _repair_and_parse(lines[start:end], start, filename)
            if end < len(lines) and any(marker in p.message for p in chunk_problems for marker in UNCLOSED):
                return None  # it may end too soon; one that runs to the end is the whole parse's tail
            parsed = (tree.body, chunk_problems, chunk_blanked)
            cache.parsed[key] = parsed
        used.add(key)
        body.extend(parsed[0])
        problems.extend(parsed[1])
        blanked |= parsed[2]
    cache.keep_only(used)
    return ast.Module(body=body, type_ignores=[]), problems, blanked


OUT_COMMENT = re.compile(r"#\s*out:\s*(?P<shape>[(\[][^)\]]*[)\]])")
IN_COMMENT = re.compile(r"#\s*(?:in|input)\s*:\s*(?P<shape>[(\[][^)\]]*[)\]])", re.IGNORECASE)
DOC_INPUT = re.compile(r"^\s*(?:in|input)\s*:\s*(?P<shape>[(\[][^)\]]*[)\]])", re.IGNORECASE | re.MULTILINE)


def comment_start(line: str) -> int | None:
    """Where the ``#`` comment of a line starts, ignoring ``#`` inside strings."""
    hash_at = line.find("#")
    if hash_at < 0:
        return None
    if "'" not in line[:hash_at] and '"' not in line[:hash_at]:
        return hash_at  # no string before it: the usual case, without walking the line
    quote: str | None = None
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            return i
        i += 1
    return None
