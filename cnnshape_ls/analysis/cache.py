"""Reusing a model's analysis while the user edits another part of the file.

A model's result depends only on the text of its own definition (and the line
above it, where ``# in:`` goes), of the classes and functions it names, of the
file's other top-level statements and of the files it imports. When all of
those are unchanged, the cached result is reused with its lines moved to where
those pieces are now. Owned by one document (the server keeps one per buffer);
nothing here is global.
"""

from __future__ import annotations

import ast
import copy
import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any

from .findings import Finding, Span
from .inputs import header_comments
from .result import ModelResult
from .source import ChunkCache, SourceFile

MAX_ENTRIES = 512


@dataclass(frozen=True)
class Region:
    key: tuple
    start: int
    end: int


@dataclass
class FileLayout:
    """The top-level pieces of one version of the file, computed once per analysis."""

    defs: dict[str, Region]
    def_nodes: dict[str, ast.AST]
    statements: list[Region]
    context_text: str

    @classmethod
    def of(cls, src: SourceFile) -> FileLayout:
        defs: dict[str, Region] = {}
        nodes: dict[str, ast.AST] = {}
        statements: list[Region] = []
        texts: list[str] = []
        for node in src.tree.body:
            start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            end = node.end_lineno or node.lineno
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                defs[node.name] = Region(("def", node.name), start, end)
                nodes[node.name] = node
            else:
                region = Region(("stmt", len(statements)), start, end)
                statements.append(region)
                texts.append(_text(src, start, end))
        return cls(defs, nodes, statements, "\n\x00".join([*texts, *header_comments(src)]))


def _text(src: SourceFile, start: int, end: int) -> str:
    return "\n".join(src.lines[start - 1:end])


@dataclass
class Entry:
    result: ModelResult | None
    findings: list[Finding]
    regions: list[Region]


@dataclass
class ModelCache:
    entries: OrderedDict[str, Entry] = field(default_factory=OrderedDict)
    chunks: ChunkCache = field(default_factory=ChunkCache)
    """The document's parsed top-level statements: an edit re-parses only the one it touches."""
    hits: int = 0
    misses: int = 0

    def key(self, src: SourceFile, layout: FileLayout, name: str, line: int, end_line: int, options: Any,
            outside: str) -> tuple[str, list[Region]]:
        """The fingerprint of everything a model's analysis reads, and the regions it spans.

        ``outside`` is what it reads elsewhere in the file (how a factory builds it, the statements that
        build it, the calls that show its input). The classes and functions named by its own text and by
        ``outside`` are read too, and so on by what those name."""
        own = Region(("own", name), max(line - 1, 1), end_line)
        regions = [own]
        seen: set[str] = set()
        pending = [_text(src, own.start, own.end), outside]
        parts = [pending[0]]
        while pending:
            text = pending.pop()
            for word in _names(text):
                region = layout.defs.get(word)
                if region is None or word in seen or (region.start >= own.start and region.end <= own.end):
                    continue
                seen.add(word)
                regions.append(region)
                body = _text(src, region.start, region.end)
                parts.append(word + "\x00" + body)
                pending.append(body)
        regions.extend(layout.statements)
        digest = hashlib.blake2b(digest_size=16)
        for piece in (*parts, layout.context_text, outside, repr(options)):
            digest.update(piece.encode("utf-8", "surrogatepass"))
            digest.update(b"\x01")
        return digest.hexdigest(), regions

    def get(self, key: str, regions: list[Region]) -> tuple[ModelResult | None, list[Finding]] | None:
        entry = self.entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        self.entries.move_to_end(key)
        self.hits += 1
        if entry.result is None:
            return None, []  # a module without submodules: not a model
        moves = {r.key: r.start for r in regions}
        return rebase(entry, moves)

    def put(self, key: str, regions: list[Region], result: ModelResult | None, findings: list[Finding]) -> None:
        self.entries[key] = Entry(result, findings, regions)
        while len(self.entries) > MAX_ENTRIES:
            self.entries.popitem(last=False)


IDENTIFIER = re.compile(r"[A-Za-z_]\w*")


def _names(text: str) -> set[str]:
    return set(IDENTIFIER.findall(text))


def rebase(entry: Entry, new_starts: dict[tuple, int]) -> tuple[ModelResult, list[Finding]]:
    """The cached result with every line moved by the shift of the region it lies in."""
    shifts = [(r.start, r.end, new_starts.get(r.key, r.start) - r.start) for r in entry.regions]
    if not any(delta for _, _, delta in shifts):
        return entry.result, list(entry.findings)  # nothing moved: the cached objects are still right

    def move(line: int | None) -> int | None:
        if line is None:
            return None
        for start, end, delta in shifts:
            if start <= line <= end:
                return line + delta
        return line

    def move_span(span: Span) -> Span:
        return Span(move(span.line), span.column, move(span.end_line), span.end_column)

    records = []
    for r in entry.result.records:
        moved = copy.copy(r)  # dataclasses.replace is several times slower, and there are many records
        moved.line, moved.def_line = move(r.line), move(r.def_line)
        if r.arg_spans:  # where torch verification's fixes write
            moved.arg_spans = {name: move_span(span) for name, span in r.arg_spans.items()}
        records.append(moved)
    instances = {path: replace(i, cls_line=move(i.cls_line) or 0) for path, i in entry.result.instances.items()}
    result = replace(entry.result, line=move(entry.result.line), end_line=move(entry.result.end_line),
                     records=records, instances=instances)
    findings = [replace(f, span=move_span(f.span),
                        fixes=[replace(fix, edits=[replace(e, span=move_span(e.span)) if e.path is None else e
                                                   for e in fix.edits])
                               for fix in f.fixes],
                        related=[replace(r, span=move_span(r.span)) if r.path is None else r for r in f.related])
                for f in entry.findings]
    return result, findings


__all__ = ["FileLayout", "ModelCache"]
