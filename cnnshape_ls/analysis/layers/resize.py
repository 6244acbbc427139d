"""Layers that resize spatial dims: padding, upsampling, pixel (un)shuffle, channel shuffle."""

from __future__ import annotations

import math

from .. import dims
from .base import Call, CannotTell, LayerRule, Out, ShapeError, fmt_shape


def pad(n: int):
    def infer(call: Call) -> Out:
        x = call.x
        padding = call.args.known("padding")
        pads = (padding,) * (2 * n) if isinstance(padding, int) else tuple(padding)
        if len(pads) != 2 * n or not all(isinstance(p, int) for p in pads):
            raise CannotTell("padding")
        if len(x) not in (n + 1, n + 2):
            raise ShapeError("rank-mismatch", f"Expected {n + 1}D or {n + 2}D (batch mode) tensor with possibly 0 "
                             f"batch size and other non-zero dimensions for input, but got: {fmt_shape(x)}")
        out = list(x)
        # torch's pad tuple starts at the last dim: (left, right, top, bottom, front, back)
        for i in range(n):
            axis = len(x) - 1 - i
            before, after = pads[2 * i], pads[2 * i + 1]
            if out[axis] is not None:
                out[axis] = dims.add(out[axis], before + after)
        return tuple(out)

    return infer


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


def resize_spatial(x: tuple, size, scale_factor) -> tuple:
    """The output of Upsample / F.interpolate for a (N, C, *spatial) input."""
    n = len(x) - 2
    if n < 1:
        raise ShapeError("rank-mismatch", f"Input Error: Only 3D, 4D and 5D input Tensors supported (got {len(x)}D)")
    if size is None and scale_factor is None:
        raise ShapeError("bad-argument", "either size or scale_factor should be defined")
    if size is not None and scale_factor is not None:
        raise ShapeError("bad-argument", "only one of size or scale_factor should be defined")
    if size is not None:
        sizes = tuple(size) if isinstance(size, (list, tuple)) else (size,) * n
        if len(sizes) != n:
            raise ShapeError("rank-mismatch", "Input and output must have the same number of spatial dimensions")
        if not all(isinstance(s, (int, dims.Expr)) for s in sizes):
            raise CannotTell("size")
        return (*x[:2], *sizes)
    factors = tuple(scale_factor) if isinstance(scale_factor, (list, tuple)) else (scale_factor,) * n
    if len(factors) != n:
        raise CannotTell("scale_factor")
    return (*x[:2], *(scale_size(s, f) for s, f in zip(x[2:], factors)))


def upsample(call: Call) -> Out:
    a = call.args
    size, factor = a.known("size"), a.known("scale_factor")
    return resize_spatial(call.x, size, factor)


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


def same(call: Call) -> Out:
    return call.x


def _rules() -> tuple[LayerRule, ...]:
    rules = []
    for n in (1, 2, 3):
        for kind in ("Zero", "Reflection", "Replication", "Circular"):
            rules.append(LayerRule(f"{kind}Pad{n}d", "Padding", ("padding",), {}, pad(n),
                                   "out = in + padding_before + padding_after on each padded dim"))
        rules.append(LayerRule(f"ConstantPad{n}d", "Padding", ("padding", "value"), {}, pad(n),
                               "out = in + padding_before + padding_after on each padded dim"))
    rules += [
        LayerRule("Upsample", "Resizing", ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor"),
                  {"size": None, "scale_factor": None, "mode": "nearest"}, upsample,
                  "out = size, or floor(in * scale_factor)"),
        LayerRule("UpsamplingNearest2d", "Resizing", ("size", "scale_factor"), {"size": None, "scale_factor": None},
                  upsample, "out = size, or floor(in * scale_factor)"),
        LayerRule("UpsamplingBilinear2d", "Resizing", ("size", "scale_factor"), {"size": None, "scale_factor": None},
                  upsample, "out = size, or floor(in * scale_factor)"),
        LayerRule("PixelShuffle", "Resizing", ("upscale_factor",), {}, pixel_shuffle,
                  "(*, C*r*r, H, W) -> (*, C, H*r, W*r)"),
        LayerRule("PixelUnshuffle", "Resizing", ("downscale_factor",), {}, pixel_unshuffle,
                  "(*, C, H*r, W*r) -> (*, C*r*r, H, W)"),
        LayerRule("ChannelShuffle", "Resizing", ("groups",), {}, same, "out = in"),
    ]
    return tuple(rules)


RULES = _rules()
