"""``cnnshape check --format sarif``: the findings as a SARIF 2.1.0 log (for code scanning in CI).

Regions are 1-based with an exclusive ``endColumn`` and columns counted in
Unicode code points, as the run's ``columnKind`` says.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import quote

from .. import __version__
from ..analysis.findings import Edit, Finding, Fix, Span
from .ipynb_lines import Positions

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

LEVELS = {"error": "error", "warning": "warning", "information": "note"}

RULES: dict[str, str] = {
    "linear-in-features": "A Linear layer's in_features does not match the size of its input",
    "conv-in-channels": "A convolution's in_channels does not match the channels of its input",
    "norm-num-features": "A normalisation layer's num_features does not match the channels of its input",
    "output-too-small": "The input is too small for a kernel or pooling window",
    "view-invalid": "A view or reshape cannot produce the shape asked for",
    "cat-mismatch": "Tensors are concatenated with sizes that differ outside the concatenated dimension",
    "add-mismatch": "Tensors are combined with shapes that do not broadcast",
    "rank-mismatch": "A layer gets a tensor with the wrong number of dimensions",
    "bad-argument": "A layer is built with an argument it cannot take",
    "stale-comment": "An # out: comment disagrees with the computed output shape",
    "input-unknown": "The model's input shape is not stated: it was inferred, or is unknown",
    "floor-division": "A size is rounded down: part of the input is dropped",
    "syntax-error": "The file does not parse: shapes are not shown for the code around it",
}


def artifact_uri(display: str) -> str:
    path = PurePath(display)
    if path.is_absolute():
        return Path(display).as_uri()
    return quote(path.as_posix().replace(os.sep, "/"))


def region(span: Span) -> dict[str, int]:
    return {"startLine": span.line, "startColumn": span.column + 1,
            "endLine": span.end_line, "endColumn": span.end_column + 1}


def location(uri: str, span: Span, positions: Positions) -> dict[str, Any]:
    """A physical location; a notebook's place not found in the file's text has no region."""
    found: dict[str, Any] = {"artifactLocation": {"uri": uri}}
    mapped = positions.span(span)
    if mapped is not None:
        found["region"] = region(mapped)
    return found


def replacement(edit: Edit, positions: Positions) -> dict[str, Any] | None:
    """The edit in the file; ``None`` where it cannot be placed there."""
    mapped, text = positions.span(edit.span), positions.inserted(edit)
    return None if mapped is None or text is None else {"deletedRegion": region(mapped),
                                                         "insertedContent": {"text": text}}


def fix_changes(fix: Fix, uri: str, positions: Positions) -> list[dict[str, Any]] | None:
    """The fix's ``artifactChanges``; ``None`` where an edit of the analyzed file cannot be placed in it."""
    changes = []
    for path in dict.fromkeys(e.path for e in fix.edits):
        own = Positions() if path is not None else positions  # another file is a Python file
        replacements = [replacement(e, own) for e in fix.edits if e.path == path]
        if None in replacements:
            return None
        changes.append({"artifactLocation": {"uri": uri if path is None else Path(path).as_uri()},
                        "replacements": replacements})
    return changes


def result_for(finding: Finding, uri: str, rule_index: int, positions: Positions = Positions()) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": finding.code,
        "ruleIndex": rule_index,
        "level": LEVELS.get(finding.severity, "note"),
        "message": {"text": positions.message(finding.span, finding.message)},
        "locations": [{"physicalLocation": location(uri, finding.span, positions)}],
    }
    if finding.model:
        result["properties"] = {"model": finding.model, "source": finding.source}
    if finding.related:
        result["relatedLocations"] = [
            {"id": i, "message": {"text": r.message},
             "physicalLocation": (location(uri, r.span, positions) if r.path is None
                                  else {"artifactLocation": {"uri": Path(r.path).as_uri()}, "region": region(r.span)})}
            for i, r in enumerate(finding.related)]
    fixes = [(fix, fix_changes(fix, uri, positions)) for fix in finding.fixes]
    if any(changes is not None for _, changes in fixes):
        result["fixes"] = [{"description": {"text": fix.title}, "artifactChanges": changes}
                           for fix, changes in fixes if changes is not None]
    return result


def sarif_report(outcomes: Iterable[Any]) -> dict[str, Any]:
    """The SARIF log of analyzed files (``Outcome`` objects with ``.display`` and ``.analysis``)."""
    outcomes = list(outcomes)
    codes = list(RULES)
    for outcome in outcomes:
        for f in outcome.analysis.findings:
            if f.code not in codes:
                codes.append(f.code)
    index = {code: i for i, code in enumerate(codes)}
    rules = [{"id": code, "name": code,
              "shortDescription": {"text": RULES.get(code, f"cnnshape finding {code}")}} for code in codes]
    results = []
    artifacts = []
    for outcome in outcomes:
        uri = artifact_uri(outcome.display)
        artifacts.append({"location": {"uri": uri}})
        positions = Positions(outcome.program, outcome.file_places)
        for f in outcome.analysis.diagnostics:
            results.append(result_for(f, uri, index[f.code], positions))
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "cnnshape", "version": __version__, "rules": rules}},
            "columnKind": "unicodeCodePoints",
            "artifacts": artifacts,
            "results": results,
        }],
    }


__all__ = ["sarif_report"]
