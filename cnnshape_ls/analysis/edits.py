"""Applying the analysis's edits to a text.

An edit's span has 1-based lines and 0-based code-point columns, the end
exclusive, with lines counted as Python counts them. Edits are applied bottom-up; an edit (or a whole fix) that
overlaps one already taken is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .findings import Edit, Finding, Fix, Span

LINE = re.compile(r"([^\r\n]*)(\r\n|\r|\n|$)")


ODD_BREAKS = re.compile("[\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


def odd_line_breaks(text: str) -> bool:
    """Whether the text has characters :meth:`str.splitlines` breaks at but Python does not (a form feed, ...).

    The analysis numbers lines with ``splitlines`` in places, so its positions may be off by a line in such a
    file: edits there are not safe to apply.
    """
    return ODD_BREAKS.search(text) is not None


@dataclass(frozen=True)
class TextEdit:
    start: int
    end: int
    new_text: str


class LineIndex:
    """Offsets of line starts, and each line's length without its line break.

    Lines end at ``\\r\\n``, ``\\r`` or ``\\n``, as Python (and so the analysis's positions) and LSP count them.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts: list[int] = []
        self.lengths: list[int] = []
        for match in LINE.finditer(text):
            if match.start() == len(text) and self.starts:
                break  # the empty tail after a final line break
            self.starts.append(match.start())
            self.lengths.append(len(match.group(1)))
        self.size = len(text)

    def offset(self, line: int, column: int) -> int:
        """The offset of (1-based line, 0-based column); columns past the line's end clamp to it."""
        if line < 1:
            return 0
        if line > len(self.starts):
            return self.size
        return self.starts[line - 1] + max(0, min(column, self.lengths[line - 1]))

    def to_text_edit(self, edit: Edit) -> TextEdit:
        start = self.offset(edit.span.line, edit.span.column)
        end = self.offset(edit.span.end_line, edit.span.end_column)
        return TextEdit(start, max(start, end), edit.new_text)


def _overlaps(a: TextEdit, b: TextEdit) -> bool:
    if a.start < b.end and b.start < a.end:
        return True
    # two insertions at one place, or an insertion at the start of a replacement: the order would be a guess
    return a.start == b.start and (a.start == a.end or b.start == b.end)


def apply_text_edits(text: str, edits: Iterable[TextEdit]) -> str:
    """Apply non-overlapping edits (offsets into ``text``), bottom-up."""
    out = text
    for edit in sorted(edits, key=lambda e: (e.start, e.end), reverse=True):
        out = out[:edit.start] + edit.new_text + out[edit.end:]
    return out


def apply_edits(text: str, edits: Iterable[Edit]) -> tuple[str, int]:
    """Apply span edits, skipping any that overlaps one taken before it; the new text and how many were applied."""
    index = LineIndex(text)
    taken: list[TextEdit] = []
    for edit in edits:
        candidate = index.to_text_edit(edit)
        if not any(_overlaps(candidate, other) for other in taken):
            taken.append(candidate)
    return apply_text_edits(text, taken), len(taken)


def apply_fixes(text: str, fixes: Iterable[Fix]) -> tuple[str, int]:
    """Apply whole fixes in order; a fix any of whose edits overlaps an earlier one is skipped entirely."""
    index = LineIndex(text)
    taken: list[TextEdit] = []
    applied = 0
    for fix in fixes:
        mine = [index.to_text_edit(e) for e in fix.edits]
        if not mine:
            continue
        clash = any(_overlaps(a, b) for i, a in enumerate(mine) for b in mine[i + 1:])
        if clash or any(_overlaps(a, b) for a in mine for b in taken):
            continue
        taken.extend(mine)
        applied += 1
    return apply_text_edits(text, taken), applied


def fixes_to_apply(text: str, findings: Iterable[Finding]) -> list[Fix]:
    """What "fix all" applies, in the editor (``source.fixAll.cnnshape``) and with ``cnnshape check --fix``:
    the preferred fix of each error and warning (a stale ``# out:`` comment is one), in the order of the
    findings, without repeats; a fix that overlaps one taken before it is left out whole (a part of a fix
    would leave the file half changed). An error whose preferred fix edits another file (inside an imported
    block) is left alone: that file changes only through a quick fix the user picks, never silently."""
    index = LineIndex(text)
    taken: list[TextEdit] = []
    chosen: list[Fix] = []
    for finding in findings:
        fixes = finding.local_fixes
        if not fixes or finding.severity not in ("error", "warning"):
            continue
        fix = fixes[0]
        mine = [index.to_text_edit(e) for e in fix.edits]
        if not mine or any(_overlaps(a, b) for i, a in enumerate(mine) for b in mine[i + 1:]):
            continue
        if all(a in taken for a in mine):
            continue  # the same fix, offered on two findings
        if any(_overlaps(a, b) for a in mine for b in taken):
            continue
        taken.extend(mine)
        chosen.append(fix)
    return chosen


__all__ = ["Edit", "Fix", "LineIndex", "Span", "TextEdit", "apply_edits", "apply_fixes", "apply_text_edits",
           "fixes_to_apply", "odd_line_breaks"]
