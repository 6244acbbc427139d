"""What one run of a model's ``forward`` records: layer applications, problems, constraints."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from . import dims
from .findings import Edit, Finding, Fix, LayerRecord, Span
from .layers import ShapeError
from .source import SourceFile
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
    """A layer was applied to a tensor (``first_layer`` is None when that was not the input itself)."""

    # --------------------------------------------------------------- positions
    def span(self, node: ast.AST) -> Span:
        spans = self.source.spans
        found = spans.get(node)
        if found is None:  # a layer's call is recorded in every run and every pass of a loop: found once
            line = getattr(node, "lineno", 1)
            end_line = getattr(node, "end_lineno", line) or line
            found = spans[node] = Span(line, self.source.column(line, getattr(node, "col_offset", 0)),
                                       end_line, self.source.column(end_line, getattr(node, "end_col_offset", 0) or 0))
        return found

    def text(self, node: ast.AST) -> str:
        return self.source.segment(node)

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

    def report(self, error: ShapeError, where: ast.AST, severity: str = "error") -> Finding:
        finding = Finding(self.span(where), severity, error.code, error.message)
        if getattr(where, "_cnnshape_foreign", False):
            return finding  # another file's problem: reported when that file is analysed
        return self.add(finding)

    def note(self, layer_node: ast.AST, text: str) -> None:
        if getattr(layer_node, "_cnnshape_foreign", False):
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
        return Edit(self.span(node), text)

    def insert_before(self, node: ast.AST, text: str) -> Edit:
        s = self.span(node)
        return Edit(Span(s.line, s.column, s.line, s.column), text)

    def fix(self, title: str, *edits: Edit) -> Fix:
        return Fix(title, list(edits))
