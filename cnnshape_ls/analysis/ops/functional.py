"""``torch.nn.functional``: the forms of layers (the rule's ``functional``), and a few of its own."""

from __future__ import annotations

import ast
from typing import Any

from .. import dims
from ..fixes_map import output_too_small, show_places
from ..fixes_size import narrow_to_argument, note_window
from ..layers import RULES, UNKNOWN, Call, CannotTell, Functional, LayerRule, ShapeError
from ..layers.floats import any_float
from ..values import Layer, Tensor
from .context import Context
from .names import SAME_SHAPE
from .record import attempt, unknown_result


def functional(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    found = cx.rules.functional.get(name)
    if found is not None:
        rule, form = found
        if form.weighted:
            layer = weighted_functional(form, args, kwargs, node)
            x = args[0] if args else kwargs.get("input")
            if layer is None:
                return cx.rec.record_op(node, [x], Tensor(None) if isinstance(x, Tensor) else UNKNOWN)
            return apply_functional_layer(cx, layer, x, node)
        if form.signature is not None:
            rule = LayerRule(rule.op, rule.family, form.signature, rule.defaults, rule.infer, rule.formula,
                             partial=rule.partial)
        x = args[0] if args else kwargs.pop("input", None)
        layer = Layer(node, rule=rule, args=rule.bind(list(args[1:]), {k: v for k, v in kwargs.items()}))
        layer.path = None
        return apply_functional_layer(cx, layer, x, node)
    return _own(cx, name, args, kwargs, node)


def _own(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    """The functions of ``F`` that are no layer's form."""
    if name == "affine_grid" and len(args) >= 2:  # theta, size (N, C, H, W): a grid (N, H, W, 2)
        size = cx.iterate(args[1])
        if size and len(size) in (4, 5) and all(isinstance(d, (int, dims.Expr)) for d in size):
            return cx.rec.record_op(node, [args[0]], Tensor((size[0], *size[2:], len(size) - 2)))
        return unknown_result(args)
    if name == "grid_sample" and len(args) >= 2 and all(isinstance(a, Tensor) for a in args[:2]):
        x, grid = args[0], args[1]  # (N, C, H, W) sampled at (N, Hg, Wg, 2): (N, C, Hg, Wg)
        if x.shape is not None and grid.shape is not None and len(x.shape) == len(grid.shape) in (4, 5):
            return cx.rec.record_op(node, [x], Tensor((x.shape[0], x.shape[1], *grid.shape[1:-1])))
        return cx.rec.record_op(node, [x], Tensor(None))
    if name == "pad" and args and isinstance(args[0], Tensor):
        return cx.rec.op(node, args[0], lambda s: pad(s, args[1] if len(args) > 1 else kwargs.get("pad")))
    if name == "one_hot":
        return _one_hot(cx, args, kwargs, node)
    if name == "embedding" and len(args) + len(kwargs) >= 2:
        return _embedding(cx, args, kwargs, node)
    if name in SAME_SHAPE or name.endswith("_"):
        x = args[0] if args else kwargs.get("input")
        if isinstance(x, Tensor):
            return cx.rec.record_op(node, [x], x.derive(x.shape, keep_flat=True))
        return UNKNOWN
    return unknown_result(args)


def _one_hot(cx: Context, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    """``F.one_hot(ids, num_classes)``: ``ids``'s shape and one more dim of ``num_classes``; the default -1
    takes the largest id plus one, a number only the data has (unknown)."""
    ids = args[0] if args else kwargs.get("tensor", kwargs.get("input"))
    classes = args[1] if len(args) > 1 else kwargs.get("num_classes", -1)
    if not isinstance(ids, Tensor) or not isinstance(classes, int) or isinstance(classes, bool) or classes <= 0:
        return unknown_result(args)
    return cx.rec.op(node, ids, lambda s: (*s, classes))


def _embedding(cx: Context, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    """``F.embedding(ids, weight)``: one row of the 2-D ``weight`` per id, ``ids.shape + (weight.shape[1],)``."""
    ids = args[0] if args else kwargs.get("input")
    weight = args[1] if len(args) > 1 else kwargs.get("weight")
    if not isinstance(ids, Tensor) or not isinstance(weight, Tensor) or weight.shape is None:
        return unknown_result(args)
    if len(weight.shape) != 2:
        return cx.rec.op(node, ids, lambda s: _refuse(ShapeError("bad-argument", "'weight' must be 2-D")))
    width = weight.shape[1]
    return cx.rec.op(node, ids, lambda s: (*s, width))


def _refuse(error: ShapeError) -> Any:
    raise error


def weighted_functional(form: Functional, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None
                        ) -> Layer | None:
    """``F.conv2d(x, weight, bias, stride, ...)``, ``F.linear(x, weight)``: the layer the weight's shape
    implies, or None where that shape is unknown."""
    name, params = form.name, form.signature or ()
    given = {**dict(zip(params, args[1:])), **{k: v for k, v in kwargs.items() if k in params}}
    weight = given.pop("weight", None)
    given.pop("bias", None)
    shape = weight.shape if isinstance(weight, Tensor) else None
    if shape is None or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        return None
    if any_float(*given.values()):
        return None  # torch words a float argument of the function unlike the module's
    if name == "linear":
        if len(shape) != 2:
            return None
        rule = RULES["Linear"]
        bound = {"in_features": shape[1], "out_features": shape[0]}
    else:
        n = int(name[-2])
        if len(shape) != n + 2:
            return None
        groups = given.get("groups", 1)
        if not isinstance(groups, int) or isinstance(groups, bool) or groups <= 0:
            return None
        transposed = name.startswith("conv_transpose")
        rule = RULES[f"ConvTranspose{n}d" if transposed else f"Conv{n}d"]
        channels = (shape[0], shape[1] * groups) if transposed else (shape[1] * groups, shape[0])
        bound = {"in_channels": channels[0], "out_channels": channels[1], "kernel_size": tuple(shape[2:]),
                 **given}
    layer = Layer(node, rule=rule, args=rule.bind([], bound))
    layer.path = None
    return layer


def apply_functional_layer(cx: Context, layer: Layer, x: Any, node: ast.Call | None) -> Any:
    if not isinstance(x, Tensor) or x.shape is None:
        return cx.rec.record_op(node, [x], Tensor(None, taint=x.taint if isinstance(x, Tensor) else None))
    values = layer.args.values  # F.max_unpoolNd's indices: a second input, as the module's
    indices = [values["indices"].shape if isinstance(values["indices"], Tensor) else None] \
        if "indices" in values else []
    call = Call(layer.args, [x.shape, *indices])
    out, error = attempt(lambda: layer.rule.shape(call))
    note_window(cx.trace, layer, node, None, x.shape, out, functional=True)
    if error is not None:
        finding = cx.rec.report(error, node, x.taint)
        out = error.recover if finding is None or not finding.in_other_file else None
        if finding is not None and error.code == "output-too-small" and not finding.fixes:
            finding.fixes = output_too_small(cx.trace, layer)
            narrow_to_argument(cx.trace, finding, layer)
            show_places(finding)
    for note in call.notes:
        if node is not None:
            cx.trace.note(node, note)
    # F.max_pool2d keeps the channels, F.relu the shape: they stay the producer's before it (for its fix)
    keeps = layer.rule.keeps_shape or layer.rule.keeps_channels
    result = cx.rec.wrap(out, x, layer if keeps else None, None)
    cx.rec.record(None, cx.rec.op_name(node), getattr(node, "lineno", 0), None, [x], result, node,
                  explain=call.explain, formula=layer.rule.formula)
    return result


def pad(shape: tuple, pads: Any) -> tuple:
    """``F.pad``: the last dims grow by their two amounts, the last dim first."""
    if not isinstance(pads, (tuple, list)) or len(pads) % 2 or any_float(pads):
        raise CannotTell("pad")
    out = list(shape)
    for i in range(len(pads) // 2):
        axis = len(shape) - 1 - i
        if axis < 0:
            raise ShapeError("rank-mismatch", "Padding length too large")
        before, after = pads[2 * i], pads[2 * i + 1]
        known = all(isinstance(p, int) and not isinstance(p, bool) for p in (before, after))
        # an amount the analysis could not follow leaves only the axis it pads unknown
        out[axis] = dims.add(out[axis], before + after) if out[axis] is not None and known else None
    return tuple(out)
