"""Pure-Python helpers a model file calls for its sizes and hyper-parameters, with their real semantics:
torch's ``_single``/``_pair``/``_triple``/``_quadruple``/``_ntuple``, ``itertools.repeat``, numpy's scalar
functions on numbers, ``types.SimpleNamespace``, ``argparse`` (defaults only), ``collections.namedtuple``,
``dataclasses.field`` and ``enum`` members."""

from __future__ import annotations

import ast
import collections
import keyword
import math
from fractions import Fraction
from typing import Any

from .. import dims
from ..layers import UNKNOWN
from ..values import (
    ArgumentParser,
    BoundMethod,
    ClassValue,
    EnumMember,
    External,
    FieldDefault,
    FunctionValue,
    MethodOf,
    NumberArray,
    Partial,
    Record,
    Tensor,
)
from .context import Context, Registry

STDLIB = Registry("stdlib")
NOT_HANDLED: Any = object()
MAX_REPEAT = 10_000
INT64 = 2 ** 63
_TORCH_UTILS = "torch.nn.modules.utils."
_NTUPLE_PARSE = "torch.nn.modules.utils._ntuple.<parse>"
_N_OF = {"_single": 1, "_pair": 2, "_triple": 3, "_quadruple": 4}


def stdlib_call(cx: Context, qualname: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    """The value of ``qualname(*args, **kwargs)`` when it is one of the helpers here, else ``NOT_HANDLED``."""
    if not qualname.startswith(_HANDLED_ROOTS):  # torch.nn.Conv2d and the like: every layer is built here
        return NOT_HANDLED
    key = _canonical(qualname)
    handler = STDLIB.get(key)
    if handler is None:
        if key.startswith("numpy."):
            return numpy_function(cx, key[len("numpy."):], args, kwargs)
        return NOT_HANDLED
    try:
        return handler(cx, key, args, kwargs, node)
    except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError, OverflowError):
        return UNKNOWN


_HANDLED_ROOTS = ("argparse.", "builtins.", "collections.", "dataclasses.", "itertools.", "types.", "typing.",
                  "numpy.", "np.", "torch.nn.modules.")
"""Where the helpers of this module live (``np.`` is an unresolved ``np`` alias); a test keeps it whole."""


def _canonical(qualname: str) -> str:
    """One name for each helper, however it was imported (``torch.nn.utils`` re-exports nothing of these;
    ``np.`` is what an unresolved ``np`` alias reads as)."""
    if qualname.startswith("np."):
        return "numpy." + qualname[3:]
    if not qualname.startswith("torch.nn.modules."):  # the common case: every torch.nn layer's name
        return qualname
    for alias in ("torch.nn.modules.conv._", "torch.nn.modules.pooling._"):  # torch's own modules import them
        if qualname.startswith(alias) and qualname.rsplit(".", 1)[-1] in (*_N_OF, "_ntuple"):
            return _TORCH_UTILS + qualname.rsplit(".", 1)[-1]
    return qualname


# ---------------------------------------------------------------------- torch.nn.modules.utils
def ntuple(value: Any, n: int) -> Any:
    """torch's ``_ntuple(n)(x)``: ``tuple(x)`` for an iterable, else ``(x,) * n``."""
    if value is UNKNOWN or isinstance(value, Tensor):
        return UNKNOWN
    if isinstance(value, (list, tuple, range, str)):
        return tuple(value)
    if isinstance(value, dict):
        return tuple(value.keys())
    if value is None or isinstance(value, (int, float, dims.Expr)):
        return (value,) * n
    return UNKNOWN  # a module, an opaque value: whether it iterates is not known here


@STDLIB.register(*(_TORCH_UTILS + name for name in _N_OF))
def _fixed_ntuple(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    if len(args) != 1 or kwargs:
        return UNKNOWN
    return ntuple(args[0], _N_OF[name.rsplit(".", 1)[-1]])


@STDLIB.register(_TORCH_UTILS + "_ntuple")
def _make_ntuple(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    n = args[0] if args else kwargs.get("n")
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= MAX_REPEAT:
        return UNKNOWN
    return Partial(External(_NTUPLE_PARSE), [n], {})


@STDLIB.register(_NTUPLE_PARSE)
def _ntuple_parse(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    return ntuple(args[1], args[0]) if len(args) == 2 and not kwargs else UNKNOWN


@STDLIB.register(_TORCH_UTILS + "_reverse_repeat_tuple")
def _reverse_repeat(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    if len(args) != 2 or not isinstance(args[1], int) or not isinstance(args[0], (tuple, list)):
        return UNKNOWN
    return tuple(x for x in reversed(args[0]) for _ in range(args[1]))


@STDLIB.register("itertools.repeat")
def _repeat(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    times = args[1] if len(args) > 1 else kwargs.get("times", UNKNOWN)
    if not args or not isinstance(times, int) or isinstance(times, bool) or times > MAX_REPEAT:
        return UNKNOWN  # an endless repeat is only ever zipped: not followed
    return [args[0]] * max(times, 0)


# ---------------------------------------------------------------------- hyper-parameter objects
@STDLIB.register("types.SimpleNamespace", "argparse.Namespace")
def _namespace(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    if args and not (name == "types.SimpleNamespace" and len(args) == 1 and isinstance(args[0], dict)):
        return UNKNOWN
    fields = {str(k): v for k, v in (args[0] if args else {}).items()}
    fields.update(kwargs)
    return Record(name.rsplit(".", 1)[-1], fields)


@STDLIB.register("builtins.vars")
def _vars(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    if len(args) == 1 and isinstance(args[0], Record):
        return args[0].fields  # the namespace's own dict: a write to it is a write to the namespace
    return UNKNOWN


@STDLIB.register("argparse.ArgumentParser")
def _parser(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    return ArgumentParser()


def parser_method(parser: ArgumentParser, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """``add_argument`` and friends record defaults; ``parse_args([])`` gives them. What the command line
    would give (``parse_args()``) is never guessed: every attribute is unknown then."""
    if name == "add_argument":
        _add_argument(parser, args, kwargs)
        return None
    if name in ("add_argument_group", "add_mutually_exclusive_group"):
        return parser  # its arguments are the parser's
    if name == "set_defaults":
        parser.defaults.update(kwargs)
        return None
    if name in ("parse_args", "parse_known_args"):
        given = args[0] if args else kwargs.get("args")
        namespace = _parse(parser, given)
        if name == "parse_known_args":
            return UNKNOWN if namespace is UNKNOWN else (namespace, [])
        return namespace
    if name in ("print_help", "print_usage", "add_subparsers"):
        parser.broken = parser.broken or name == "add_subparsers"
        return None if name != "add_subparsers" else UNKNOWN
    return UNKNOWN


def _parse(parser: ArgumentParser, given: Any) -> Any:
    if parser.broken:
        return UNKNOWN
    if given is None:  # sys.argv: the defaults may be overridden, the destinations stay
        return Record("Namespace", {dest: UNKNOWN for dest in parser.defaults})
    if not isinstance(given, (list, tuple)) or given or parser.required:
        return UNKNOWN  # arguments would have to be parsed (or argparse exits): not followed
    return Record("Namespace", dict(parser.defaults))


_STORE_CONSTANT = {"store_true": False, "store_false": True}


def _add_argument(parser: ArgumentParser, args: list[Any], kwargs: dict[str, Any]) -> None:
    if not args or not all(isinstance(a, str) for a in args):
        parser.broken = True
        return
    optional = args[0].startswith("-")
    dest = kwargs.get("dest")
    if dest is None:
        longs = [a for a in args if a.startswith("--")]
        dest = (longs[0] if longs else args[0]).lstrip("-").replace("-", "_") if optional else args[0]
    if not isinstance(dest, str):
        parser.broken = True
        return
    if not optional or kwargs.get("required") is True:
        if not optional and kwargs.get("nargs") in ("?", "*"):
            empty = [] if kwargs.get("nargs") == "*" and "default" not in kwargs else None
            parser.defaults[dest] = _default(kwargs) if empty is None else empty
            return
        parser.required = True
        return
    action = kwargs.get("action", "store")
    if kwargs.get("default") == External("argparse.SUPPRESS"):
        parser.defaults.pop(dest, None)  # no attribute at all unless given on the command line
        return
    if action in _STORE_CONSTANT:
        parser.defaults[dest] = kwargs.get("default", _STORE_CONSTANT[action])
    elif action in ("store", "append", "count", "store_const", "extend"):
        parser.defaults[dest] = _default(kwargs)
    elif action in ("help", "version"):
        return
    else:
        parser.defaults[dest] = UNKNOWN  # an action class of the user's


def _default(kwargs: dict[str, Any]) -> Any:
    """argparse converts a string default with ``type``; any other default is used as it is."""
    default = kwargs.get("default")
    kind = kwargs.get("type")
    if isinstance(default, str) and kind is not None:
        convert = {"builtins.int": int, "builtins.float": float, "builtins.str": str}.get(
            kind.qualname if isinstance(kind, External) else "")
        if convert is None:
            return UNKNOWN
        try:
            return convert(default)
        except ValueError:
            return UNKNOWN
    return default


@STDLIB.register("collections.namedtuple", "typing.NamedTuple")
def _namedtuple(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    """A real namedtuple class over valid field names: its instances are tuples the analysis indexes and
    unpacks, whose fields ``get_attr`` reads."""
    if len(args) != 2 or not isinstance(args[0], str):
        return UNKNOWN
    fields = args[1]
    if isinstance(fields, str):
        fields = fields.replace(",", " ").split()
    items = cx.iterate(fields)
    if items is None:
        return UNKNOWN
    if name == "typing.NamedTuple":  # NamedTuple('P', [('x', int), ...])
        if not all(isinstance(i, tuple) and len(i) == 2 for i in items):
            return UNKNOWN
        items = [i[0] for i in items]
    defaults = kwargs.get("defaults")
    if defaults is not None:
        defaults = cx.iterate(defaults)
        if defaults is None:
            return UNKNOWN
    if not all(isinstance(f, str) and f.isidentifier() and not keyword.iskeyword(f) and not f.startswith("_")
               for f in items) or len(set(items)) != len(items) or len(items) > 255:
        return UNKNOWN
    return collections.namedtuple("Record", items, defaults=defaults)  # type: ignore[misc]


def namedtuple_attr(value: tuple, name: str) -> Any:
    """A field of a namedtuple instance made by :func:`_namedtuple`, or ``NOT_HANDLED``."""
    fields = getattr(type(value), "_fields", None)
    if isinstance(fields, tuple) and name in fields:
        return getattr(value, name)
    if isinstance(fields, tuple) and name == "_fields":
        return fields
    return NOT_HANDLED


def namedtuple_method(value: tuple, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """``block_args._replace(input_filters=32)`` (EfficientNet's block arguments) and ``_asdict()``."""
    if not is_namedtuple_class(type(value)) or args:
        return UNKNOWN
    try:
        if name == "_replace":
            return value._replace(**kwargs)  # type: ignore[attr-defined]
        if name == "_asdict" and not kwargs:
            return dict(value._asdict())  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return UNKNOWN  # a field it does not have: Python raises
    return UNKNOWN


def set_namedtuple_defaults(owner: Any, name: str, value: Any) -> bool:
    """``GlobalParams.__new__.__defaults__ = (None,) * len(GlobalParams._fields)`` (EfficientNet-PyTorch):
    the defaults of a namedtuple made here, when they are plain values. Whether it was handled."""
    if not (isinstance(owner, MethodOf) and owner.name == "__new__" and name == "__defaults__"
            and is_namedtuple_class(owner.target)):
        return False
    plain = value is None or isinstance(value, tuple) and len(value) <= len(owner.target._fields) \
        and all(v is None or isinstance(v, (int, float, str, bool)) for v in value)
    owner.target.__new__.__defaults__ = value if plain else None
    if not plain:
        owner.target.__analysis_unknown_defaults__ = True
    return True


@STDLIB.register("dataclasses.field")
def _field(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
    return FieldDefault(kwargs.get("default", UNKNOWN if "default_factory" in kwargs else None),
                        kwargs.get("default_factory"))


def enum_members(cls: ClassValue) -> None:
    """``class Act(Enum): RELU = 'relu'``: each plain value of the body becomes a member."""
    if len(cls.bases) != 1 or not plain_enum(cls.bases[0]):
        return  # IntEnum, StrEnum, a str or int mixin: members that compare as their values, not followed
    for name, value in list(cls.namespace.items()):
        if name.startswith("_") or isinstance(value, (FunctionValue, FieldDefault)) or _is_method(value):
            continue  # a method (a def, a lambda, a property) is no member
        alias = next((m for m in cls.namespace.values() if isinstance(m, EnumMember) and
                      isinstance(value, (int, float, str, tuple)) and type(m.value) is type(value) and
                      m.value == value), None)
        cls.namespace[name] = alias or EnumMember(cls, name, value)


def plain_enum(base: Any) -> bool:
    """``enum.Enum``, or a class of its own that extends it without members (torchvision's ``WeightsEnum``:
    only methods), whose subclasses are enums with its methods."""
    if isinstance(base, ClassValue):
        return len(base.bases) == 1 and not is_enum(base) and plain_enum(base.bases[0])
    return base == External("enum.Enum")


def _is_method(value: Any) -> bool:
    return isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str) \
        and isinstance(value[1], FunctionValue)


def enum_attr(member: EnumMember, name: str) -> Any:
    if name == "value":
        return member.value
    if name == "name":
        return member.name
    method = member.owner.lookup(name)
    if isinstance(method, FunctionValue):
        return BoundMethod(method, member)  # a method of the enum class, called on the member
    return UNKNOWN


def enum_lookup(cls: ClassValue, key: Any) -> Any:
    """``Act('relu')`` (by value) or ``Act['RELU']`` (by name)."""
    for member in cls.namespace.values():
        if isinstance(member, EnumMember) and member.value == key and type(member.value) is type(key):
            return member
    return UNKNOWN


def is_enum(cls: ClassValue) -> bool:
    return any(isinstance(m, EnumMember) for m in cls.namespace.values())


# ---------------------------------------------------------------------- numpy on numbers
def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _int64(value: int) -> Any:
    """numpy's int64 wraps around where Python's int grows: outside its range, unknown."""
    return value if -INT64 <= value < INT64 else UNKNOWN


def _flat(cx: Context, value: Any) -> list[Any] | None:
    if isinstance(value, NumberArray):
        return list(value.items)
    if _number(value) or isinstance(value, dims.Expr):
        return [value]
    items = cx.iterate(value) if isinstance(value, (list, tuple, range)) else None
    if items is None:
        return None
    out: list[Any] = []
    for item in items:
        inner = _flat(cx, item)
        if inner is None:
            return None
        out.extend(inner)
    return out


def numpy_reduce(items: list[Any], name: str) -> Any:
    """``np.prod``/``np.sum``/``np.max``/``np.min`` over numbers: numpy's dtype rules (all ints give an
    int64, a float anywhere gives a float64; the empty product is the float 1.0). Symbolic sizes
    (``np.prod(x.shape[1:])``) multiply and add as sizes."""
    if items and all(isinstance(i, (int, dims.Expr)) and not isinstance(i, bool) for i in items) \
            and any(isinstance(i, dims.Expr) for i in items):
        if name == "prod":
            return dims.product(items)
        if name == "sum":
            total: Any = 0
            for item in items:
                total = dims.add(total, item)
            return total
        return UNKNOWN
    if not all(_number(i) for i in items):
        return UNKNOWN
    if not items:
        return {"prod": 1.0, "sum": 0.0}.get(name, UNKNOWN)
    if all(isinstance(i, int) for i in items):
        if not all(-INT64 <= i < INT64 for i in items):
            return UNKNOWN
        total = {"prod": math.prod, "sum": sum, "max": max, "min": min}[name](items)
        return _int64(total)
    floats = [float(i) for i in items]
    if len(floats) >= 8:
        return UNKNOWN  # numpy reduces longer arrays in blocks: not always in Python's order
    if name == "sum":
        return math.fsum(floats) if len(floats) == 1 else sum(floats)
    return {"prod": math.prod, "max": max, "min": min}[name](floats)


_NUMPY_EXACT = {"log": math.e, "log2": 2, "log10": 10, "exp": None}


def _exact_transcendental(name: str, value: float) -> Any:
    """numpy computes exp and the logs with its own vectorised code, which may differ from Python's ``math``
    in the last bit: only the results that are exact in both are known (``np.log2(64)`` is 6.0)."""
    if name == "exp":
        return 1.0 if value == 0 else UNKNOWN
    base = _NUMPY_EXACT[name]
    if value == 1:
        return 0.0
    if name == "log" or value <= 0:
        return UNKNOWN
    exponent = round(math.log(value, base))
    if abs(exponent) <= 300 and (base ** exponent == value if exponent >= 0 else base ** -exponent * value == 1):
        return float(exponent)
    return UNKNOWN
_NUMPY_ROUND = {"ceil": math.ceil, "floor": math.floor, "trunc": math.trunc}
_NUMPY_REDUCE = {"prod": "prod", "product": "prod", "sum": "sum", "max": "max", "amax": "max", "min": "min",
                 "amin": "min"}


def numpy_function(cx: Context, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """numpy's functions of numbers, as numpy computes them; an np.int64 is an int here and an np.float64
    a float (torch's layers take them as they take Python's). What numpy warns about (a log of 0, a
    negative integer power, an int64 overflow) and np.float32's rounding are unknown."""
    if kwargs or any(a is UNKNOWN for a in args):
        return UNKNOWN
    if name in _NUMPY_REDUCE and len(args) == 1:
        items = _flat(cx, args[0])
        return UNKNOWN if items is None else numpy_reduce(items, _NUMPY_REDUCE[name])
    if name in ("array", "asarray") and len(args) == 1:
        items = _flat(cx, args[0])
        if items is None or not all(_number(i) for i in items):
            return UNKNOWN
        flat = isinstance(args[0], NumberArray) and args[0].shape is not None and len(args[0].shape) == 1 or \
            isinstance(args[0], (list, tuple)) and all(_number(i) for i in args[0])
        if any(isinstance(i, float) for i in items):  # one dtype for all: float64 where any item is a float
            if any(isinstance(i, int) and abs(i) > EXACT_FLOAT for i in items):
                return UNKNOWN
            items = [float(i) for i in items]
        return NumberArray(tuple(items), (len(items),) if flat else None)
    if name == "diff" and len(args) == 1 and isinstance(args[0], NumberArray) and args[0].shape is not None \
            and len(args[0].shape) == 1:
        items = args[0].items
        return array_arith(ast.Sub, NumberArray(items[1:], (max(len(items) - 1, 0),)),
                           NumberArray(items[:-1], (max(len(items) - 1, 0),)))
    if name == "linspace" and len(args) == 3 and all(_number(a) for a in args):
        return _linspace(*args)
    if not args or not all(_number(a) for a in args):
        return UNKNOWN
    try:
        return _numpy_scalar(name, args)
    except (ValueError, OverflowError, ZeroDivisionError):
        return UNKNOWN


def _linspace(start: float, stop: float, num: int) -> Any:
    """``np.linspace(start, stop, num)`` (drop-path rates): numpy's own arithmetic, ``i * step + start`` with
    the last item ``stop`` itself."""
    if not isinstance(num, int) or not 0 <= num <= MAX_REPEAT:
        return UNKNOWN
    start, stop = float(start), float(stop)
    div = num - 1
    delta = stop - start
    if div <= 0:
        return NumberArray(tuple(i * delta + start for i in range(num)), (num,))
    step = delta / div
    items = [(i / div * delta if step == 0 else i * step) + start for i in range(num)]
    items[-1] = stop
    return NumberArray(tuple(items), (num,))


def _numpy_scalar(name: str, args: list[Any]) -> Any:
    if name in ("int64", "int_", "intp", "int32", "int16", "int8", "uint8") and len(args) == 1:
        value = math.trunc(args[0])
        bits = {"int32": 32, "int16": 16, "int8": 8, "uint8": 8}.get(name, 64)
        low, high = (0, 2 ** bits) if name == "uint8" else (-(2 ** (bits - 1)), 2 ** (bits - 1))
        return value if low <= value < high else UNKNOWN
    if name in ("float64", "float_", "double") and len(args) == 1:
        return float(args[0])
    if name == "sqrt" and len(args) == 1:
        return math.sqrt(args[0]) if args[0] >= 0 else UNKNOWN  # correctly rounded in both: the same float
    if name in _NUMPY_EXACT and len(args) == 1:
        return _exact_transcendental(name, args[0])
    if name in _NUMPY_ROUND and len(args) == 1:
        if isinstance(args[0], int):
            return UNKNOWN  # an int64 since numpy 2.1, a float64 before: the type depends on the version
        return float(_NUMPY_ROUND[name](args[0]))
    if name == "power" and len(args) == 2:
        base, exponent = args
        if isinstance(base, int) and isinstance(exponent, int):
            if exponent < 0 or exponent > 64 and abs(base) > 1:
                return UNKNOWN  # numpy raises for a negative integer power; a larger one overflows
            return _int64(base ** exponent)
        return _exact_float_power(base, exponent)
    if name == "abs" and len(args) == 1:
        return abs(args[0])
    if name in ("round", "around") and len(args) == 1:  # half to even, as Python's round
        return args[0] if isinstance(args[0], int) else float(round(args[0]))
    if name in ("maximum", "minimum") and len(args) == 2:
        picked = max(args) if name == "maximum" else min(args)
        return float(picked) if any(isinstance(a, float) for a in args) else picked
    return UNKNOWN


def _exact_float_power(base: Any, exponent: Any) -> Any:
    """np.power of floats where the result is exact: numpy's pow and Python's may differ in the last bit
    otherwise (np.power(54.2734375, 23)), so only a whole exponent whose exact result is a float is known."""
    if not float(exponent).is_integer() or abs(exponent) > 64 or not math.isfinite(base):
        return UNKNOWN
    if base == 0 and exponent < 0:
        return UNKNOWN
    exact = Fraction(base) ** int(exponent)
    try:
        result = float(exact)
    except OverflowError:
        return UNKNOWN
    return result if Fraction(result) == exact else UNKNOWN


def array_method(cx: Context, array: NumberArray, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    if args or kwargs:
        return UNKNOWN
    if name in _NUMPY_REDUCE:
        return numpy_reduce(list(array.items), _NUMPY_REDUCE[name])
    if name == "tolist":
        return list(array.items)
    if name == "item" and len(array.items) == 1:
        return array.items[0]
    return UNKNOWN


def array_items(array: NumberArray, key: Any) -> Any:
    """``dpr[i]`` of a 1-D array of numbers; a slice is an array again."""
    if isinstance(key, slice):
        items = array.items[key]
        return NumberArray(items, (len(items),) if array.shape is not None and len(array.shape) == 1 else None)
    if isinstance(key, int) and not isinstance(key, bool) and -len(array.items) <= key < len(array.items):
        return array.items[key]
    return UNKNOWN


_CONSTANTS = {"math.pi": math.pi, "math.e": math.e, "math.tau": math.tau, "numpy.pi": math.pi, "numpy.e": math.e}


def external_constant(qualname: str) -> Any:
    """The value of a library constant (``math.pi``), or the name itself when it is not one."""
    if not qualname.startswith(("math.", "numpy.", "np.")):
        return External(qualname)
    return _CONSTANTS.get(_canonical(qualname), External(qualname))


def attribute_of_value(owner: Any, name: str) -> Any:
    """An attribute of a value made here (a namespace, an enum member, a namedtuple), or ``NOT_HANDLED``."""
    if isinstance(owner, Record):
        return owner.fields.get(name, UNKNOWN)
    if isinstance(owner, EnumMember):
        return enum_attr(owner, name)
    if isinstance(owner, tuple):
        return namedtuple_attr(owner, name)
    if is_namedtuple_class(owner) and name == "_fields":
        return owner._fields
    return NOT_HANDLED


def enum_member_named(cls: ClassValue, name: str) -> Any:
    member = cls.namespace.get(name)
    return member if isinstance(member, EnumMember) else UNKNOWN


def is_namedtuple_class(value: Any) -> bool:
    """A class made by :func:`_namedtuple` (never any other Python class: the analysis holds no others)."""
    return isinstance(value, type) and issubclass(value, tuple) and isinstance(getattr(value, "_fields", None), tuple)


def make_namedtuple(cls: type, args: list[Any], kwargs: dict[str, Any]) -> Any:
    if getattr(cls, "__analysis_unknown_defaults__", False):
        return UNKNOWN  # defaults the analysis could not set: which fields they fill is not known
    try:
        return cls(*args, **kwargs)
    except TypeError:
        return UNKNOWN  # a field missing or given twice: Python raises


EXACT_FLOAT = 2 ** 53
"""Integers numpy and Python both turn into the same float64 (every one up to this is exact)."""
_ARRAY_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
              ast.Div: lambda a, b: a / b}


def array_arith(op: type, left: Any, right: Any) -> Any:
    """``mel / 2``, ``hz[1:] - hz[:-1]``: a 1-D array of numbers with a number or an array of its length,
    item by item as numpy computes it (float64 or int64: Python's float arithmetic is IEEE's, as numpy's;
    an int past int64 or one that does not convert exactly is unknown)."""
    fn = _ARRAY_OPS.get(op)
    arrays = [v for v in (left, right) if isinstance(v, NumberArray)]
    if fn is None or any(a.shape is None or len(a.shape) != 1 for a in arrays):
        return UNKNOWN
    length = len(arrays[0].items)
    sides = []
    for value in (left, right):
        if isinstance(value, NumberArray):
            if len(value.items) != length:
                return UNKNOWN
            sides.append(list(value.items))
        elif _number(value):
            sides.append([value] * length)
        else:
            return UNKNOWN
    floats = op is ast.Div or any(isinstance(v, float) for side in sides for v in side)
    if floats:
        if any(isinstance(v, int) and abs(v) > EXACT_FLOAT for side in sides for v in side):
            return UNKNOWN
        sides = [[float(v) for v in side] for side in sides]
    try:
        items = tuple(fn(a, b) for a, b in zip(*sides))
    except ZeroDivisionError:
        return UNKNOWN  # numpy gives inf or nan with a warning
    if not floats and any(not -INT64 <= v < INT64 for v in items):
        return UNKNOWN
    if floats and any(math.isinf(v) or math.isnan(v) for v in items):
        return UNKNOWN
    return NumberArray(items, (length,))
