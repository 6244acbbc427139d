"""The table of shape rules: one entry per ``torch.nn`` layer, grouped by family.

Adding a layer means adding one :class:`LayerRule` to its family's module; the
table below, the engine and ``docs/layers.md`` all read from these tuples.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from types import MappingProxyType

from . import conv, elementwise, linear, norm, pool, recurrent, resize, unpool
from .base import (
    REPARAMETRISATIONS,
    UNKNOWN,
    Args,
    Call,
    CannotTell,
    Functional,
    LayerRule,
    Out,
    Shape,
    ShapeError,
    fmt_shape,
)

ALL_RULES: tuple[LayerRule, ...] = (conv.RULES + pool.RULES + norm.RULES + linear.RULES
                                    + elementwise.RULES + resize.RULES + recurrent.RULES + unpool.RULES)


@dataclass(frozen=True)
class RuleTable:
    """The rules the engine knows, by layer name and by ``torch.nn.functional`` name."""

    rules: tuple[LayerRule, ...]
    by_op: Mapping[str, LayerRule] = field(init=False, repr=False, compare=False)
    functional: Mapping[str, tuple[LayerRule, Functional]] = field(init=False, repr=False, compare=False)
    """``max_pool2d`` -> (the rule of ``MaxPool2d``, its functional form)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_op", MappingProxyType({rule.op: rule for rule in self.rules}))
        object.__setattr__(self, "functional", MappingProxyType(
            {form.name: (rule, form) for rule in self.rules for form in rule.functional}))

    def with_rules(self, *rules: LayerRule) -> RuleTable:
        """A copy of this table with more rules (a rule of a name already here replaces it)."""
        added = {rule.op for rule in rules}
        return RuleTable(tuple(r for r in self.rules if r.op not in added) + rules)


TABLE = RuleTable(ALL_RULES)
RULES = TABLE.by_op
FUNCTIONAL = TABLE.functional
_IN_USE: ContextVar[RuleTable] = ContextVar("cnnshape_rule_table", default=TABLE)


def rules_in_use() -> RuleTable:
    """The table analyses use: :data:`TABLE`, unless one is given by :func:`using`."""
    return _IN_USE.get()


@contextmanager
def using(table: RuleTable) -> Iterator[RuleTable]:
    """Analyses run inside the block (in this thread) use ``table``; the table in use before comes back after."""
    token = _IN_USE.set(table)
    try:
        yield table
    finally:
        _IN_USE.reset(token)

__all__ = ["ALL_RULES", "FUNCTIONAL", "REPARAMETRISATIONS", "RULES", "TABLE", "UNKNOWN", "Args", "Call",
           "CannotTell", "Functional", "LayerRule", "Out", "RuleTable", "Shape", "ShapeError", "fmt_shape",
           "rules_in_use", "using"]
