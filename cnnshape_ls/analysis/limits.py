"""The budgets the static analysis cannot exceed, in one place.

No input may make the analysis run long or take the memory. Each value the
interpreter builds is bounded here; past a budget the value is unknown (never a
wrong shape) and the analysis says so in an information finding (code
``analysis-budget``). docs/architecture.md states them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from string import Formatter

BUDGET_CODE = "analysis-budget"


@dataclass(frozen=True)
class Limits:
    steps_per_model: int = 300_000
    """Statements and expressions evaluated to build and run one model (copies of long lists count more)."""
    steps_per_module: int = 300_000
    """The same for a file's top level (and each workspace file it imports)."""
    steps_per_file: int = 1_000_000
    """All of one file's analysis together: its top level, every model, the analyses that check fixes
    (a 16,000-line file of real models takes about 180,000)."""
    call_depth: int = 48
    """Nested calls of the user's functions; a deeper call's result is unknown."""
    while_iterations: int = 10_000
    int_magnitude: int = 10 ** 15
    """Integers (and the coefficients of symbolic sizes) larger than this are unknown."""
    sequence_length: int = 100_000
    """Items of a list, tuple or range, characters of a string."""
    value_nodes: int = 10_000
    """Nested items visited to compare, hash or merge two containers (``t = (t, t)`` grows exponentially)."""
    expression_size: int = 256
    """Terms and atoms of a symbolic size (``(H - 3)//2 + 1`` has 6); ``m = m * m + m`` doubles it."""
    inheritance_depth: int = 64
    """Classes in the longest chain of bases of one class."""
    copy_cost_items: int = 32
    """A list copied costs one step per this many items, so loops over copies stay bounded."""
    library_file_bytes: int = 256_000
    """An installed package's file larger than this is not read (:mod:`libraries`): its names stay unknown."""
    library_statement_steps: int = 5_000
    """One top-level statement of an installed package's module; past it that statement's names are unknown."""
    library_files: int = 48
    """Installed packages' modules one analysis reads at most; the names of any further one stay unknown."""


LIMITS = Limits()


@dataclass
class StepPool:
    """The steps one file's analysis may still take, drawn on by each of its interpreters."""

    left: int = LIMITS.steps_per_file


FILE_STEPS: ContextVar[StepPool | None] = ContextVar("cnnshape_file_steps", default=None)
"""The pool of the analysis under way in this thread (context-local: threads and processes never share it)."""


@contextmanager
def file_budget() -> Iterator[StepPool]:
    """One pool for an analysis; the analyses it starts (fix checks) draw on the same one."""
    current = FILE_STEPS.get()
    if current is not None:
        yield current
        return
    pool = StepPool()
    token = FILE_STEPS.set(pool)
    try:
        yield pool
    finally:
        FILE_STEPS.reset(token)


PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
FORMAT_SLACK = 400
"""Characters a field may add beyond its width and argument (a float's digits with ``f``)."""


def text_fits(template: str, values: tuple | list, percent: bool = False) -> bool:
    """Whether ``template % values`` or ``template.format(*values)`` stays within the string budget, told
    before formatting (``'{:>3000000000}'.format(1)`` would take 3 GB): each field is at most its width or
    precision, or its longest argument, and a little more."""
    widths: list[int] = []
    if percent:
        for match in PERCENT_SPEC.finditer(template):
            if "*" in match.group(0):
                return False  # a width taken from the arguments
            widths.append(max((_width(g) for g in match.groups() if g), default=0))
    else:
        try:
            fields = [spec for _, name, spec, _ in Formatter().parse(template) if name is not None]
        except ValueError:
            return True  # str.format raises too: the result is unknown anyway
        for spec in fields:
            if spec and "{" in spec:
                return False  # a width taken from the arguments
            widths.append(max((_width(n) for n in re.findall(r"\d+", spec or "")), default=0))
    longest = max((len(v) if isinstance(v, str) else len(str(v)) for v in values), default=0)
    estimate = len(template) + sum(max(width, longest) + FORMAT_SLACK for width in widths)
    return estimate <= LIMITS.sequence_length


def _width(digits: str) -> int:
    """A width or precision as written; one too long to convert is past the budget anyway."""
    return int(digits) if len(digits) <= 9 else LIMITS.sequence_length + 1


class CannotTell(Exception):
    """A rule needs an argument or a dimension that is unknown: the output is unknown.

    Defined here, below :mod:`dims`, so that a size past its budget (:class:`TooLarge`) is one more
    thing a rule cannot tell (``layers.CannotTell`` is this class)."""


class TooLarge(CannotTell):
    """A value would exceed one of :data:`LIMITS`: the caller makes it unknown."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


__all__ = ["BUDGET_CODE", "FILE_STEPS", "LIMITS", "CannotTell", "Limits", "StepPool", "TooLarge", "file_budget",
           "text_fits"]
