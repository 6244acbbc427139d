"""The table of shape rules: one entry per ``torch.nn`` layer, grouped by family.

Adding a layer means adding one :class:`LayerRule` to its family's module; the
table below, the engine and ``docs/layers.md`` all read from these tuples.
"""

from __future__ import annotations

from types import MappingProxyType

from . import conv, elementwise, linear, norm, pool, recurrent, resize, unpool
from .base import UNKNOWN, Args, Call, CannotTell, LayerRule, Out, Shape, ShapeError, fmt_shape

ALL_RULES: tuple[LayerRule, ...] = (conv.RULES + pool.RULES + norm.RULES + linear.RULES
                                    + elementwise.RULES + resize.RULES + recurrent.RULES + unpool.RULES)
RULES = MappingProxyType({rule.op: rule for rule in ALL_RULES})

__all__ = ["ALL_RULES", "RULES", "UNKNOWN", "Args", "Call", "CannotTell", "LayerRule", "Out", "Shape",
           "ShapeError", "fmt_shape"]
