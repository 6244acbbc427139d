"""Checking a model's fixes by applying them and analyzing the fixed text again.

A fix is judged by what the analysis says after it. Of all the fixes of a model's errors, the one after which
the model has the fewest errors goes first on its error (the first offered, of equals; the checks stop at
one that leaves none), and the errors it ends are dropped: one root cause, one error. That catches the fixes
that only move the mistake along: ``in_channels`` changed on a conv whose two sizes were swapped leaves the
next layer with the wrong channels. Where no offered fix leaves no error, the first fix is followed by the
fix of the error it leaves (a chain of up to :data:`MAX_CHAIN` steps), and guesses (:attr:`Fix.tentative`,
a swap) are kept only if chosen. Each check is one analysis of one model, on the part of the file it reads
(:mod:`focus`), and the number of checks is bounded per model.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from .edits import apply_edits
from .findings import Edit, Finding, Fix, Related, Span
from .fixes import SIZE_CODES
from .fixes_map import keep_shown

MAX_CHECKS = 10
"""Analyses of the fixed text per model: a model with many errors gets its first ones checked."""
MAX_CHAIN = 3

Reanalyze = Callable[[str], "list[Finding] | None"]
"""The errors of the model in a fixed text; None where that analysis could not tell (the model is gone)."""


@dataclass
class FixChecker:
    prepare: Callable[[], tuple[str, Collection[int]]]
    """The text to check fixes on and which of its lines are the file's (the rest is blank: edits there
    cannot be checked). Made on the first check: most models have no fix that needs one."""
    reanalyze: Reanalyze
    budget: int = MAX_CHECKS
    prepared: tuple[str, Collection[int]] | None = None

    def errors_after(self, fix: Fix) -> list[Finding] | None:
        if self.budget <= 0 or not fix.edits or fix.elsewhere:
            return None  # out of checks, nothing to apply, or it edits another file (not this text)
        if self.prepared is None:
            self.prepared = self.prepare()
        text, lines = self.prepared
        if not _lines(fix.edits) <= set(lines):
            return None
        self.budget -= 1
        edited, applied = apply_edits(text, fix.edits)
        if applied != len(fix.edits):
            return None
        return self.reanalyze(edited)


def check_fixes(prepare: Callable[[], tuple[str, Collection[int]]], findings: list[Finding],
                reanalyze: Reanalyze) -> None:
    """The fix that leaves the model the fewest errors, of all its errors' fixes, goes first on its error,
    and the errors it ends are dropped: they were that one mistake, met again further on. Each other error
    gets its own best fix first. Guesses that are not chosen are dropped."""
    errors = [f for f in findings if f.severity == "error"]
    checker = FixChecker(prepare, reanalyze)
    tried: dict[int, list[tuple[Fix, list[Finding]]]] = {}
    clean: set[int] = set()
    for finding in errors:
        if not finding.fixes:
            continue
        if _settled(finding, errors):  # its first fix stands; an alternative (a pool's stride) is still checked
            clean |= {id(fix) for fix in finding.fixes[1:] if fix.checked and checker.errors_after(fix) == []}
            continue
        tried[id(finding)] = outcomes = _try(checker, finding)
        if any(not after for _, after in outcomes):
            break  # a fix that leaves no error: the mistake is found
    ended: list[Finding] = []
    ranked = sorted(((len(after), i, finding, fix, after) for i, finding in enumerate(errors)
                     for fix, after in tried.get(id(finding), [])), key=lambda t: (t[0], t[1]))
    done: set[int] = set()
    for _, _, finding, fix, after in ranked:
        if id(finding) in done or any(e is finding for e in ended):
            continue
        others = [e for e in errors if e is not finding and not any(x is e for x in ended)]
        if fix is not finding.fixes[0] and _new_errors(after, others, fix):
            continue  # an alternative that makes an error of its own is not offered first
        guess = fix.tentative
        if after and fix is finding.fixes[0]:
            chained = _chain(checker, fix, _new_errors(after, others, fix), others)
            if chained is not None and len(chained[1]) < len(after):
                fix, after = chained
        if guess and _new_errors(after, others, fix):
            continue  # a guess is offered only where the check shows it ends the problem
        done.add(id(finding))
        _prefer(finding, fix)
        ended += _ended(after, others, fix)
    clean |= {id(fix) for outcomes in tried.values() for fix, after in outcomes if not after}
    for finding in errors:
        kept = [f for f in finding.fixes if not f.tentative and (not f.checked or id(f) in clean)]
        keep_shown(finding, kept, [f for f in finding.fixes if not any(f is k for k in kept)])
        finding.fixes = kept
    findings[:] = [f for f in findings if not any(f is e for e in ended)]


def _try(checker: FixChecker, finding: Finding) -> list[tuple[Fix, list[Finding]]]:
    """Each fix of ``finding`` with the errors the model has after it, in order, until one leaves none;
    after that, only the alternatives that are offered where they leave none (:attr:`Fix.checked`)."""
    outcomes: list[tuple[Fix, list[Finding]]] = []
    solved = False
    for fix in list(finding.fixes):
        if solved and not fix.checked:
            continue
        after = checker.errors_after(fix)
        if after is None:
            break  # out of checks, or the analysis of the fixed text could not tell
        outcomes.append((fix, after))
        solved = solved or not after
    return outcomes


def _key(finding: Finding, edits: list[Edit] | None = None) -> tuple:
    """What an error is, before and after a fix: its code and its layer (or its line, moved by the fix)."""
    if finding.layer_path:
        return finding.code, finding.layer_path
    return finding.code, _moved(finding.span.line, edits) if edits else finding.span.line


def _ended(after: list[Finding], others: list[Finding], fix: Fix) -> list[Finding]:
    """The other errors ``fix`` ends. Where that and what is left add up to more errors than there were,
    an error was not recognised after the fix (it moved): nothing is dropped."""
    left = {_key(f) for f in after}
    ended = [o for o in others if _key(o, fix.edits) not in left]
    return ended if len(after) + len(ended) <= len(others) else []


def _settled(finding: Finding, errors: list[Finding]) -> bool:
    """The model's only error, fixed where it is by changing the size the layer takes (``in_features``):
    what the layer makes does not depend on that size, and the analysis went on as if it were fixed, so
    the fixed text has no error. Nothing to check."""
    fix = finding.fixes[0]
    return len(errors) == 1 and finding.code in SIZE_CODES and len(fix.edits) == 1 \
        and fix.edits[0].path is None and fix.edits[0].span == finding.span


def _chain(checker: FixChecker, fix: Fix, left: list[Finding],
           others: list[Finding]) -> tuple[Fix, list[Finding]] | None:
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
            return fix, after
    return None


def _independent(done: Fix, step: Fix) -> bool:
    """The step's spans are in the fixed text: they mean the same in the original where the first fix kept
    every line and touched none of the step's."""
    if any(_line_delta(e) for e in done.edits):
        return False
    return not _lines(done.edits) & _lines(step.edits)


def _new_errors(after: list[Finding], before: list[Finding], fix: Fix) -> list[Finding]:
    """The errors after ``fix`` that were not there before it (other mistakes of the model stay)."""
    known = {_key(f, fix.edits) for f in before}
    return [f for f in after if _key(f) not in known]


def _lines(edits: list[Edit]) -> set[int]:
    return {line for e in edits for line in range(e.span.line, e.span.end_line + 1)}


def _moved(line: int, edits: list[Edit]) -> int:
    """Where ``line`` is after the edits (an inserted ``nn.Flatten()`` line moves the lines below it)."""
    return line + sum(_line_delta(e) for e in edits if e.span.end_line < line)


def _line_delta(edit: Edit) -> int:
    return edit.new_text.count("\n") - (edit.span.end_line - edit.span.line)


def _prefer(finding: Finding, fix: Fix) -> None:
    fix.tentative = False
    finding.fixes = [fix, *(f for f in finding.fixes if f is not fix)]
    lines = {e.span.line for e in fix.edits}
    if finding.span.line in lines or len(lines) != 1 or fix.elsewhere or fix.checked:
        return  # a checked alternative (an earlier pool's kernel) is one cause of several: it stays
    shown = [r for r in finding.related if r.path is None and r.span.line in lines]
    own = any(e.span.line == finding.span.line for f in finding.fixes if f is not fix and not f.tentative
              for e in f.edits)
    if shown and own:
        return  # a producer one off: the error stays where torch fails, the producer's line is related
    # only the layer that makes the size can be changed (a conv's out_channels): the mistake is there
    edit = fix.edits[0]
    where = finding.span
    finding.span = Span(edit.span.line, edit.span.column, edit.span.end_line, edit.span.end_column)
    finding.related = [Related(None, where, f"torch fails here: {finding.message}") if r in shown else r
                       for r in finding.related]


__all__ = ["MAX_CHAIN", "MAX_CHECKS", "check_fixes"]
