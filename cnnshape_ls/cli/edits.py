"""Which of the analysis's fixes ``cnnshape check --fix`` applies; the text edits themselves are the
analysis's (:mod:`cnnshape_ls.analysis.edits`), which also checks fixes by applying them."""

from __future__ import annotations

from ..analysis.edits import (
    Edit,
    Fix,
    LineIndex,
    Span,
    TextEdit,
    apply_edits,
    apply_fixes,
    apply_text_edits,
    odd_line_breaks,
)
from ..analysis.result import Analysis


def fixes_to_apply(analysis: Analysis) -> list[Fix]:
    """The preferred fix of each error, and the fix of each stale ``# out:`` comment, without repeats."""
    chosen: list[Fix] = []
    seen: set[tuple] = set()
    for finding in analysis.diagnostics:
        if not finding.fixes or not (finding.severity == "error" or finding.code == "stale-comment"):
            continue
        fix = finding.fixes[0]
        key = tuple((e.span, e.new_text) for e in fix.edits)
        if key in seen:
            continue
        seen.add(key)
        chosen.append(fix)
    return chosen


__all__ = ["Edit", "Fix", "LineIndex", "Span", "TextEdit", "apply_edits", "apply_fixes", "apply_text_edits",
           "fixes_to_apply", "odd_line_breaks"]
