"""Checking a model's fixes by applying them and analysing the fixed text again.

A fix is judged by what the analysis says after it: an error's fixes are tried in order, and the one after
which the model has the fewest errors is offered first (the first offered, of equals; the checks stop at one
that leaves none).
That catches the fixes that only move the mistake along: ``in_channels`` changed on a conv whose two sizes
were swapped leaves the next layer with the wrong channels. Where no offered fix passes, the first fix is
followed by the fix of the error it leaves (a chain of up to :data:`MAX_CHAIN` steps), and guesses
(:attr:`Fix.tentative`, a swap) are kept only if they pass. Each check is one analysis of one model, so the
number of checks is bounded per model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .edits import apply_edits
from .findings import Edit, Finding, Fix, Span

MAX_CHECKS = 10
"""Analyses of the fixed text per model: a model with many errors gets its first ones checked."""
MAX_CHAIN = 3

Reanalyse = Callable[[str], "list[Finding] | None"]
"""The errors of the model in a fixed text; None where that analysis could not tell (the model is gone)."""


@dataclass
class FixChecker:
    text: str
    reanalyse: Reanalyse
    budget: int = MAX_CHECKS

    def errors_after(self, fix: Fix) -> list[Finding] | None:
        if self.budget <= 0 or not fix.edits:
            return None
        self.budget -= 1
        edited, applied = apply_edits(self.text, fix.edits)
        if applied != len(fix.edits):
            return None
        return self.reanalyse(edited)


def check_fixes(text: str, findings: list[Finding], reanalyse: Reanalyse) -> None:
    """Put first, on each error, the fix that leaves the fewest errors; drop guesses that are not that fix."""
    errors = [f for f in findings if f.severity == "error"]
    checker = FixChecker(text, reanalyse)
    for finding in errors:
        if finding.fixes:
            _check_one(checker, finding, [e for e in errors if e is not finding])
        finding.fixes = [f for f in finding.fixes if not f.tentative]


def _check_one(checker: FixChecker, finding: Finding, others: list[Finding]) -> None:
    """Offer first the fix that leaves the fewest errors in the model (the first one offered, of equals)."""
    first = finding.fixes[0]
    best: Fix | None = None
    fewest = 0
    first_left: list[Finding] = []
    for fix in list(finding.fixes):
        after = checker.errors_after(fix)
        if after is None:
            break  # out of checks, or the analysis of the fixed text could not tell
        if best is None or len(after) < fewest:
            best, fewest = fix, len(after)
        if fix is first:
            first_left = _new_errors(after, others, fix)
        if not after:
            break
    if best is None:
        return
    if fewest and first_left:
        chained = _chain(checker, first, first_left, others)
        if chained is not None and chained[1] < fewest:
            best = chained[0]
    _prefer(finding, best)


def _chain(checker: FixChecker, fix: Fix, left: list[Finding],
           others: list[Finding]) -> tuple[Fix, int] | None:
    """The first fix, then the first fix of the new error it leaves, and so on: ``in_channels`` of the next
    conv too, where the first fix changed how many channels this layer makes."""
    for _ in range(MAX_CHAIN):
        if not left or not left[0].fixes:
            return None
        step = left[0].fixes[0]
        if not _independent(fix, step):
            return None
        joined = Fix(f"{fix.title}, and on line {step.edits[0].span.line}: {step.title[0].lower()}{step.title[1:]}",
                     [*fix.edits, *step.edits])
        after = checker.errors_after(joined)
        if after is None:
            return None
        fix, left = joined, _new_errors(after, others, joined)
        if not left:
            return fix, len(after)
    return None


def _independent(done: Fix, step: Fix) -> bool:
    """The step's spans are in the fixed text: they mean the same in the original where the first fix kept
    every line and touched none of the step's."""
    touched = {line for e in done.edits for line in range(e.span.line, e.span.end_line + 1)}
    if any(_line_delta(e) for e in done.edits):
        return False
    return all(line not in touched for e in step.edits for line in range(e.span.line, e.span.end_line + 1))


def _new_errors(after: list[Finding], before: list[Finding], fix: Fix) -> list[Finding]:
    """The errors after ``fix`` that were not there before it (other mistakes of the model stay)."""
    known = {(f.code, _moved(f.span.line, fix.edits)) for f in before}
    return [f for f in after if (f.code, f.span.line) not in known]


def _moved(line: int, edits: list[Edit]) -> int:
    """Where ``line`` is after the edits (an inserted ``nn.Flatten()`` line moves the lines below it)."""
    return line + sum(_line_delta(e) for e in edits if e.span.end_line < line)


def _line_delta(edit: Edit) -> int:
    return edit.new_text.count("\n") - (edit.span.end_line - edit.span.line)


def _prefer(finding: Finding, fix: Fix) -> None:
    fix.tentative = False
    finding.fixes = [fix, *(f for f in finding.fixes if f is not fix)]
    lines = {e.span.line for e in fix.edits}
    if finding.span.line not in lines and len(lines) == 1:
        # only the layer that makes the size can be changed (a conv's out_channels): the mistake is there
        edit = fix.edits[0]
        finding.span = Span(edit.span.line, edit.span.column, edit.span.end_line, edit.span.end_column)


__all__ = ["MAX_CHAIN", "MAX_CHECKS", "check_fixes"]
