"""Tensor methods that change a tensor's own shape in place (``x.unsqueeze_(1)``, ``x.squeeze_()``).

torch returns the tensor itself, with its new shape: the receiver changes for every name that holds it, so
the abstract tensor is changed where it is, never copied (``fea = conv(x).unsqueeze_(dim=1)``, SKNet). The
other methods ending in ``_`` keep the shape (``relu_``, ``mul_``) and are the generic same-shape rule's.
"""

from __future__ import annotations

import ast
from typing import Any

from ..dims import Expr
from ..values import Tensor
from .context import Context
from .tensors import TENSOR_METHODS, reorder

RESHAPING_IN_PLACE = ("unsqueeze_", "squeeze_", "transpose_", "t_", "swapaxes_", "swapdims_")
"""In-place twins of :func:`reorder`'s methods: the same shape as the copying form."""

UNFOLLOWED_IN_PLACE = ("resize_", "resize_as_", "as_strided_", "set_")
"""In-place methods that give the tensor a shape of their own, not followed: the tensor becomes unknown."""


@TENSOR_METHODS.register(*RESHAPING_IN_PLACE)
def reshape_in_place(cx: Context, x: Tensor, name: str, args: list[Any], kwargs: dict[str, Any],
                     node: ast.Call | None) -> Any:
    copy = reorder(cx, x, name[:-1], args, kwargs, node)  # records the line with the new shape
    become(x, copy.shape if isinstance(copy, Tensor) else None, copy.taint if isinstance(copy, Tensor) else None)
    return x


@TENSOR_METHODS.register(*UNFOLLOWED_IN_PLACE)
def unfollowed_in_place(cx: Context, x: Tensor, name: str, args: list[Any], kwargs: dict[str, Any],
                        node: ast.Call | None) -> Any:
    shape = _resized(args, kwargs) if name == "resize_" else None
    become(x, shape, x.taint)
    return cx.rec.record_op(node, [], x)


def become(x: Tensor, shape: Any, taint: Any) -> None:
    """``x`` is now a tensor of ``shape``: what was known of its old shape no longer holds."""
    x.shape = shape
    x.taint = taint
    x.flat_from = x.channels_from = x.swallowed = x.producer = x.values = None
    x.joined = ()
    x.is_input = False


def _resized(args: list[Any], kwargs: dict[str, Any]) -> tuple | None:
    """``x.resize_(2, 3)`` / ``x.resize_((2, 3))``: the sizes given, when every one is a size."""
    sizes = list(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else list(args)
    if not args and isinstance(kwargs.get("size"), (tuple, list)):
        sizes = list(kwargs["size"])
    if not sizes or not all(isinstance(s, (int, Expr)) and not isinstance(s, bool) for s in sizes):
        return None
    if any(isinstance(s, int) and s < 0 for s in sizes):
        return None
    return tuple(sizes)
