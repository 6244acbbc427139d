"""What a call means: it routes a call by the kind of thing called to the handlers of this package, and
builds and applies modules (the part that runs the user's own ``__init__`` and ``forward``)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..layers import UNKNOWN, LayerRule, rules_in_use
from ..libraries import library_value
from ..py_values import accepts
from ..values import (
    ArgumentParser,
    BoundMethod,
    ClassValue,
    Container,
    External,
    FieldDefault,
    FunctionValue,
    Instance,
    Layer,
    MethodOf,
    Module,
    NumberArray,
    OpaqueModule,
    Partial,
    SuperProxy,
    Tensor,
    deep_copy,
    instance_params,
)
from . import inplace  # noqa: F401  (registers the in-place reshaping tensor methods)
from .containers import (
    MODULE_LISTINGS,
    MODULE_METHOD_PARAMETERS,
    container_method,
    fill_container_instance,
    make_container,
    module_listing,
    positional_arguments,
)
from .context import Context, Evaluator
from .creation import as_tensor
from .functional import functional
from .layer_calls import apply_layer, reparametrise
from .mutations import (
    FUSIONS,
    PARAMETRIZE,
    READ_ONLY_MODULE_METHODS,
    apply_to_tree,
    changes_dtype,
    fused,
    layer_registers,
    note_changed,
    parametrized,
    unfollowed_method,
)
from .names import (
    CONTAINERS,
    MODULE_METHOD_NAMES,
    MODULE_MODES,
    REPARAMETRISATIONS,
    SAME_SHAPE,
    is_functional,
    is_nn,
    is_torch_function,
    tail,
)
from .python import builtin, dict_method, list_method, math_function, str_method
from .record import Recorder, is_foreign, unknown_result
from .stdlib import (
    NOT_HANDLED,
    array_method,
    enum_lookup,
    is_enum,
    is_namedtuple_class,
    make_namedtuple,
    namedtuple_method,
    parser_method,
    stdlib_call,
)
from .tensors import tensor_binary, tensor_index, tensor_method
from .torch_functions import torch_function

PRIVATE_LAYER_BASES = {"_BatchNorm": "SyncBatchNorm", "_NormBase": "SyncBatchNorm"}
"""torch's private bases people extend (``class ContBatchNorm3d(nn.modules.batchnorm._BatchNorm)``): the
public layer with their constructor and weights; SyncBatchNorm's rule takes any input of 2 dims or more, as
``_BatchNorm.forward`` does where the subclass's ``_check_input_dim`` lets it."""


class CallDispatcher:
    """The calls of one interpreter: what it builds, what it applies, and the run's record (``rec``)."""

    def __init__(self, interp: Evaluator) -> None:
        self.interp = interp
        self.rec = Recorder(interp.trace)
        self.rules = rules_in_use()
        self.cx = Context(rec=self.rec, rules=self.rules, iterate=interp.iterate, call=interp.call,
                          apply_module=self.apply_module, binary=interp.binary, get_attr=interp.get_attr,
                          set_attr=interp.set_attr, affordable=interp.affordable,
                          over_budget=interp.over_budget)
        self.building: list[tuple] = []
        """The ``__init__`` calls under way, innermost last: (init, the call that made the instance, the instance)."""
        self.building_from: int | None = None
        """While a call of this file runs another file's function: that call's line (see ``Module.placed``)."""
        self.frames: list[tuple] = []
        """The calls of the user's functions and ``__init__``s under way, innermost last (see ``Layer.made_in``)."""

    @property
    def trace(self):
        return self.rec.trace

    # the engine sets these for a run (see ``Recorder``)
    @property
    def batch_symbol(self) -> str | None:
        return self.rec.batch_symbol

    @batch_symbol.setter
    def batch_symbol(self, value: str | None) -> None:
        self.rec.batch_symbol = value

    @property
    def probing(self) -> bool:
        return self.rec.probing

    @probing.setter
    def probing(self, value: bool) -> None:
        self.rec.probing = value

    @property
    def solving_for(self) -> frozenset[str] | None:
        return self.rec.solving_for

    @solving_for.setter
    def solving_for(self, value: frozenset[str] | None) -> None:
        self.rec.solving_for = value

    def finish(self) -> None:
        self.rec.finish()

    def tensor_binary(self, op: ast.operator, a: Any, b: Any, node: ast.AST | None) -> Any:
        return tensor_binary(self.cx, op, a, b, node)

    def tensor_index(self, x: Tensor, key: Any, node: ast.AST | None = None) -> Any:
        """``x[:, :64]``: recorded like an op, so the line gets its hint (a read in a store is not)."""
        result = tensor_index(x, key)
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
            self.rec.record_op(node, [x], result)
        return result

    # ------------------------------------------------------------------ entry point
    def dispatch(self, func: Any, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
        if isinstance(func, FunctionValue):
            self.frames.append((func, node, False))
            try:
                if self.building_from is None and is_foreign(func.node) and node is not None and not is_foreign(node):
                    return self.call_from_here(func, args, kwargs, node)
                return self.interp.call_function(func, args, dict(kwargs))
            finally:
                self.frames.pop()
        if isinstance(func, BoundMethod):
            self.frames.append((func.func, node, True))
            try:
                return self.interp.call_function(func.func, [func.self_value, *args], dict(kwargs))
            finally:
                self.frames.pop()
        if isinstance(func, ClassValue):
            return self.instantiate(func, args, kwargs, node)
        if isinstance(func, External):
            return self.external(func.qualname, args, kwargs, node)
        if isinstance(func, MethodOf):
            return self.method(func.target, func.name, args, kwargs, node)
        if isinstance(func, Module):
            return self.apply_module(func, args, kwargs, node)
        if isinstance(func, tuple) and len(func) == 2 and isinstance(func[1], FunctionValue):
            return self.interp.call_function(func[1], args, dict(kwargs))
        if isinstance(func, Partial):
            return self.interp.call(func.func, [*func.args, *args], {**func.kwargs, **kwargs}, node)
        if is_namedtuple_class(func):
            return make_namedtuple(func, args, kwargs)
        return unknown_result(args)

    unknown_result = staticmethod(unknown_result)

    def call_from_here(self, func: FunctionValue, args: list[Any], kwargs: dict[str, Any], node: ast.Call) -> Any:
        """A function of another file called from this one: what goes wrong in it is reported at ``node``."""
        self.building_from = node.lineno
        try:
            with self.running_elsewhere(node, node.lineno):
                return self.interp.call_function(func, args, dict(kwargs))
        finally:
            self.building_from = None

    @contextmanager
    def running_elsewhere(self, node: ast.AST | None, line: int) -> Iterator[None]:
        """Another file's code runs, called from this file at ``node`` (or ``line``): what goes wrong in
        it is reported there (:meth:`Trace.report`). The outermost such call is the one this file makes."""
        trace = self.trace
        if trace.anchor is not None:
            yield
            return
        trace.anchor = trace.span(node) if node is not None and trace.elsewhere(node) is None else \
            trace.line_span(line) if line else None
        try:
            yield
        finally:
            trace.anchor = None

    # ------------------------------------------------------------------ classes
    def instantiate(self, cls: ClassValue, args: list[Any], kwargs: dict[str, Any], node: ast.AST | None) -> Any:
        inst = Instance(node, cls=cls)
        init = cls.lookup("__init__")
        if isinstance(init, FunctionValue):
            if not accepts(init.node.args, 1 + len(args), kwargs):
                return UNKNOWN  # Python's TypeError: the object is never made
            self.building.append((init, node, inst))
            self.frames.append((init, node, True))
            try:
                if is_foreign(init.node) and not is_foreign(node):
                    with self.running_elsewhere(node, getattr(node, "lineno", 0)):
                        self.interp.call_function(init, [inst, *args], dict(kwargs))
                else:
                    self.interp.call_function(init, [inst, *args], dict(kwargs))
            finally:
                self.building.pop()
                self.frames.pop()
        elif cls.container_base:
            fill_container_instance(self.cx, inst, cls.container_base, args, self.building_from)
        elif is_enum(cls):
            return enum_lookup(cls, args[0]) if len(args) == 1 and not kwargs else UNKNOWN
        elif cls.is_module:
            rule = self.torch_layer_rule(cls.mro())
            if rule is not None:  # ``class Pool(nn.MaxPool3d)`` with only a forward: torch's __init__ runs
                inst.base = self.construct(rule, args, kwargs, node)
        else:
            self.fill_record_class(cls, inst, args, kwargs, node)
        return inst

    def fill_record_class(self, cls: ClassValue, inst: Instance, args: list[Any], kwargs: dict[str, Any],
                          node: ast.AST | None) -> None:
        """A dataclass or a ``typing.NamedTuple`` (a class without ``__init__``): its annotated fields from
        the arguments, else their defaults (``field(default_factory=list)`` made afresh for each instance),
        then its ``__post_init__``."""
        fields: list[str] = []
        for klass in reversed(cls.mro()):
            for stmt in klass.node.body:
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) \
                        and stmt.target.id not in fields and "ClassVar" not in ast.dump(stmt.annotation):
                    fields.append(stmt.target.id)
        for name, value in zip(fields, args):
            inst.attrs[name] = value
        for name, value in kwargs.items():
            inst.attrs[name] = value
        for name in fields:
            default = cls.lookup(name)
            if name not in inst.attrs and isinstance(default, FieldDefault):
                inst.attrs[name] = default.default if default.factory is None else \
                    self.interp.call(default.factory, [], {}, node if isinstance(node, ast.Call) else None)
        post_init = cls.lookup("__post_init__")
        if isinstance(post_init, FunctionValue):
            self.interp.call_function(post_init, [inst], {})

    # ------------------------------------------------------------------ externals
    def external(self, qualname: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
        name = tail(qualname)
        rule = self.rules.by_op.get(name)
        if rule is not None and name not in CONTAINERS and is_nn(qualname):  # the common case: a layer built
            return self.construct(rule, args, kwargs, node)
        if qualname in CHECKPOINTS:
            return self.checkpoint(name, args, kwargs, node)
        made = self.python_external(qualname, name, args, kwargs)
        if made is not _NOT_HANDLED:
            return made
        if name in UNBOUND_MODULE_METHODS and qualname.endswith(f"Module.{name}") and is_nn(qualname) and args \
                and isinstance(args[0], Module):  # ``nn.Module.__setattr__(self, "conv", ...)``
            return self.method(args[0], name, list(args[1:]), kwargs, node)
        made = stdlib_call(self.cx, qualname, args, kwargs, node)
        if made is not NOT_HANDLED:
            return made
        rules = self.rules.by_op
        if is_nn(qualname) or qualname in rules:
            if name in CONTAINERS:
                return make_container(self.cx, name, args, node, self.building_from)
            rule = rules.get(name)
            if rule is not None:
                return self.construct(rule, args, kwargs, node)
            if name[:1].isupper():
                return OpaqueModule(node, name=name)
            return unknown_result(args)
        if is_functional(qualname):
            return functional(self.cx, name, args, kwargs, node)
        if is_torch_function(qualname):
            return torch_function(self.cx, name, args, kwargs, node)
        if qualname.startswith("builtins."):
            return builtin(self.cx, name, args, kwargs, node)
        if qualname in ("collections.OrderedDict", "typing.OrderedDict"):
            return builtin(self.cx, "dict", args, kwargs, node)
        if qualname.startswith("math."):
            return math_function(self.cx, name, args, kwargs)
        if qualname.startswith("torch.") and name in SAME_SHAPE and args and isinstance(args[0], Tensor):
            return args[0].derive(args[0].shape, keep_flat=True)
        found = library_value(qualname)
        if found is not None:  # an installed package's helper or model, read from its source
            return self.interp.call(found, args, kwargs, node)
        if name[:1].isupper() and (qualname.startswith(("torchvision.", "timm.", "transformers."))):
            return OpaqueModule(node, name=name)
        return unknown_result(args)

    def checkpoint(self, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
        """``checkpoint(fn, *args)`` gives ``fn(*args)``; ``checkpoint_sequential(functions, segments, x)``
        gives the functions applied in turn (recomputing in backward changes no shape)."""
        kwargs = {k: v for k, v in kwargs.items() if k not in CHECKPOINT_OPTIONS}
        if name == "checkpoint":
            reentrant = kwargs.pop("use_reentrant", None) is not False  # None warns and means True
            if not args or (kwargs and reentrant):
                return unknown_result([*args, *kwargs.values()])  # torch's reentrant form takes no keywords
            return self.interp.call(args[0], list(args[1:]), kwargs, node)
        bound = dict(zip(("functions", "segments", "input"), args))
        bound.update({k: v for k, v in kwargs.items() if k in ("functions", "segments", "input")})
        functions, segments, value = bound.get("functions"), bound.get("segments"), bound.get("input", UNKNOWN)
        if isinstance(functions, Instance) and functions.cls.container_base == "Sequential":
            steps = None if functions.incomplete else list(functions.modules.values())
        else:
            steps = self.interp.iterate(functions) if isinstance(functions, (Container, list, tuple)) else None
        if steps is None or not isinstance(segments, int) or isinstance(segments, bool) \
                or not 1 <= segments <= len(steps):
            return unknown_result([value])  # torch's range() of step 0 fails where segments > len(functions)
        for step in steps:
            if isinstance(step, Module):
                line = getattr(step.node, "lineno", None) or getattr(node, "lineno", 0)
                if is_foreign(step.node):
                    line = self.rec.anchor or step.placed or getattr(node, "lineno", 0)
                value = self.apply_module(step, [value], {}, None, line=line)
            else:
                value = self.interp.call(step, [value], {}, node)
        return value

    @staticmethod
    def python_external(qualname: str, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Parameters, copies, ``partial``, reparametrisations and casts, which return what they are given."""
        if name in ("Parameter", "Buffer") and (is_nn(qualname) or qualname.startswith("torch.nn.")):
            data = as_tensor(args[0] if args else kwargs.get("data"))  # a torch.tensor([v]) held as a number
            made = data.derive(data.shape) if isinstance(data, Tensor) else Tensor(None)
            made.is_parameter = name == "Parameter"
            return made
        if qualname == "functools.partial" and args:
            return Partial(args[0], list(args[1:]), dict(kwargs))
        if qualname == "copy.deepcopy" and args:
            return deep_copy(args[0])
        if qualname == "copy.copy" and args:  # a shallow copy of a module would be a module of its own
            value = args[0]
            if isinstance(value, Instance) and not value.cls.is_module and not value.modules:
                # a config object (torchvision's ``copy.copy(cnf)``): its attributes, shared values, a new object
                return Instance(value.node, cls=value.cls, attrs=dict(value.attrs))
            return type(value)(value) if isinstance(value, (list, dict)) else UNKNOWN if isinstance(value, Module) \
                else value
        if name in REPARAMETRISATIONS and qualname.startswith("torch.nn.utils.") and args:
            return reparametrise(name, args, kwargs)
        if qualname.startswith("torch.nn.init.") and (name.endswith("_") or name in DEPRECATED_INITS) and args \
                and isinstance(args[0], Tensor):
            return args[0]  # ``m.weight = nn.init.kaiming_normal_(m.weight)``: the tensor it filled in place
        if qualname in FUSIONS:
            return fused(qualname, args, kwargs)
        if qualname in PARAMETRIZE:
            return parametrized(args, kwargs)
        if qualname == "typing.cast" and len(args) == 2:
            return args[1]
        if qualname in ("torch.autograd.Variable", "torch.autograd.variable.Variable") and args:
            return args[0]  # the old wrapper: the tensor itself
        return _NOT_HANDLED

    def construct(self, rule: LayerRule, args: list[Any], kwargs: dict[str, Any], node: ast.AST | None) -> Any:
        kwargs = {k: v for k, v in kwargs.items() if k not in ("device", "dtype")}
        layer = Layer(node, rule=rule, args=rule.bind(list(args), kwargs))
        layer.placed = self.building_from
        layer.built_in = self.building[-1] if self.building else None
        layer.built_chain = tuple(self.building)
        layer.made_in = tuple(self.frames)
        layer.scope = self.scope_names()
        if isinstance(node, ast.Call):
            layer.scope.update(self.subexpression_values(node))
        if node is not None:  # every layer this constructor call builds (a block built twice has two)
            self.trace.source.built.setdefault(node, []).append(layer)
        return layer

    def scope_names(self) -> dict[str, int]:
        """The integer variables (and ``self.`` attributes) visible where a layer is built."""
        env = self.interp.current_env
        if env is None or env.parent is None:
            return {}
        names: dict[str, int] = {}
        for name, value in env.vars.items():
            if isinstance(value, int) and not isinstance(value, bool):
                names[name] = value
            elif isinstance(value, Instance) and name == "self":
                for attr, attr_value in value.attrs.items():
                    if isinstance(attr_value, int) and not isinstance(attr_value, bool):
                        names[f"self.{attr}"] = attr_value
        return names

    def subexpression_values(self, call: ast.Call) -> dict[str, int]:
        """The value of each part of a compound argument (``512 * block.expansion`` in
        ``512 * block.expansion + 1``): a fix may write one of them back."""
        env = self.interp.current_env
        values: dict[str, int] = {}
        if env is None:
            return values
        for text, sub in self.compound_parts(call):
            value = self.interp.eval(sub, env)
            if isinstance(value, int) and not isinstance(value, bool):
                values[text] = value
        return values

    def compound_parts(self, call: ast.Call) -> list[tuple[str, ast.expr]]:
        """The parts of the compound arguments of ``call``, with their text (found once per call)."""
        known = self.trace.source.parts.get(call)
        if known is not None:
            return known
        parts = []
        for arg in [*call.args, *(k.value for k in call.keywords)]:
            if not isinstance(arg, ast.BinOp):
                continue
            for sub in ast.walk(arg):
                if sub is arg or not isinstance(sub, (ast.BinOp, ast.Attribute, ast.Name)):
                    continue
                if any(isinstance(n, ast.Call) for n in ast.walk(sub)):
                    continue
                parts.append((self.trace.text(sub), sub))
        self.trace.source.parts[call] = parts
        return parts

    # ------------------------------------------------------------------ methods
    def method(self, target: Any, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
        if isinstance(target, Tensor):
            return tensor_method(self.cx, target, name, args, kwargs, node)
        if isinstance(target, SuperProxy):
            return self.super_method(target, name, args, kwargs, node)
        if isinstance(target, list):
            return list_method(self.cx, target, name, args, node, kwargs)
        if isinstance(target, dict):
            return dict_method(self.cx, target, name, args, node, kwargs)
        if isinstance(target, str):
            return str_method(self.cx, target, name, args, kwargs, node)
        if isinstance(target, tuple) and is_namedtuple_class(type(target)):
            return namedtuple_method(target, name, args, kwargs)
        if isinstance(target, ArgumentParser):
            return parser_method(target, name, args, kwargs)
        if isinstance(target, NumberArray):
            return array_method(self.cx, target, name, args, kwargs)
        if isinstance(target, (Container, Instance)) and name in MODULE_METHOD_PARAMETERS:
            bound = positional_arguments(name, args, kwargs)  # add_module(name=..., module=...)
            if bound is None:  # a keyword the analysis does not know: what the call adds cannot be told
                target.incomplete = True
                return unknown_result(args)
            args, kwargs = bound, {}
        if isinstance(target, Module) and changes_dtype(name, args, kwargs):
            target.incomplete = True  # parameters of a dtype a float input does not match: torch refuses it
            return target
        if isinstance(target, Module) and name == "__call__":
            return self.apply_module(target, args, kwargs, node)  # ``block.__call__(x)``: as ``block(x)``
        if isinstance(target, Module) and name == "apply" and len(args) == 1 and not kwargs:
            return apply_to_tree(self.cx, target, args[0], node)  # children first, then the module itself
        if isinstance(target, Container):
            if name not in READ_ONLY_MODULE_METHODS:
                note_changed(self.interp, target)
            return container_method(self.cx, target, name, args)
        if isinstance(target, Instance):
            return self.instance_method(target, name, args, kwargs, node)
        if isinstance(target, (Layer, OpaqueModule)):
            if name in MODULE_MODES:
                return target
            if name == "forward":
                return self.apply_module(target, args, kwargs, node)
            if isinstance(target, Layer) and layer_registers(target, name, args):
                return None
            unfollowed_method(target, name)  # a hook, or a method that may change what it computes
        return unknown_result(args)

    def super_method(self, target: SuperProxy, name: str, args: list[Any], kwargs: dict[str, Any],
                     node: ast.Call | None) -> Any:
        if name == "__init__":
            self.super_init(target, args, kwargs, node)
            return None
        inst = target.self_value
        if name in SUPER_REGISTRATIONS and isinstance(inst, Instance):  # ``super().__setattr__(name, module)``
            return self.method(inst, name, args, kwargs, node)
        if name == "forward" and isinstance(inst, Instance) and inst.cls.container_base == "Sequential":
            return self.apply_sequence(inst, list(inst.modules.values()), args, node)  # nn.Sequential.forward
        if name == "forward" and isinstance(inst, Instance) and inst.base is not None:
            return self.base_forward(inst, args, kwargs, node)
        return unknown_result(args)

    def base_forward(self, inst: Instance, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
        """``super().forward(x)`` in a subclass of a torch layer (after an ``F.pad``): the layer's own rule,
        with the arguments as the subclass left them. Shown on the line of the call, not as a module of its
        own (the subclass is the module torch calls)."""
        base = inst.base
        base.path = None
        return apply_layer(self.rec, base, args, kwargs, node, getattr(node, "lineno", 0), None)

    def instance_method(self, target: Instance, name: str, args: list[Any], kwargs: dict[str, Any],
                        node: ast.Call | None) -> Any:
        """The ``nn.Module`` methods of a module of the user's that it does not define itself."""
        if name == "__getattr__" and len(args) == 1 and isinstance(args[0], str):
            return self.interp.get_attr(target, args[0])
        if name in ("add_module", "register_module", "register_buffer", "register_parameter", "__setattr__") \
                and len(args) >= 2:
            if isinstance(args[0], str):
                self.interp.set_attr(target, args[0], args[1])
            elif isinstance(args[1], Module) or args[1] is UNKNOWN:
                target.incomplete = True  # a submodule under a name the analysis cannot tell
            return None
        if name == "__delattr__" and len(args) == 1 and isinstance(args[0], str) and not kwargs:
            target.attrs.pop(args[0], None)  # as ``del self.<name>``: torch unregisters it
            target.modules.pop(args[0], None)
            return None
        if name in ("append", "extend", "insert", "items", "keys", "values") and target.cls.container_base:
            # a subclass of nn.ModuleList / nn.ModuleDict (torchvision's ``_DenseBlock.items()``)
            temp = Container(target.node, kind=target.cls.container_base, children=target.modules)
            result = container_method(self.cx, temp, name, args)
            target.incomplete = target.incomplete or temp.incomplete
            return result
        if name in MODULE_MODES:
            return target
        if name in MODULE_LISTINGS and not args and not kwargs:
            return module_listing(target, name)
        if target.cls.is_module:  # not a config object of the user's (``cfg.get(...)`` of a dict subclass)
            unfollowed_method(target, name)  # a hook, or a method that may change what it computes
        return unknown_result(args)

    def super_init(self, proxy: SuperProxy, args: list[Any], kwargs: dict[str, Any], node: ast.AST | None) -> None:
        """``super().__init__(...)`` of a class that extends ``nn.Sequential`` registers its layers; of one
        that extends a torch layer, builds that layer (``Instance.base``)."""
        inst = proxy.self_value
        if not isinstance(inst, Instance):
            return
        mro = inst.cls.mro()
        following = mro[mro.index(proxy.cls) + 1:] if proxy.cls in mro else []
        for cls in following:
            init = cls.namespace.get("__init__")
            if isinstance(init, FunctionValue):
                return  # handled by get_attr as a BoundMethod
        if proxy.cls.container_base and args:
            fill_container_instance(self.cx, inst, proxy.cls.container_base, args, self.building_from)
            return
        rule = self.torch_layer_rule([proxy.cls, *following])
        if rule is not None:
            inst.base = self.construct(rule, args, kwargs, base_node(inst, node))
        elif following and not inst.cls.is_module and (args or kwargs):
            # a dataclass's generated __init__, called by a subclass (torchvision's MBConvConfig)
            self.fill_record_class(following[0], inst, args, kwargs, node)

    def torch_layer_rule(self, classes: list[ClassValue]) -> LayerRule | None:
        """The rule of the torch layer the first of ``classes`` to extend one extends (``nn.Conv2d``)."""
        rules = self.rules.by_op

        def op_of(base: External) -> str:
            return PRIVATE_LAYER_BASES.get(tail(base.qualname), tail(base.qualname))
        return next((rules[op_of(b)] for cls in classes for b in cls.bases
                     if isinstance(b, External) and is_nn(b.qualname) and op_of(b) in rules), None)

    # ------------------------------------------------------------------ applying modules
    def apply_module(self, module: Module, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None,
                     line: int | None = None, sequence: Container | None = None) -> Any:
        call_line = line if line is not None else getattr(node, "lineno", 0)
        if module.incomplete:
            return unknown_result(args)
        if isinstance(module, Layer):
            return apply_layer(self.rec, module, args, kwargs, node, call_line, sequence)
        if isinstance(module, Container):
            if module.kind != "Sequential":
                return unknown_result(args)
            result = self.apply_sequence(module, list(module.children.values()), args, node)
            if not module.children:  # an empty Sequential (a ResNet shortcut) is a leaf: identity
                self.rec.record(module.path, "Sequential", call_line, module, args, result, node)
            elif node is not None and module.path:  # x = self.features(x): the line shows what comes out
                self.rec.record(module.path, "Sequential", call_line, module, args, result, node, leaf=False)
            return result
        if isinstance(module, Instance):
            return self.apply_instance(module, args, kwargs, node, call_line, sequence)
        if isinstance(module, OpaqueModule):
            result = unknown_result(args)
            self.rec.record(module.path, module.name, call_line, module, args, result, node)
            return result
        return unknown_result(args)

    def apply_instance(self, module: Instance, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None,
                       call_line: int, sequence: Container | None) -> Any:
        """A module of the user's: its ``forward``, or the ``nn.Sequential`` or torch layer it extends."""
        forward = module.cls.lookup("forward")
        bound: list[Any] = [module]
        if isinstance(forward, tuple) and len(forward) == 2 and forward[0] in ("static", "classmethod"):
            kind, forward = forward  # YOLOv5's SiLU: ``@staticmethod def forward(x)``
            bound = [] if kind == "static" else [module.cls]
        if module.base is not None and isinstance(forward, FunctionValue):  # a masked conv's own forward
            self.rec.note_first_layer(module.base, next((a for a in args if isinstance(a, Tensor)), None))
        if isinstance(forward, FunctionValue):
            entering = is_foreign(forward.node) and self.rec.anchor is None
            if entering:
                self.rec.anchor = call_line  # layers of an imported block show on the line that calls it
            failed = self.trace.failed_elsewhere
            self.rec.running.append(module.path)
            try:
                if entering:  # anchored on the call here, or where this file builds the block it applies
                    here = node if node is not None or is_foreign(module.node) else module.node
                    with self.running_elsewhere(here, call_line):
                        result = self.interp.call_function(forward, [*bound, *args], dict(kwargs))
                else:
                    result = self.interp.call_function(forward, [*bound, *args], dict(kwargs))
            finally:
                self.rec.running.pop()
                if entering:
                    self.rec.anchor = None
            if self.trace.failed_elsewhere != failed:
                result = unknown_result(args)  # the block cannot run: what it gives is unknown
        elif module.cls.container_base == "Sequential":
            result = self.apply_sequence(module, list(module.modules.values()), args, node)
        elif module.base is not None and not module.modules:  # the torch layer's own forward
            module.base.path = module.path
            return apply_layer(self.rec, module.base, args, kwargs, node, call_line, sequence)
        else:
            result = unknown_result(args)
        self.record_module_call(module, args, result, node, call_line)
        return result

    def apply_sequence(self, owner: Module, children: list[Module], args: list[Any], node: ast.AST | None) -> Any:
        value = args[0] if args else UNKNOWN
        container = owner if isinstance(owner, Container) else None
        for child in children:
            child_line = getattr(child.node, "lineno", None) or getattr(node, "lineno", 0)
            if is_foreign(child.node):
                child_line = self.rec.anchor or child.placed or getattr(node, "lineno", 0)
            value = self.apply_module(child, [value], {}, None, line=child_line, sequence=container)
        return value

    def record_module_call(self, module: Instance, args: list[Any], result: Any, node: ast.AST | None,
                           line: int) -> None:
        """A module of the user's without submodules is a leaf for ``named_modules()``: record it."""
        if not module.path:
            return  # the model itself: its output is the code lens's and the summary's
        leaf = not module.modules
        self.rec.record(module.path, module.cls.name, line, module, args, result, node, leaf=leaf,
                        params=instance_params(module, set()) if leaf else None)


_NOT_HANDLED = object()
SUPER_REGISTRATIONS = frozenset({"__setattr__", "__delattr__", "add_module", "register_module", "register_buffer",
                                 "register_parameter", "register_forward_hook", "register_forward_pre_hook", "apply"})
"""``nn.Module`` methods called through ``super()`` (in a class that overrides them) that change what the module
holds or computes: as on the instance, never dropped."""
UNBOUND_MODULE_METHODS = (MODULE_METHOD_NAMES | SUPER_REGISTRATIONS) - {"forward"}
DEPRECATED_INITS = frozenset({"normal", "uniform", "constant", "xavier_uniform", "xavier_normal", "kaiming_uniform",
                              "kaiming_normal", "orthogonal", "sparse", "eye", "dirac"})
"""torch's old ``nn.init`` names without ``_``: they fill the tensor in place and return it, as the new ones do."""
CHECKPOINTS = frozenset({"torch.utils.checkpoint.checkpoint", "torch.utils.checkpoint.checkpoint_sequential"})
CHECKPOINT_OPTIONS = frozenset({"preserve_rng_state", "context_fn", "determinism_check", "debug", "early_stop"})
"""Keywords of ``checkpoint`` that change how it recomputes, never what it returns."""


def base_node(inst: Instance, init_call: ast.AST | None) -> ast.AST | None:
    """Where a layer subclass's torch arguments are written: the instantiation when ``__init__``
    passes them all on (``super().__init__(*args, **kwargs)``), else the ``super().__init__`` call."""
    if isinstance(init_call, ast.Call) and init_call.args + init_call.keywords \
            and all(isinstance(a, ast.Starred) for a in init_call.args) \
            and all(k.arg is None for k in init_call.keywords):
        return inst.node
    return init_call
