"""Python values as the interpreter computes them: truth, merging two control-flow paths, arithmetic
within the analysis's budgets, and the builtins the interpreter knows by name. Pure functions."""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any

from . import dims
from .layers import UNKNOWN
from .limits import LIMITS, TooLarge
from .values import (
    BoundMethod,
    ClassValue,
    External,
    FunctionValue,
    MethodOf,
    Module,
    Tensor,
)


def merge(a: Any, b: Any) -> Any:
    """One value for two control-flow paths: equal values survive, the rest becomes unknown."""
    if a is b:
        return a
    if (isinstance(a, CONTAINERS) or isinstance(b, CONTAINERS)) and not (small(a) and small(b)):
        return UNKNOWN  # comparing them could take exponential time (``t = (t, t)``)
    return _merge(a, b)


def _merge(a: Any, b: Any) -> Any:
    if a is b:
        return a
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        return a if a.shape == b.shape else Tensor(None)
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return Tensor(None)
    if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b):
        return tuple(_merge(x, y) for x, y in zip(a, b))
    try:
        if type(a) is type(b) and a == b:
            return a
    except Exception:
        pass
    return UNKNOWN


def truth(value: Any) -> bool | None:
    """The truth of a condition, or None when it cannot be told."""
    if value is UNKNOWN or isinstance(value, (Tensor, dims.Expr)):
        return None
    if isinstance(value, (Module, ClassValue, FunctionValue, BoundMethod, External, MethodOf)):
        return True
    try:
        return bool(value)
    except Exception:
        return None


CONTAINERS = (list, tuple, dict)


def nested_items(value: Any, limit: int = LIMITS.value_nodes) -> int:
    """The items inside ``value``, counted through nested lists, tuples and dicts (shared ones each time
    they are met, as comparing or hashing meets them), up to just past ``limit``."""
    if not isinstance(value, CONTAINERS):
        return 0
    count, stack = 0, [value]
    while stack and count <= limit:
        items = stack.pop()
        if isinstance(items, dict):
            items = [*items.keys(), *items.values()]
        count += len(items)
        stack.extend(item for item in items if isinstance(item, CONTAINERS))
    return count


def small(value: Any) -> bool:
    """Whether comparing, hashing or merging ``value`` stays within the budget."""
    return not isinstance(value, CONTAINERS) or nested_items(value) <= LIMITS.value_nodes


def safe_number(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > LIMITS.int_magnitude:
        return UNKNOWN
    return value


def check_length(length: int, kind: Any) -> None:
    """:class:`TooLarge` for a string, list or tuple (``kind``, a value of its type) past the budget."""
    if length > LIMITS.sequence_length:
        noun = "string" if isinstance(kind, (str, bytes)) else type(kind).__name__
        raise TooLarge(f"a {noun} of more than {LIMITS.sequence_length:,} items")


def arith(op: type, a: Any, b: Any) -> Any:
    """Arithmetic on ints, floats and symbolic dims; :class:`TooLarge` for a result past a budget."""
    sym = isinstance(a, dims.Expr) or isinstance(b, dims.Expr)
    if sym:
        if not all(isinstance(v, (int, dims.Expr)) and not isinstance(v, bool) for v in (a, b)):
            return UNKNOWN
        if op is ast.Add:
            return dims.add(a, b)
        if op is ast.Sub:
            return dims.sub(a, b)
        if op is ast.Mult:
            return dims.mul(a, b)
        if op is ast.FloorDiv and isinstance(b, int) and b > 0:
            return dims.floordiv(a, b)
        if op is ast.Div and isinstance(b, int) and b > 0:
            exact = dims.exact_div(a, b)
            return UNKNOWN if exact is None else exact
        return UNKNOWN
    fn = OPERATORS.get(op)
    if fn is None:
        return UNKNOWN
    if op is ast.Pow and isinstance(b, (int, float)) and abs(b) > 64:
        return UNKNOWN
    if op is ast.Mult and isinstance(b, int) and isinstance(a, (str, list, tuple)):
        check_length(len(a) * b, a)
    if op is ast.Mult and isinstance(a, int) and isinstance(b, (str, list, tuple)):
        check_length(len(b) * a, b)
    if op is ast.Add and isinstance(a, (str, list, tuple)) and isinstance(b, (str, list, tuple)):
        check_length(len(a) + len(b), a)  # l = l + l forty times is 2**40 items
    if op is ast.LShift and isinstance(b, int) and b > 64:
        return UNKNOWN
    try:
        return safe_number(fn(a, b))
    except Exception:
        return UNKNOWN


OPERATORS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
    ast.LShift: operator.lshift, ast.RShift: operator.rshift, ast.BitOr: operator.or_,
    ast.BitAnd: operator.and_, ast.BitXor: operator.xor,
}
COMPARISONS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_, ast.IsNot: operator.is_not,
}


def _builtin(name: str) -> External:
    return External(f"builtins.{name}")


BUILTINS: dict[str, Any] = {name: _builtin(name) for name in (
    "range", "len", "list", "tuple", "dict", "zip", "enumerate", "int", "float", "min", "max", "sum", "abs",
    "round", "str", "chr", "ord", "isinstance", "print", "super", "getattr", "setattr", "delattr", "hasattr",
    "reversed", "sorted",
    "any", "all", "map", "filter", "iter", "next", "bool", "type", "divmod", "pow", "callable", "object", "vars",
    "ValueError", "TypeError", "NotImplementedError", "RuntimeError", "AssertionError", "Exception",
)}
BUILTINS.update({"True": True, "False": False, "None": None, "__name__": "__cnnshape__"})


def accepts(params: ast.arguments, positional: int, kwargs: dict[str, Any]) -> bool:
    """Whether Python binds these arguments to these parameters (else the call raises ``TypeError``)."""
    if positional > len(params.posonlyargs) + len(params.args) and params.vararg is None:
        return False
    if not kwargs:
        return True  # the common call: positional arguments only
    names = [p.arg for p in (*params.posonlyargs, *params.args)]
    taken = set(names[len(params.posonlyargs):positional])
    keywords = {*names[len(params.posonlyargs):], *(p.arg for p in params.kwonlyargs)}
    return all((name in keywords and name not in taken) or params.kwarg is not None and name not in taken
               for name in kwargs)


