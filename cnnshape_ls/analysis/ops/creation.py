"""Tensors made from nothing: ``torch.zeros(2, 3)``, ``torch.arange(n)``, ``x.new_zeros(...)``."""

from __future__ import annotations

import ast
import struct
from typing import Any

from .. import dims
from ..layers import UNKNOWN
from ..values import NumberArray, Tensor
from .context import Context

MAX_VALUES = 4096
"""The longest 1-D tensor of numbers whose elements are kept (see ``Tensor.values``)."""


class TensorInt(int):
    """``torch.tensor([n])`` or ``torch.tensor(n)`` of an int: used as the number it holds (``F.pad`` amounts,
    ``diff // 2``, where arithmetic gives a plain int), and as a tensor of ``tensor_shape`` where a tensor is
    needed (``nn.Parameter(...)``, broadcasting)."""

    tensor_shape: tuple = ()


class TensorFloat(float):
    """:class:`TensorInt` of a float (``nn.Parameter(torch.tensor([1.0]))``, FCOS's ``ScaleExp``)."""

    tensor_shape: tuple = ()


def tensor_number(value: int | float, shape: tuple) -> Any:
    made = TensorFloat(value) if isinstance(value, float) else TensorInt(value)
    made.tensor_shape = shape
    return made


def as_tensor(value: Any) -> Any:
    """A tensor-number as the tensor it is; anything else as it is."""
    if isinstance(value, (TensorInt, TensorFloat)):
        return Tensor(value.tensor_shape)
    return value


def create(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    if name.endswith("_like"):
        x = args[0] if args else None
        return x.derive(x.shape) if isinstance(x, Tensor) else UNKNOWN
    if name == "tensor" and args:
        data, shape = args[0], ()
        if isinstance(data, (list, tuple)) and len(data) == 1 and not isinstance(data[0], (list, tuple)):
            data, shape = data[0], (1,)  # [[1.0, 2.0]] is (1, 2): only a number is unwrapped
        if isinstance(data, (int, float)) and not isinstance(data, bool):
            return tensor_number(data, shape)  # torch.tensor([h2 - h1]) is used as a number (F.pad amounts)
        if isinstance(data, dims.Expr):
            return data
        if isinstance(data, (list, tuple)) and _numbers(data) and len(data) <= MAX_VALUES:
            return Tensor((len(data),), values=tuple(data))
    if name == "eye":  # eye(n) is (n, n), eye(n, m) is (n, m)
        rows = args[0] if args else kwargs.get("n")
        cols = args[1] if len(args) > 1 else kwargs.get("m", rows)
        sizes = (rows, cols)
        ok = all(isinstance(v, (int, dims.Expr)) and not isinstance(v, bool) for v in sizes)
        return Tensor(sizes if ok else None)
    if name in ("from_numpy", "as_tensor", "tensor") or \
            name in ("Tensor", "FloatTensor") and not all(isinstance(a, (int, dims.Expr)) for a in args):
        # a tensor of data: its shape where the data's is known (``torch.Tensor(np.linspace(0, 1, 80))``)
        shape = data_shape(args[0]) if len(args) == 1 and not kwargs.keys() - {"dtype", "requires_grad"} \
            and (name != "from_numpy" or isinstance(args[0], NumberArray)) else None
        return Tensor(shape)
    if name in ("arange", "linspace"):
        made = arange(args, kwargs) if name == "arange" else linspace(args, kwargs)
        if made is not None:
            return Tensor((len(made),), values=made)
    return _of_sizes(cx, name, args, kwargs)


def data_shape(data: Any, depth: int = 0) -> tuple[int, ...] | None:
    """The shape torch gives data: a numpy array of known shape, or nested lists of numbers, rectangular."""
    if isinstance(data, NumberArray):
        return data.shape
    if isinstance(data, (int, float)) and not isinstance(data, bool):
        return ()
    if not isinstance(data, (list, tuple)) or depth > 8 or len(data) > MAX_VALUES:
        return None
    inner = [data_shape(item, depth + 1) for item in data]
    if not inner:
        return (0,)
    if any(s is None or s != inner[0] for s in inner):
        return None
    return (len(data), *inner[0])


def _of_sizes(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any]) -> Tensor:
    """A tensor of the sizes given (``zeros(2, 3)``, ``zeros((2, 3))``, ``full((2, 3), v)``, ``randint(..., size)``)."""
    if name in ("tensor", "arange", "full"):
        if name == "full" and args:
            items = cx.iterate(args[0])
            if items is not None and all(isinstance(s, (int, dims.Expr)) for s in items):
                return Tensor(tuple(items))
        return Tensor(None)
    if name == "randint":
        size = kwargs.get("size", args[-1] if args else None)
        items = cx.iterate(size)
        if items is not None and all(isinstance(s, (int, dims.Expr)) for s in items):
            return Tensor(tuple(items))
        return Tensor(None)
    sizes = args
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        sizes = list(args[0])
    if "size" in kwargs:
        sizes = list(kwargs["size"]) if isinstance(kwargs["size"], (list, tuple)) else []
    if sizes and all(isinstance(s, (int, dims.Expr)) and not isinstance(s, bool) for s in sizes):
        return Tensor(tuple(sizes))
    return Tensor(None)


def _numbers(items: Any) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items)


def arange(args: list[Any], kwargs: dict[str, Any]) -> tuple | None:
    """``torch.arange`` of ints; floats are left out, as their count depends on rounding."""
    if len(args) == 1 and not {"start", "end", "step"} & kwargs.keys():
        bounds = [0, args[0], 1]
    else:
        given = dict(zip(("start", "end", "step"), args[:3]))
        if set(given) & kwargs.keys():
            return None
        given = {"start": 0, "step": 1, **given, **{k: kwargs[k] for k in ("start", "end", "step") if k in kwargs}}
        bounds = [given.get("start"), given.get("end"), given.get("step")]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in bounds) or bounds[2] == 0:
        return None
    span = range(*bounds)
    return tuple(span) if len(span) <= MAX_VALUES else None


def linspace(args: list[Any], kwargs: dict[str, Any]) -> tuple | None:
    """``torch.linspace`` in float32, from both ends towards the middle as torch does.

    The ends are exact; torch's vectorised kernel may round an inner element differently in the last
    bit, which no shape depends on (these values feed drop-path rates and ``> 0`` tests).
    """
    names = ("start", "end", "steps")
    given = [*args[:3], *(kwargs[n] for n in names[len(args[:3]):] if n in kwargs)]
    if len(given) != 3 or not _numbers(given) or not isinstance(given[2], int) or not 0 <= given[2] <= MAX_VALUES:
        return None
    start, end, steps = _float32(given[0]), _float32(given[1]), given[2]
    if steps == 1:
        return (start,)
    step = _float32((end - start) / (steps - 1))
    half = steps // 2
    return tuple(_float32(start + _float32(step * i)) if i < half else _float32(end - _float32(step * (steps - 1 - i)))
                 for i in range(steps))


def _float32(value: float) -> float:
    return struct.unpack("f", struct.pack("f", value))[0]
