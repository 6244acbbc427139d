"""Parsing that survives typing, and positions in the user's text.

A buffer being edited rarely parses. :func:`parse_tolerant` blanks out the
smallest block (method, class or top-level statement) around each syntax error
and parses again, so every other model in the file keeps its results. Line
numbers never move: blanked lines stay as empty lines.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

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


def parse_tolerant(text: str, filename: str = "<buffer>") -> SourceFile:
    lines = split_lines(text)
    work = list(lines)
    problems: list[SyntaxProblem] = []
    blanked: set[int] = set()
    tried: set[int] = set()
    for _ in range(MAX_REPAIRS):
        try:
            tree = ast.parse("\n".join(work), filename)
            return SourceFile(text, lines, tree, problems, blanked)
        except SyntaxError as err:
            line = min(err.lineno or len(work), len(work))
            if not work:
                break
            if line not in tried:
                problems.append(SyntaxProblem(line, max((err.offset or 1) - 1, 0), err.msg))
                # first cut only the statement being typed; if that is not enough, its whole block
                tried.add(line)
                start, end = _statement_lines(work, line)
            else:
                start, end = _block_around(work, line)
            pad = " " * _indent(work[start])
            for i in range(start, end):
                work[i] = ""
                blanked.add(i + 1)
            if pad:
                work[start] = pad + "pass"
        except (RecursionError, MemoryError, ValueError) as err:
            problems.append(SyntaxProblem(1, 0, f"cannot parse: {type(err).__name__}"))
            break
    return SourceFile(text, lines, ast.Module(body=[], type_ignores=[]), problems, blanked)


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
