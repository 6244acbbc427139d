"""The vocabulary shared by every shape rule.

A rule is one small function per layer family, registered in a :class:`LayerRule`
with the constructor's signature (to bind the arguments as torch does), the
formula text shown in hovers, and the parameter count. Rules see arguments that
the abstract interpreter resolved: ints, symbolic :mod:`dims`, floats, bools,
strings, tuples, or :data:`UNKNOWN`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Union

from .. import dims
from ..dims import Dim
from ..limits import CannotTell

Shape = tuple[Union[Dim, None], ...]
"""A tensor shape; a ``None`` entry is a dimension nobody can know statically."""

Out = Union[Shape, None, tuple]
"""What a layer returns: a shape, unknown (None), or a tuple of such (LSTM)."""


class _Unknown:
    _instance = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        return False


UNKNOWN: Any = _Unknown()
"""An argument value the static analysis could not determine."""


@dataclass
class ShapeError(Exception):
    """The layer cannot accept its input; ``message`` is worded as torch words it."""

    code: str
    message: str
    blame: str | None = None
    """The constructor argument to change (``in_features``), if changing it fixes this."""
    expected: Dim | None = None
    """The value of ``blame`` that fits the input."""
    recover: Out = None
    """The output to continue with, as if the fix were applied (one error, no cascade)."""
    integer: bool = False
    """``blame`` holds a float where torch wants an int (``64 / 2``): the fix makes it one."""

    def __str__(self) -> str:
        return self.message


@dataclass
class Args:
    """Constructor arguments bound to their names, defaults filled in."""

    op: str
    values: dict[str, Any]

    def get(self, name: str) -> Any:
        return self.values.get(name)

    def known(self, name: str) -> Any:
        value = self.values.get(name, UNKNOWN)
        if value is UNKNOWN:
            raise CannotTell(name)
        return value

    def dim(self, name: str) -> Dim:
        value = self.known(name)
        if isinstance(value, bool) or not isinstance(value, (int, dims.Expr)):
            raise CannotTell(name)
        return value

    def int(self, name: str) -> int:
        value = self.known(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise CannotTell(name)
        return value

    def flag(self, name: str) -> bool:
        value = self.known(name)
        if not isinstance(value, (bool, int)):
            raise CannotTell(name)
        return bool(value)

    def ints(self, name: str, n: int) -> tuple[int, ...]:
        """An ``int`` or a tuple of ``n`` ints, as torch's ``_ntuple`` expands it."""
        value = self.known(name)
        if isinstance(value, (list, tuple)):
            if len(value) == 1 and n > 1:
                value = tuple(value) * n
            if len(value) != n or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                raise CannotTell(name)
            return tuple(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return (value,) * n
        raise CannotTell(name)


@dataclass
class Call:
    """One application of a layer: its bound arguments and input shapes."""

    args: Args
    inputs: list[Out]
    explain: list[str] = field(default_factory=list)
    """Formula lines with the numbers put in, for hovers."""
    notes: list[str] = field(default_factory=list)
    """Information worth a diagnostic (pixels dropped by a floor division)."""
    resolved: dict[str, Any] = field(default_factory=dict)
    """Arguments a lazy layer infers from its input (``in_features``)."""

    @property
    def x(self) -> Shape:
        if not self.inputs or not isinstance(self.inputs[0], tuple) or _is_nested(self.inputs[0]):
            raise CannotTell("input")
        return self.inputs[0]


def _is_nested(value: tuple) -> bool:
    return any(isinstance(v, tuple) or v is UNKNOWN for v in value)


InferFn = Callable[[Call], Out]
ParamsFn = Callable[[Args, dict], Union[Dim, None]]
TemplateFn = Callable[[Args, Dim], Union[Shape, None]]
WeightsFn = Callable[[Args, str], Union[tuple, None]]

SHAPE_KEEPING = ("Activation", "Dropout", "Normalization", "Utility")
CHANNEL_KEEPING = ("Pooling", "Padding", "Resizing")
REPARAMETRISATIONS = ("weight_norm", "spectral_norm")
"""``torch.nn.utils`` wrappers that return the layer they wrap (see ``docs/layers.md``)."""


@dataclass(frozen=True)
class Functional:
    """A ``torch.nn.functional`` form of a layer: ``F.max_pool2d(x, 2)`` uses the rule of ``MaxPool2d``."""

    name: str
    signature: tuple[str, ...] | None = None
    """Its positional parameters after the input, where they differ from the constructor's."""
    weighted: bool = False
    """``F.conv2d(x, weight, ...)``: the sizes come from the weight's shape; ``signature`` lists its parameters."""


@dataclass(frozen=True)
class LayerRule:
    """How one ``torch.nn`` layer transforms shapes."""

    op: str
    family: str
    signature: tuple[str, ...]
    """Constructor parameters in positional order, as in torch."""
    defaults: dict[str, Any]
    infer: InferFn
    formula: str
    """The general formula, shown in hovers and in docs/layers.md."""
    params: ParamsFn | None = None
    """Parameter count from the bound arguments (and what a lazy layer resolved)."""
    params_text: str = "0"
    parts: Callable[[Args, Shape], list[tuple[str, str, Shape, Shape]]] | None = None
    """For a layer built of submodules (TransformerEncoderLayer): the leaf calls it makes, in order,
    as (name relative to the layer, op, input shape, output shape), so paths match ``named_modules()``."""
    functional: tuple[Functional, ...] = ()
    """Its ``torch.nn.functional`` forms."""
    input_template: TemplateFn | None = None
    """The input of a model that starts with this layer, from the bound arguments and the batch's symbol:
    its rank and channels, the other sizes symbols (``(BS, 3, H, W)``); None where it cannot say."""
    weights: WeightsFn | None = None
    """The shape of its parameter ``weight`` or ``bias`` (``self.fc.weight``), an entry of it that is not
    known as it is, or None where it has none the analysis knows."""
    producer_arg: str | None = None
    """The argument that sets what it makes (``out_channels``): where a fix of a consumer's error goes."""
    sequence: bool = False
    """It works on sequences (an RNN, attention): its hints name dims as (L, N, E), not channels."""
    partial: InferFn | None = None
    """Where ``infer`` cannot tell (an argument is unknown): every dimension that does not depend on what
    is unknown, the others None (``Conv2d(3, 64, kernel_size=?)`` gives ``(BS, 64, ?, ?)``). It reports an
    error only where every size the check needs is known. Shape-keeping layers keep their input."""

    @property
    def keeps_shape(self) -> bool:
        """What comes out has the input's shape (an activation, a norm)."""
        return self.family in SHAPE_KEEPING

    @property
    def keeps_channels(self) -> bool:
        """What comes out has the input's channels (a pool, a pad, an upsampling)."""
        return self.family in CHANNEL_KEEPING

    def shape(self, call: Call) -> Out:
        """The output: the rule's, or where it cannot tell, what its :attr:`partial` form can."""
        try:
            return self.infer(call)
        except CannotTell:
            fallback = self.partial or (keep_input if self.keeps_shape and self.op not in RESHAPING else None)
            if fallback is None:
                raise
        call.explain.clear()  # lines of the attempt that stopped: the partial form writes its own
        call.notes.clear()
        return fallback(call)

    def bind(self, positional: list[Any], keywords: dict[str, Any]) -> Args:
        values = dict(self.defaults)
        for name, value in zip(self.signature, positional):
            values[name] = value
        for name, value in keywords.items():
            values[name] = value
        for name in self.signature:
            values.setdefault(name, UNKNOWN)
        return Args(self.op, values)

    def count_params(self, args: Args, resolved: dict) -> Dim | None:
        if self.params is None:
            return 0
        try:
            return self.params(args, resolved)
        except (CannotTell, TypeError):
            return None


RESHAPING = ("GLU", "Flatten", "Unflatten")
"""Layers of the shape-keeping families whose output need not have the input's shape."""


def keep_input(call: Call) -> Out:
    """The partial form of a layer that keeps its input's shape (an activation with an unknown argument,
    a norm with unknown ``num_features``): the input, with no check that needs what is unknown."""
    return call.x


def size_arg(args: Args, name: str) -> Dim | None:
    """An argument that is a size (an int or a symbolic dim), or None where it is not known as one."""
    value = args.values.get(name)
    return value if isinstance(value, (int, dims.Expr)) and not isinstance(value, bool) else None


def per_axis(args: Args, name: str, n: int) -> tuple[int | None, ...]:
    """An int-or-tuple argument as one value per axis, as torch's ``_ntuple`` expands it; None for each
    value that is not known as an int. A tuple of another length is torch's error: nothing is told."""
    value = args.values.get(name, UNKNOWN)
    if isinstance(value, (list, tuple)):
        items = tuple(value) * n if len(value) == 1 else tuple(value)
        if len(items) != n:
            raise CannotTell(name)
        return tuple(v if isinstance(v, int) and not isinstance(v, bool) else None for v in items)
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,) * n
    return (None,) * n


def known_flag(args: Args, name: str) -> bool | None:
    value = args.values.get(name)
    return value if isinstance(value, bool) else None


SPATIAL_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def size_or_symbol(args: Args, name: str | None, symbol: str = "C") -> Dim:
    """An argument that is a size, or a symbol where it is not known as one."""
    value = args.values.get(name) if name else None
    return value if isinstance(value, (int, dims.Expr)) and not isinstance(value, bool) else dims.sym(symbol)


def channels_first(n: int, channels: str | None = None) -> TemplateFn:
    """The input ``(N, C, *spatial)`` of an n-d layer; C is the argument ``channels`` where it is a size."""
    def template(args: Args, batch: Dim) -> Shape:
        return (batch, size_or_symbol(args, channels), *(dims.sym(s) for s in SPATIAL_NAMES[n]))
    return template


def features_last(name: str | None) -> TemplateFn:
    """The input ``(N, features)`` of a layer on vectors."""
    def template(args: Args, batch: Dim) -> Shape:
        return (batch, size_or_symbol(args, name))
    return template


def sequence_of(features: str) -> TemplateFn:
    """The input ``(L, N, E)`` of a layer on sequences, ``(N, L, E)`` with ``batch_first``."""
    def template(args: Args, batch: Dim) -> Shape:
        feat = size_or_symbol(args, features)
        length = dims.sym("L")
        return (batch, length, feat) if args.values.get("batch_first") is True else (length, batch, feat)
    return template


def fmt_shape(shape: Out) -> str:
    """``[BS, 16, 6, 6]``, as torch prints sizes in its messages."""
    if not isinstance(shape, tuple):
        return "[?]"
    return "[" + ", ".join(dims.to_text(d) for d in shape) + "]"


def ntuple(value: Any, n: int) -> tuple:
    """What a module stores of a size argument: torch's ``_ntuple(n)`` keeps a sequence as it is and
    repeats anything else ``n`` times."""
    return tuple(value) if isinstance(value, (list, tuple)) else (value,) * n


def check_rank(x: Shape, ranks: tuple[int, ...], message: str) -> None:
    if len(x) not in ranks:
        raise ShapeError("rank-mismatch", message)


def rank_message(name: str, n: int, x: Shape) -> str:
    """torch's wording for a convolution or pooling fed the wrong rank."""
    return (f"Expected {n + 1}D (unbatched) or {n + 2}D (batched) input to {name}, "
            f"but got input of size: {fmt_shape(x)}")


def window(size: Dim | None, kernel: int, stride: int, padding: int, dilation: int,
           ceil_mode: bool = False) -> Dim | None:
    """The sliding-window output size shared by convolution and pooling."""
    if size is None:
        return None
    span = dilation * (kernel - 1) + 1
    numerator = dims.sub(dims.add(size, 2 * padding), span)
    if not ceil_mode:
        return dims.add(dims.floordiv(numerator, stride), 1)
    out = dims.add(dims.ceildiv(numerator, stride), 1)
    if isinstance(out, int) and isinstance(size, int):
        # the last window must start inside the input or its left padding
        if (out - 1) * stride >= size + padding:
            out -= 1
        return out
    if isinstance(numerator, int) or stride == 1:
        return out
    raise CannotTell("ceil_mode with a symbolic size")


def window_explain(axis: str, size: Dim | None, kernel: int, stride: int, padding: int,
                   dilation: int, out: Dim | None, ceil_mode: bool = False) -> str:
    rounding = "ceil" if ceil_mode else "floor"
    return (f"{axis}_out = {rounding}(({dims.to_text(size)} + 2*{padding} - {dilation}*({kernel} - 1) - 1)"
            f" / {stride}) + 1 = {dims.to_text(out)}")


def dropped_note(axis: str, size: Dim | None, kernel: int, stride: int, padding: int,
                 dilation: int) -> str | None:
    """Say so when a floor division silently leaves input pixels unused (not just padding)."""
    if not isinstance(size, int) or stride == 1:
        return None
    numerator = size + 2 * padding - dilation * (kernel - 1) - 1
    unused = numerator % stride - padding  # the windows stop short of the padded edge; padding goes first
    if numerator < 0 or unused <= 0:
        return None
    exact = numerator / stride + 1
    unit = "row" if axis == "H" else "column" if axis == "W" else "position"
    many = unused > 1
    return (f"{axis}: ({size} + 2*{padding} - {dilation}*({kernel} - 1) - 1) / {stride} + 1 = "
            f"{exact:g} -> {numerator // stride + 1}: the last {unused} {unit}{'s' * many} of the input "
            f"{'are' if many else 'is'} never used")


SPATIAL_AXES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
