"""Tensor methods (``x.view``, ``x.mean(1)``, ...), operators between tensors and indexing, by name."""

from __future__ import annotations

import ast
from typing import Any

from .. import dims, tensor_ops
from ..fixes import ViewFix, branch_fix
from ..fixes_branches import assignment_typo_fix, feature_fixes, residual_fixes
from ..layers import UNKNOWN, CannotTell, ShapeError
from ..values import Tensor
from .context import Context, Registry
from .creation import as_tensor, create
from .names import REDUCTIONS, REDUCTIONS_WITH_INDICES, SAME_SHAPE
from .record import attempt

TENSOR_METHODS = Registry("tensor methods")


def tensor_method(cx: Context, x: Tensor, name: str, args: list[Any], kwargs: dict[str, Any],
                  node: ast.Call | None) -> Any:
    handler = TENSOR_METHODS.get(name)
    if handler is None:
        return same_shape_or_unknown(cx, x, name, args, kwargs, node)
    return handler(cx, x, name, args, kwargs, node)


def same_shape_or_unknown(cx: Context, x: Tensor, name: str, args: list[Any], kwargs: dict[str, Any],
                          node: ast.Call | None) -> Any:
    """An elementwise method keeps the shape; any other the analysis does not know gives an unknown one."""
    if name.endswith("_"):  # in place: torch returns the tensor itself (``y = x.relu_()`` is x)
        return cx.rec.record_op(node, [x], x)
    if name in ("softmax", "log_softmax") or name in SAME_SHAPE:
        return cx.rec.record_op(node, [x], x.derive(x.shape, keep_flat=True))
    return cx.rec.record_op(node, [x], Tensor(None, taint=x.taint))


@TENSOR_METHODS.register("size", "dim", "numel", "nelement", "ndimension")
def size(cx: Context, x: Tensor, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    shape = x.shape
    if shape is None:
        return UNKNOWN
    if name == "size":
        if args or "dim" in kwargs:
            d = args[0] if args else kwargs["dim"]
            if not isinstance(d, int):
                return UNKNOWN
            try:
                value = shape[d]
            except IndexError:
                return UNKNOWN
            return UNKNOWN if value is None else value
        return tuple(d if d is not None else UNKNOWN for d in shape)
    if name in ("dim", "ndimension"):
        return len(shape)
    total = tensor_ops.numel(shape)
    return UNKNOWN if total is None else total


@TENSOR_METHODS.register("view", "reshape")
def reshape(cx: Context, x: Tensor, name: str, args: list[Any], kwargs: dict[str, Any],
            node: ast.Call | None) -> Any:
    sizes = list(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else list(args)
    if "shape" in kwargs and isinstance(kwargs["shape"], (tuple, list)):
        sizes = list(kwargs["shape"])
    if x.shape is None and x.taint is None and sizes and all(
            isinstance(v, (int, dims.Expr)) and not isinstance(v, bool) and v != -1 for v in sizes) \
            and all(not isinstance(v, int) or v >= 0 for v in sizes):
        # every size written out: whatever came in, what comes out (if torch runs it) is that
        return cx.rec.record_op(node, [x], Tensor(tuple(sizes)))
    return view(cx, x, sizes, node)


@TENSOR_METHODS.register("view_as", "reshape_as", "expand_as", "type_as")
def view_as(cx: Context, x: Tensor, name: str, args: list[Any], kwargs: dict[str, Any],
            node: ast.Call | None) -> Any:
    if not (args and isinstance(args[0], Tensor)):
        return same_shape_or_unknown(cx, x, name, args, kwargs, node)
    if name == "type_as":
        return cx.rec.record_op(node, [x], x.derive(x.shape, keep_flat=True))
    return cx.rec.record_op(node, [x], x.derive(args[0].shape))


@TENSOR_METHODS.register("flatten")
def _flatten(cx: Context, x: Tensor, name: str, args: list[Any], kwargs: dict[str, Any],
             node: ast.Call | None) -> Any:
    start = args[0] if args else kwargs.get("start_dim", 0)
    end = args[1] if len(args) > 1 else kwargs.get("end_dim", -1)
    return flatten(cx, x, start, end, node)


@TENSOR_METHODS.register("permute", "transpose", "swapaxes", "swapdims", "t", "squeeze", "unsqueeze")
def reorder(cx: Context, x: Tensor, name: str, args: list[Any], kwargs: dict[str, Any],
            node: ast.Call | None) -> Any:
    """The methods that move, drop or add dimensions."""
    if name == "permute":
        order = list(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else list(args)
        return cx.rec.op(node, x, lambda s: tensor_ops.permute(s, order))
    if name in ("transpose", "swapaxes", "swapdims"):
        a = args[0] if args else kwargs.get("dim0")
        b = args[1] if len(args) > 1 else kwargs.get("dim1")
        return cx.rec.op(node, x, lambda s: tensor_ops.transpose(s, a, b))
    if name == "t":
        return cx.rec.op(node, x, transpose_2d)
    dim = args[0] if args else kwargs.get("dim")
    if name == "squeeze":
        return cx.rec.op(node, x, lambda s: tensor_ops.squeeze(s, dim), keep_flat=True)
    return cx.rec.op(node, x, lambda s: tensor_ops.unsqueeze(s, dim))


def transpose_2d(shape: tuple) -> tuple:
    """``x.t()``: a matrix transposed, a vector or a number as it is; torch refuses more dims."""
    if len(shape) > 2:
        raise ShapeError("rank-mismatch", f"t() expects a tensor with <= 2 dimensions, but self is {len(shape)}D")
    return tuple(reversed(shape))


@TENSOR_METHODS.register(*sorted(REDUCTIONS), *sorted(REDUCTIONS_WITH_INDICES))
def reduce(cx: Context, x: Tensor, name: str, args: list[Any], kwargs: dict[str, Any],
           node: ast.Call | None) -> Any:
    dim = args[0] if args else kwargs.get("dim", kwargs.get("axis"))
    keepdim = args[1] if len(args) > 1 else kwargs.get("keepdim", False)
    if name in ("norm", "std", "var") and args and not isinstance(args[0], int):
        dim = kwargs.get("dim")
    if name in REDUCTIONS_WITH_INDICES and isinstance(dim, Tensor):
        return tensor_binary(cx, ast.Add(), x, dim, node)
    result = cx.rec.op(node, x, lambda s: tensor_ops.reduce(s, dim, keepdim))
    if name in REDUCTIONS_WITH_INDICES and dim is not None:
        return (result, result.derive(result.shape))
    return result


@TENSOR_METHODS.register("topk", "sort")
def top(cx: Context, x: Tensor, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    result = cx.rec.op(node, x, lambda s: _top(s, name, args, kwargs))
    return (result, result.derive(result.shape))


@TENSOR_METHODS.register("expand", "repeat")
def expand(cx: Context, x: Tensor, name: str, args: list[Any], kwargs: dict[str, Any],
           node: ast.Call | None) -> Any:
    given = kwargs.get("repeats" if name == "repeat" else "size")
    if not args and isinstance(given, (tuple, list)):
        args = [given]  # x.repeat(repeats=(B, 1, 1)), x.expand(size=(B, -1, -1))
    sizes = list(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else list(args)
    if name == "expand":
        return cx.rec.op(node, x, lambda s: _expand(s, sizes))
    return cx.rec.op(node, x, lambda s: _repeat(s, sizes))


@TENSOR_METHODS.register("split", "chunk")
def split(cx: Context, x: Tensor, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    size_given = args[0] if args else kwargs.get("split_size_or_sections", kwargs.get("chunks"))
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    if x.shape is None:
        return UNKNOWN
    cut = tensor_ops.split if name == "split" else tensor_ops.chunk
    parts, _ = attempt(lambda: cut(x.shape, size_given, dim))
    return UNKNOWN if parts is None else tuple(Tensor(p) for p in parts)


@TENSOR_METHODS.register("unbind")
def unbind(cx: Context, x: Tensor, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    """``q, k, v = qkv.unbind(0)``: a tuple of as many tensors as the dim is long (known), else unknown."""
    dim = args[0] if args else kwargs.get("dim", 0)
    if x.shape is None:
        return UNKNOWN
    parts, _ = attempt(lambda: tensor_ops.unbind(x.shape, dim))
    return UNKNOWN if parts is None else tuple(Tensor(p, taint=x.taint) for p in parts)


@TENSOR_METHODS.register("matmul", "mm", "bmm", "add", "sub", "mul", "div", "add_", "sub_", "mul_", "div_")
def arithmetic(cx: Context, x: Tensor, name: str, args: list[Any], kwargs: dict[str, Any],
               node: ast.Call | None) -> Any:
    if not args:
        return same_shape_or_unknown(cx, x, name, args, kwargs, node)
    if name in ("matmul", "mm", "bmm"):
        return tensor_binary(cx, ast.MatMult(), x, args[0], node)
    if isinstance(args[0], Tensor):
        result = tensor_binary(cx, ast.Add(), x, args[0], node)
        in_place = name.endswith("_") and isinstance(result, Tensor) and result.shape == x.shape is not None
        return x if in_place else result  # x.add_(y) is x itself
    if name.endswith("_"):
        return cx.rec.record_op(node, [x], x)
    return cx.rec.record_op(node, [x], x.derive(x.shape, keep_flat=True))


@TENSOR_METHODS.register("item", "tolist")
def values(cx: Context, x: Tensor, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    """The numbers of a small tensor whose elements are known (``Tensor.values``)."""
    if name == "item" and x.values is not None and len(x.values) == 1:
        return x.values[0]
    if name == "tolist" and x.values is not None and x.shape is not None and len(x.shape) == 1:
        return list(x.values)
    return UNKNOWN


@TENSOR_METHODS.register("new_zeros", "new_ones", "new_empty", "new", "new_full")
def new(cx: Context, x: Tensor, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    if name != "new_full":
        return create(cx, "zeros", args, kwargs, node)
    if args:
        return create(cx, "zeros", args[:1], {}, node)
    return same_shape_or_unknown(cx, x, name, args, kwargs, node)


# ---------------------------------------------------------------------- reshaping and what it remembers
def view(cx: Context, x: Tensor, sizes: list[Any], node: ast.Call | None) -> Any:
    make_fix = ViewFix(cx.trace, node, sizes)
    error_at = make_fix.target_node()
    constrain_view(cx, x, sizes, node)
    result = cx.rec.op(node, x, lambda s: tensor_ops.view(s, sizes, cx.rec.batch_symbol),
                       error_at=error_at, make_fix=make_fix)
    if isinstance(result, Tensor) and result.shape is not None and x.shape is not None and len(result.shape) >= 1:
        tail = result.shape[-1]
        if len(result.shape) < len(x.shape) and tail is not None and isinstance(tail, int):
            merged = trailing_factors(x.shape, tail)
            if merged:
                result.flat_from = merged
                result.channels_from = x.producer if len(merged) == len(x.shape) - 1 else None
            elif mixes_samples(x, sizes, result):
                result.swallowed = node  # a Linear after it is this view's error (see swallowed_batch)
                result.flat_from = tuple(x.shape)
                warn_mixed_samples(cx, x, result, node)
    mark_swallowed(result, x, node)
    return result


def warn_mixed_samples(cx: Context, x: Tensor, result: Tensor, node: ast.Call | None) -> None:
    """torch runs it for this batch, not for every batch: say so on the size (an error if a Linear fails)."""
    if not isinstance(node, ast.Call) or len(node.args) != 2 or x.taint is not None:
        return
    per_sample = dims.product(list(x.shape[1:]))
    rows, cols = result.shape
    message = (f"shape '[-1, {cols}]' works only for some batch sizes (the input has {per_sample} values per "
               f"sample): the batch of {x.shape[0]} becomes {rows} row{'' if rows == 1 else 's'} of {cols} values, "
               f"so the samples are mixed")
    cx.trace.report(ShapeError("view-invalid", message), node.args[1], "warning")


def mixes_samples(x: Tensor, sizes: list[Any], result: Tensor) -> bool:
    """``view(-1, 640)`` of a (2, 320) batch: the rows are no longer the samples (the batch of 2 is 1)."""
    shape, out = x.shape, result.shape
    return (shape is not None and out is not None and len(sizes) == 2 and sizes[0] == -1
            and len(out) == 2 and isinstance(out[0], int) and isinstance(shape[0], int)
            and out[0] != shape[0] and all(isinstance(d, int) for d in shape))


def mark_swallowed(result: Any, x: Tensor, node: ast.AST | None) -> None:
    """A flatten of everything: the batch went into the one dimension left."""
    if isinstance(result, Tensor) and result.shape is not None and x.shape is not None \
            and len(result.shape) == 1 and len(x.shape) >= 2 and isinstance(node, ast.Call):
        result.swallowed = node
        result.flat_from = tuple(x.shape)


def trailing_factors(shape: tuple, total: int) -> tuple | None:
    """The trailing dims of ``shape`` whose product is ``total``, for a fix written ``16 * 6 * 6``."""
    product: Any = 1
    for i in range(len(shape) - 1, 0, -1):
        if not isinstance(shape[i], int):
            return None
        product *= shape[i]
        if product == total:
            return tuple(shape[i:])
    return None


def constrain_view(cx: Context, x: Tensor, sizes: list[Any], node: ast.AST | None) -> None:
    if x.shape is None or len(x.shape) < 2 or len(sizes) != 2 or any(d is None for d in x.shape[1:]):
        return
    if not isinstance(sizes[1], int) or sizes[1] <= 0:
        return
    per_sample = dims.product(list(x.shape[1:]))
    cx.rec.constrain(per_sample, sizes[1], f"the view to (-1, {sizes[1]})", tuple(x.shape[1:]))


def flatten(cx: Context, x: Tensor, start: Any, end: Any, node: ast.Call | None) -> Any:
    result = cx.rec.op(node, x, lambda s: tensor_ops.flatten(s, start, end))
    if isinstance(result, Tensor) and result.shape is not None and x.shape is not None and end in (-1, None):
        if isinstance(start, int) and start >= 0:
            result.flat_from = tuple(x.shape[start:])
            result.channels_from = x.producer if start == 1 else None
    mark_swallowed(result, x, node)
    return result


# ---------------------------------------------------------------------- indexing and operators
def tensor_index(x: Tensor, key: Any) -> Any:
    if x.shape is None or key is UNKNOWN:
        return Tensor(None, taint=x.taint)
    try:
        return x.derive(tensor_ops.index(x.shape, key))
    except (CannotTell, ShapeError):
        return Tensor(None, taint=x.taint)


def tensor_binary(cx: Context, op: ast.operator, a: Any, b: Any, node: ast.AST | None) -> Any:
    a, b = as_tensor(a), as_tensor(b)  # x * torch.tensor([2.0]) broadcasts with a (1,) tensor
    ta = a if isinstance(a, Tensor) else None
    tb = b if isinstance(b, Tensor) else None
    taint = (ta.taint if ta else None) or (tb.taint if tb else None)
    if ta is None or tb is None:
        t = ta or tb
        other = b if ta is not None else a
        if not isinstance(other, (int, float, bool, dims.Expr)):
            return Tensor(None, taint=taint)  # a module, a list, something unknown: cannot broadcast it
        return t.derive(t.shape, keep_flat=True)
    elementwise_on_input = ta.is_input and not isinstance(op, ast.MatMult)  # (x - mean) / std
    if ta.shape is None or tb.shape is None:
        return Tensor(None, taint=taint, is_input=elementwise_on_input and ta.shape is None)
    combine = tensor_ops.matmul if isinstance(op, ast.MatMult) else tensor_ops.broadcast
    shape, error = attempt(lambda: combine(ta.shape, tb.shape))
    if error is not None and node is not None and taint is None:
        taint = cx.trace.report(error, node)
        if error.code == "add-mismatch" and not taint.fixes:
            found = branch_fix(cx.trace, ta, tb)
            if found is not None and any(f is taint for f in cx.trace.findings):
                fix, conv = found  # the error belongs to the convolution that changed the size
                taint.fixes, taint.layer_path = [fix], conv.path
                taint = cx.trace.move(taint, cx.trace.span(conv.node))
            elif found is None:
                residual_fixes(cx.trace, taint, ta, tb, node)
                if not taint.fixes:
                    feature_fixes(cx.trace, taint, ta, tb)
                assignment_typo_fix(cx.trace, taint, node)
    result = Tensor(shape, taint=taint, is_input=elementwise_on_input and shape == ta.shape)
    if shape == ta.shape:
        result.keep_flatten_of(ta)
    if isinstance(node, ast.Call):
        cx.rec.record_op(node, [ta], result)
    elif isinstance(node, (ast.BinOp, ast.AugAssign)):
        # ``out = out + identity``: the line's hint; not a layer (kept out of layer tables and the JSON)
        cx.rec.record(None, OPERATORS.get(type(op), "op"), getattr(node, "lineno", 0), None, [ta, tb], result, node,
                      leaf=False)
    return result


OPERATORS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.MatMult: "@",
             ast.Mod: "%", ast.Pow: "**", ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^"}


# ---------------------------------------------------------------------- shape functions of a few methods
def _top(shape: tuple, name: str, args: list[Any], kwargs: dict[str, Any]) -> tuple:
    """``topk(k, dim=-1)`` keeps k along dim; ``sort(dim=-1)`` keeps the shape."""
    if name == "sort":
        return shape
    k = args[0] if args else kwargs.get("k")
    dim = args[1] if len(args) > 1 else kwargs.get("dim", -1)
    if not isinstance(k, int) or isinstance(k, bool) or not isinstance(dim, int) or not shape \
            or not -len(shape) <= dim < len(shape):
        raise CannotTell("topk")
    axis = dim % len(shape)
    size = shape[axis]
    if isinstance(size, int) and not 0 <= k <= size:
        raise CannotTell("k out of range")  # torch's "selected index k out of range"
    return (*shape[:axis], k, *shape[axis + 1:])


def _expand(shape: tuple, sizes: list[Any]) -> tuple:
    if len(sizes) < len(shape):
        raise CannotTell("expand")
    offset = len(sizes) - len(shape)
    out = []
    for i, s in enumerate(sizes):
        if isinstance(s, int) and s == -1:
            out.append(shape[i - offset] if i >= offset else None)
        elif isinstance(s, (int, dims.Expr)):
            out.append(s)
        else:
            raise CannotTell("expand")
    return tuple(out)


def _repeat(shape: tuple, sizes: list[Any]) -> tuple:
    if len(sizes) < len(shape) or not all(isinstance(s, int) for s in sizes):
        raise CannotTell("repeat")
    padded = (1,) * (len(sizes) - len(shape)) + tuple(shape)
    return tuple(None if d is None else dims.mul(d, s) for d, s in zip(padded, sizes))
