"""What one run of a model's ``forward`` records: layer applications, problems, constraints."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import PurePath

from . import dims
from .findings import Edit, Finding, Fix, LayerRecord, Related, Span
from .layers import ShapeError
from .source import ForeignFile, SourceFile, foreign_file
from .values import Layer


@dataclass
class Constraint:
    """A size the model pins down (``Linear(5408, ...)`` after a flatten), for solving the input."""

    size: dims.Dim
    value: int
    where: str
    factors: tuple = ()
    """The sizes ``size`` is the product of (a flatten's): each is at least 1 for an input that fits."""


@dataclass
class Trace:
    source: SourceFile
    records: list[LayerRecord] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    constraints: list[Constraint] = field(default_factory=list)
    notes: dict[int, str] = field(default_factory=dict)
    """Information per layer definition (pixels dropped by a floor division), keyed by line."""
    recording: bool = False
    first_layer: Layer | None = None
    """The first layer ``forward`` applies to its input: its rank and channels imply the input's."""
    first_applied: bool = False
    windows: list = field(default_factory=list)
    """The convs and pools applied, in order (``fixes_size.Window``): the fixes of a map shrunk too far."""
    """A layer was applied to a tensor (``first_layer`` is None when that was not the input itself)."""
    anchor: Span | None = None
    """While another file's code runs (an imported block's ``forward`` or ``__init__``): the call of this
    file that runs it. Problems found in that code are reported there (see :meth:`report`)."""
    failed_elsewhere: int = 0
    """How many errors another file's code has met (each pass counts): a block that met one cannot run."""

    # --------------------------------------------------------------- positions
    def elsewhere(self, node: ast.AST | None) -> ForeignFile | None:
        """The other file ``node`` is in (an imported block's), or None for this trace's own file."""
        origin = foreign_file(node)
        return origin if origin is not None and origin.source is not self.source else None

    def shown(self, path: str) -> str:
        """How messages and fix titles name another file: as seen from this file's folder where known."""
        for finding in self.findings:
            for related in finding.related:
                if related.path == path:
                    return related.shown
        return PurePath(path).name

    def span(self, node: ast.AST) -> Span:
        """Where ``node`` is, in the lines of the file it is in (an imported block's node: that file's)."""
        found = self.source.spans.get(node)
        if found is not None:  # the common case: a node of this file, seen before (never another file's)
            return found
        origin = self.elsewhere(node)
        source = origin.source if origin is not None else self.source
        spans = source.spans
        found = spans.get(node)
        if found is None:  # a layer's call is recorded in every run and every pass of a loop: found once
            line = getattr(node, "lineno", 1)
            end_line = getattr(node, "end_lineno", line) or line
            found = spans[node] = Span(line, source.column(line, getattr(node, "col_offset", 0)),
                                       end_line, source.column(end_line, getattr(node, "end_col_offset", 0) or 0))
        return found

    def text(self, node: ast.AST) -> str:
        origin = self.elsewhere(node)
        return (origin.source if origin is not None else self.source).segment(node)

    def line_span(self, line: int) -> Span:
        """A line of this file, from its first character to its last (a call this file makes on it)."""
        text = self.source.line_text(line)
        start = len(text) - len(text.lstrip())
        end = len(text.rstrip())
        return Span(line, start, line, max(start, end))

    # --------------------------------------------------------------- findings
    def add(self, finding: Finding) -> Finding:
        for existing in self.findings:
            if existing.span == finding.span and existing.code == finding.code:
                return existing
        self.findings.append(finding)
        return finding

    def move(self, finding: Finding, span: Span) -> Finding:
        """Put ``finding`` at ``span`` (where the mistake is); one of its code already there is kept instead."""
        self.findings[:] = [f for f in self.findings if f is not finding]
        finding.span = span
        return self.add(finding)

    def report(self, error: ShapeError, where: ast.AST, severity: str = "error",
               anchor: Span | None = None) -> Finding:
        """A problem at ``where``. In another file's code (an imported block), it is reported on the call
        of this file that builds or applies that code (``anchor``, else :attr:`anchor`), with the place in
        the other file as related information; with no such call it belongs to that file alone."""
        origin = self.elsewhere(where)
        if origin is None:
            return self.add(Finding(self.span(where), severity, error.code, error.message))
        there = self.span(where)
        name = origin.shown or PurePath(origin.path).name
        finding = Finding(anchor or self.anchor or there, severity, error.code,
                          f"In {name}, line {there.line}: {error.message}",
                          related=[Related(origin.path, there, error.message, name)])
        if anchor is None and self.anchor is None:
            return finding  # no call of this file runs it: that file's problem, reported when it is analyzed
        if severity == "error":
            self.failed_elsewhere += 1
        return self.add(finding)

    def note(self, layer_node: ast.AST, text: str) -> None:
        if self.elsewhere(layer_node) is not None:
            return
        line = getattr(layer_node, "lineno", 0)
        if line and line not in self.notes:
            self.notes[line] = text
            self.add(Finding(self.span(layer_node), "information", "floor-division", text))

    @staticmethod
    def argument_node(layer: Layer, name: str) -> ast.expr | None:
        """The node of a constructor argument as the user wrote it (positional or keyword)."""
        call = layer.node
        if not isinstance(call, ast.Call):
            return None
        for kw in call.keywords:
            if kw.arg == name:
                return kw.value
        if name in layer.rule.signature:
            index = layer.rule.signature.index(name)
            positional = [a for a in call.args if not isinstance(a, ast.Starred)]
            if len(positional) == len(call.args) and index < len(positional):
                return positional[index]
        return None

    def replace(self, node: ast.AST, text: str) -> Edit:
        origin = self.elsewhere(node)
        return Edit(self.span(node), text, origin.path if origin is not None else None)

    def insert_before(self, node: ast.AST, text: str) -> Edit:
        s = self.span(node)
        origin = self.elsewhere(node)
        return Edit(Span(s.line, s.column, s.line, s.column), text, origin.path if origin is not None else None)

    def fix(self, title: str, *edits: Edit) -> Fix:
        return Fix(title, list(edits))
