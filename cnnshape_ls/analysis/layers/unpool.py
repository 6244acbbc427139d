"""Unpooling: MaxUnpool1d/2d/3d, the inverse of a max pool that returned its indices."""

from __future__ import annotations

from .. import dims
from .base import SPATIAL_AXES, Call, CannotTell, Functional, LayerRule, Out, ShapeError, fmt_shape


def _check_indices(x: tuple, indices: tuple | None, n: int) -> None:
    """The indices must have the input's shape (a 1-D unpool shows both with a trailing 1, as it runs 2-D)."""
    known = isinstance(indices, tuple) and all(isinstance(d, int) for d in (*x, *indices))
    if not known or len(x) != n + 2:
        raise CannotTell("indices")  # unknown, or unbatched: torch batches it first and prints that
    shown = [fmt_shape((*t, 1) if n == 1 else t) for t in (x, indices)]
    raise ShapeError("add-mismatch", f"Expected shape of indices to be same as that of the input tensor ({shown[0]}) "
                     f"but got indices tensor with shape: {shown[1]}")


def unpool(n: int):
    axes = SPATIAL_AXES[n]

    def infer(call: Call) -> Out:
        a = call.args
        x = call.x
        if len(x) not in (n + 1, n + 2):
            raise ShapeError("rank-mismatch", f"Expected {n + 1}D or {n + 2}D input, got {fmt_shape(x)}")
        if len(call.inputs) > 1 and call.inputs[1] != x:
            _check_indices(x, call.inputs[1], n)
        kernel = a.ints("kernel_size", n)
        stride = kernel if a.get("stride") is None else a.ints("stride", n)
        padding = a.ints("padding", n)
        wanted = a.get("output_size")
        if wanted is not None:
            sizes = list(wanted)[-n:] if isinstance(wanted, (list, tuple)) else None
            if sizes is None or len(sizes) != n or not all(isinstance(s, (int, dims.Expr)) for s in sizes):
                raise CannotTell("output_size")
            return (*x[:len(x) - n], *sizes)
        outs = []
        for axis, size, k, s, p in zip(axes, x[len(x) - n:], kernel, stride, padding):
            out = None if size is None else dims.add(dims.mul(dims.sub(size, 1), s), k - 2 * p)
            call.explain.append(f"{axis}_out = ({dims.to_text(size)} - 1)*{s} - 2*{p} + {k} = {dims.to_text(out)}")
            outs.append(out)
        for i, out in enumerate(outs):
            if isinstance(out, int) and out < 0:
                raise ShapeError("output-too-small", "max_unpooling: output_size must contain non-negative spatial "
                                 f"dimensions, but got output_size[{i}]={out}")
        return (*x[:len(x) - n], *outs)

    return infer


F_MAX_UNPOOL = ("indices", "kernel_size", "stride", "padding", "output_size")
RULES = tuple(
    LayerRule(f"MaxUnpool{n}d", "Pooling", ("kernel_size", "stride", "padding"),
              {"stride": None, "padding": 0, "output_size": None},  # output_size: forward's (and F.max_unpoolNd's)
              unpool(n), "out = (in - 1)*stride - 2*padding + kernel_size, or output_size when given",
              functional=(Functional(f"max_unpool{n}d", F_MAX_UNPOOL),))
    for n in (1, 2, 3)
)
