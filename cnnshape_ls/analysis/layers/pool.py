"""Pooling: max, average, power-average and adaptive, in 1, 2 and 3 dimensions."""

from __future__ import annotations

from .. import dims
from .base import (
    SPATIAL_AXES,
    Call,
    CannotTell,
    LayerRule,
    Out,
    ShapeError,
    check_rank,
    dropped_note,
    window,
    window_explain,
)

MAX_SIG = ("kernel_size", "stride", "padding", "dilation", "return_indices", "ceil_mode")
MAX_DEFAULTS = {"stride": None, "padding": 0, "dilation": 1, "return_indices": False, "ceil_mode": False}
AVG_SIG = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
AVG_DEFAULTS = {"stride": None, "padding": 0, "ceil_mode": False, "count_include_pad": True,
                "divisor_override": None}
LP_SIG = ("norm_type", "kernel_size", "stride", "ceil_mode")
LP_DEFAULTS = {"stride": None, "ceil_mode": False}


def pool(n: int, kind: str):
    """``kind`` is max, avg or lp; they share the window formula, not their checks."""
    axes = SPATIAL_AXES[n]

    def infer(call: Call) -> Out:
        a = call.args
        x = call.x
        kernel = a.ints("kernel_size", n)
        stride = kernel if a.get("stride") is None else a.ints("stride", n)
        padding = (0,) * n if kind == "lp" else a.ints("padding", n)
        dilation = a.ints("dilation", n) if kind == "max" else (1,) * n
        ceil_mode = a.flag("ceil_mode")
        check_rank(x, (n + 1, n + 2), f"non-empty {n + 1}D or {n + 2}D (batch mode) tensor expected for input")
        for k, p, d in zip(kernel, padding, dilation):
            if p > (d * (k - 1) + 1) // 2:
                raise ShapeError("bad-argument", "pad should be at most half of effective kernel size, "
                                 f"but got pad={p}, kernel_size={k} and dilation={d}")
        spatial = x[len(x) - n:]
        outs = []
        for axis, size, k, s, p, d in zip(axes, spatial, kernel, stride, padding, dilation):
            out = window(size, k, s, p, d, ceil_mode)
            call.explain.append(window_explain(axis, size, k, s, p, d, out, ceil_mode))
            if not ceil_mode:
                note = dropped_note(axis, size, k, s, p, d)
                if note:
                    call.notes.append(note)
            outs.append(out)
        if any(isinstance(o, int) and o <= 0 for o in outs):
            if kind == "max" and n == 1:
                raise ShapeError("output-too-small", f"max_pool1d() Invalid computed output size: {outs[0]}")
            if n == 1:  # avg_pool1d runs as a 2-D pool over a unit height
                spatial, outs = (1, *spatial), [1, *outs]
            lead = x[len(x) - n - 1] if len(x) > n else None
            given = "x".join(dims.to_text(v) for v in (lead, *spatial))
            calc = "x".join(dims.to_text(v) for v in (lead, *outs))
            raise ShapeError("output-too-small",
                             f"Given input size: ({given}). Calculated output size: ({calc}). "
                             f"Output size is too small")
        out_shape = (*x[:len(x) - n], *outs)
        if kind == "max" and a.get("return_indices") is True:
            return (out_shape, out_shape)
        return out_shape

    return infer


def adaptive(n: int, kind: str):
    def infer(call: Call) -> Out:
        a = call.args
        x = call.x
        if len(x) not in (n + 1, n + 2):
            raise CannotTell("adaptive pooling of an unexpected rank")
        size = a.known("output_size")
        if not isinstance(size, (list, tuple)):
            size = (size,) * n
        if len(size) != n:
            raise CannotTell("output_size")
        spatial = x[len(x) - n:]
        outs = []
        for given, current in zip(size, spatial):
            if given is None:
                outs.append(current)  # None keeps that axis as it is
            elif isinstance(given, (int, dims.Expr)) and not isinstance(given, bool):
                outs.append(given)
            else:
                raise CannotTell("output_size")
        call.explain.append(f"out = output_size = ({', '.join(dims.to_text(o) for o in outs)})")
        out_shape = (*x[:len(x) - n], *outs)
        if kind == "max" and a.get("return_indices") is True:
            return (out_shape, out_shape)
        return out_shape

    return infer


POOL_FORMULA = "out = floor((in + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1 (ceil with ceil_mode)"


def _rules() -> tuple[LayerRule, ...]:
    rules = []
    for n in (1, 2, 3):
        rules.append(LayerRule(f"MaxPool{n}d", "Pooling", MAX_SIG, MAX_DEFAULTS, pool(n, "max"), POOL_FORMULA))
        avg_sig = AVG_SIG if n > 1 else AVG_SIG[:-1]
        rules.append(LayerRule(f"AvgPool{n}d", "Pooling", avg_sig, AVG_DEFAULTS, pool(n, "avg"),
                               "out = floor((in + 2*padding - kernel_size) / stride) + 1 (ceil with ceil_mode)"))
        rules.append(LayerRule(f"LPPool{n}d", "Pooling", LP_SIG, LP_DEFAULTS, pool(n, "lp"),
                               "out = floor((in - kernel_size) / stride) + 1"))
        rules.append(LayerRule(f"AdaptiveAvgPool{n}d", "Pooling", ("output_size",), {}, adaptive(n, "avg"),
                               "out = output_size"))
        rules.append(LayerRule(f"AdaptiveMaxPool{n}d", "Pooling", ("output_size", "return_indices"),
                               {"return_indices": False}, adaptive(n, "max"), "out = output_size"))
    return tuple(rules)


RULES = _rules()
