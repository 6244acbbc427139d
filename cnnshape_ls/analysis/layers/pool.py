"""Pooling: max, average, power-average and adaptive, in 1, 2 and 3 dimensions."""

from __future__ import annotations

from .. import dims
from .base import (
    SPATIAL_AXES,
    Call,
    CannotTell,
    Functional,
    LayerRule,
    Out,
    ShapeError,
    channels_first,
    check_rank,
    dropped_note,
    fmt_shape,
    ntuple,
    per_axis,
    window,
    window_explain,
)
from .floats import any_float, check_parsed

MAX_SIG = ("kernel_size", "stride", "padding", "dilation", "return_indices", "ceil_mode")
MAX_DEFAULTS = {"stride": None, "padding": 0, "dilation": 1, "return_indices": False, "ceil_mode": False}
AVG_SIG = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
AVG_DEFAULTS = {"stride": None, "padding": 0, "ceil_mode": False, "count_include_pad": True,
                "divisor_override": None}
LP_SIG = ("norm_type", "kernel_size", "stride", "ceil_mode")
LP_DEFAULTS = {"stride": None, "ceil_mode": False}


POOL_ARGUMENTS = {"kernel_size": "{either}be a single int", "stride": "{either}be omitted, a single int",
                  "padding": "{either}be a single int", "dilation": "be either a single int"}


def _check_lengths(a, n: int, kind: str) -> None:
    """max_pool2d/3d and avg_pool2d/3d check their arguments' lengths before the input's rank, in torch's
    words (avg_pool3d's differ by one word); an empty stride is an omitted one."""
    either = "" if (kind, n) == ("avg", 3) else "either "
    for name, wording in POOL_ARGUMENTS.items():
        value = a.get(name)
        if name == "dilation" and kind != "max" or not isinstance(value, (list, tuple)):
            continue
        if len(value) in (1, n) or (name == "stride" and not value) \
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            continue
        raise ShapeError("bad-argument", f"{kind}_pool{n}d: {name} must {wording.format(either=either)}, "
                         f"or a tuple of {'two' if n == 2 else 'three'} ints")


def _check_parsed(a, n: int, kind: str) -> None:
    """The native pool's argument parser: a float size (``kernel_size=k / 2``) is its TypeError.

    The module passes stride = kernel_size when it is omitted; AvgPool1d makes each a 1-tuple first."""
    if not any_float(a.get("kernel_size"), a.get("stride"), a.get("padding"), a.get("dilation")):
        return
    names = ("kernel_size", "stride", "padding") + (("dilation",) if kind == "max" else ())
    values = {name: a.get(name) for name in names}
    if values["stride"] is None:
        values["stride"] = values["kernel_size"]
    indices = a.get("return_indices") if kind == "max" else False
    if not isinstance(indices, bool):
        raise CannotTell("return_indices")
    if kind == "avg" and n == 1:
        values = {name: ntuple(v, 1) for name, v in values.items()}
    function = f"{kind}_pool{n}d" + ("_with_indices" if indices else "")
    check_parsed(function, [(name, position, values[name]) for position, name in enumerate(names, start=2)])


ONE_D_ARGUMENTS = {"kernel_size": "must be an int, list of ints or tuple of ints",
                   "stride": "must be None, an int, list of ints, or tuple of ints",
                   "padding": "must be an int, list of ints, or tuple of ints",
                   "dilation": "must be an int, list of ints or tuple of ints"}


def _check_lengths_1d(a, kind: str) -> None:
    """max_pool1d and avg_pool1d check that each argument holds one int, after the input's rank."""
    for name, wording in ONE_D_ARGUMENTS.items():
        value = a.get(name)
        if name == "dilation" and kind != "max" or not isinstance(value, (list, tuple)):
            continue
        if len(value) == 1 or (name == "stride" and not value):
            continue
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise CannotTell(name)
        if kind == "avg":
            raise ShapeError("bad-argument",
                             f"avg_pool1d() argument '{name}' should contain one int (got {len(value)})")
        if a.get("return_indices") is not False:
            raise CannotTell("return_indices")  # max_pool1d_with_indices words it as avg_pool1d does
        raise ShapeError("bad-argument", f"max_pool1d() {name} {wording} of size 1 but got size {len(value)}")


def pool(n: int, kind: str):
    """``kind`` is max, avg or lp; they share the window formula, not their checks."""
    axes = SPATIAL_AXES[n]

    def infer(call: Call) -> Out:
        a = call.args
        if kind != "lp":
            _check_parsed(a, n, kind)
        x = call.x
        if n > 1 and kind != "lp":
            _check_lengths(a, n, kind)
        if n == 1 and kind != "lp" and len(x) in (n + 1, n + 2):
            _check_lengths_1d(a, kind)
        kernel = a.ints("kernel_size", n)
        stride = kernel if a.get("stride") in (None, (), []) else a.ints("stride", n)  # () is omitted, too
        padding = (0,) * n if kind == "lp" else a.ints("padding", n)
        dilation = a.ints("dilation", n) if kind == "max" else (1,) * n
        ceil_mode = a.flag("ceil_mode")
        check_rank(x, (n + 1, n + 2), f"non-empty {n + 1}D or {n + 2}D (batch mode) tensor expected for input")
        _check_padding(kind, kernel, padding, dilation)
        spatial = x[len(x) - n:]
        if kind != "max" and n == 3:
            _check_kernel_fits(spatial, kernel)
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


def pool_partial(n: int, kind: str):
    """Every size a pool with an unknown argument still gives: the channels (and batch) as they come,
    each spatial size where its axis's kernel, stride, padding, dilation and ``ceil_mode`` are known."""
    def partial(call: Call) -> Out:
        a = call.args
        x = call.x
        indices = a.get("return_indices") if kind == "max" else False
        if len(x) not in (n + 1, n + 2) or not isinstance(indices, bool) \
                or any_float(a.get("kernel_size"), a.get("stride"), a.get("padding"), a.get("dilation")):
            raise CannotTell("input rank")
        kernel = per_axis(a, "kernel_size", n)
        stride = kernel if a.get("stride") in (None, (), []) else per_axis(a, "stride", n)
        padding = (0,) * n if kind == "lp" else per_axis(a, "padding", n)
        dilation = per_axis(a, "dilation", n) if kind == "max" else (1,) * n
        ceil_mode = a.get("ceil_mode")
        outs = []
        for axis, size, k, s, p, d in zip(SPATIAL_AXES[n], x[len(x) - n:], kernel, stride, padding, dilation):
            out = None
            if size is not None and None not in (k, s, p, d) and isinstance(ceil_mode, (bool, int)) \
                    and min(k, s, d) > 0 and 0 <= p <= (d * (k - 1) + 1) // 2:
                try:
                    out = window(size, k, s, p, d, bool(ceil_mode))
                except CannotTell:  # ceil_mode with a symbolic size
                    out = None
                if out is not None:
                    call.explain.append(window_explain(axis, size, k, s, p, d, out, bool(ceil_mode)))
            if isinstance(out, int) and out <= 0:
                raise CannotTell("output size")  # torch's error, worded with what is unknown
            outs.append(out)
        out_shape = (*x[:len(x) - n], *outs)
        return (out_shape, out_shape) if indices else out_shape
    return partial


def adaptive_partial(n: int, kind: str):
    """An adaptive pool with an unknown ``output_size`` (or one unknown entry of it): the channels as they come."""
    def partial(call: Call) -> Out:
        a = call.args
        x = call.x
        size = a.get("output_size")
        indices = a.get("return_indices") if kind == "max" else False
        if len(x) not in (n + 1, n + 2) or not isinstance(indices, bool) \
                or isinstance(size, (list, tuple)) and len(size) != n:
            raise CannotTell("input rank")
        sizes = tuple(size) if isinstance(size, (list, tuple)) else (size,) * n
        outs = tuple(current if given is None else given if isinstance(given, (int, dims.Expr))
                     and not isinstance(given, bool) and given != 0 else None
                     for given, current in zip(sizes, x[len(x) - n:]))
        if any(isinstance(o, int) and o < 0 for o in outs):
            raise CannotTell("output_size")
        out_shape = (*x[:len(x) - n], *outs)
        return (out_shape, out_shape) if indices else out_shape
    return partial


def _check_padding(kind: str, kernel: tuple[int, ...], padding: tuple[int, ...], dilation: tuple[int, ...]) -> None:
    """At most half the kernel: the output-size formula checks the dilated kernel, the kernels the plain one."""
    n = len(kernel)
    if kind == "max" and n == 1 and padding[0] > kernel[0] // 2:
        raise ShapeError("bad-argument", "max_pool1d() padding should be at most half of kernel size, "
                         f"but got padding={padding[0]} and kernel_size={kernel[0]}")
    for k, p, d in zip(kernel, padding, dilation):
        if p > (d * (k - 1) + 1) // 2:
            raise ShapeError("bad-argument", "pad should be at most half of effective kernel size, "
                             f"but got pad={p}, kernel_size={k} and dilation={d}")
    if not any(p > k // 2 for k, p in zip(kernel, padding)):
        return
    if n == 2:
        (kh, kw), (ph, pw) = kernel, padding
        raise ShapeError("bad-argument", "pad should be smaller than or equal to half of kernel size, but got "
                         f"padW = {pw}, padH = {ph}, kW = {kw}, kH = {kh}")
    (kt, kh, kw), (pt, ph, pw) = kernel, padding
    raise ShapeError("bad-argument", "pad should be smaller than or equal to half of kernel size, but got "
                     f"kT: {kt} kW: {kw} kH: {kh} padT: {pt} padW: {pw} padH: {ph}")


def _check_kernel_fits(spatial: tuple, kernel: tuple[int, ...]) -> None:
    """avg_pool3d (and so LPPool3d) wants the unpadded input at least as large as the kernel."""
    if all(isinstance(v, int) for v in spatial) and any(v < k for v, k in zip(spatial, kernel)):
        (t, h, w), (kt, kh, kw) = spatial, kernel
        raise ShapeError("output-too-small", f"input image (T: {t} H: {h} W: {w}) smaller than kernel size "
                         f"(kT: {kt} kH: {kh} kW: {kw})")


def adaptive(n: int, kind: str):
    def infer(call: Call) -> Out:
        a = call.args
        x = call.x
        size = a.known("output_size")
        if isinstance(size, (list, tuple)):
            if len(size) != n:
                raise CannotTell("output_size")
            if len(x) <= n:  # F.adaptive_*_pool fills the None entries from the input first
                raise ShapeError("rank-mismatch", f"Input dimension should be at least {n + 1}")
        else:
            size = (size,) * n
        spatial = x[len(x) - n:]
        outs = []
        for given, current in zip(size, spatial):
            if given is None:
                outs.append(current)  # None keeps that axis as it is
            elif isinstance(given, (int, dims.Expr)) and not isinstance(given, bool):
                outs.append(given)
            else:
                raise CannotTell("output_size")
        # adaptive_avg_pool2d/3d to all ones is a mean over the last n dims, whatever the rank
        mean = kind == "avg" and n > 1 and all(o == 1 for o in outs) and len(x) >= n
        if len(x) not in (n + 1, n + 2) and not mean:
            if kind == "avg" and n > 1 and all(o == 1 or isinstance(o, dims.Expr) for o in outs):
                raise CannotTell("output_size")  # a mean if the symbolic sizes are 1
            raise ShapeError("rank-mismatch", f"adaptive_{kind}_pool{n}d(): Expected {n + 1}D or {n + 2}D tensor, "
                             f"but got: {fmt_shape(x)}")
        call.explain.append(f"out = output_size = ({', '.join(dims.to_text(o) for o in outs)})")
        out_shape = (*x[:len(x) - n], *outs)
        if kind == "max" and a.get("return_indices") is True:
            return (out_shape, out_shape)
        return out_shape

    return infer


F_MAX_POOL = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
"""F.max_poolNd puts ceil_mode before return_indices, unlike the module."""
POOL_FORMULA = "out = floor((in + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1 (ceil with ceil_mode)"


def _rules() -> tuple[LayerRule, ...]:
    rules = []
    for n in (1, 2, 3):
        rules.append(LayerRule(f"MaxPool{n}d", "Pooling", MAX_SIG, MAX_DEFAULTS, pool(n, "max"), POOL_FORMULA,
                               functional=(Functional(f"max_pool{n}d", F_MAX_POOL),),
                               input_template=channels_first(n), partial=pool_partial(n, "max")))
        avg_sig = AVG_SIG if n > 1 else AVG_SIG[:-1]
        rules.append(LayerRule(f"AvgPool{n}d", "Pooling", avg_sig, AVG_DEFAULTS, pool(n, "avg"),
                               "out = floor((in + 2*padding - kernel_size) / stride) + 1 (ceil with ceil_mode)",
                               functional=(Functional(f"avg_pool{n}d"),), input_template=channels_first(n),
                               partial=pool_partial(n, "avg")))
        rules.append(LayerRule(f"LPPool{n}d", "Pooling", LP_SIG, LP_DEFAULTS, pool(n, "lp"),
                               "out = floor((in - kernel_size) / stride) + 1",
                               functional=(Functional(f"lp_pool{n}d"),) if n < 3 else (),
                               partial=pool_partial(n, "lp")))
        rules.append(LayerRule(f"AdaptiveAvgPool{n}d", "Pooling", ("output_size",), {}, adaptive(n, "avg"),
                               "out = output_size", functional=(Functional(f"adaptive_avg_pool{n}d"),),
                               input_template=channels_first(n), partial=adaptive_partial(n, "avg")))
        rules.append(LayerRule(f"AdaptiveMaxPool{n}d", "Pooling", ("output_size", "return_indices"),
                               {"return_indices": False}, adaptive(n, "max"), "out = output_size",
                               functional=(Functional(f"adaptive_max_pool{n}d"),),
                               input_template=channels_first(n), partial=adaptive_partial(n, "max")))
    return tuple(rules)


RULES = _rules()
