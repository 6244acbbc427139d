"""The analysis of one buffer, and its JSON form (one entry of the contract's ``"files"``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import dims
from .findings import Finding, LayerRecord, partial_json, shape_json, shape_text
from .layers import Shape

SEVERITY_ORDER = {"error": 0, "warning": 1, "information": 2}


@dataclass(frozen=True)
class BlockInstance:
    """One instance of a class of the user's inside a model: where the model holds it and what built it."""

    path: str
    cls: str
    cls_line: int
    """The line of its ``class`` statement (0 for another file's class)."""
    arguments: tuple[tuple[str, int], ...] = ()
    """Its constructor's integer arguments, in parameter order."""

    def argument(self, name: str) -> int | None:
        return dict(self.arguments).get(name)


@dataclass
class ModelResult:
    name: str
    line: int
    input: Shape | None
    input_source: str | None
    output: Shape | None
    params: dims.Dim | None
    records: list[LayerRecord]
    aliases: tuple[str, ...] = ()
    end_line: int = 0
    complete: bool = True
    """False when the analysis stopped early (budget, unsupported code): shapes after that are unknown."""
    verified: bool = False
    """Torch ran the model and agreed with every shape (set by verification)."""
    construct: str | None = None
    """How the file builds it when its constructor needs arguments (``resnet18()``)."""
    instances: dict[str, BlockInstance] = field(default_factory=dict)
    """The instances of the user's classes it holds, by module path (the model itself at ``""``)."""

    @property
    def layers(self) -> list[LayerRecord]:
        return [r for r in self.records if r.leaf]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "line": self.line,
            "input": shape_json(self.input),
            "input_source": self.input_source,
            "output": shape_json(self.output),
            **{f"output{k[3:]}": v for k, v in partial_json(self.output).items()},
            "params": dims.to_json(self.params),
            "layers": [
                {"path": r.path, "op": r.op, "line": r.line, "def_line": r.def_line,
                 "in": shape_json(r.input), "out": shape_json(r.output), **partial_json(r.output),
                 "params": dims.to_json(r.params)}
                for r in self.layers
            ],
        }


def block_ids(models: list[ModelResult]) -> set[int]:
    """The models another model of the file builds (by ``id``): blocks, shown through their instances (the
    lines that model runs), not as models of their own (no input-shape or constructor notes, no lens).
    One pass over every model's instances: asked per model, the question was quadratic in a long file."""
    builders: dict[tuple[str, int | None], set[int]] = {}
    for other in models:
        for path, instance in other.instances.items():
            if path:
                builders.setdefault((instance.cls, instance.cls_line), set()).add(id(other))
    return {id(m) for m in models if builders.get((m.name, m.line), set()) - {id(m)}}


def is_block(model: ModelResult, models: list[ModelResult]) -> bool:
    return id(model) in block_ids(models)


def shown_models(models: list[ModelResult]) -> list[ModelResult]:
    """The models that speak for themselves: all but the blocks another model builds."""
    blocks = block_ids(models)
    return [m for m in models if id(m) not in blocks]


@dataclass
class Analysis:
    path: str | None
    models: list[ModelResult] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    batch_name: str = "BS"

    @property
    def diagnostics(self) -> list[Finding]:
        return sorted(self.findings, key=lambda f: (f.span.line, f.span.column, SEVERITY_ORDER.get(f.severity, 3)))

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def model(self, name: str) -> ModelResult | None:
        for m in self.models:
            if m.name == name or name in m.aliases:
                return m
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "models": [m.to_json() for m in self.models],
            "diagnostics": [finding_json(f, self.path) for f in self.diagnostics],
        }


def finding_json(f: Finding, path: str | None = None) -> dict[str, Any]:
    """One diagnostic. ``fixes`` holds only edits of this file (applying ``fixes[0]`` fixes the file; it is
    empty where the preferred fix is in another file). An error inside an imported block adds ``related``
    (where in the other file) and ``workspace_fixes`` (every fix in order, each edit with its ``path``;
    ``path``: this file's path, for its own edits). A place of this file that bears on the error (the Linear a
    wrong view agrees with) is in ``related`` too, with this file's ``path``."""
    entry: dict[str, Any] = {
        "line": f.span.line, "column": f.span.column + 1,
        "end_line": f.span.end_line, "end_column": f.span.end_column + 1,
        "severity": f.severity, "code": f.code, "source": f.source, "message": f.message,
        "fixes": [{"title": fix.title, "edits": [_edit_json(e) for e in fix.edits]} for fix in f.local_fixes],
    }
    if f.related:
        entry["related"] = [{"path": r.path or path, **_span_json(r.span), "message": r.message} for r in f.related]
    if any(fix.elsewhere for fix in f.fixes):
        entry["workspace_fixes"] = [
            {"title": fix.title, "edits": [{"path": e.path or path, **_edit_json(e)} for e in fix.edits]}
            for fix in f.fixes]
    return entry


def _span_json(span: Any) -> dict[str, int]:
    return {"line": span.line, "column": span.column + 1, "end_line": span.end_line, "end_column": span.end_column + 1}


def _edit_json(e: Any) -> dict[str, Any]:
    return {**_span_json(e.span), "new_text": e.new_text}


__all__ = ["Analysis", "BlockInstance", "ModelResult", "block_ids", "is_block", "shown_models", "finding_json",
           "shape_text"]
