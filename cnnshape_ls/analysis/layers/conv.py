"""Convolutions: Conv1d/2d/3d, ConvTranspose1d/2d/3d and their lazy forms."""

from __future__ import annotations

from .. import dims
from .base import (
    SPATIAL_AXES,
    Args,
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
    rank_message,
    size_arg,
    window,
    window_explain,
)
from .floats import any_float, check_allocation, check_parsed, float_error, is_float

CONV_SIG = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
            "groups", "bias", "padding_mode")
CONV_DEFAULTS = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True,
                 "padding_mode": "zeros"}
TRANSPOSE_SIG = ("in_channels", "out_channels", "kernel_size", "stride", "padding",
                 "output_padding", "groups", "bias", "dilation", "padding_mode")
TRANSPOSE_DEFAULTS = {"stride": 1, "padding": 0, "output_padding": 0, "groups": 1, "bias": True,
                      "dilation": 1, "padding_mode": "zeros"}


def _channels_in(call: Call, n: int, name: str) -> tuple[dims.Dim | None, int]:
    """The input's channel count and the index of the channel axis; checks the rank."""
    x = call.x
    if len(x) not in (n + 1, n + 2):
        check_rank(x, (n + 1, n + 2), rank_message(name, n, x))
    axis = len(x) - n - 1
    return x[axis], axis


def _weight_shape(out_c: dims.Dim | None, in_c: dims.Dim | None, groups: int, kernel: tuple[int, ...]) -> str:
    per_group = dims.floordiv(in_c, groups) if in_c is not None else None
    return fmt_shape((out_c, per_group, *kernel))


def _check_lengths(a: Args, n: int, names: tuple[str, ...], x: tuple | None = None) -> None:
    """torch's check, when the layer runs, that each of ``names`` has one value or one per axis of the weight.

    The weight has as many axes as ``kernel_size`` has values (Conv2d(3, 8, (3, 3, 3)) makes a 3-D kernel),
    and when the lengths agree with it but not with the input, torch says the input has the wrong rank.
    The meta device skips these checks; cpu makes them. Given ``x`` (a convolution, not a transposed one),
    a kernel of the wrong length is checked too; otherwise it is unknown, as with ``padding='same'``."""
    kernel = a.get("kernel_size")
    axes = len(kernel) if isinstance(kernel, (list, tuple)) else n
    if axes != n and (x is None or isinstance(a.get("padding"), str)):
        raise CannotTell("kernel_size")
    for name in names:
        value = a.get(name)
        if isinstance(value, str) and axes != n:
            raise CannotTell(name)
        if axes == n and not isinstance(value, (list, tuple)) or isinstance(value, str) or value is None:
            continue  # one value repeated for each axis: the right length
        stored = ntuple(value, n)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in stored):
            if axes != n:
                raise CannotTell(name)
            continue
        if len(stored) not in (1, axes):
            written = ", ".join(map(str, stored))
            raise ShapeError("bad-argument", f"expected {name} to be a single integer value or a list of {axes} "
                             f"values to match the convolution dimensions, but got {name}=[{written}]")
    if axes != n and x is not None:
        if n > 1:  # a convolution's output_padding is (0,) * n, checked like the others
            zeros = ", ".join("0" * n)
            raise ShapeError("bad-argument", f"expected output_padding to be a single integer value or a list of "
                             f"{axes} values to match the convolution dimensions, but got output_padding=[{zeros}]")
        if len(x) != n + 2 or not all(isinstance(k, int) and not isinstance(k, bool) for k in kernel):
            raise CannotTell("kernel_size")  # an unbatched input is batched first, and torch prints it so
        weight = _weight_shape(a.dim("out_channels"), a.dim("in_channels"), a.int("groups"), tuple(kernel))
        raise ShapeError("bad-argument", f"Expected {axes + 2}-dimensional input for {axes + 2}-dimensional weight "
                         f"{weight}, but got {len(x)}-dimensional input of size {fmt_shape(x)} instead")


def _size_or_float(a: Args, name: str) -> dims.Dim | float:
    value = a.known(name)
    return value if is_float(value) else a.dim(name)


def _groups(a: Args) -> int | float:
    groups = a.known("groups")
    if isinstance(groups, bool) or not isinstance(groups, (int, float)):
        raise CannotTell("groups")
    return groups


def _check_weight(a: Args, n: int, transposed: bool, lazy: bool) -> None:
    """The constructor allocates the weight, (out, in / groups, *kernel), transposed (in, out / groups, *kernel):
    a float there (``64 / 2`` channels, a ``3.0`` kernel) is torch's TypeError."""
    groups = _groups(a)
    if not any_float(groups, a.get("in_channels"), a.get("out_channels"), a.get("kernel_size")):
        return
    kernel = ntuple(a.get("kernel_size"), n)
    if lazy:  # the weight waits for the input; the constructor allocates nothing
        if any_float(groups, a.get("out_channels"), kernel):
            raise CannotTell("a float argument of a lazy layer")
        return
    in_c, out_c = a.get("in_channels"), a.get("out_channels")
    split, whole = (out_c, in_c) if transposed else (in_c, out_c)
    split_name, whole_name = ("out_channels", "in_channels") if transposed else ("in_channels", "out_channels")
    per_group = split // groups if isinstance(split, (int, float)) and not isinstance(split, bool) else split
    split_blame = "groups" if is_float(groups) and not is_float(split) else split_name
    check_allocation("empty", [(whole, whole_name), (per_group, split_blame),
                               *((k, "kernel_size") for k in kernel)])
    if is_float(groups):
        raise CannotTell("groups")


def _check_parsed_conv(a: Args, n: int) -> None:
    """F.convNd's argument parser: a float in stride, padding or dilation matches none of its overloads."""
    names = ("stride", "padding", "dilation")
    if not any_float(a.get("stride"), a.get("padding"), a.get("dilation")):
        return
    stored = {name: a.get(name) if isinstance(a.get(name), str) else ntuple(a.get(name), n) for name in names}
    if stored["padding"] == "same" and any(s != 1 for s in stored["stride"]):
        raise ShapeError("bad-argument", "padding='same' is not supported for strided convolutions")
    first = next((name for name in names if isinstance(stored[name], tuple) and stored[name]
                  and is_float(stored[name][0])), None)
    bias = a.get("bias")
    if first is None or a.get("padding_mode") != "zeros" or not isinstance(bias, bool):
        raise CannotTell("a float argument")  # worded by whichever argument torch unpacks first, or F.pad
    padding = "str" if isinstance(stored["padding"], str) else "tuple"
    raise float_error(
        f"conv{n}d() received an invalid combination of arguments - got (Tensor, Parameter, "
        f"{'Parameter' if bias else 'NoneType'}, tuple, {padding}, tuple, int), but expected one of:",
        first, stored[first][0])


def _check_groups(groups: int | float, in_c: dims.Dim | float | None, out_c: dims.Dim | float | None,
                  got: dims.Dim | None = None) -> None:
    """The constructor's checks: both channel counts split evenly into the groups.

    ``got`` is the input's channel count: when it fits, in_channels is the argument to change."""
    if groups <= 0:
        raise ShapeError("bad-argument", "groups must be a positive integer")
    for name, channels in (("in_channels", in_c), ("out_channels", out_c)):
        if isinstance(channels, (int, float)) and not isinstance(channels, bool) and channels % groups:
            fits = name == "in_channels" and isinstance(got, int) and got % groups == 0
            raise ShapeError("bad-argument", f"{name} must be divisible by groups",
                             blame="in_channels" if fits else None, expected=got if fits else None)


PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _check_padding_mode(mode: str, x: tuple, n: int, before: tuple[int, ...], after: tuple[int, ...]) -> None:
    """'reflect' pads less than the size of each axis, 'circular' at most the size (F.pad's checks)."""
    if isinstance(mode, str) and mode not in PADDING_MODES:
        raise ShapeError("bad-argument", "padding_mode must be one of {'zeros', 'reflect', 'circular', 'replicate'}, "
                         f"but got padding_mode='{mode}'")
    if mode not in ("reflect", "circular"):
        return
    for axis in reversed(range(len(x) - n, len(x))):  # F.pad checks the last axis first
        size, p0, p1 = x[axis], before[axis - len(x) + n], after[axis - len(x) + n]
        if not isinstance(size, int):
            continue
        if mode == "reflect" and (p0 >= size or p1 >= size):
            raise ShapeError("output-too-small", f"Argument #4: Padding size should be less than the corresponding "
                             f"input dimension, but got: padding ({p0}, {p1}) at dimension {axis} of input "
                             f"{fmt_shape(x)}")
        if mode == "circular" and (p0 > size or p1 > size):
            raise ShapeError("output-too-small", "Padding value causes wrapping around more than once.")


def _conv_padding(a: Args, n: int, kernel: tuple[int, ...], dilation: tuple[int, ...],
                  stride: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Padding before and after each axis, resolving 'same' and 'valid' as torch does."""
    padding = a.known("padding")
    if padding == "valid":
        zero = (0,) * n
        return zero, zero
    if padding == "same":
        if any(s != 1 for s in stride):
            raise ShapeError("bad-argument", "padding='same' is not supported for strided convolutions")
        total = tuple(d * (k - 1) for d, k in zip(dilation, kernel))
        return tuple(t // 2 for t in total), tuple(t - t // 2 for t in total)
    if isinstance(padding, str):
        raise ShapeError("bad-argument", f"Invalid padding string '{padding}', should be one of {{'valid', 'same'}}")
    pads = a.ints("padding", n)
    return pads, pads


def conv(n: int, lazy: bool = False):
    name = f"conv{n}d"
    axes = SPATIAL_AXES[n]

    def infer(call: Call) -> Out:
        a = call.args
        x = call.x
        got = x[len(x) - n - 1] if len(x) in (n + 1, n + 2) else None
        _check_groups(_groups(a), None if lazy else _size_or_float(a, "in_channels"),
                      _size_or_float(a, "out_channels"), got)
        _check_weight(a, n, False, lazy)
        _check_parsed_conv(a, n)
        groups = a.int("groups")
        out_c = a.dim("out_channels")
        in_c, _ = _channels_in(call, n, name)
        padded = a.get("padding_mode") == "zeros" and not isinstance(a.get("padding"), str)
        _check_lengths(a, n, ("stride", "padding", "dilation") if padded else ("stride", "dilation"),
                       None if lazy or a.get("padding_mode") != "zeros" else x)
        kernel = a.ints("kernel_size", n)
        stride = a.ints("stride", n)
        dilation = a.ints("dilation", n)
        if lazy:
            _check_groups(groups, in_c, None)
            call.resolved["in_channels"] = in_c
        before, after = _conv_padding(a, n, kernel, dilation, stride)
        spatial = x[len(x) - n:]
        _check_padding_mode(a.known("padding_mode"), x, n, before, after)
        outs = []
        for axis, size, k, s, p0, p1, d in zip(axes, spatial, kernel, stride, before, after, dilation):
            if p0 != p1:  # 'same' with an even kernel pads one more on the right
                out = None if size is None else dims.add(dims.sub(dims.add(size, p0 + p1), d * (k - 1)), 0)
                call.explain.append(f"{axis}_out = {dims.to_text(size)} ('same' padding) = {dims.to_text(out)}")
            else:
                out = window(size, k, s, p0, d)
                call.explain.append(window_explain(axis, size, k, s, p0, d, out))
                note = dropped_note(axis, size, k, s, p0, d)
                if note:
                    call.notes.append(note)
            if isinstance(out, int) and out <= 0:
                padded = " x ".join(dims.to_text(dims.add(sz, 2 * p)) if sz is not None else "?"
                                    for sz, p in zip(spatial, before))
                ks = " x ".join(str(d * (k - 1) + 1) for k, d in zip(kernel, dilation))
                raise ShapeError(
                    "output-too-small",
                    f"Calculated padded input size per channel: ({padded}). Kernel size: ({ks}). "
                    f"Kernel size can't be greater than actual input size")
            outs.append(out)
        result = (*x[:len(x) - n - 1], out_c, *outs)
        if not lazy:
            want = a.dim("in_channels")
            if isinstance(in_c, int) and isinstance(want, int) and in_c != want:
                shown = x if a.get("padding_mode") == "zeros" else (  # other modes pad with F.pad first
                    *x[:len(x) - n], *(None if sz is None else dims.add(sz, p0 + p1)
                                       for sz, p0, p1 in zip(spatial, before, after)))
                raise ShapeError(
                    "conv-in-channels",
                    f"Given groups={groups}, weight of size {_weight_shape(out_c, want, groups, kernel)}, expected "
                    f"input{fmt_shape(shown)} to have {want} channels, but got {in_c} channels instead",
                    blame="in_channels", expected=in_c, recover=result)
        return result

    return infer


def conv_transpose(n: int, lazy: bool = False):
    name = f"conv_transpose{n}d"
    axes = SPATIAL_AXES[n]

    def infer(call: Call) -> Out:
        a = call.args
        if isinstance(a.get("padding_mode"), str) and a.get("padding_mode") != "zeros":
            raise ShapeError("bad-argument", f'Only "zeros" padding mode is supported for {a.op}')
        if isinstance(a.get("padding"), str):  # torch builds the layer, and fails when it runs
            raise ShapeError("bad-argument", f"padding='{a.get('padding')}' is not supported for {a.op}")
        _check_groups(_groups(a), None if lazy else _size_or_float(a, "in_channels"),
                      _size_or_float(a, "out_channels"))
        _check_weight(a, n, True, lazy)
        check_parsed(name, [(arg, position, ntuple(a.get(arg), n)) for arg, position in
                            (("stride", 4), ("padding", 5), ("output_padding", 6), ("dilation", 8))])
        groups = a.int("groups")
        out_c = a.dim("out_channels")
        _channels_in(call, n, name)  # torch checks the rank first, then the lengths
        _check_lengths(a, n, ("stride", "padding", "dilation", "output_padding"))
        kernel = a.ints("kernel_size", n)
        stride = a.ints("stride", n)
        padding = a.ints("padding", n)
        output_padding = a.ints("output_padding", n)
        dilation = a.ints("dilation", n)
        for op_, s, d in zip(output_padding, stride, dilation):
            if op_ >= s and op_ >= d:
                raise ShapeError("bad-argument", "output padding must be smaller than either stride or dilation, "
                                 f"but got output_padding={output_padding}, stride={stride}, dilation={dilation}")
        x = call.x
        mismatch = False
        if lazy:
            in_c, _ = _channels_in(call, n, name)
            _check_groups(groups, in_c, None)
            call.resolved["in_channels"] = in_c
        else:
            in_c = a.dim("in_channels")
            per_group_out = dims.floordiv(out_c, groups) if groups else out_c
            weight = fmt_shape((in_c, per_group_out, *kernel))
            got, _ = _channels_in(call, n, name)
            mismatch = isinstance(got, int) and isinstance(in_c, int) and got != in_c
        outs = []
        for axis, size, k, s, p, op_, d in zip(axes, x[len(x) - n:], kernel, stride, padding,
                                              output_padding, dilation):
            out = None if size is None else dims.add(
                dims.mul(dims.sub(size, 1), s), -2 * p + d * (k - 1) + op_ + 1)
            call.explain.append(f"{axis}_out = ({dims.to_text(size)} - 1)*{s} - 2*{p} + {d}*({k} - 1) + {op_} + 1"
                                f" = {dims.to_text(out)}")
            outs.append(out)
        if any(isinstance(out, int) and out <= 0 for out in outs):
            given, calculated = x[len(x) - n:], outs
            if n == 1:  # the native kernel runs a 1-D convolution as a 2-D one over a unit height
                given, calculated = (1, *given), (1, *calculated)
            raise ShapeError("output-too-small", f"Given input size per channel: "
                             f"({' x '.join(dims.to_text(v) for v in given)}). Calculated output size per "
                             f"channel: ({' x '.join(dims.to_text(v) for v in calculated)}). Output size is too small")
        result = (*x[:len(x) - n - 1], out_c, *outs)
        if not lazy and mismatch:
            raise ShapeError(
                "conv-in-channels",
                f"Given transposed=1, weight of size {weight}, expected input{fmt_shape(x)} to have "
                f"{in_c} channels, but got {got} channels instead", blame="in_channels", expected=got,
                recover=result)
        return result

    return infer


def _spatial_partial(call: Call, n: int, transposed: bool) -> tuple:
    """The output sizes of the axes whose kernel, stride, padding and dilation are all known; None for
    the others. torch runs only with a kernel of n values, and then each axis depends on its own."""
    a = call.args
    x = call.x
    kernel, stride, dilation = per_axis(a, "kernel_size", n), per_axis(a, "stride", n), per_axis(a, "dilation", n)
    padding = a.get("padding")
    same = padding == "same" and not transposed
    pads = (0,) * n if padding == "valid" and not transposed else (None,) * n if isinstance(padding, str) \
        else per_axis(a, "padding", n)
    extra = per_axis(a, "output_padding", n) if transposed else (0,) * n
    outs = []
    for axis, size, k, s, p, op_, d in zip(SPATIAL_AXES[n], x[len(x) - n:], kernel, stride, pads, extra, dilation):
        if same:  # torch runs 'same' only with stride 1, and then keeps the size
            out = size
        elif size is None or None in (k, s, p, op_, d) or s <= 0:
            out = None
        elif transposed:
            out = dims.add(dims.mul(dims.sub(size, 1), s), -2 * p + d * (k - 1) + op_ + 1)
        else:
            out = window(size, k, s, p, d)
        if isinstance(out, int) and out <= 0:
            raise CannotTell("output size")  # torch's error, worded with what is unknown
        if out is not None:
            call.explain.append(f"{axis}_out = {dims.to_text(out)}")
        outs.append(out)
    return tuple(outs)


def conv_partial(n: int, transposed: bool, lazy: bool):
    """Every size a convolution with an unknown argument still gives: the channels are ``out_channels``,
    each spatial size needs its own axis's arguments; the channel check runs where both counts are known."""
    def partial(call: Call) -> Out:
        a = call.args
        x = call.x
        if len(x) not in (n + 1, n + 2) or any_float(*a.values.values()):
            raise CannotTell("input rank")
        out_c = size_arg(a, "out_channels")
        got = x[len(x) - n - 1]
        result = (*x[:len(x) - n - 1], out_c, *_spatial_partial(call, n, transposed))
        want = None if lazy else size_arg(a, "in_channels")
        groups = a.get("groups")
        if isinstance(got, int) and isinstance(want, int) and got != want and isinstance(groups, int) \
                and not isinstance(groups, bool) and groups > 0 and want % groups == 0:
            kernel = per_axis(a, "kernel_size", n)
            weight = _weight_shape(want, dims.floordiv(out_c, groups) if out_c is not None else None, 1, kernel) \
                if transposed else _weight_shape(out_c, want, groups, kernel)
            raise ShapeError(
                "conv-in-channels",
                f"Given {'transposed=1' if transposed else f'groups={groups}'}, weight of size {weight}, expected "
                f"input{fmt_shape(x)} to have {want} channels, but got {got} channels instead",
                blame="in_channels", expected=got, recover=result)
        if lazy and got is not None:
            call.resolved["in_channels"] = got
        return result
    return partial


def conv_params(args: Args, resolved: dict):
    in_c = resolved.get("in_channels", args.values.get("in_channels"))
    out_c = args.dim("out_channels")
    groups = args.int("groups")
    kernel = args.known("kernel_size")
    n = _kernel_volume(kernel, args.op)
    if not isinstance(in_c, (int, dims.Expr)):
        raise CannotTell("in_channels")
    weights = dims.mul(dims.mul(out_c, dims.floordiv(in_c, groups)), n)
    return dims.add(weights, out_c) if args.flag("bias") else weights


def _kernel_volume(kernel, op: str) -> int:
    n = int(op[-2]) if op[-2].isdigit() else 1
    if isinstance(kernel, int):
        return kernel ** n
    total = 1
    for k in kernel:
        if not isinstance(k, int):
            raise CannotTell("kernel_size")
        total *= k
    return total


CONV_FORMULA = "out = floor((in + 2*padding - dilation*(kernel_size - 1) - 1) / stride) + 1"
TRANSPOSE_FORMULA = "out = (in - 1)*stride - 2*padding + dilation*(kernel_size - 1) + output_padding + 1"
CONV_PARAMS = "out_channels*(in_channels/groups)*prod(kernel_size) + out_channels (bias)"


CONV_F = ("weight", "bias", "stride", "padding", "dilation", "groups")
TRANSPOSE_F = ("weight", "bias", "stride", "padding", "output_padding", "groups", "dilation")


def conv_weights(n: int, transposed: bool):
    """A conv's ``weight`` (out, in/groups, *kernel), transposed (in, out/groups, *kernel), or ``bias``;
    the weight's first size is known from its argument alone."""
    rows, cols = ("in_channels", "out_channels") if transposed else ("out_channels", "in_channels")

    def weights(args: Args, name: str) -> tuple | None:
        a = args.values
        if name == "bias":
            return (a.get("out_channels"),) if a.get("bias") is True and _kernel(a, n) is not None else None
        if name != "weight":
            return None
        kernel, groups = _kernel(a, n), a.get("groups")
        if kernel is None or not isinstance(groups, int) or groups <= 0 or not isinstance(a.get(cols), int) \
                or a[cols] % groups:
            return (a.get(rows), None)
        return (a.get(rows), a[cols] // groups, *kernel)
    return weights


def _kernel(a: dict, n: int) -> tuple | None:
    kernel, groups = a.get("kernel_size"), a.get("groups")
    kernel = (kernel,) * n if isinstance(kernel, int) else tuple(kernel) if isinstance(kernel, (list, tuple)) else None
    if kernel is None or len(kernel) != n or not isinstance(groups, int) or groups <= 0:
        return None
    return kernel


def _rules() -> tuple[LayerRule, ...]:
    rules = []
    for n in (1, 2, 3):
        rules.append(LayerRule(f"Conv{n}d", "Convolution", CONV_SIG, CONV_DEFAULTS, conv(n),
                               CONV_FORMULA, conv_params, CONV_PARAMS,
                               functional=(Functional(f"conv{n}d", CONV_F, weighted=True),),
                               input_template=channels_first(n, "in_channels"), weights=conv_weights(n, False),
                               producer_arg="out_channels", partial=conv_partial(n, False, False)))
        rules.append(LayerRule(f"LazyConv{n}d", "Convolution", CONV_SIG[1:], CONV_DEFAULTS, conv(n, lazy=True),
                               CONV_FORMULA + " (in_channels taken from the input)", conv_params, CONV_PARAMS,
                               input_template=channels_first(n), partial=conv_partial(n, False, True)))
        rules.append(LayerRule(f"ConvTranspose{n}d", "Convolution", TRANSPOSE_SIG, TRANSPOSE_DEFAULTS,
                               conv_transpose(n), TRANSPOSE_FORMULA, conv_params, CONV_PARAMS,
                               functional=(Functional(f"conv_transpose{n}d", TRANSPOSE_F, weighted=True),),
                               input_template=channels_first(n, "in_channels"), weights=conv_weights(n, True),
                               producer_arg="out_channels", partial=conv_partial(n, True, False)))
        rules.append(LayerRule(f"LazyConvTranspose{n}d", "Convolution", TRANSPOSE_SIG[1:], TRANSPOSE_DEFAULTS,
                               conv_transpose(n, lazy=True), TRANSPOSE_FORMULA + " (in_channels from the input)",
                               conv_params, CONV_PARAMS, partial=conv_partial(n, True, True)))
    return tuple(rules)


RULES = _rules()
__all__ = ["RULES", "CannotTell"]
