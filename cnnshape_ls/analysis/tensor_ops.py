"""Shape functions of tensor methods and ``torch.*`` functions used in ``forward``.

Pure functions of shapes, like the layer rules: they raise :class:`ShapeError`
worded as torch words it, or :class:`CannotTell` when a size is unknown.
"""

from __future__ import annotations

from typing import Any

from . import dims
from .layers import CannotTell, Shape, ShapeError, fmt_shape
from .layers.linear import flatten_shape, normalize_dim


def numel(shape: Shape) -> dims.Dim | None:
    if any(d is None for d in shape):
        return None
    return dims.product(list(shape))


def _size_text(d: dims.Dim) -> str:
    return dims.to_text(d).replace(" ", "")


def view(shape: Shape, sizes: list[Any], batch_symbol: str | None) -> Shape:
    """``x.view(*sizes)`` / ``reshape``: infers one -1 and checks the element count."""
    if not all(isinstance(s, (int, dims.Expr)) and not isinstance(s, bool) for s in sizes):
        if any(s is None for s in sizes) or not sizes:
            raise CannotTell("size")
        raise CannotTell("size")
    ints = [s for s in sizes if isinstance(s, int)]
    if sum(1 for s in ints if s == -1) > 1:
        raise ShapeError("view-invalid", "only one dimension can be inferred")
    for i, s in enumerate(sizes):
        if isinstance(s, int) and s < -1:
            raise ShapeError("view-invalid", f"invalid shape dimension {s} at index {i} of shape "
                             f"[{', '.join(dims.to_text(v) for v in sizes)}]")
    total = numel(shape)
    target = "[" + ", ".join(dims.to_text(v) for v in sizes) + "]"
    if -1 in ints:
        known = dims.product([s for s in sizes if not (isinstance(s, int) and s == -1)])
        if total is None:  # a size of the input unknown: the sizes written are still what torch gives
            return tuple(None if isinstance(s, int) and s == -1 else s for s in sizes)
        if known == 0:
            raise ShapeError("view-invalid", f"shape '{target}' is invalid for input of size {_size_text(total)}")
        inferred = dims.exact_div(total, known)
        if inferred is None:
            if _decidable(total, batch_symbol):
                raise ShapeError("view-invalid",
                                 f"shape '{target}' is invalid for input of size {_size_text(total)}")
            raise CannotTell("numel")
        return tuple(inferred if isinstance(s, int) and s == -1 else s for s in sizes)
    if total is not None:
        wanted = dims.product(list(sizes))
        if isinstance(total, int) and isinstance(wanted, int) and total != wanted:
            raise ShapeError("view-invalid", f"shape '{target}' is invalid for input of size {total}")
        if total != wanted and _decidable(total, batch_symbol) and _decidable(wanted, batch_symbol):
            per_total = dims.exact_div(total, dims.sym(batch_symbol)) if batch_symbol else None
            per_wanted = dims.exact_div(wanted, dims.sym(batch_symbol)) if batch_symbol else None
            if isinstance(per_total, int) and isinstance(per_wanted, int) and per_total != per_wanted:
                raise ShapeError("view-invalid",
                                 f"shape '{target}' is invalid for input of size {_size_text(total)}")
    return tuple(sizes)


def _decidable(size: dims.Dim, batch_symbol: str | None) -> bool:
    """A size whose only unknown is the batch: a mismatch there is real for most batch sizes."""
    return isinstance(size, int) or (batch_symbol is not None and dims.symbols(size) == {batch_symbol})


def permute(shape: Shape, order: list[Any]) -> Shape:
    if len(order) != len(shape) or not all(isinstance(o, int) for o in order):
        if all(isinstance(o, int) for o in order):
            raise ShapeError("rank-mismatch", f"permute(sparse_coo): number of dimensions in the tensor input "
                             f"does not match the length of the desired ordering of dimensions i.e. input.dim() = "
                             f"{len(shape)} is not equal to len(dims) = {len(order)}")
        raise CannotTell("dims")
    idx = [normalize_dim(o, len(shape)) for o in order]
    return tuple(shape[i] for i in idx)


def transpose(shape: Shape, a: Any, b: Any) -> Shape:
    if not isinstance(a, int) or not isinstance(b, int):
        raise CannotTell("dims")
    i, j = normalize_dim(a, len(shape)), normalize_dim(b, len(shape))
    out = list(shape)
    out[i], out[j] = out[j], out[i]
    return tuple(out)


def squeeze(shape: Shape, dim: Any = None) -> Shape:
    if dim is None:
        if any(d is None or isinstance(d, dims.Expr) for d in shape):
            raise CannotTell("squeeze of a symbolic size")
        return tuple(d for d in shape if d != 1)
    targets = dim if isinstance(dim, (list, tuple)) else (dim,)
    if not all(isinstance(t, int) for t in targets):
        raise CannotTell("dim")
    idx = {normalize_dim(t, len(shape)) for t in targets}
    out = []
    for i, d in enumerate(shape):
        if i in idx:
            if d is None or isinstance(d, dims.Expr):
                raise CannotTell("squeeze of a symbolic size")
            if d == 1:
                continue
        out.append(d)
    return tuple(out)


def unsqueeze(shape: Shape, dim: Any) -> Shape:
    if not isinstance(dim, int):
        raise CannotTell("dim")
    d = normalize_dim(dim, len(shape) + 1)
    return (*shape[:d], 1, *shape[d:])


def reduce(shape: Shape, dim: Any, keepdim: Any) -> Shape:
    """``mean``/``sum``/``amax``... over ``dim`` (all dims when None)."""
    if keepdim not in (True, False, 0, 1):
        raise CannotTell("keepdim")
    if dim is None:
        return tuple(1 for _ in shape) if keepdim else ()
    targets = dim if isinstance(dim, (list, tuple)) else (dim,)
    if not all(isinstance(t, int) for t in targets):
        raise CannotTell("dim")
    idx = {normalize_dim(t, len(shape)) for t in targets}
    if keepdim:
        return tuple(1 if i in idx else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in idx)


def flatten(shape: Shape, start: Any = 0, end: Any = -1) -> Shape:
    if not isinstance(start, int) or not isinstance(end, int):
        raise CannotTell("dims")
    return flatten_shape(shape, start, end)


def _same(a: dims.Dim | None, b: dims.Dim | None) -> bool | None:
    if a is None or b is None:
        return None
    if a == b:
        return True
    if isinstance(a, int) and isinstance(b, int):
        return False
    return None


def cat(shapes: list[Shape], dim: Any) -> Shape:
    if not shapes:
        raise ShapeError("cat-mismatch", "torch.cat(): expected a non-empty list of Tensors")
    if not isinstance(dim, int):
        raise CannotTell("dim")
    first = shapes[0]
    d = normalize_dim(dim, len(first))
    total = first[d]
    for n, other in enumerate(shapes[1:], start=1):
        if len(other) != len(first):
            raise ShapeError("cat-mismatch", f"Tensors must have same number of dimensions: got {len(first)} "
                             f"and {len(other)}")
        for i, (a, b) in enumerate(zip(first, other)):
            if i != d and _same(a, b) is False:
                raise ShapeError("cat-mismatch", f"Sizes of tensors must match except in dimension {d}. "
                                 f"Expected size {a} but got size {b} for tensor number {n} in the list.")
        total = None if total is None or other[d] is None else dims.add(total, other[d])
    out = list(first)
    out[d] = total
    for i in range(len(out)):
        if i != d and out[i] is not None and any(s[i] != out[i] for s in shapes):
            out[i] = next((s[i] for s in shapes if isinstance(s[i], int)), out[i])
    return tuple(out)


def stack(shapes: list[Shape], dim: Any) -> Shape:
    if not shapes:
        raise ShapeError("cat-mismatch", "stack expects a non-empty TensorList")
    if not isinstance(dim, int):
        raise CannotTell("dim")
    first = shapes[0]
    for n, other in enumerate(shapes[1:], start=1):
        if len(other) != len(first) or any(_same(a, b) is False for a, b in zip(first, other)):
            raise ShapeError("cat-mismatch", f"stack expects each tensor to be equal size, but got "
                             f"{fmt_shape(first)} at entry 0 and {fmt_shape(other)} at entry {n}")
    d = normalize_dim(dim, len(first) + 1)
    return (*first[:d], len(shapes), *first[d:])


def broadcast(a: Shape, b: Shape) -> Shape:
    """Elementwise ``a + b``: numpy broadcasting, with torch's message on a mismatch."""
    n = max(len(a), len(b))
    pa = (1,) * (n - len(a)) + tuple(a)
    pb = (1,) * (n - len(b)) + tuple(b)
    # torch walks from the last dimension and names the first mismatch it meets: the rightmost
    for i in reversed(range(n)):
        x, y = pa[i], pb[i]
        if x != 1 and y != 1 and _same(x, y) is False:
            raise ShapeError("add-mismatch", f"The size of tensor a ({dims.to_text(x)}) must match the size of "
                             f"tensor b ({dims.to_text(y)}) at non-singleton dimension {i}")
    out: list[dims.Dim | None] = []
    for x, y in zip(pa, pb):
        if x == 1:
            out.append(y)
        elif y == 1:
            out.append(x)
        elif _same(x, y) is True:
            out.append(x)
        else:
            out.append(x if isinstance(x, dims.Expr) and x == y else None)
    return tuple(out)


def matmul(a: Shape, b: Shape) -> Shape:
    if not a or not b:
        raise CannotTell("scalar matmul")
    if len(a) == 1 and len(b) == 1:
        return ()
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    k1, k2 = a2[-1], b2[-2]
    if _same(k1, k2) is False:
        if len(a2) == 2 and len(b2) == 2:
            raise ShapeError("linear-in-features", f"mat1 and mat2 shapes cannot be multiplied "
                             f"({dims.to_text(a2[0])}x{k1} and {k2}x{dims.to_text(b2[1])})")
        raise ShapeError("linear-in-features", f"Expected size for first two dimensions of batch2 tensor to be: "
                         f"[{dims.to_text(b2[0])}, {k1}] but got: [{dims.to_text(b2[0])}, {k2}].")
    batch = broadcast(a2[:-2], b2[:-2])
    out = (*batch, a2[-2], b2[-1])
    if len(a) == 1:
        out = (*batch, b2[-1])
    if len(b) == 1:
        out = (*batch, a2[-2])
    return out


def index(shape: Shape, key: Any) -> Shape:
    """``x[...]`` with ints, slices, None and Ellipsis (advanced indexing is unknown)."""
    items = list(key) if isinstance(key, tuple) else [key]
    if any(not (isinstance(k, (int, slice)) or k is None or k is Ellipsis) or isinstance(k, bool) for k in items):
        raise CannotTell("index")
    used = sum(1 for k in items if k is not None and k is not Ellipsis)
    if Ellipsis in items:
        pos = items.index(Ellipsis)
        items = items[:pos] + [slice(None)] * (len(shape) - used) + items[pos + 1:]
    out: list[dims.Dim | None] = []
    axis = 0
    for k in items:
        if k is None:
            out.append(1)
            continue
        if axis >= len(shape):
            raise CannotTell("too many indices")
        size = shape[axis]
        if isinstance(k, int):
            if not isinstance(size, int):
                if k not in (0, -1):  # in range only for sizes the analysis cannot tell
                    raise CannotTell("index")
            elif not -size <= k < size:
                raise ShapeError("index-out-of-range",
                                 f"index {k} is out of bounds for dimension {axis} with size {size}")
            axis += 1
            continue
        if k.step is not None and (not isinstance(k.step, int) or k.step <= 0):
            raise CannotTell("slice step")  # torch: "step must be greater than zero"
        if k == slice(None):
            out.append(size)
        elif isinstance(size, int):
            out.append(len(range(*k.indices(size))))
        else:
            out.append(None)
        axis += 1
    out.extend(shape[axis:])
    return tuple(out)


def split(shape: Shape, size: Any, dim: Any) -> list[Shape]:
    if not isinstance(dim, int):
        raise CannotTell("dim")
    d = normalize_dim(dim, len(shape))
    total = shape[d]
    if isinstance(size, (list, tuple)):
        return [(*shape[:d], s, *shape[d + 1:]) for s in size]
    if not isinstance(size, int) or not isinstance(total, int) or size <= 0:
        raise CannotTell("split")
    parts = [size] * (total // size) + ([total % size] if total % size else [])
    return [(*shape[:d], s, *shape[d + 1:]) for s in parts]


def chunk(shape: Shape, chunks: Any, dim: Any) -> list[Shape]:
    if not isinstance(dim, int) or not isinstance(chunks, int) or chunks <= 0:
        raise CannotTell("chunk")
    d = normalize_dim(dim, len(shape))
    total = shape[d]
    if not isinstance(total, int):
        if total is not None:
            part = dims.exact_div(total, chunks)
            if part is not None:
                return [(*shape[:d], part, *shape[d + 1:])] * chunks
        raise CannotTell("chunk")
    size = -(-total // chunks)
    return split(shape, size, d)


UNBIND_MOST = 4096  # more slices than this are left unknown (a tuple of that many tensors is no use to anyone)


def unbind(shape: Shape, dim: Any) -> list[Shape]:
    """``torch.unbind(x, dim)``: one tensor per index along ``dim``, that dim removed."""
    if not isinstance(dim, int) or isinstance(dim, bool):
        raise CannotTell("dim")
    d = normalize_dim(dim, len(shape))
    if not shape:
        raise ShapeError("rank-mismatch", "Dimension specified as 0 but tensor has no dimensions")
    count = shape[d]
    if not isinstance(count, int) or count > UNBIND_MOST:
        raise CannotTell("unbind")
    return [(*shape[:d], *shape[d + 1:])] * count
