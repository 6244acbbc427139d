"""The abstract values the interpreter computes with.

Plain Python values (ints, floats, strings, tuples, lists, dicts, ranges) stand
for themselves; symbolic dimensions are :class:`dims.Expr`; anything the
analysis cannot know is :data:`UNKNOWN`. The classes below model what a model
file builds: tensors (shapes only), layers, containers and instances of the
user's classes.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from . import dims
from .layers import UNKNOWN, Args, LayerRule, Shape
from .libraries import MODELED_ROOTS

NOT_COUNTED: Any = object()
"""A layer's parameter count before it is applied."""

if TYPE_CHECKING:
    from .findings import Finding

__all__ = ["UNKNOWN"]


@dataclass(eq=False)
class Tensor:
    shape: Shape | None
    flat_from: tuple | None = None
    """The dims whose product is the last dim, when it was made by a flatten (for fixes: ``16 * 6 * 6``)."""
    taint: Finding | None = None
    """An upstream error whose recovery produced this tensor: later errors belong to that one."""
    producer: Layer | None = None
    """The layer that set this tensor's features or channels (for the fix "change its out_features")."""
    channels_from: Any = None
    """For a flatten of (C, H, W): the layer that made the C channels (a Linear after it that does not
    fit may be that layer's mistake, when a layer before the flatten wants other channels too)."""
    swallowed: Any = None
    """The call that flattened everything, batch included (``x.view(-1)``, ``torch.flatten(x)``,
    ``nn.Flatten(0)``), when this tensor is its result: a Linear after it gets one row."""
    joined: tuple = ()
    """For a concatenation on the channels (``torch.cat([a, b], 1)``): (the layer that made them, how many)
    for each part, so that a fix may change the branch that makes too many."""
    is_parameter: bool = False
    """Made by ``nn.Parameter``: registered on the module it is assigned to, and counted."""
    values: tuple | None = None
    """The elements of a small 1-D tensor made from numbers (``torch.linspace(0, 0.1, depth)``), so that
    ``.item()`` and ``.tolist()`` give them; any op on the tensor forgets them."""
    parameter_of: tuple | None = None
    """(the layer, ``"weight"``/``"bias"``) for a layer's parameter read back (``m.weight``): assigning it to
    its own layer changes nothing, to another one ties the two (torch counts it once)."""
    is_input: bool = False
    """The model's input, or a tensor of the same shape made from it (``x.float()``): a first layer applied
    to it tells the input's rank and channels; one applied after a reshape or a transpose does not."""

    def keep_flatten_of(self, source: Tensor) -> None:
        """This tensor has ``source``'s shape: what its last dim was flattened from is still true."""
        self.flat_from, self.channels_from, self.joined = source.flat_from, source.channels_from, source.joined

    def derive(self, shape: Shape | None, keep_flat: bool = False) -> Tensor:
        """A tensor made from this one; ``keep_flat`` where the op keeps the shape (``x.float()``, ``x * 2``)."""
        if keep_flat:
            same = shape == self.shape
            return Tensor(shape, self.flat_from, self.taint, self.producer,
                          channels_from=self.channels_from if same else None, is_input=self.is_input and same)
        return Tensor(shape, None, self.taint)


@dataclass(eq=False)
class Module:
    """Anything registered in ``named_modules()``."""

    node: ast.AST | None
    path: str | None = field(default=None, init=False)
    placed: int | None = field(default=None, init=False)
    """Built by another file's code (``from blocks import make_block``): the line of this file whose
    call built it, where its hint goes."""
    incomplete: bool = field(default=False, init=False)
    """Something was added to it that the analysis could not follow (a module under an unknown name, a
    loop it could not run): what it computes, and what it holds, are unknown."""

    def submodules(self) -> dict[str, Module]:
        return {}


@dataclass(eq=False)
class Layer(Module):
    """A ``torch.nn`` layer with a shape rule."""

    rule: LayerRule = None  # type: ignore[assignment]
    args: Args = None  # type: ignore[assignment]
    resolved: dict[str, Any] = field(default_factory=dict)
    """What a lazy layer took from its input (``in_features``), once applied."""
    scope: dict[str, int] = field(default_factory=dict)
    """Integer names in scope where it was built (``cout``, ``self.in_planes``): a fix may use one."""
    built_chain: tuple = ()
    """Every ``__init__`` under way when it was built, outermost first (each as in ``built_in``)."""
    built_in: tuple | None = None
    made_in: tuple = ()
    """Every call of the user's functions and ``__init__``s under way when it was built, outermost first:
    (the function, the call, whether its first parameter is ``self``). A size passed down as a parameter
    (``block(in_ch, ...)``, ``Up(64, 32)``) is written at one of these calls."""
    """(the ``__init__`` it was built in, the call that built that instance: ``Fire(384, 64, ...)``, the instance)."""
    seen: Any = None
    """The input shape it was last applied to."""
    params: Any = NOT_COUNTED
    """Its parameter count when last applied (with what a lazy layer resolved then)."""
    arg_spans: dict | None = None
    """Where its size arguments are written, found once (see ``ops.record.Recorder.arg_spans``)."""
    extra_params: Any = 0
    """Parameters a reparametrisation added (``weight_norm``'s magnitude ``weight_g``); None if unknown."""
    extra_params_text: str = ""
    """How they are counted, for the hover: ``+ 32 (weight_norm weight_g)``."""


@dataclass(eq=False)
class OpaqueModule(Module):
    """A ``torch.nn`` module or a foreign one without a rule (a loss, a torchvision model)."""

    name: str = ""


@dataclass(eq=False)
class Container(Module):
    """``nn.Sequential``, ``nn.ModuleList`` or ``nn.ModuleDict``."""

    kind: str = "Sequential"
    children: dict[str, Module] = field(default_factory=dict)

    def submodules(self) -> dict[str, Module]:
        return self.children

    def append(self, module: Module | None) -> None:
        """Registered under the next index; ``None`` too, as ``nn.ModuleList`` registers it (HRNet)."""
        self.children[str(len(self.children))] = module  # type: ignore[assignment]


@dataclass(eq=False)
class ClassValue:
    node: ast.ClassDef
    name: str
    bases: list[Any]
    namespace: dict[str, Any]
    globals: Env
    is_module: bool
    container_base: str | None = None
    """``Sequential``/``ModuleList``/``ModuleDict`` when the class extends one."""
    depth: int = 1
    """Classes in the longest chain of bases, this one included (bounded: ``LIMITS.inheritance_depth``)."""
    resolved: list[ClassValue] | None = field(default=None, init=False, repr=False)
    """The order :meth:`mro` computed once (the bases never change after the class statement)."""

    def mro(self) -> list[ClassValue]:
        if self.resolved is None:
            order: list[ClassValue] = [self]
            seen = {id(self)}
            for base in self.bases:
                if isinstance(base, ClassValue):
                    for cls in base.mro():
                        if id(cls) not in seen:
                            seen.add(id(cls))
                            order.append(cls)
            self.resolved = order
        return self.resolved

    def lookup(self, name: str) -> Any:
        for cls in self.mro():
            if name in cls.namespace:
                return cls.namespace[name]
        return None


@dataclass(eq=False)
class Instance(Module):
    """An instance of a class of the user's (a model, a block, a config object)."""

    cls: ClassValue = None  # type: ignore[assignment]
    attrs: dict[str, Any] = field(default_factory=dict)
    modules: dict[str, Module] = field(default_factory=dict)
    arguments: dict[str, int] = field(default_factory=dict)
    """The integer arguments its ``__init__`` was called with, by parameter name (``planes=128``)."""
    base: Layer | None = None
    """The torch layer its class extends (``class MaskedConv2d(nn.Conv2d)``), as ``super().__init__``
    built it: its arguments, ``weight`` and ``bias``, and its shape rule where the class has no ``forward``."""

    def submodules(self) -> dict[str, Module]:
        return self.modules


@dataclass(eq=False)
class FunctionValue:
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
    closure: Env
    owner: ClassValue | None = None
    legacy: tuple[ast.keyword, ...] = ()
    """torchvision's ``@handle_legacy_interface(weights=("pretrained", default))``: a keyword it renames."""
    defaults: list[Any] | None = None
    """The defaults' values, made once where the function is defined, as Python makes them (``act=SiLU()`` is
    one module every call shares); None: made at each call (a function the analysis made itself)."""
    kw_defaults: list[Any] | None = None


@dataclass(eq=False)
class BoundMethod:
    func: FunctionValue
    self_value: Any


@dataclass(frozen=True)
class External:
    """Something imported from a library, by its qualified name (``torch.nn.Conv2d``)."""

    qualname: str

    @cached_property
    def library(self) -> bool:
        """Of an installed package the engine does not model itself: read from its source when used
        (:mod:`libraries`). Found when first asked: most names made (``nn.Conv2d``) are only called."""
        return self.qualname.partition(".")[0] not in MODELED_ROOTS


@dataclass(eq=False)
class MethodOf:
    """A method looked up on a value the interpreter models (``x.view``, ``layers.append``)."""

    target: Any
    name: str
    node: ast.AST | None = None


@dataclass(eq=False)
class Partial:
    """``functools.partial(nn.BatchNorm2d, affine=False)``: a callable with arguments bound."""

    func: Any
    args: list[Any]
    kwargs: dict[str, Any]


@dataclass(eq=False)
class SuperProxy:
    cls: ClassValue
    self_value: Any


@dataclass(eq=False)
class ModuleNamespace:
    """A workspace module imported whole (``import config``): its evaluated top level."""

    name: str
    env: Env


class Env:
    """A scope: local variables with a parent for closures and module globals."""

    __slots__ = ("vars", "parent")

    def __init__(self, parent: Env | None = None, values: dict[str, Any] | None = None) -> None:
        self.vars: dict[str, Any] = values if values is not None else {}
        self.parent = parent

    def lookup(self, name: str) -> Any:
        env: Env | None = self
        while env is not None:
            if name in env.vars:
                return env.vars[name]
            env = env.parent
        raise KeyError(name)

    def copy(self) -> Env:
        return Env(self.parent, dict(self.vars))


def deep_copy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """``copy.deepcopy`` of what a model file builds: fresh layers with the same arguments.

    Shared parts stay shared within the copy (as ``deepcopy``'s memo keeps them); what is not
    a module, a tensor or a container of them (ints, classes, functions) is the same value.
    """
    memo = {} if memo is None else memo
    if id(value) in memo:
        return memo[id(value)]
    if isinstance(value, Tensor):
        copied: Any = value.derive(value.shape, keep_flat=True)
    elif isinstance(value, list):
        copied = memo[id(value)] = []
        copied.extend(deep_copy(v, memo) for v in value)
    elif isinstance(value, tuple):
        copied = tuple(deep_copy(v, memo) for v in value)
    elif isinstance(value, dict):
        copied = memo[id(value)] = {}
        copied.update((k, deep_copy(v, memo)) for k, v in value.items())
    elif isinstance(value, Module):
        copied = memo[id(value)] = _copy_module(value, memo)
    else:
        return value
    memo[id(value)] = copied
    return copied


def _copy_module(module: Module, memo: dict[int, Any]) -> Module:
    copied: Module
    if isinstance(module, Layer):
        copied = Layer(module.node, rule=module.rule, args=Args(module.args.op, deep_copy(module.args.values, memo)),
                       scope=module.scope, built_chain=module.built_chain, built_in=module.built_in,
                       made_in=module.made_in,
                       arg_spans=module.arg_spans, extra_params=module.extra_params,
                       extra_params_text=module.extra_params_text)
    elif isinstance(module, Container):
        copied = Container(module.node, kind=module.kind)
        memo[id(module)] = copied
        copied.children = deep_copy(module.children, memo)
    elif isinstance(module, Instance):
        copied = Instance(module.node, cls=module.cls)
        memo[id(module)] = copied
        copied.attrs = deep_copy(module.attrs, memo)
        copied.modules = deep_copy(module.modules, memo)
        copied.base = deep_copy(module.base, memo)
        copied.arguments = dict(module.arguments)
    elif isinstance(module, OpaqueModule):
        copied = OpaqueModule(module.node, name=module.name)
    else:
        return module
    copied.placed, copied.incomplete = module.placed, module.incomplete
    return copied


def layer_params(layer: Layer, resolved: dict) -> Any:
    """A layer's parameter count: its rule's, plus what a reparametrisation added."""
    count = layer.rule.count_params(layer.args, resolved)
    if not layer.extra_params:
        return count if layer.extra_params is not None else None
    return None if count is None else dims.add(count, layer.extra_params)


def instance_params(module: Instance, counted: set[int]) -> Any:
    """The parameters a module of the user's holds itself: its ``nn.Parameter`` attributes (a ViT's
    ``cls_token``) and the torch layer its class extends. ``counted`` keeps a parameter from counting twice."""
    total: Any = 0
    for value in module.attrs.values():
        if value is UNKNOWN:
            return None  # it may be a module, or a parameter, the analysis could not build
        if isinstance(value, Tensor) and value.is_parameter and id(value) not in counted:
            counted.add(id(value))
            if value.shape is None or not all(isinstance(d, (int, dims.Expr)) for d in value.shape):
                return None
            total = dims.add(total, dims.product(value.shape))
    if module.base is not None:
        base = layer_params(module.base, module.base.resolved or {})
        return None if base is None else dims.add(total, base)
    return total


def iter_modules(root: Module, prefix: str = "") -> list[tuple[str, Module]]:
    """``named_modules()``: every module once, depth first, in registration order."""
    seen: set[int] = set()
    out: list[tuple[str, Module]] = []

    def walk(module: Module, path: str) -> None:
        if id(module) in seen:
            return
        seen.add(id(module))
        out.append((path, module))
        for name, child in module.submodules().items():
            if isinstance(child, Module):  # ``self._modules`` is a dict user code may put anything in
                walk(child, f"{path}.{name}" if path else name)

    walk(root, prefix)
    return out


def assign_paths(root: Module) -> None:
    for path, module in iter_modules(root):
        module.path = path


@dataclass(eq=False)
class Record:
    """An object that only holds attributes: ``types.SimpleNamespace(...)``, ``argparse.Namespace(...)``,
    what ``parser.parse_args([])`` returns. Attributes read and written as Python does."""

    kind: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class ArgumentParser:
    """An ``argparse.ArgumentParser`` built in the file: the defaults of its arguments, by destination.
    ``broken`` when an argument was added the analysis cannot read (its destination or default)."""

    defaults: dict[str, Any] = field(default_factory=dict)
    required: bool = False
    """Some argument must be given on the command line: ``parse_args([])`` would exit."""
    broken: bool = False


@dataclass(eq=False)
class NumberArray:
    """``np.array([...])`` of numbers (flattened), for its reductions: ``np.array([2, 3]).prod()``."""

    items: tuple
    shape: tuple[int, ...] | None = None
    """Its shape where known: ``(n,)`` for ``np.linspace`` and the array of a flat list (a tensor made from it
    has that shape); None for a nested list, flattened here."""


@dataclass(eq=False)
class EnumMember:
    """A member of an ``enum.Enum`` class of the user's: ``Act.RELU`` with ``.name`` and ``.value``."""

    owner: ClassValue
    name: str
    value: Any


@dataclass(frozen=True)
class FieldDefault:
    """``dataclasses.field(default=...)`` or ``field(default_factory=...)`` in a dataclass body."""

    default: Any
    factory: Any
