"""Layers that resize spatial dims: padding, upsampling, pixel (un)shuffle, channel shuffle."""

from __future__ import annotations

import math

from .. import dims
from .base import (
    UNKNOWN,
    Call,
    CannotTell,
    Functional,
    LayerRule,
    Out,
    ShapeError,
    channels_first,
    fmt_shape,
    keep_input,
)
from .floats import any_float


def pad(n: int, mode: str):
    """``mode`` is F.pad's: constant, reflect, replicate or circular."""

    def infer(call: Call) -> Out:
        x = call.x
        padding = call.args.known("padding")
        pads = (padding,) * (2 * n) if isinstance(padding, int) else tuple(padding)
        if len(pads) != 2 * n or not all(isinstance(p, int) for p in pads):
            raise CannotTell("padding")
        if mode == "constant" and len(x) < n:  # constant padding takes any input with enough dims
            raise ShapeError("rank-mismatch", f"Padding length should be less than or equal to two times the input "
                             f"dimension but got padding length {2 * n} and input of dimension {len(x)}")
        if mode != "constant" and len(x) not in (n + 1, n + 2):
            raise ShapeError("rank-mismatch", f"Expected {n + 1}D or {n + 2}D (batch mode) tensor with possibly 0 "
                             f"batch size and other non-zero dimensions for input, but got: {fmt_shape(x)}")
        out = list(x)
        # torch's pad tuple starts at the last dim: (left, right, top, bottom, front, back)
        for i in range(n):
            axis = len(x) - 1 - i
            if out[axis] is not None:
                out[axis] = dims.add(out[axis], pads[2 * i] + pads[2 * i + 1])
        if all(isinstance(v, int) for v in x[len(x) - n:]):
            PAD_CHECKS[mode](x, n, pads, out)
        return tuple(out)

    return infer


def pad_partial(n: int, mode: str):
    """A pad with an unknown amount: each axis whose two amounts are known is padded, the others are unknown."""
    def partial(call: Call) -> Out:
        x = call.x
        padding = call.args.get("padding")
        if isinstance(padding, (list, tuple)):
            pads = tuple(p if isinstance(p, int) and not isinstance(p, bool) else None for p in padding)
        else:
            pads = (padding if isinstance(padding, int) and not isinstance(padding, bool) else None,) * (2 * n)
        if len(pads) != 2 * n or (len(x) < n if mode == "constant" else len(x) not in (n + 1, n + 2)) \
                or any_float(padding):
            raise CannotTell("padding")
        out = list(x)
        for i in range(n):
            axis, before, after = len(x) - 1 - i, pads[2 * i], pads[2 * i + 1]
            out[axis] = None if out[axis] is None or before is None or after is None \
                else dims.add(out[axis], before + after)
            if isinstance(out[axis], int) and out[axis] < 0:
                raise CannotTell("padding")  # torch's error
        return tuple(out)
    return partial


def _unknown_spatial(first: int):
    """A resize with an unknown factor or size: the dims before ``first`` from the end stay; the rest are unknown."""
    def partial(call: Call) -> Out:
        x = call.x
        if len(x) < first or first == 2 and len(x) > 5:
            raise CannotTell("input rank")
        if first == 2:  # interpolate: (N, C, *spatial) with 1 to 3 spatial dims
            if len(x) < 3:
                raise CannotTell("input rank")
            return (*x[:2], *(None,) * (len(x) - 2))
        return (*x[:-first], *(None,) * first)
    return partial


def _pad_constant(x: tuple, n: int, pads: tuple[int, ...], out: list) -> None:
    """Negative padding crops first (narrow), then positive padding adds."""
    for i in range(n):
        if x[len(x) - 1 - i] + min(pads[2 * i], 0) + min(pads[2 * i + 1], 0) < 0:
            raise ShapeError("output-too-small", "narrow(): length must be non-negative.")


def _pad_reflect(x: tuple, n: int, pads: tuple[int, ...], out: list) -> None:
    for i in range(n):  # the last dim first
        axis = len(x) - 1 - i
        left, right = pads[2 * i], pads[2 * i + 1]
        if left >= x[axis] or right >= x[axis]:
            raise ShapeError("output-too-small", f"Argument #{4 + 2 * i}: Padding size should be less than the "
                             f"corresponding input dimension, but got: padding ({left}, {right}) at dimension {axis} "
                             f"of input {fmt_shape(x)}")
    _pad_too_small(x, n, out)


def _pad_replicate(x: tuple, n: int, pads: tuple[int, ...], out: list) -> None:
    _pad_too_small(x, n, out)


def _pad_too_small(x: tuple, n: int, out: list) -> None:
    """1-D needs an output of at least 1; 2-D and 3-D only one axis of at least 1, and none negative."""
    given, calculated = x[len(x) - n:], out[len(x) - n:]
    if all(v < 1 for v in calculated) or (n == 1 and calculated[0] < 1):
        names = ("D", "H", "W")[3 - n:]
        sizes = ", ".join(f"{a}: {v}" for a, v in zip(names, given))
        if n == 3:
            sizes = sizes.replace(", ", " ", 1)
        raise ShapeError("output-too-small", f"input ({sizes}) is too small. Calculated output "
                         f"{' '.join(f'{a}: {v}' for a, v in zip(names, calculated))}")
    if any(v < 0 for v in calculated):
        raise ShapeError("output-too-small", f"Trying to create tensor with negative dimension "
                         f"{min(calculated)}: {fmt_shape(tuple(out))}")


def _pad_circular(x: tuple, n: int, pads: tuple[int, ...], out: list) -> None:
    for i in reversed(range(n)):  # the first spatial dim first
        axis = len(x) - 1 - i
        if pads[2 * i] > x[axis] or pads[2 * i + 1] > x[axis]:
            raise ShapeError("output-too-small", "Padding value causes wrapping around more than once.")
        if out[axis] < 0:
            raise ShapeError("output-too-small", "Negative padding value is resulting in an empty dimension")


PAD_FORMULA = "out = in + padding_before + padding_after on each padded dim"
PAD_FORMULAS = {
    "constant": PAD_FORMULA + " (negative padding crops)",
    "reflect": PAD_FORMULA + "; each padding < in",
    "replicate": PAD_FORMULA,
    "circular": PAD_FORMULA + "; each padding <= in",
}
PAD_CHECKS = {"constant": _pad_constant, "reflect": _pad_reflect, "replicate": _pad_replicate,
              "circular": _pad_circular}


def scale_size(size: dims.Dim | None, factor) -> dims.Dim | None:
    if size is None:
        return None
    if isinstance(factor, int) and not isinstance(factor, bool):
        return dims.mul(size, factor)
    if isinstance(factor, float):
        if factor.is_integer():
            return dims.mul(size, int(factor))
        if isinstance(size, int):
            return math.floor(size * factor)
    raise CannotTell("scale_factor")


MODE_RANK = {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}
"""The interpolating modes and the one input rank each takes; the others take 3, 4 or 5 dims."""


def resize_spatial(x: tuple, size, scale_factor, mode="nearest", align_corners=None) -> tuple:
    """The output of Upsample / F.interpolate for a (N, C, *spatial) input, with F.interpolate's checks."""
    n = len(x) - 2
    if isinstance(mode, str) and mode not in MODE_RANK and align_corners not in (None, UNKNOWN):
        raise ShapeError("bad-argument", "align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear")
    if size is None and scale_factor is None:
        raise ShapeError("bad-argument", "either size or scale_factor should be defined")
    if size is not None and scale_factor is not None:
        raise ShapeError("bad-argument", "only one of size or scale_factor should be defined")
    spatial = list(x[2:])
    if size is not None:
        sizes = tuple(size) if isinstance(size, (list, tuple)) else (size,) * n
        if len(sizes) != n:
            raise ShapeError("rank-mismatch", f"Input and output must have the same number of spatial dimensions, "
                             f"but got input with spatial dimensions of {spatial} and output size of {size}.")
        if not all(isinstance(s, (int, dims.Expr)) for s in sizes):
            raise CannotTell("size")
        out = (*x[:2], *sizes)
    else:
        factors = tuple(scale_factor) if isinstance(scale_factor, (list, tuple)) else (scale_factor,) * n
        if len(factors) != n:
            raise ShapeError("rank-mismatch", f"Input and scale_factor must have the same number of spatial "
                             f"dimensions, but got input with spatial dimensions of {spatial} and scale_factor of "
                             f"shape {scale_factor}.")
        out = (*x[:2], *(scale_size(s, f) for s, f in zip(x[2:], factors)))
    if isinstance(mode, str) and mode in MODE_RANK and len(x) != MODE_RANK[mode] and 3 <= len(x) <= 5:
        raise ShapeError("rank-mismatch", f"Got {len(x)}D input, but {mode} mode needs {MODE_RANK[mode]}D input")
    if not 3 <= len(x) <= 5:
        raise ShapeError("rank-mismatch", f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {len(x)}D) "
                         f"for the modes: nearest | linear | bilinear | bicubic | trilinear | lanczos | area | "
                         f"nearest-exact (got {mode})")
    if mode != "area" and any(isinstance(v, int) and v <= 0 for v in out[2:]):  # area is an adaptive pool
        axes = ("D", "H", "W")[3 - n:]
        given = ", ".join(f"{a}: {dims.to_text(v)}" for a, v in zip(axes, x[2:]))
        calculated = ", ".join(f"{a}: {dims.to_text(v)}" for a, v in zip(axes, out[2:]))
        raise ShapeError("output-too-small", f"Input and output sizes should be greater than 0, but got input "
                         f"({given}){' and' if n == 1 else ''} output ({calculated})")
    return out


def upsample(call: Call) -> Out:
    a = call.args
    size, factor = a.known("size"), a.known("scale_factor")
    return resize_spatial(call.x, size, factor, a.get("mode"), a.get("align_corners"))


def pixel_shuffle(call: Call) -> Out:
    x = call.x
    r = call.args.int("upscale_factor")
    if len(x) < 3:
        raise ShapeError("rank-mismatch", "pixel_shuffle expects input to have at least 3 dimensions, "
                         f"but got input with {len(x)} dimension(s)")
    c, h, w = x[-3:]
    if isinstance(c, int) and c % (r * r):
        raise ShapeError("bad-argument", "pixel_shuffle expects its input's 'channel' dimension to be divisible "
                         f"by the square of upscale_factor, but input.size(-3)={c} is not divisible by {r * r}")
    new_c = dims.exact_div(c, r * r) if c is not None else None
    return (*x[:-3], new_c, None if h is None else dims.mul(h, r), None if w is None else dims.mul(w, r))


def pixel_unshuffle(call: Call) -> Out:
    x = call.x
    r = call.args.int("downscale_factor")
    if len(x) < 3:
        raise ShapeError("rank-mismatch", "pixel_unshuffle expects input to have at least 3 dimensions, "
                         f"but got input with {len(x)} dimension(s)")
    c, h, w = x[-3:]
    for name, size, axis in (("height", h, -2), ("width", w, -1)):
        if isinstance(size, int) and size % r:
            raise ShapeError("bad-argument", f"pixel_unshuffle expects {name} to be divisible by downscale_factor, "
                             f"but input.size({axis})={size} is not divisible by {r}")
    return (*x[:-3], None if c is None else dims.mul(c, r * r),
            None if h is None else dims.exact_div(h, r), None if w is None else dims.exact_div(w, r))


def channel_shuffle(call: Call) -> Out:
    x = call.x
    groups = call.args.int("groups")
    if len(x) <= 2:
        raise ShapeError("rank-mismatch", f"channel_shuffle expects input with > 2 dims, but got input with sizes "
                         f"{fmt_shape(x)}")
    if isinstance(x[1], int) and x[1] % groups:
        raise ShapeError("bad-argument", f"Number of channels must be divisible by groups. Got {x[1]} channels and "
                         f"{groups} groups.")
    return x


F_INTERPOLATE = ("size", "scale_factor", "mode", "align_corners")


def _rules() -> tuple[LayerRule, ...]:
    rules = []
    for n in (1, 2, 3):
        for kind, mode in (("Zero", "constant"), ("Reflection", "reflect"), ("Replication", "replicate"),
                           ("Circular", "circular")):
            rules.append(LayerRule(f"{kind}Pad{n}d", "Padding", ("padding",), {}, pad(n, mode), PAD_FORMULAS[mode],
                                   partial=pad_partial(n, mode)))
        rules.append(LayerRule(f"ConstantPad{n}d", "Padding", ("padding", "value"), {}, pad(n, "constant"),
                               PAD_FORMULAS["constant"], partial=pad_partial(n, "constant")))
    rules += [
        LayerRule("Upsample", "Resizing", ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor"),
                  {"size": None, "scale_factor": None, "mode": "nearest"}, upsample,
                  "out = size, or floor(in * scale_factor)",
                  functional=(Functional("interpolate", F_INTERPOLATE), Functional("upsample", F_INTERPOLATE)),
                  partial=_unknown_spatial(2)),
        LayerRule("UpsamplingNearest2d", "Resizing", ("size", "scale_factor"),
                  {"size": None, "scale_factor": None, "mode": "nearest"},
                  upsample, "out = size, or floor(in * scale_factor)", partial=_unknown_spatial(2)),
        LayerRule("UpsamplingBilinear2d", "Resizing", ("size", "scale_factor"),
                  {"size": None, "scale_factor": None, "mode": "bilinear", "align_corners": True},
                  upsample, "out = size, or floor(in * scale_factor); 4-D input",
                  partial=_unknown_spatial(2)),
        LayerRule("PixelShuffle", "Resizing", ("upscale_factor",), {}, pixel_shuffle,
                  "(*, C*r*r, H, W) -> (*, C, H*r, W*r)", functional=(Functional("pixel_shuffle"),),
                  partial=_unknown_spatial(3)),
        LayerRule("PixelUnshuffle", "Resizing", ("downscale_factor",), {}, pixel_unshuffle,
                  "(*, C, H*r, W*r) -> (*, C*r*r, H, W)", functional=(Functional("pixel_unshuffle"),),
                  input_template=channels_first(2), partial=_unknown_spatial(3)),
        LayerRule("ChannelShuffle", "Resizing", ("groups",), {}, channel_shuffle,
                  "out = in; dim 1 must be divisible by groups", partial=keep_input),
    ]
    return tuple(rules)


RULES = _rules()
