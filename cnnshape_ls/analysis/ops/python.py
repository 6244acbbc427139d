"""Python's builtins, ``math``, and the methods of lists, dicts and strings, over abstract values."""

from __future__ import annotations

import ast
import math
import numbers
from collections import abc
from typing import Any

from .. import dims
from ..layers import UNKNOWN
from ..limits import LIMITS, text_fits
from ..values import (
    ClassValue,
    Container,
    EnumMember,
    Env,
    External,
    Instance,
    Layer,
    MethodOf,
    Module,
    OpaqueModule,
    Partial,
    Record,
    SuperProxy,
    Tensor,
)
from .context import Context, Registry
from .names import is_nn, tail
from .torch_classes import torch_class_of

BUILTINS = Registry("builtins")
_PYTHON_ERRORS = (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError, OverflowError)


def builtin(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    handler = BUILTINS.get(name)
    if handler is None:
        return UNKNOWN
    try:
        return handler(cx, name, args, kwargs, node)
    except _PYTHON_ERRORS:
        return UNKNOWN


@BUILTINS.register("range")
def _range(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    if all(isinstance(a, int) for a in args) and args:
        return range(*args)
    return UNKNOWN


@BUILTINS.register("len")
def _len(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    if args and isinstance(args[0], Tensor):
        return args[0].shape[0] if args[0].shape else UNKNOWN
    items = cx.iterate(args[0]) if args else None
    return UNKNOWN if items is None else len(items)


@BUILTINS.register("list", "tuple")
def _sequence(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    if not args:
        return [] if name == "list" else ()
    items = cx.iterate(args[0])
    if items is None:
        return UNKNOWN
    return list(items) if name == "list" else tuple(items)


@BUILTINS.register("dict")
def _dict(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    base: dict[Any, Any] = {}
    if args:
        source = args[0]
        if isinstance(source, dict):
            base.update(source)
        else:
            items = cx.iterate(source)
            if items is None:
                return UNKNOWN
            for pair in items:
                if not isinstance(pair, (tuple, list)) or len(pair) != 2 or not cx.affordable(pair[0], node):
                    return UNKNOWN
                base[pair[0]] = pair[1]
    base.update(kwargs)
    return base


@BUILTINS.register("zip")
def _zip(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    lists = [cx.iterate(a) for a in args]
    if any(x is None for x in lists):
        return UNKNOWN
    return list(zip(*lists))


@BUILTINS.register("enumerate")
def _enumerate(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    items = cx.iterate(args[0]) if args else None
    start = args[1] if len(args) > 1 else kwargs.get("start", 0)
    return UNKNOWN if items is None else list(enumerate(items, start))


@BUILTINS.register("reversed", "sorted")
def _ordered(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    items = cx.iterate(args[0]) if args else None
    if items is None or (name == "sorted" and not cx.affordable(items, node)):
        return UNKNOWN
    return list(reversed(items)) if name == "reversed" else sorted(items)


@BUILTINS.register("int", "float", "bool", "str", "abs", "round")
def _convert(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    if not args:
        return {"int": 0, "float": 0.0, "bool": False, "str": ""}.get(name, UNKNOWN)
    value = args[0]
    if isinstance(value, dims.Expr) and name == "int":
        return value
    if value is UNKNOWN or isinstance(value, (dims.Expr, Tensor)):
        return UNKNOWN
    if name == "str" and not isinstance(value, (str, int, float, bool)):
        return UNKNOWN  # never the analysis's own object as text
    return {"int": int, "float": float, "bool": bool, "str": str, "abs": abs, "round": round}[name](*args)


@BUILTINS.register("chr", "ord")
def _character(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    """``chr(ord('a') + i)``: the names megvii's ShuffleNet registers its stages under."""
    if len(args) != 1 or kwargs:
        return UNKNOWN
    value = args[0]
    if name == "chr" and isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 0x110000:
        return chr(value)
    if name == "ord" and isinstance(value, str) and len(value) == 1:
        return ord(value)
    return UNKNOWN


@BUILTINS.register("min", "max", "sum", "any", "all")
def _fold(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    if name == "sum" and (len(args) == 2 or (len(args) == 1 and "start" in kwargs)):
        return _sum_from(cx, args[0], args[1] if len(args) == 2 else kwargs["start"], node)
    items = cx.iterate(args[0]) if len(args) == 1 else list(args)
    if items is not None and not cx.affordable(items, node):
        return UNKNOWN  # comparing nested values could take exponential time
    # sum(iterable, start) takes its items from the first argument only
    summed = (items if len(args) == 1 else cx.iterate(args[0])) if name == "sum" and args else None
    if summed and any(isinstance(i, Tensor) for i in summed) and \
            all(isinstance(i, (Tensor, int, float)) and not isinstance(i, bool) for i in summed):
        total = args[1] if len(args) > 1 else kwargs.get("start", 0)  # sum of feature maps: 0 + a + b
        for i in summed:
            total = cx.binary(ast.Add(), total, i, node)
        return total
    if items is None or any(i is UNKNOWN or isinstance(i, (dims.Expr, Tensor)) for i in items):
        if name == "sum" and items is not None and all(isinstance(i, (int, dims.Expr)) for i in items):
            total_size: Any = 0
            for i in items:
                total_size = dims.add(total_size, i)
            return total_size
        return UNKNOWN
    return {"min": min, "max": max, "sum": sum, "any": any, "all": all}[name](items)


def _sum_from(cx: Context, iterable: Any, start: Any, node: ast.Call | None) -> Any:
    """``sum(items, start)``: ``start + items[0] + items[1] ...`` as Python adds them, so
    ``sum([[s] + [1] * (n - 1) for ...], [])`` flattens a list of lists (ReXNet's strides); Python refuses a
    string start."""
    items = cx.iterate(iterable)
    if items is None or start is UNKNOWN or isinstance(start, str) or not cx.affordable(items, node):
        return UNKNOWN
    total = start
    for item in items:
        total = cx.binary(ast.Add(), total, item, node)
        if total is UNKNOWN:
            return UNKNOWN
    return total


@BUILTINS.register("divmod")
def _divmod(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    return divmod(*args) if all(isinstance(a, int) for a in args) else UNKNOWN


@BUILTINS.register("pow")
def _pow(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    if all(isinstance(a, (int, float)) for a in args) and abs(args[1]) < 64:
        return pow(*args)
    return UNKNOWN


@BUILTINS.register("isinstance")
def _isinstance(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    return is_instance(args)


@BUILTINS.register("hasattr")
def _hasattr(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    return has_attr(args)


@BUILTINS.register("type")
def _type(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    if len(args) == 3 and not kwargs:
        return made_class(*args)
    return type_of(args[0]) if len(args) == 1 and not kwargs else UNKNOWN


def made_class(name: Any, bases: Any, namespace: Any) -> Any:
    """``type('Args', (), {'n_classes': 10})``: a class whose attributes are the dict's (its instances read
    them as Python does); unknown where the name, the bases or a key is not known."""
    if not isinstance(name, str) or not isinstance(bases, tuple) or not isinstance(namespace, dict) \
            or not all(isinstance(key, str) for key in namespace):
        return UNKNOWN
    if not all(isinstance(b, ClassValue) or b == External("builtins.object") for b in bases):
        return UNKNOWN
    classes = [b for b in bases if isinstance(b, ClassValue)]
    node = ast.ClassDef(name=name, bases=[], keywords=[], body=[], decorator_list=[], type_params=[])
    depth = 1 + max((b.depth for b in classes), default=0)
    if depth > LIMITS.inheritance_depth:
        return UNKNOWN
    return ClassValue(node, name, classes, dict(namespace), Env(), any(b.is_module for b in classes),
                      next((b.container_base for b in classes if b.container_base), None), depth)


@BUILTINS.register("getattr")
def _getattr(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    if len(args) >= 2 and isinstance(args[1], str):
        if isinstance(args[0], Record) and args[1] not in args[0].fields:
            return args[2] if len(args) > 2 else UNKNOWN
        value = cx.get_attr(args[0], args[1])
        if isinstance(value, MethodOf) and len(args) > 2:
            return args[2]
        return value
    return UNKNOWN


@BUILTINS.register("setattr")
def _setattr(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    if len(args) == 3 and isinstance(args[1], str):
        cx.set_attr(args[0], args[1], args[2])
    elif args and isinstance(args[0], Module):
        args[0].incomplete = True  # an attribute under a name the analysis cannot tell: never dropped
    elif args and isinstance(args[0], Record):
        args[0].fields.clear()
    return None


@BUILTINS.register("delattr")
def _delattr(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    """``delattr(self, "fc")``: as ``del self.fc``, which torch turns into unregistering it."""
    owner = args[0] if args else UNKNOWN
    named = len(args) == 2 and isinstance(args[1], str)
    if isinstance(owner, Instance) and named:
        owner.attrs.pop(args[1], None)
        owner.modules.pop(args[1], None)
    elif isinstance(owner, Module):
        owner.incomplete = True
    elif isinstance(owner, Record) and named:
        owner.fields.pop(args[1], None)
    elif isinstance(owner, Record):
        owner.fields.clear()
    return None


@BUILTINS.register("super")
def super_proxy(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    if len(args) == 2 and isinstance(args[0], ClassValue):
        return SuperProxy(args[0], args[1])
    return UNKNOWN


@BUILTINS.register("map", "filter")
def _map(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    fn, items = (args[0], cx.iterate(args[1])) if len(args) == 2 else (None, None)
    if items is None:
        return UNKNOWN
    if name == "map":
        return [cx.call(fn, [i], {}, node) for i in items]
    return [i for i in items if cx.call(fn, [i], {}, node) is True]


@BUILTINS.register("print")
def _print(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    return None


_PY_TYPES = {"builtins.int": int, "builtins.float": float, "builtins.str": str, "builtins.list": list,
             "builtins.tuple": tuple, "builtins.dict": dict, "builtins.bool": bool}


def is_instance(args: list[Any]) -> Any:
    if len(args) != 2:
        return UNKNOWN
    value, kinds = args
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    results = []
    for kind in kinds:
        if isinstance(kind, External) and kind.qualname in _PY_TYPES:
            if value is UNKNOWN:
                return UNKNOWN
            if isinstance(value, dims.Expr):  # a symbolic size is an int
                results.append(_PY_TYPES[kind.qualname] is int)
                continue
            results.append(isinstance(value, _PY_TYPES[kind.qualname]))
        elif isinstance(kind, External) and kind.qualname in _ABSTRACT_TYPES:
            verdict = _abstract_instance(value, _ABSTRACT_TYPES[kind.qualname])
            if verdict is None:
                return UNKNOWN
            results.append(verdict)
        elif isinstance(kind, External) and (is_nn(kind.qualname) or kind.qualname.startswith("torch.")):
            if value is UNKNOWN:
                return UNKNOWN
            results.append(_is_torch_kind(value, tail(kind.qualname)))
        elif isinstance(kind, ClassValue):
            if isinstance(value, Instance):
                results.append(kind in value.cls.mro())
            elif isinstance(value, EnumMember):  # ``isinstance(weights, ResNet18_Weights)``
                results.append(kind in value.owner.mro())
            elif isinstance(value, (Layer, Container, OpaqueModule, Tensor, int, float, str, list, tuple, dict)):
                results.append(False)
            else:
                return UNKNOWN
        else:
            return UNKNOWN
    if any(r is None for r in results):
        return UNKNOWN
    return any(results)


_ABSTRACT_TYPES = {
    **{f"{module}.{name}": name for module in ("collections.abc", "typing", "collections")
       for name in ("Iterable", "Sequence", "Collection", "Container", "Sized")},
    "numbers.Number": "Number", "numbers.Real": "Real", "numbers.Integral": "Integral",
}
"""The abstract base classes people test arguments with (timm's ``_ntuple``: ``isinstance(x, Iterable)``)."""


def _abstract_instance(value: Any, kind: str) -> bool | None:
    """Whether a Python value is an instance of ``kind``; None for a value the analysis cannot type."""
    if value is UNKNOWN or isinstance(value, Tensor):
        return None  # a tensor is iterable but not a Sequence: not decided here
    if isinstance(value, dims.Expr):
        return kind in ("Number", "Real", "Integral")
    if isinstance(value, (bool, int, float, str, list, tuple, dict, range)) or value is None:
        python_kind = {"Iterable": abc.Iterable, "Sequence": abc.Sequence, "Collection": abc.Collection,
                       "Container": abc.Container, "Sized": abc.Sized, "Number": numbers.Number,
                       "Real": numbers.Real, "Integral": numbers.Integral}[kind]
        return isinstance(value, python_kind)
    if isinstance(value, (Layer, OpaqueModule, Instance, External, Partial)):
        return None if kind in ("Iterable", "Container", "Sized", "Collection") else False
    return None


def _is_torch_kind(value: Any, kind: str) -> bool | None:
    """Whether a value is a ``torch.nn.<kind>`` (or ``torch.Tensor``)."""
    if isinstance(value, Layer):
        return value.rule.op == kind or kind == "Module"
    if isinstance(value, Container):
        return kind in (value.kind, "Module")
    if isinstance(value, OpaqueModule):
        return kind in (value.name, "Module")
    if isinstance(value, Instance):
        return instance_of_external(value.cls, kind)
    if isinstance(value, Tensor):
        return kind == "Tensor"
    return False


def has_attr(args: list[Any]) -> Any:
    if len(args) != 2 or not isinstance(args[1], str):
        return UNKNOWN
    owner, name = args
    if isinstance(owner, Instance):
        return name in owner.attrs or owner.cls.lookup(name) is not None or name == "training"
    if isinstance(owner, Layer):
        return name in owner.args.values or name in ("weight", "bias", "forward")
    if isinstance(owner, (int, float, str, list, tuple, dict)):
        return hasattr(owner, name)
    if isinstance(owner, Record):
        return name in owner.fields
    return UNKNOWN


def type_of(value: Any) -> Any:
    """``type(x) == tuple`` as people test cfg entries: the builtin type of a Python value."""
    if isinstance(value, dims.Expr):
        return External("builtins.int")
    if isinstance(value, (bool, int, float, str, list, tuple, dict)) or value is None:
        return External(f"builtins.{type(value).__name__}")
    if isinstance(value, Tensor):
        return External("torch.Tensor")
    if isinstance(value, (Layer, Container)):
        return torch_class_of(value)
    if isinstance(value, Instance):
        return value.cls
    if isinstance(value, EnumMember):
        return value.owner
    if isinstance(value, Partial):
        return External("functools.partial")
    return UNKNOWN


def instance_of_external(cls: ClassValue, kind: str) -> bool | None:
    """Whether a class of the user's is a ``torch.nn.<kind>`` (through its bases)."""
    if kind == "Module":
        return cls.is_module
    for klass in cls.mro():
        for base in klass.bases:
            if isinstance(base, External) and tail(base.qualname) == kind:
                return True
    return False


_MATH_INT = {"floor", "ceil", "trunc", "gcd", "lcm", "isqrt", "comb", "perm", "factorial"}
"""``math`` functions that give an int (for a number argument): Python's own, with all their arguments."""
_MATH_FLOAT = {"log", "log2", "log10", "log1p", "sqrt", "exp", "exp2", "expm1", "pow", "fabs", "hypot", "copysign",
               "fmod", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh", "degrees",
               "radians", "cbrt", "fsum", "dist", "ldexp", "remainder", "modf", "frexp", "isclose", "isfinite",
               "isinf", "isnan"}
MAX_MATH_INT = 10 ** 15


def math_function(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any] | None = None) -> Any:
    """``math.<name>(*args)`` as Python computes it, on numbers; anything else (a symbolic size, an
    unknown) gives unknown, except ``math.prod`` of sizes. A call Python rejects is unknown too."""
    kwargs = kwargs or {}
    if any(a is UNKNOWN for a in (*args, *kwargs.values())):
        return UNKNOWN
    if name == "prod" and len(args) == 1 and set(kwargs) <= {"start"}:
        return _math_prod(cx, args[0], kwargs.get("start", 1))
    if name in ("fsum", "dist") and args:
        items = [cx.iterate(a) for a in args]
        if any(i is None or not all(_is_number(v) for v in i) for i in items):
            return UNKNOWN
        args = [list(i) for i in items]
    elif not all(_is_number(a) for a in (*args, *kwargs.values())):
        return UNKNOWN
    if name not in _MATH_INT and name not in _MATH_FLOAT:
        return UNKNOWN
    if name in ("factorial", "comb", "perm") and any(a > 1000 for a in args):
        return UNKNOWN  # a number too large to be a size
    try:
        result = getattr(math, name)(*args, **kwargs)
    except (ValueError, TypeError, OverflowError, ZeroDivisionError):
        return UNKNOWN
    if isinstance(result, int) and not isinstance(result, bool) and abs(result) > MAX_MATH_INT:
        return UNKNOWN
    if isinstance(result, float) and not math.isfinite(result):
        return UNKNOWN
    return result


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, dims.Expr)


def _math_prod(cx: Context, iterable: Any, start: Any) -> Any:
    items = cx.iterate(iterable)
    if items is None or not all(isinstance(i, (int, float, dims.Expr)) for i in (*items, start)):
        return UNKNOWN
    if all(isinstance(i, int) for i in (*items, start)):
        total = math.prod(items, start=start)
        return UNKNOWN if abs(total) > MAX_MATH_INT else total
    if any(isinstance(i, float) for i in (*items, start)):
        if any(isinstance(i, dims.Expr) for i in items):
            return UNKNOWN
        return math.prod(items, start=start)
    return dims.mul(start, dims.product(items)) if start != 1 else dims.product(items)


# ---------------------------------------------------------------------- methods of Python values
def list_method(cx: Context, target: list, name: str, args: list[Any], node: ast.AST | None = None,
                kwargs: dict[str, Any] | None = None) -> Any:
    if kwargs:  # ``layers.sort(key=..., reverse=True)``
        return sorted_in_place(cx, target, kwargs, node) if name == "sort" and not args else UNKNOWN
    if name == "append" and len(args) == 1:
        target.append(args[0])
        return None
    if name == "extend" and len(args) == 1:
        items = cx.iterate(args[0])
        if items is not None and len(target) + len(items) > LIMITS.sequence_length:
            items = None  # l.extend(l) in a loop doubles it
            cx.over_budget(node, f"a list of more than {LIMITS.sequence_length:,} items")
        if items is None:
            target.append(UNKNOWN)
        else:
            target.extend(items)
        return None
    if name == "insert" and len(args) == 2:
        if isinstance(args[0], int):
            target.insert(args[0], args[1])
        else:  # one more item, where the analysis cannot tell: every item is unknown, the length is not
            target[:] = [UNKNOWN] * (len(target) + 1)
        return None
    if name in ("pop", "index", "count") and (args or name == "pop"):
        try:
            return getattr(target, name)(*args)
        except Exception:
            if name == "pop" and target and len(args) == 1 and not isinstance(args[0], int):
                target[:] = [UNKNOWN] * (len(target) - 1)  # one item fewer, which one cannot be told
            return UNKNOWN
    if name == "copy":
        return list(target)
    return _reorder(target, name, args)


def _reorder(target: list, name: str, args: list[Any]) -> Any:
    """The list methods that change it in place and return None."""
    if name == "reverse" and not args:
        target.reverse()
        return None
    if name == "sort" and not args:
        try:
            target.sort()
        except TypeError:
            target[:] = [UNKNOWN] * len(target)  # an order the analysis cannot tell
        return None
    if name == "remove" and len(args) == 1:
        if args[0] in target:
            target.remove(args[0])
        else:
            target[:] = [UNKNOWN] * len(target)
        return None
    if name == "clear" and not args:
        target.clear()
        return None
    if name not in LIST_READS:  # ``__setitem__``, ``__delitem__``, ...: which items changed cannot be told
        target[:] = [UNKNOWN] * len(target)
    return UNKNOWN


LIST_READS = frozenset({"index", "count", "copy", "__len__", "__getitem__", "__contains__", "__iter__",
                        "__reversed__", "__repr__"})


def sorted_in_place(cx: Context, target: list, kwargs: dict[str, Any], node: ast.AST | None) -> None:
    """``items.sort(key=..., reverse=...)`` as Python sorts (stable); an order the analysis cannot tell
    leaves every item unknown."""
    key, reverse = kwargs.get("key"), kwargs.get("reverse", False)
    if set(kwargs) - {"key", "reverse"} or not isinstance(reverse, bool):
        target[:] = [UNKNOWN] * len(target)
        return None
    keys = [item if key is None else cx.call(key, [item], {}, node) for item in target]  # type: ignore[arg-type]
    try:
        order = sorted(range(len(target)), key=lambda i: keys[i], reverse=reverse)
    except TypeError:
        target[:] = [UNKNOWN] * len(target)
        return None
    if any(not isinstance(k, (int, float, str, tuple)) for k in keys):
        target[:] = [UNKNOWN] * len(target)  # UNKNOWN keys compare as objects: no order can be told
        return None
    target[:] = [target[i] for i in order]
    return None


def dict_method(cx: Context, target: dict, name: str, args: list[Any], node: ast.AST | None = None,
                kwargs: dict[str, Any] | None = None) -> Any:
    if kwargs:  # ``d.update(a=...)``
        if name == "update" and len(args) <= 1:
            if args:
                dict_method(cx, target, name, args, node)
            target.update(kwargs)
            return None
        target.clear()  # a change the analysis cannot follow: what the dict holds is unknown
        return UNKNOWN
    if name == "items":
        return list(target.items())
    if name == "keys":
        return list(target.keys())
    if name == "values":
        return list(target.values())
    if name in ("get", "pop") and args and not cx.affordable(args[0], node):
        return UNKNOWN  # hashing a key that nests exponentially
    if name == "get" and args:
        try:
            return target.get(args[0], args[1] if len(args) > 1 else None)
        except TypeError:
            return UNKNOWN
    if name == "update" and len(args) == 1:
        pairs = list(args[0].items()) if isinstance(args[0], dict) else cx.iterate(args[0])
        if pairs is None or not all(isinstance(p, (tuple, list)) and len(p) == 2 for p in pairs):
            return forget_dict(target)
        try:
            target.update(pairs)
        except TypeError:
            return forget_dict(target)
        return None
    if name == "pop" and args:
        try:
            return target.pop(*args)
        except Exception:
            return UNKNOWN if len(args) == 1 and args[0] in target else forget_dict(target)
    if name == "setdefault" and args and len(args) <= 2:
        try:
            return target.setdefault(args[0], args[1] if len(args) == 2 else None)
        except TypeError:
            return forget_dict(target)
    if name == "clear" and not args:
        target.clear()
        return None
    if name == "copy":
        return dict(target)
    if name in ("__contains__", "__len__", "__getitem__", "fromkeys"):
        return UNKNOWN
    return forget_dict(target)  # popitem, __setitem__, a method the analysis does not follow


def forget_dict(target: dict) -> Any:
    """A dict changed in a way the analysis cannot follow: its values are unknown (a module read back from it
    is unknown, never the one it held before)."""
    for key in target:
        target[key] = UNKNOWN
    return UNKNOWN


def str_method(cx: Context, target: str, name: str, args: list[Any], kwargs: dict[str, Any],
               node: ast.AST | None = None) -> Any:
    if name == "format":
        if not all(isinstance(v, (str, int, float)) for v in (*args, *kwargs.values())):
            return UNKNOWN  # never the text of an unknown value ("UNKNOWN_0")
        if not text_fits(target, [*args, *kwargs.values()]):
            return cx.over_budget(node, f"a string of more than {LIMITS.sequence_length:,} characters")
        try:
            return target.format(*args, **kwargs)
        except Exception:
            return UNKNOWN
    if name == "join" and len(args) == 1 and not kwargs:
        items = cx.iterate(args[0])
        if items is None or not all(isinstance(i, str) for i in items):
            return UNKNOWN
        if sum(len(i) for i in items) + len(target) * len(items) > LIMITS.sequence_length:
            return cx.over_budget(node, f"a string of more than {LIMITS.sequence_length:,} characters")
        return target.join(items)
    if kwargs or not all(isinstance(a, (str, int)) and not isinstance(a, bool) or a is None for a in args):
        return UNKNOWN
    if name == "replace" and len(args) >= 2 and isinstance(args[1], str) and \
            len(target) * (len(args[1]) + 1) > LIMITS.sequence_length:
        return cx.over_budget(node, f"a string of more than {LIMITS.sequence_length:,} characters")
    if name in _STR_TESTS or name in _STR_SHORTER or name == "replace":
        try:  # a bool, an int, or strings no longer than the target (replace: bounded just above)
            return getattr(target, name)(*args)
        except Exception:
            return UNKNOWN
    return UNKNOWN


# str methods whose result is a bool or an int, or a string or list no longer than the string itself
_STR_TESTS = frozenset({"startswith", "endswith", "isdigit", "isalpha", "isalnum", "isupper", "islower",
                        "isidentifier", "find", "rfind", "index", "rindex", "count"})
_STR_SHORTER = frozenset({"lower", "upper", "strip", "lstrip", "rstrip", "split", "rsplit", "capitalize",
                          "title", "casefold", "removeprefix", "removesuffix", "partition", "rpartition"})
