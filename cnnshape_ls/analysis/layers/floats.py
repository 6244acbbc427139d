"""A float where torch wants an int: ``nn.Linear(hidden / 2, 10)``, ``padding=(k - 1) / 2``.

Python 3's ``/`` always gives a float, so these come from code that meant ``//``. torch refuses
them in two places, and words each its own way:

* the constructor allocates the weight, ``torch.empty(shape)``, and fails on the first float size;
* ``forward`` hands stride, padding and dilation to a native function whose argument parser
  fails on the first argument that is not a tuple of ints.

Each check blames the argument that holds the float (the fix makes it an int) and says unknown
where torch's wording would depend on more than the rule can see.
"""

from __future__ import annotations

from typing import Any

from .. import dims
from .base import CannotTell, ShapeError

FLOAT_TUPLE = '"type must be tuple of ints,but got float"'


def is_float(value: Any) -> bool:
    return isinstance(value, float)


def _is_size(value: Any) -> bool:
    return isinstance(value, (int, dims.Expr)) and not isinstance(value, bool)


def check_allocation(function: str, sizes: list[tuple[Any, str | None]]) -> None:
    """``torch.<function>(shape)`` in a constructor, ``sizes`` being each size with the argument it came from."""
    if not any(isinstance(value, float) for value, _ in sizes):
        return
    for index, (value, name) in enumerate(sizes):
        if is_float(value):
            if index == 0:
                message = (f"{function}(): argument 'size' (position 1) must be tuple of ints, but found element "
                           f"of type float at pos 0")
            else:
                message = (f"{function}(): argument 'size' failed to unpack the object at pos {index + 1} with "
                           f"error {FLOAT_TUPLE}")
            raise float_error(message, name, value)
        if not _is_size(value):
            if any(is_float(v) for v, _ in sizes[index + 1:]):
                raise CannotTell(name or "size")  # this one may be the float torch names first
            return


def check_scalar_allocation(function: str, value: Any, name: str) -> None:
    """``torch.<function>(num_features)``: one size, not a tuple."""
    if is_float(value):
        raise float_error(f"{function}(): argument 'size' (position 1) must be tuple of ints, not float", name, value)


def check_parsed(function: str, arguments: list[tuple[str, int, Any]]) -> None:
    """A native function's int-list arguments as ``(name, position, value)``, in the parser's order.

    A float, or a tuple whose first item is one, fails the parser; a float further into a tuple fails
    later, in an order the rule does not know: unknown."""
    for name, position, value in arguments:
        first = value[0] if isinstance(value, (list, tuple)) and value else value
        if is_float(first):
            kind = "not float" if is_float(value) else "but found element of type float at pos 0"
            raise float_error(f"{function}(): argument '{name}' (position {position}) must be tuple of ints, {kind}",
                              name, first)
    if any_float(*(value for _, _, value in arguments)):
        raise CannotTell("a float inside a tuple")


def float_error(message: str, name: str | None, value: Any) -> ShapeError:
    return ShapeError("bad-argument", f"{message} ({name} is {value!r}, a float: use // for integer division)"
                      if name else message, blame=name, integer=True)


def any_float(*values: Any) -> bool:
    """Whether any value, or any item of a tuple or list among them, is a float (once per layer call: kept lean)."""
    for value in values:
        kind = type(value)
        if kind is float:
            return True
        if kind is tuple or kind is list:
            for item in value:
                if type(item) is float:
                    return True
    return False
