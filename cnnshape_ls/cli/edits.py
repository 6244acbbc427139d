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
    """The preferred fix of each error, and the fix of each stale ``# out:`` comment, without repeats.

    An error whose preferred fix edits another file (inside an imported block) is left alone: that file
    changes only through an action the user picks (the editor's quick fix), never silently."""
    chosen: list[Fix] = []
    seen: set[tuple] = set()
    for finding in analysis.diagnostics:
        fixes = finding.local_fixes
        if not fixes or not (finding.severity == "error" or finding.code == "stale-comment"):
            continue
        fix = fixes[0]
        key = tuple((e.span, e.new_text) for e in fix.edits)
        if key in seen:
            continue
        seen.add(key)
        chosen.append(fix)
    return chosen


__all__ = ["Edit", "Fix", "LineIndex", "Span", "TextEdit", "apply_edits", "apply_fixes", "apply_text_edits",
           "fixes_to_apply", "odd_line_breaks"]
