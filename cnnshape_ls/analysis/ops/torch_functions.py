"""``torch.*`` functions, by name: joining tensors, making them, and the forms of tensor methods."""

from __future__ import annotations

import ast
from typing import Any

from .. import tensor_ops
from ..values import Tensor
from .context import Context, Registry
from .creation import create
from .einsum import einsum_shape
from .names import CREATORS
from .record import attempt, unknown_result
from .tensors import tensor_binary, tensor_method

TORCH_FUNCTIONS = Registry("torch.*")


def torch_function(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    handler = TORCH_FUNCTIONS.get(name)
    if handler is not None:
        return handler(cx, name, args, kwargs, node)
    if args and isinstance(args[0], Tensor):  # torch.flatten(x, 1) is x.flatten(1)
        return tensor_method(cx, args[0], name, list(args[1:]), kwargs, node)
    return unknown_result(args)


@TORCH_FUNCTIONS.register("cat", "concat", "concatenate", "stack", "hstack", "vstack")
def join(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    items = cx.iterate(args[0]) if args else cx.iterate(kwargs.get("tensors"))
    dim = args[1] if len(args) > 1 else kwargs.get("dim", kwargs.get("axis", 0))
    if items is None or not all(isinstance(t, Tensor) for t in items):
        return cx.rec.record_op(node, [], Tensor(None))
    taint = next((t.taint for t in items if t.taint), None)
    if any(t.shape is None for t in items):
        return cx.rec.record_op(node, items, Tensor(None, taint=taint))
    shapes = [t.shape for t in items]
    if name == "stack":
        shape, error = attempt(lambda: tensor_ops.stack(shapes, dim))
    elif name in ("hstack", "vstack"):
        shape, error = None, None
    else:
        shape, error = attempt(lambda: tensor_ops.cat(shapes, dim))
    if error is not None and node is not None and taint is None:
        taint = cx.trace.report(error, node)
    result = Tensor(shape, taint=taint)
    if shape is not None and name != "stack" and len(shape) > 1 and dim in (1, 1 - len(shape)):
        result.joined = tuple((t.producer, t.shape[1]) for t in items)
    return cx.rec.record_op(node, items, result)


@TORCH_FUNCTIONS.register(*sorted(CREATORS))
def _create(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    return create(cx, name, args, kwargs, node)


@TORCH_FUNCTIONS.register("add", "sub", "mul", "div", "maximum", "minimum", "where", "matmul", "mm", "bmm")
def binary(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    if name in ("matmul", "mm", "bmm") and len(args) >= 2:
        return tensor_binary(cx, ast.MatMult(), args[0], args[1], node)
    if name == "where" and len(args) == 3:
        return tensor_binary(cx, ast.Add(), args[1], args[2], node)
    if len(args) >= 2:
        return tensor_binary(cx, ast.Add(), args[0], args[1], node)
    return unknown_result([a for a in args if isinstance(a, Tensor)])


@TORCH_FUNCTIONS.register("einsum")
def einsum(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    """``torch.einsum('abc,ab->abc', x, se)`` or with the operands in one list: the equation's shape."""
    equation = args[0] if args else kwargs.get("equation")
    operands = list(args[1:])
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = list(operands[0])  # the list form, torch.einsum(eq, [a, b])
    if not isinstance(equation, str) or not operands or not all(isinstance(t, Tensor) for t in operands):
        return cx.rec.record_op(node, [t for t in operands if isinstance(t, Tensor)], unknown_result(operands))
    taint = next((t.taint for t in operands if t.taint), None)
    if any(t.shape is None for t in operands):
        return cx.rec.record_op(node, operands, Tensor(None, taint=taint))
    shape, error = attempt(lambda: einsum_shape(equation, [t.shape for t in operands]))
    if error is not None and node is not None and taint is None:
        taint = cx.trace.report(error, node)
    return cx.rec.record_op(node, operands, Tensor(shape, taint=taint))
