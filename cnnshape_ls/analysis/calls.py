"""What a call means: building layers, applying modules, tensor ops and Python builtins."""

from __future__ import annotations

import ast
import math
import re
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import dims, tensor_ops
from .findings import Finding, Fix, LayerRecord
from .layers import RULES, UNKNOWN, Args, Call, CannotTell, LayerRule, Out, ShapeError
from .layers.floats import any_float
from .limits import LIMITS, text_fits
from .trace import Constraint
from .values import (
    BoundMethod,
    ClassValue,
    Container,
    External,
    FunctionValue,
    Instance,
    Layer,
    MethodOf,
    Module,
    OpaqueModule,
    Partial,
    SuperProxy,
    Tensor,
    deep_copy,
    instance_params,
    layer_params,
)

if TYPE_CHECKING:
    from .interpreter import Interpreter

CONTAINERS = ("Sequential", "ModuleList", "ModuleDict")
SHAPE_KEEPING = ("Activation", "Dropout", "Normalization", "Utility")
CHANNEL_KEEPING = ("Pooling", "Padding", "Resizing")
F_MAX_POOL = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
F_MAX_UNPOOL = ("indices", "kernel_size", "stride", "padding", "output_size")
FUNCTIONAL_LAYERS = {
    # F.name: (layer rule, positional parameter names after the input)
    # F.max_poolNd puts ceil_mode before return_indices, unlike the module
    "max_pool1d": ("MaxPool1d", F_MAX_POOL), "max_pool2d": ("MaxPool2d", F_MAX_POOL),
    "max_pool3d": ("MaxPool3d", F_MAX_POOL),
    "max_unpool1d": ("MaxUnpool1d", F_MAX_UNPOOL), "max_unpool2d": ("MaxUnpool2d", F_MAX_UNPOOL),
    "max_unpool3d": ("MaxUnpool3d", F_MAX_UNPOOL),
    "avg_pool1d": ("AvgPool1d", None), "avg_pool2d": ("AvgPool2d", None), "avg_pool3d": ("AvgPool3d", None),
    "lp_pool1d": ("LPPool1d", None), "lp_pool2d": ("LPPool2d", None),
    "adaptive_avg_pool1d": ("AdaptiveAvgPool1d", None), "adaptive_avg_pool2d": ("AdaptiveAvgPool2d", None),
    "adaptive_avg_pool3d": ("AdaptiveAvgPool3d", None), "adaptive_max_pool1d": ("AdaptiveMaxPool1d", None),
    "adaptive_max_pool2d": ("AdaptiveMaxPool2d", None), "adaptive_max_pool3d": ("AdaptiveMaxPool3d", None),
    "pixel_shuffle": ("PixelShuffle", None), "pixel_unshuffle": ("PixelUnshuffle", None),
    "glu": ("GLU", None),
    "interpolate": ("Upsample", ("size", "scale_factor", "mode", "align_corners")),
    "upsample": ("Upsample", ("size", "scale_factor", "mode", "align_corners")),
}
SAME_SHAPE = {
    "relu", "relu_", "relu6", "elu", "selu", "celu", "gelu", "silu", "mish", "sigmoid", "tanh", "leaky_relu",
    "hardtanh", "hardswish", "hardsigmoid", "softplus", "softsign", "tanhshrink", "softshrink", "hardshrink",
    "logsigmoid", "rrelu", "prelu", "threshold", "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
    "feature_alpha_dropout", "softmax", "log_softmax", "softmin", "normalize", "batch_norm", "instance_norm",
    "layer_norm", "group_norm", "local_response_norm", "contiguous", "float", "double", "half", "long", "int",
    "bool", "to", "cuda", "cpu", "detach", "clone", "type", "type_as", "abs", "exp", "log", "sqrt", "rsqrt",
    "neg", "clamp", "clamp_", "clip", "sign", "floor", "ceil", "round", "pow", "square", "sin", "cos", "erf",
    "sigmoid_", "tanh_", "mul_", "add_", "div_", "sub_", "fill_", "zero_", "requires_grad_",
    "nan_to_num", "logit", "reciprocal", "cumsum", "cumprod", "flip", "roll", "masked_fill", "dropout_",
    "pin_memory", "numpy", "expm1", "log1p", "where", "trunc", "frac",
}
REDUCTIONS = {"mean", "sum", "amax", "amin", "prod", "std", "var", "norm", "logsumexp", "nansum", "nanmean",
              "argmax", "argmin", "all", "any", "count_nonzero"}
REDUCTIONS_WITH_INDICES = {"max", "min", "median", "mode"}
CREATORS = {"zeros", "ones", "randn", "rand", "empty", "full", "randint", "zeros_like", "ones_like", "randn_like",
            "eye", "Tensor", "FloatTensor", "from_numpy", "as_tensor",
            "rand_like", "empty_like", "full_like", "tensor", "arange", "linspace"}
REPARAMETRISATIONS = ("weight_norm", "spectral_norm")
_CONV_F = ("weight", "bias", "stride", "padding", "dilation", "groups")
_CONV_T_F = ("weight", "bias", "stride", "padding", "output_padding", "groups", "dilation")
WEIGHTED_FUNCTIONALS = {
    # F.name: its parameters after the input, in order; the layer comes from the weight's shape
    "linear": ("weight", "bias"),
    **{f"conv{n}d": _CONV_F for n in (1, 2, 3)},
    **{f"conv_transpose{n}d": _CONV_T_F for n in (1, 2, 3)},
}
MAX_VALUES = 4096
"""The longest 1-D tensor of numbers whose elements are kept (see ``Tensor.values``)."""


def _weight_rows(layer: Layer) -> Any:
    """The size of dim 0 of a layer's ``weight``, or None where it has none the analysis knows."""
    op = layer.rule.op
    name = ("in_channels" if op.startswith("ConvTranspose") else "out_channels" if op.startswith("Conv")
            else "out_features" if op == "Linear" else "num_embeddings" if op == "Embedding" else None)
    value = layer.args.values.get(name) if name else None
    return value if isinstance(value, (int, dims.Expr)) and not isinstance(value, bool) else None


def _numbers(items: Any) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in items)


def _arange(args: list[Any], kwargs: dict[str, Any]) -> tuple | None:
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


def _linspace(args: list[Any], kwargs: dict[str, Any]) -> tuple | None:
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


def _as_integers(rule: LayerRule, call: Call, error: ShapeError) -> Out:
    """The output once each float size is an int (the fix's ``//``): the run goes on as if it were applied."""
    values = dict(call.args.values)
    for _ in range(len(values)):
        if error.blame is None or not error.integer:
            return error.recover
        values[error.blame] = _floored(values.get(error.blame))
        try:
            return rule.infer(Call(Args(call.args.op, values), call.inputs))
        except CannotTell:
            return None
        except ShapeError as again:
            error = again
    return None


def _top(shape: tuple, name: str, args: list[Any], kwargs: dict[str, Any]) -> tuple:
    """``topk(k, dim=-1)`` keeps k along dim; ``sort(dim=-1)`` keeps the shape."""
    if name == "sort":
        return shape
    k = args[0] if args else kwargs.get("k")
    dim = args[1] if len(args) > 1 else kwargs.get("dim", -1)
    if not isinstance(k, int) or isinstance(k, bool) or not isinstance(dim, int) or not shape \
            or not -len(shape) <= dim < len(shape):
        raise CannotTell("topk")
    axis = dim % len(shape)
    size = shape[axis]
    if isinstance(size, int) and not 0 <= k <= size:
        raise CannotTell("k out of range")  # torch's "selected index k out of range"
    return (*shape[:axis], k, *shape[axis + 1:])


def _floored(value: Any) -> Any:
    if isinstance(value, float):
        return int(value // 1)
    if isinstance(value, (list, tuple)):
        return type(value)(_floored(v) for v in value)
    return value


def _tail(qualname: str) -> str:
    return qualname.rsplit(".", 1)[-1]


def _is_nn(qualname: str) -> bool:
    parts = qualname.split(".")
    return len(parts) >= 3 and parts[0] == "torch" and parts[1] == "nn" and parts[2] not in ("functional", "init") \
        or qualname.startswith("torch.nn.modules.")


def _is_functional(qualname: str) -> bool:
    return qualname.startswith("torch.nn.functional.")


def _is_torch_function(qualname: str) -> bool:
    return qualname.startswith("torch.") and qualname.count(".") == 1


class CallDispatcher:
    def __init__(self, interp: Interpreter) -> None:
        self.interp = interp
        self.batch_symbol: str | None = None
        self.anchor: int | None = None
        """While running code of an imported file: the line of this file that called it."""
        self.probing = False
        """Stop at the first layer ``forward`` applies: it is all a probe for the input's rank needs."""
        self.solving_for: frozenset[str] | None = None
        """Stop at the first size that pins down only these input symbols: solving needs no more of the run."""
        self.building: list[tuple] = []
        """The ``__init__`` calls under way, innermost last: (init, the call that made the instance, the instance)."""
        self.building_from: int | None = None
        """While a call of this file runs another file's function: that call's line (see ``Module.placed``)."""
        self.deferred: list[tuple] = []
        """Layer errors whose fixes are written when the run ends (see :meth:`finish`)."""
        self.op_fixes: dict[int, tuple[Finding, list[tuple[Fix | None, list]]]] = {}
        """An op's error (a view's) with the fix each pass through it asked for: kept only if all agree."""
        self.op_fallbacks: dict[int, Fix] = {}
        """A fix right for every pass, offered where the literal one is not (``y.flatten(1)``)."""
        self.op_ok: set[int] = set()
        """Ops (by node) that ran without error in some pass: a fix for another pass would break that one."""

    @property
    def trace(self):
        return self.interp.trace

    # ------------------------------------------------------------------ entry point
    def dispatch(self, func: Any, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
        if isinstance(func, FunctionValue):
            if self.building_from is None and is_foreign(func.node) and node is not None and not is_foreign(node):
                self.building_from = node.lineno
                try:
                    return self.interp.call_function(func, args, dict(kwargs))
                finally:
                    self.building_from = None
            return self.interp.call_function(func, args, dict(kwargs))
        if isinstance(func, BoundMethod):
            return self.interp.call_function(func.func, [func.self_value, *args], dict(kwargs))
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
        return self.unknown_result(args)

    @staticmethod
    def unknown_result(args: list[Any]) -> Any:
        return Tensor(None) if any(isinstance(a, Tensor) for a in args) else UNKNOWN

    # ------------------------------------------------------------------ classes
    def instantiate(self, cls: ClassValue, args: list[Any], kwargs: dict[str, Any], node: ast.AST | None) -> Any:
        inst = Instance(node, cls=cls)
        init = cls.lookup("__init__")
        if isinstance(init, FunctionValue):
            self.building.append((init, node, inst))
            try:
                self.interp.call_function(init, [inst, *args], dict(kwargs))
            finally:
                self.building.pop()
        elif cls.container_base:
            self.fill_container_instance(inst, cls.container_base, args)
        elif not cls.is_module:
            fields = [t.id for s in cls.node.body if isinstance(s, ast.AnnAssign)
                      for t in [s.target] if isinstance(t, ast.Name)]
            for name, value in zip(fields, args):
                inst.attrs[name] = value
            for name, value in kwargs.items():
                inst.attrs[name] = value
        return inst

    def fill_container_instance(self, inst: Instance, kind: str, args: list[Any]) -> None:
        built = self.make_container(kind, args, inst.node)
        if isinstance(built, Container):
            for name, child in built.children.items():
                inst.modules[name] = child
                inst.attrs.setdefault(name, child)

    def make_container(self, kind: str, args: list[Any], node: ast.AST | None) -> Any:
        container = Container(node, kind=kind)
        container.placed = self.building_from
        if kind == "ModuleDict" or (kind == "Sequential" and len(args) == 1 and isinstance(args[0], dict)):
            source = args[0] if args else {}
            if isinstance(source, (list, tuple)):
                source = dict(p for p in source if isinstance(p, tuple) and len(p) == 2)
            if not isinstance(source, dict):
                return UNKNOWN
            for key, value in source.items():
                if isinstance(value, Module):
                    container.children[str(key)] = value
            return container
        items = args
        if kind == "ModuleList":
            items = (self.interp.iterate(args[0]) or []) if args else []
            if args and self.interp.iterate(args[0]) is None:
                return UNKNOWN
        for item in items:
            if isinstance(item, Module):
                container.append(item)
            else:
                return UNKNOWN
        return container

    # ------------------------------------------------------------------ externals
    def external(self, qualname: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
        name = _tail(qualname)
        if name in ("Parameter", "Buffer") and (_is_nn(qualname) or qualname.startswith("torch.nn.")):
            data = args[0] if args else kwargs.get("data")
            made = data.derive(data.shape) if isinstance(data, Tensor) else Tensor(None)
            made.is_parameter = name == "Parameter"
            return made
        if qualname == "functools.partial" and args:
            return Partial(args[0], list(args[1:]), dict(kwargs))
        if qualname == "copy.deepcopy" and args:
            return deep_copy(args[0])
        if qualname == "copy.copy" and args:  # a shallow copy of a module would be a module of its own
            value = args[0]
            return type(value)(value) if isinstance(value, (list, dict)) else UNKNOWN if isinstance(value, Module) \
                else value
        if name in REPARAMETRISATIONS and qualname.startswith("torch.nn.utils.") and args:
            return self.reparametrise(name, args, kwargs)
        if qualname == "typing.cast" and len(args) == 2:
            return args[1]
        if qualname in ("torch.autograd.Variable", "torch.autograd.variable.Variable") and args:
            return args[0]  # the old wrapper: the tensor itself
        if _is_nn(qualname) or qualname in RULES:
            if name in CONTAINERS:
                return self.make_container(name, args, node)
            rule = RULES.get(name)
            if rule is not None:
                return self.construct(rule, args, kwargs, node)
            if name[:1].isupper():
                return OpaqueModule(node, name=name)
            return self.unknown_result(args)
        if _is_functional(qualname):
            return self.functional(name, args, kwargs, node)
        if _is_torch_function(qualname):
            return self.torch_function(name, args, kwargs, node)
        if qualname.startswith("builtins."):
            return self.builtin(name, args, kwargs, node)
        if qualname in ("collections.OrderedDict", "typing.OrderedDict"):
            return self.builtin("dict", args, kwargs, node)
        if qualname.startswith("math.") or qualname.startswith("numpy.") or qualname.startswith("np."):
            return self.math(name, args)
        if qualname.startswith("torch.") and name in SAME_SHAPE and args and isinstance(args[0], Tensor):
            return args[0].derive(args[0].shape, keep_flat=True)
        if name[:1].isupper() and (qualname.startswith(("torchvision.", "timm.", "transformers."))):
            return OpaqueModule(node, name=name)
        return self.unknown_result(args)

    def reparametrise(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """``weight_norm(layer)``, ``spectral_norm(layer)``: the same layer, shapes unchanged.

        ``spectral_norm`` keeps the parameter count (its ``u``/``v`` are buffers); ``weight_norm``
        adds the magnitude ``weight_g``, one value per slice along ``dim`` of the weight.
        """
        layer = args[0]
        if not isinstance(layer, Layer) or name != "weight_norm":
            return layer
        weight = kwargs.get("name", args[1] if len(args) > 1 else "weight")
        dim = kwargs.get("dim", args[2] if len(args) > 2 else 0)
        rows = _weight_rows(layer) if weight == "weight" else None
        extra: Any = 1 if dim is None else rows if dim == 0 and not isinstance(dim, bool) else None
        layer.extra_params = extra
        layer.extra_params_text = f"+ {dims.to_text(extra)} (weight_norm weight_g)" if extra is not None else ""
        return layer

    def construct(self, rule: LayerRule, args: list[Any], kwargs: dict[str, Any], node: ast.AST | None) -> Any:
        kwargs = {k: v for k, v in kwargs.items() if k not in ("device", "dtype")}
        layer = Layer(node, rule=rule, args=rule.bind(list(args), kwargs))
        layer.placed = self.building_from
        layer.built_in = self.building[-1] if self.building else None
        layer.built_chain = tuple(self.building)
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

    def finish(self) -> None:
        """Write the fixes of this run's layer errors, now that every copy of each layer has run."""
        from .fixes import copies_of, drop_cascades, fixes_for_layer, one_cause, relocate
        for finding, error, layer, first, node, sequence in self.deferred:
            if not finding.fixes:
                siblings = copies_of(self.trace, layer)
                finding.fixes = fixes_for_layer(self.trace, error, layer, first, node, sequence, siblings)
        one_cause(self.trace, self.deferred)
        for finding, *_ in self.deferred:
            relocate(self.trace, finding)
        drop_cascades(self.trace, self.deferred)
        self.deferred.clear()
        for node_id, (finding, wanted) in self.op_fixes.items():
            # a view in a block used with several shapes: one literal cannot fit every pass
            if node_id in self.op_ok or any(f is None or own != wanted[0][1] for f, own in wanted):
                finding.fixes = [f for f in finding.fixes if all(f is not w for w, _ in wanted)]
                fallback = self.op_fallbacks.get(node_id)
                if fallback is not None and not finding.fixes:
                    finding.fixes.append(fallback)
        self.op_fixes.clear()
        self.op_fallbacks.clear()

    def math(self, name: str, args: list[Any]) -> Any:
        if any(a is UNKNOWN for a in args):
            return UNKNOWN
        if name in ("floor", "ceil", "trunc") and len(args) == 1 and isinstance(args[0], (int, float)):
            return int(getattr(math, name)(args[0]))
        if name in ("sqrt", "log", "log2", "exp") and len(args) == 1 and isinstance(args[0], (int, float)):
            try:
                return getattr(math, name)(args[0])
            except ValueError:
                return UNKNOWN
        if name == "prod" and args:
            items = self.interp.iterate(args[0])
            if items is None or not all(isinstance(i, (int, dims.Expr)) for i in items):
                return UNKNOWN
            return dims.product(items)
        if name == "pi":
            return math.pi
        return UNKNOWN

    # ------------------------------------------------------------------ builtins
    def builtin(self, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
        it = self.interp.iterate
        try:
            if name == "range":
                if all(isinstance(a, int) for a in args) and args:
                    return range(*args)
                return UNKNOWN
            if name == "len":
                if args and isinstance(args[0], Tensor):
                    return args[0].shape[0] if args[0].shape else UNKNOWN
                items = it(args[0]) if args else None
                return UNKNOWN if items is None else len(items)
            if name in ("list", "tuple"):
                if not args:
                    return [] if name == "list" else ()
                items = it(args[0])
                if items is None:
                    return UNKNOWN
                return list(items) if name == "list" else tuple(items)
            if name == "dict":
                base: dict[Any, Any] = {}
                if args:
                    source = args[0]
                    if isinstance(source, dict):
                        base.update(source)
                    else:
                        items = it(source)
                        if items is None:
                            return UNKNOWN
                        for pair in items:
                            if not isinstance(pair, (tuple, list)) or len(pair) != 2 \
                                    or not self.interp.affordable(pair[0], node):
                                return UNKNOWN
                            base[pair[0]] = pair[1]
                base.update(kwargs)
                return base
            if name == "zip":
                lists = [it(a) for a in args]
                if any(x is None for x in lists):
                    return UNKNOWN
                return list(zip(*lists))
            if name == "enumerate":
                items = it(args[0]) if args else None
                start = args[1] if len(args) > 1 else kwargs.get("start", 0)
                return UNKNOWN if items is None else list(enumerate(items, start))
            if name in ("reversed", "sorted"):
                items = it(args[0]) if args else None
                if items is None or (name == "sorted" and not self.interp.affordable(items, node)):
                    return UNKNOWN
                return list(reversed(items)) if name == "reversed" else sorted(items)
            if name in ("int", "float", "bool", "str", "abs", "round"):
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
            if name in ("min", "max", "sum", "any", "all"):
                items = it(args[0]) if len(args) == 1 else list(args)
                if items is not None and not self.interp.affordable(items, node):
                    return UNKNOWN  # comparing nested values could take exponential time
                # sum(iterable, start) takes its items from the first argument only
                summed = (items if len(args) == 1 else it(args[0])) if name == "sum" and args else None
                if summed and any(isinstance(i, Tensor) for i in summed) and \
                        all(isinstance(i, (Tensor, int, float)) and not isinstance(i, bool) for i in summed):
                    total = args[1] if len(args) > 1 else kwargs.get("start", 0)  # sum of feature maps: 0 + a + b
                    for i in summed:
                        total = self.interp.binary(ast.Add(), total, i, node)
                    return total
                if items is None or any(i is UNKNOWN or isinstance(i, (dims.Expr, Tensor)) for i in items):
                    if name == "sum" and items is not None and all(isinstance(i, (int, dims.Expr)) for i in items):
                        total: Any = 0
                        for i in items:
                            total = dims.add(total, i)
                        return total
                    return UNKNOWN
                return {"min": min, "max": max, "sum": sum, "any": any, "all": all}[name](items)
            if name == "divmod" and all(isinstance(a, int) for a in args):
                return divmod(*args)
            if name == "pow" and all(isinstance(a, (int, float)) for a in args) and abs(args[1]) < 64:
                return pow(*args)
            if name == "isinstance":
                return self.is_instance(args)
            if name == "hasattr":
                return self.has_attr(args)
            if name == "type" and len(args) == 1:
                return self.type_of(args[0])
            if name == "getattr":
                if len(args) >= 2 and isinstance(args[1], str):
                    value = self.interp.get_attr(args[0], args[1])
                    if isinstance(value, MethodOf) and len(args) > 2:
                        return args[2]
                    return value
                return UNKNOWN
            if name == "setattr":
                if len(args) == 3 and isinstance(args[1], str):
                    self.interp.set_attr(args[0], args[1], args[2])
                return None
            if name == "super":
                return self.super_proxy(args, node)
            if name in ("map", "filter"):
                fn, items = (args[0], it(args[1])) if len(args) == 2 else (None, None)
                if items is None:
                    return UNKNOWN
                if name == "map":
                    return [self.interp.call(fn, [i], {}, node) for i in items]
                return [i for i in items if self.interp.call(fn, [i], {}, node) is True]
            if name == "print":
                return None
        except (TypeError, ValueError, IndexError, KeyError, ZeroDivisionError, OverflowError):
            return UNKNOWN
        return UNKNOWN

    def is_instance(self, args: list[Any]) -> Any:
        if len(args) != 2:
            return UNKNOWN
        value, kinds = args
        kinds = kinds if isinstance(kinds, tuple) else (kinds,)
        py = {"builtins.int": int, "builtins.float": float, "builtins.str": str, "builtins.list": list,
              "builtins.tuple": tuple, "builtins.dict": dict, "builtins.bool": bool}
        results = []
        for kind in kinds:
            if isinstance(kind, External) and kind.qualname in py:
                if value is UNKNOWN:
                    return UNKNOWN
                if isinstance(value, dims.Expr):  # a symbolic size is an int
                    results.append(py[kind.qualname] is int)
                    continue
                results.append(isinstance(value, py[kind.qualname]))
            elif isinstance(kind, External) and (_is_nn(kind.qualname) or kind.qualname.startswith("torch.")):
                tail = _tail(kind.qualname)
                if isinstance(value, Layer):
                    results.append(value.rule.op == tail or tail == "Module")
                elif isinstance(value, Container):
                    results.append(tail in (value.kind, "Module"))
                elif isinstance(value, OpaqueModule):
                    results.append(tail in (value.name, "Module"))
                elif isinstance(value, Instance):
                    results.append(self.instance_of_external(value.cls, tail))
                elif isinstance(value, Tensor):
                    results.append(tail == "Tensor")
                elif value is UNKNOWN:
                    return UNKNOWN
                else:
                    results.append(False)
            elif isinstance(kind, ClassValue):
                if isinstance(value, Instance):
                    results.append(kind in value.cls.mro())
                elif isinstance(value, (Layer, Container, OpaqueModule, Tensor, int, float, str, list, tuple, dict)):
                    results.append(False)
                else:
                    return UNKNOWN
            else:
                return UNKNOWN
        if any(r is None for r in results):
            return UNKNOWN
        return any(results)

    def has_attr(self, args: list[Any]) -> Any:
        if len(args) != 2 or not isinstance(args[1], str):
            return UNKNOWN
        owner, name = args
        if isinstance(owner, Instance):
            return name in owner.attrs or owner.cls.lookup(name) is not None or name == "training"
        if isinstance(owner, Layer):
            return name in owner.args.values or name in ("weight", "bias", "forward")
        if isinstance(owner, (int, float, str, list, tuple, dict)):
            return hasattr(owner, name)
        return UNKNOWN

    @staticmethod
    def type_of(value: Any) -> Any:
        """``type(x) == tuple`` as people test cfg entries: the builtin type of a Python value."""
        if isinstance(value, dims.Expr):
            return External("builtins.int")
        if isinstance(value, (bool, int, float, str, list, tuple, dict)) or value is None:
            return External(f"builtins.{type(value).__name__}")
        if isinstance(value, Tensor):
            return External("torch.Tensor")
        if isinstance(value, Instance):
            return value.cls
        if isinstance(value, Partial):
            return External("functools.partial")
        return UNKNOWN

    @staticmethod
    def instance_of_external(cls: ClassValue, tail: str) -> bool | None:
        """Whether a class of the user's is a ``torch.nn.<tail>`` (through its bases)."""
        if tail == "Module":
            return cls.is_module
        for klass in cls.mro():
            for base in klass.bases:
                if isinstance(base, External) and _tail(base.qualname) == tail:
                    return True
        return False

    def super_proxy(self, args: list[Any], node: ast.AST | None) -> Any:
        if len(args) == 2 and isinstance(args[0], ClassValue):
            return SuperProxy(args[0], args[1])
        return UNKNOWN

    # ------------------------------------------------------------------ methods
    def method(self, target: Any, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
        if isinstance(target, Tensor):
            return self.tensor_method(target, name, args, kwargs, node)
        if isinstance(target, SuperProxy):
            if name == "__init__":
                self.super_init(target, args, kwargs, node)
                return None
            inst = target.self_value
            if name == "forward" and isinstance(inst, Instance) and inst.cls.container_base == "Sequential":
                return self.apply_sequence(inst, list(inst.modules.values()), args, node)  # nn.Sequential.forward
            return self.unknown_result(args)
        if isinstance(target, list):
            return self.list_method(target, name, args, node)
        if isinstance(target, dict):
            return self.dict_method(target, name, args, node)
        if isinstance(target, str):
            if name == "format":
                if not all(isinstance(v, (str, int, float)) for v in (*args, *kwargs.values())):
                    return UNKNOWN  # never the text of an unknown value ("UNKNOWN_0")
                if not text_fits(target, [*args, *kwargs.values()]):
                    return self.interp.over_budget(node, f"a string of more than {LIMITS.sequence_length:,} "
                                                         "characters")
                try:
                    return target.format(*args, **kwargs)
                except Exception:
                    return UNKNOWN
            if name in ("lower", "upper", "strip") and not args:
                return getattr(target, name)()
            return UNKNOWN
        if isinstance(target, Container):
            return self.container_method(target, name, args)
        if isinstance(target, Instance):
            if name == "__getattr__" and len(args) == 1 and isinstance(args[0], str):
                return self.interp.get_attr(target, args[0])
            if name in ("add_module", "register_module", "register_buffer", "register_parameter", "__setattr__") \
                    and len(args) >= 2:
                if isinstance(args[0], str):
                    self.interp.set_attr(target, args[0], args[1])
                elif isinstance(args[1], Module) or args[1] is UNKNOWN:
                    target.incomplete = True  # a submodule under a name the analysis cannot tell
                return None
            if name in ("append", "extend", "insert") and target.cls.container_base:
                temp = Container(target.node, kind=target.cls.container_base, children=target.modules)
                result = self.container_method(temp, name, args)
                target.incomplete = target.incomplete or temp.incomplete
                return result
            if name in ("to", "eval", "train", "cuda", "cpu", "float", "double", "half", "requires_grad_"):
                return target
            return self.unknown_result(args)
        if isinstance(target, (Layer, OpaqueModule)):
            if name in ("to", "eval", "train", "cuda", "cpu", "float", "double", "half", "requires_grad_"):
                return target
            if name == "forward":
                return self.apply_module(target, args, kwargs, node)
        return self.unknown_result(args)

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
            self.fill_container_instance(inst, proxy.cls.container_base, args)
            return
        rule = next((RULES[_tail(b.qualname)] for cls in [proxy.cls, *following] for b in cls.bases
                     if isinstance(b, External) and _is_nn(b.qualname) and _tail(b.qualname) in RULES), None)
        if rule is not None:
            inst.base = self.construct(rule, args, kwargs, self.base_node(inst, node))

    @staticmethod
    def base_node(inst: Instance, init_call: ast.AST | None) -> ast.AST | None:
        """Where a layer subclass's torch arguments are written: the instantiation when ``__init__``
        passes them all on (``super().__init__(*args, **kwargs)``), else the ``super().__init__`` call."""
        if isinstance(init_call, ast.Call) and init_call.args + init_call.keywords \
                and all(isinstance(a, ast.Starred) for a in init_call.args) \
                and all(k.arg is None for k in init_call.keywords):
            return inst.node
        return init_call

    def list_method(self, target: list, name: str, args: list[Any], node: ast.AST | None = None) -> Any:
        if name == "append" and len(args) == 1:
            target.append(args[0])
            return None
        if name == "extend" and len(args) == 1:
            items = self.interp.iterate(args[0])
            if items is not None and len(target) + len(items) > LIMITS.sequence_length:
                items = None  # l.extend(l) in a loop doubles it
                self.interp.over_budget(node, f"a list of more than {LIMITS.sequence_length:,} items")
            if items is None:
                target.append(UNKNOWN)
            else:
                target.extend(items)
            return None
        if name == "insert" and len(args) == 2 and isinstance(args[0], int):
            target.insert(args[0], args[1])
            return None
        if name == "pop":
            try:
                return target.pop(*args)
            except Exception:
                return UNKNOWN
        if name in ("index", "count") and args:
            try:
                return getattr(target, name)(*args)
            except Exception:
                return UNKNOWN
        if name == "copy":
            return list(target)
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
        return UNKNOWN

    def dict_method(self, target: dict, name: str, args: list[Any], node: ast.AST | None = None) -> Any:
        if name == "items":
            return list(target.items())
        if name == "keys":
            return list(target.keys())
        if name == "values":
            return list(target.values())
        if name in ("get", "pop") and args and not self.interp.affordable(args[0], node):
            return UNKNOWN  # hashing a key that nests exponentially
        if name == "get" and args:
            try:
                return target.get(args[0], args[1] if len(args) > 1 else None)
            except TypeError:
                return UNKNOWN
        if name == "update" and args and isinstance(args[0], dict):
            target.update(args[0])
            return None
        if name == "pop" and args:
            try:
                return target.pop(*args)
            except Exception:
                return UNKNOWN
        if name == "copy":
            return dict(target)
        return UNKNOWN

    def container_method(self, target: Container, name: str, args: list[Any]) -> Any:
        if target.incomplete and name in ("items", "keys", "values", "children", "modules", "named_children",
                                          "named_modules", "parameters"):
            return UNKNOWN
        if name == "append" and args:
            if isinstance(args[0], Module):
                target.append(args[0])
            else:
                target.incomplete = True  # something the analysis cannot tell was added
            return target
        if name == "extend" and args:
            items = self.interp.iterate(args[0])
            if items is None or not all(isinstance(item, Module) for item in items):
                target.incomplete = True
            for item in items or []:
                if isinstance(item, Module):
                    target.append(item)
            return target
        if name == "insert" and len(args) == 2:
            if isinstance(args[0], int) and isinstance(args[1], Module):
                children = list(target.children.values())
                children.insert(args[0], args[1])
                target.children = {str(i): c for i, c in enumerate(children)}
            else:
                target.incomplete = True
            return None
        if name in ("add_module", "register_module") and len(args) == 2:
            if isinstance(args[0], str) and isinstance(args[1], Module):
                target.children[args[0]] = args[1]
            else:
                target.incomplete = True  # added under a name, or as a value, the analysis cannot tell
            return None
        if name == "items":
            return list(target.children.items())
        if name == "keys":
            return list(target.children.keys())
        if name in ("values", "children", "modules"):
            return list(target.children.values())
        if name in ("to", "eval", "train", "cuda", "cpu"):
            return target
        if name == "forward":
            return self.apply_module(target, args, {}, None)
        return UNKNOWN

    # ------------------------------------------------------------------ applying modules
    def apply_module(self, module: Module, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None,
                     line: int | None = None, sequence: Container | None = None) -> Any:
        call_line = line if line is not None else getattr(node, "lineno", 0)
        if module.incomplete:
            return self.unknown_result(args)
        if isinstance(module, Layer):
            return self.apply_layer(module, args, kwargs, node, call_line, sequence)
        if isinstance(module, Container):
            if module.kind != "Sequential":
                return self.unknown_result(args)
            result = self.apply_sequence(module, list(module.children.values()), args, node)
            if not module.children:  # an empty Sequential (a ResNet shortcut) is a leaf: identity
                self.record(module.path, "Sequential", call_line, module, args, result, node)
            elif node is not None and module.path:  # x = self.features(x): the line shows what comes out
                self.record(module.path, "Sequential", call_line, module, args, result, node, leaf=False)
            return result
        if isinstance(module, Instance):
            forward = module.cls.lookup("forward")
            if module.base is not None and isinstance(forward, FunctionValue):  # a masked conv's own forward
                self.note_first_layer(module.base, next((a for a in args if isinstance(a, Tensor)), None))
            if isinstance(forward, FunctionValue):
                entering = is_foreign(forward.node) and self.anchor is None
                if entering:
                    self.anchor = call_line  # layers of an imported block show on the line that calls it
                try:
                    result = self.interp.call_function(forward, [module, *args], dict(kwargs))
                finally:
                    if entering:
                        self.anchor = None
            elif module.cls.container_base == "Sequential":
                result = self.apply_sequence(module, list(module.modules.values()), args, node)
            elif module.base is not None and not module.modules:  # the torch layer's own forward
                module.base.path = module.path
                return self.apply_layer(module.base, args, kwargs, node, call_line, sequence)
            else:
                result = self.unknown_result(args)
            self.record_module_call(module, args, result, node, call_line)
            return result
        if isinstance(module, OpaqueModule):
            result = self.unknown_result(args)
            self.record(module.path, module.name, call_line, module, args, result, node)
            return result
        return self.unknown_result(args)

    def apply_sequence(self, owner: Module, children: list[Module], args: list[Any], node: ast.AST | None) -> Any:
        value = args[0] if args else UNKNOWN
        container = owner if isinstance(owner, Container) else None
        for child in children:
            child_line = getattr(child.node, "lineno", None) or getattr(node, "lineno", 0)
            if is_foreign(child.node):
                child_line = self.anchor or child.placed or getattr(node, "lineno", 0)
            value = self.apply_module(child, [value], {}, None, line=child_line, sequence=container)
        return value

    def record_module_call(self, module: Instance, args: list[Any], result: Any, node: ast.AST | None,
                           line: int) -> None:
        """A module of the user's without submodules is a leaf for ``named_modules()``: record it."""
        if not module.path:
            return  # the model itself: its output is the code lens's and the summary's
        leaf = not module.modules
        self.record(module.path, module.cls.name, line, module, args, result, node, leaf=leaf,
                    params=instance_params(module, set()) if leaf else None)

    def record(self, path: str | None, op: str, line: int, module: Module | None, args: list[Any], result: Any,
               node: ast.AST | None, leaf: bool = True, explain: list[str] | None = None,
               params: Any = None, formula: str = "", params_text_of: Callable[[], str] | None = None) -> None:
        if not self.trace.recording:
            return
        first = next((a for a in args if isinstance(a, Tensor)), None)
        outputs = _shapes_of(result)
        if self.anchor is not None or is_foreign(node) or (module is not None and is_foreign(module.node)):
            line = self.anchor or line  # another file's lines are not this buffer's
            node = None
            module = None
        span = self.trace.span(node) if node is not None else None
        self.trace.records.append(LayerRecord(
            path=path, op=op, line=line,
            def_line=getattr(module.node, "lineno", None) if module is not None and module.node is not None else None,
            input=first.shape if first else None, output=outputs[0] if outputs else None, params=params,
            formula=formula, explain=list(explain or []), params_text_of=params_text_of, outputs=tuple(outputs),
            column=span.column if span and span.line == line else 0,
            end_column=span.end_column if span and span.line == line and span.end_line == line else 0,
            leaf=leaf, arg_spans=self.arg_spans(module)))

    SIZE_ARGS = ("in_features", "in_channels", "num_features", "normalized_shape", "num_channels", "input_size",
                 "embed_dim", "d_model", "in1_features")

    def arg_spans(self, module: Module | None) -> dict:
        if not isinstance(module, Layer) or is_foreign(module.node):
            return {}
        if module.arg_spans is not None:  # the same layer in every run and every pass of a loop
            return module.arg_spans
        spans = module.arg_spans = {}
        for name in self.SIZE_ARGS:
            if name in module.rule.signature:
                node = self.trace.argument_node(module, name)
                if node is not None:
                    spans[name] = self.trace.span(node)
        return spans

    def note_first_layer(self, layer: Layer, first: Tensor | None) -> None:
        """The first layer applied to the input itself tells its rank and channels; after a reshape,
        a transpose or on another argument it does not."""
        if not self.trace.first_applied and first is not None:
            self.trace.first_applied = True
            self.trace.first_layer = layer if first.is_input else None
            if self.probing:
                raise FirstLayerFound()

    def apply_layer(self, layer: Layer, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None, line: int,
                    sequence: Container | None) -> Any:
        rule = layer.rule
        tensors = [a if isinstance(a, Tensor) else None for a in args]
        for key in ("input", "query", "key", "value", "input1", "input2"):
            if key in kwargs and isinstance(kwargs[key], Tensor):
                tensors.append(kwargs[key])
        first = next((t for t in tensors if t is not None), None)
        shapes: list[Out] = [t.shape if t is not None else None for t in tensors]
        call = Call(self.forward_args(layer, args, kwargs), shapes)
        if first is not None and first.shape is not None:
            layer.seen = first.shape
        self.note_first_layer(layer, first)
        if first is not None and first.shape and rule.op == "Linear":
            self.constrain(first.shape[-1], layer.args.values.get("in_features"),
                           f"{layer.path or 'Linear'}'s in_features={layer.args.values.get('in_features')}",
                           first.flat_from or ())
        out: Out = None
        finding: Finding | None = None
        swallowed = self.swallowed_batch(layer, first) if rule.op == "Linear" else None
        if swallowed is not None:
            finding, out = swallowed
        elif first is not None and first.shape is not None:
            try:
                out = rule.infer(call)
            except CannotTell:
                out = None
            except ShapeError as error:
                finding = self.layer_error(error, layer, first, node, sequence)
                out = error.recover if not error.integer else _as_integers(rule, call, error)
        for note in call.notes:
            if layer.node is not None:
                self.trace.note(layer.node, note)
        layer.resolved = call.resolved
        params = layer.params = layer_params(layer, call.resolved)
        result = self.wrap(out, first, layer, finding)
        if rule.op == "Flatten" and isinstance(result, Tensor) and result.shape is not None and first is not None:
            start, end = layer.args.values.get("start_dim"), layer.args.values.get("end_dim")
            if isinstance(start, int) and start >= 0 and end == -1:
                result.flat_from = tuple(first.shape[start:])
                result.channels_from = first.producer if start == 1 else None
            self.mark_swallowed(result, first, layer.node)
        parts = self.layer_parts(layer, first, finding)
        resolved = call.resolved
        self.record(layer.path, rule.op, line, layer, [first] if first else [], result, node,
                    explain=call.explain, params=params, formula=rule.formula,
                    params_text_of=lambda: params_with_numbers(rule, layer.args, resolved, params,
                                                               layer.extra_params_text),
                    leaf=parts is None)
        for name, op, shape_in, shape_out in parts or []:
            path = f"{layer.path}.{name}" if layer.path else None
            self.record(path, op, line, layer, [Tensor(shape_in)], Tensor(shape_out), node)
        return result

    def swallowed_batch(self, layer: Layer, first: Tensor | None) -> tuple[Finding | None, Out] | None:
        """A Linear after ``x.view(-1)``: the error is the flatten's (it took the batch too), and the fix
        keeps the batch; the run goes on with (batch, out_features)."""
        from .fixes import keep_batch_fix
        if first is None or first.swallowed is None or not first.flat_from or len(first.flat_from) < 2:
            return None
        want = layer.args.values.get("in_features")
        per_sample = dims.product(list(first.flat_from[1:]))
        if not isinstance(want, int) or isinstance(want, bool) or per_sample != want:
            return None
        total, out_features = dims.product(list(first.flat_from)), layer.args.values.get("out_features")
        node = first.swallowed
        batch = first.flat_from[0]
        shape = first.shape or ()
        if len(shape) == 2:  # view(-1, 640) of (2, 320): rows of two samples each
            rows, cols = dims.to_text(shape[0]), dims.to_text(shape[1])
            message = (f"mat1 and mat2 shapes cannot be multiplied ({rows}x{cols} and {want}x"
                       f"{dims.to_text(out_features)}): {self.trace.text(node)} mixes the samples, so the batch "
                       f"of {dims.to_text(batch)} becomes {rows} row{'' if rows == '1' else 's'} of {cols} values")
        else:
            rows = str(total) if isinstance(total, int) else f"({total})"
            message = (f"mat1 and mat2 shapes cannot be multiplied (1x{rows} and {want}x"
                       f"{dims.to_text(out_features)}): {self.trace.text(node)} flattens the batch too, so "
                       f"{layer.path or 'the Linear'} gets one row of {rows} values")
        # a batch of one runs (and gives an output without its batch): a warning, not torch's error
        where = node
        if len(shape) == 2 and isinstance(node, ast.Call) and len(node.args) == 2:
            where = node.args[1]  # where a view's size is wrong in another pass: one finding for both
        severity = "warning" if batch == 1 else "error"
        finding = self.trace.report(ShapeError("view-invalid", message), where, severity)
        finding.severity, finding.message = severity, message  # the view's warning, now that a Linear fails
        fix = keep_batch_fix(self.trace, node)
        if fix is not None and not finding.fixes:
            finding.fixes = [fix]
        return finding, (batch, out_features)

    @staticmethod
    def forward_args(layer: Layer, args: list[Any], kwargs: dict[str, Any]):
        """Constructor arguments, plus what a few layers also take in ``forward`` (MaxUnpool's output_size)."""
        if layer.rule.op.startswith("MaxUnpool"):
            size = kwargs.get("output_size", args[2] if len(args) > 2 else None)
            if size is not None:
                return Args(layer.args.op, {**layer.args.values, "output_size": size})
        return layer.args

    def layer_parts(self, layer: Layer, first: Tensor | None, finding: Finding | None) -> list | None:
        """The leaf calls inside a layer made of submodules; None for a true leaf."""
        if layer.rule.parts is None:
            return None
        shape = first.shape if first is not None and first.shape is not None and finding is None else None
        try:
            # with an unknown input, list the calls all the same, their shapes unknown
            parts = layer.rule.parts(layer.args, shape if shape is not None else (None,))
        except (CannotTell, TypeError, AttributeError):
            return []
        if shape is None:
            return [(name, op, None, None) for name, op, _, _ in parts]
        return parts

    def wrap(self, out: Out, source: Tensor | None, producer: Layer | None, finding: Finding | None) -> Any:
        # a view's recovery is a guess at the user's intent: what follows from it belongs to that error
        if finding is not None and finding.code == "view-invalid":
            taint: Finding | None = finding
        else:
            taint = source.taint if source else None
        if out is None:
            return Tensor(None, taint=taint)
        if isinstance(out, tuple) and out and all(isinstance(o, tuple) or o is None for o in out) \
                and any(isinstance(o, tuple) for o in out):
            return tuple(self.wrap(o, source, producer, finding) for o in out)
        tensor = Tensor(tuple(out), taint=taint, producer=producer)
        keeps_shape = producer is None or producer.rule.family in SHAPE_KEEPING
        if source is not None and out == source.shape and keeps_shape:
            tensor.keep_flatten_of(source)
            tensor.producer = source.producer
        elif source is not None and producer is not None and producer.rule.family in CHANNEL_KEEPING \
                and source.shape is not None and len(out) == len(source.shape) > 1 and out[1] == source.shape[1]:
            tensor.producer = source.producer  # a pool keeps the channels: they are still the conv's before it
            tensor.joined = source.joined
        return tensor

    def layer_error(self, error: ShapeError, layer: Layer, first: Tensor, node: ast.Call | None,
                    sequence: Container | None) -> Finding | None:
        from .fixes import blame_fix
        if first.taint is not None:
            extra = blame_fix(self.trace, error, layer, first)
            if extra is not None and first.taint.fixes:
                fix = first.taint.fixes[0]
                written = {edit.span: edit.new_text for edit in fix.edits}
                if any(written.get(edit.span, edit.new_text) != edit.new_text for edit in extra.edits):
                    del first.taint.fixes[0]  # copies of one layer would need different values: no one fix
                elif any(edit.span not in written for edit in extra.edits):
                    fix.edits.extend(edit for edit in extra.edits if edit.span not in written)
                    fix.title += f"; change {layer.path or layer.rule.op}'s {error.blame} to match"
            return None
        where = (self.trace.argument_node(layer, error.blame) if error.blame else None) or layer.node or node
        if where is None:
            return None
        finding = self.trace.report(error, where)
        finding.layer_path = layer.path
        if not finding.fixes:
            self.deferred.append((finding, error, layer, first, node, sequence))
        return finding

    # ------------------------------------------------------------------ functional and torch.*
    def functional(self, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
        if name in FUNCTIONAL_LAYERS:
            op, signature = FUNCTIONAL_LAYERS[name]
            rule = RULES[op]
            if signature is not None:
                rule = LayerRule(rule.op, rule.family, signature, rule.defaults, rule.infer, rule.formula)
            x = args[0] if args else kwargs.pop("input", None)
            layer = Layer(node, rule=rule, args=rule.bind(list(args[1:]), {k: v for k, v in kwargs.items()}))
            layer.path = None
            result = self.apply_functional_layer(layer, x, node)
            return result
        if name in WEIGHTED_FUNCTIONALS:
            layer = self.weighted_functional(name, args, kwargs, node)
            x = args[0] if args else kwargs.get("input")
            if layer is None:
                return self.record_op(node, [x], Tensor(None) if isinstance(x, Tensor) else UNKNOWN)
            return self.apply_functional_layer(layer, x, node)
        if name == "affine_grid" and len(args) >= 2:  # theta, size (N, C, H, W): a grid (N, H, W, 2)
            size = self.interp.iterate(args[1])
            if size and len(size) in (4, 5) and all(isinstance(d, (int, dims.Expr)) for d in size):
                return self.record_op(node, [args[0]], Tensor((size[0], *size[2:], len(size) - 2)))
            return self.unknown_result(args)
        if name == "grid_sample" and len(args) >= 2 and all(isinstance(a, Tensor) for a in args[:2]):
            x, grid = args[0], args[1]  # (N, C, H, W) sampled at (N, Hg, Wg, 2): (N, C, Hg, Wg)
            if x.shape is not None and grid.shape is not None and len(x.shape) == len(grid.shape) in (4, 5):
                return self.record_op(node, [x], Tensor((x.shape[0], x.shape[1], *grid.shape[1:-1])))
            return self.record_op(node, [x], Tensor(None))
        if name == "pad" and args and isinstance(args[0], Tensor):
            return self.op(node, args[0], lambda s: _pad(s, args[1] if len(args) > 1 else kwargs.get("pad")))
        if name == "one_hot":
            return self.unknown_result(args)
        if name in SAME_SHAPE or name.endswith("_"):
            x = args[0] if args else kwargs.get("input")
            if isinstance(x, Tensor):
                return self.record_op(node, [x], x.derive(x.shape, keep_flat=True))
            return UNKNOWN
        return self.unknown_result(args)

    @staticmethod
    def weighted_functional(name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None
                            ) -> Layer | None:
        """``F.conv2d(x, weight, bias, stride, ...)``, ``F.linear(x, weight)``: the layer the weight's shape
        implies, or None where that shape is unknown."""
        params = WEIGHTED_FUNCTIONALS[name]
        given = {**dict(zip(params, args[1:])), **{k: v for k, v in kwargs.items() if k in params}}
        weight = given.pop("weight", None)
        given.pop("bias", None)
        shape = weight.shape if isinstance(weight, Tensor) else None
        if shape is None or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
            return None
        if any_float(*given.values()):
            return None  # torch words a float argument of the function unlike the module's
        if name == "linear":
            if len(shape) != 2:
                return None
            rule = RULES["Linear"]
            bound = {"in_features": shape[1], "out_features": shape[0]}
        else:
            n = int(name[-2])
            if len(shape) != n + 2:
                return None
            groups = given.get("groups", 1)
            if not isinstance(groups, int) or isinstance(groups, bool) or groups <= 0:
                return None
            transposed = name.startswith("conv_transpose")
            rule = RULES[f"ConvTranspose{n}d" if transposed else f"Conv{n}d"]
            channels = (shape[0], shape[1] * groups) if transposed else (shape[1] * groups, shape[0])
            bound = {"in_channels": channels[0], "out_channels": channels[1], "kernel_size": tuple(shape[2:]),
                     **given}
        layer = Layer(node, rule=rule, args=rule.bind([], bound))
        layer.path = None
        return layer

    def apply_functional_layer(self, layer: Layer, x: Any, node: ast.Call | None) -> Any:
        if not isinstance(x, Tensor) or x.shape is None:
            return self.record_op(node, [x], Tensor(None, taint=x.taint if isinstance(x, Tensor) else None))
        values = layer.args.values  # F.max_unpoolNd's indices: a second input, as the module's
        indices = [values["indices"].shape if isinstance(values["indices"], Tensor) else None] \
            if "indices" in values else []
        call = Call(layer.args, [x.shape, *indices])
        try:
            out = layer.rule.infer(call)
        except CannotTell:
            out = None
        except ShapeError as error:
            if node is not None and x.taint is None:
                self.trace.report(error, node)
            out = error.recover
        for note in call.notes:
            if node is not None:
                self.trace.note(node, note)
        # F.max_pool2d keeps the channels, F.relu the shape: they stay the producer's before it (for its fix)
        keeps = layer.rule.family in SHAPE_KEEPING or layer.rule.family in CHANNEL_KEEPING
        result = self.wrap(out, x, layer if keeps else None, None)
        self.record(None, self.op_name(node), getattr(node, "lineno", 0), None, [x], result, node,
                    explain=call.explain, formula=layer.rule.formula)
        return result

    def op_name(self, node: ast.AST | None) -> str:
        if isinstance(node, ast.Call):
            return self.trace.text(node.func) or "op"
        return "op"

    def record_op(self, node: ast.AST | None, args: list[Any], result: Any) -> Any:
        if node is not None:
            self.record(None, self.op_name(node), getattr(node, "lineno", 0), None, args, result, node)
        return result

    def op(self, node: ast.Call | None, x: Tensor, fn, keep_flat: bool = False, error_at: ast.AST | None = None,
           make_fix=None) -> Any:
        """Apply a pure shape function to a tensor, reporting its error once, and record it."""
        if x.shape is None:
            return self.record_op(node, [x], Tensor(None, taint=x.taint))
        finding = None
        where = error_at or node
        try:
            shape = fn(x.shape)
            if make_fix is not None and where is not None:
                self.op_ok.add(id(where))
        except CannotTell:
            shape = None
        except ShapeError as error:
            shape = None
            if where is not None and x.taint is None:
                finding = self.trace.report(error, where)
                if make_fix is not None:
                    fix = make_fix(x)
                    seen = self.op_fixes.setdefault(id(where), (finding, []))[1]
                    seen.append((fix, list(fix.edits) if fix is not None else []))
                    if hasattr(make_fix, "per_sample_fix") and id(where) not in self.op_fallbacks:
                        fallback = make_fix.per_sample_fix()
                        if fallback is not None:
                            self.op_fallbacks[id(where)] = fallback
                    if fix is not None and not finding.fixes:
                        finding.fixes.append(fix)
                recovered = make_fix.recover(x) if make_fix is not None and hasattr(make_fix, "recover") else None
                shape = recovered
        result = Tensor(shape, taint=finding if finding is not None else x.taint)
        if keep_flat and shape == x.shape:
            result.keep_flatten_of(x)
        return self.record_op(node, [x], result)

    def torch_function(self, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
        if name in ("cat", "concat", "concatenate", "stack", "hstack", "vstack"):
            items = self.interp.iterate(args[0]) if args else self.interp.iterate(kwargs.get("tensors"))
            dim = args[1] if len(args) > 1 else kwargs.get("dim", kwargs.get("axis", 0))
            if items is None or not all(isinstance(t, Tensor) for t in items):
                return self.record_op(node, [], Tensor(None))
            taint = next((t.taint for t in items if t.taint), None)
            if any(t.shape is None for t in items):
                return self.record_op(node, items, Tensor(None, taint=taint))
            try:
                if name == "stack":
                    shape = tensor_ops.stack([t.shape for t in items], dim)
                elif name in ("hstack", "vstack"):
                    shape = None
                else:
                    shape = tensor_ops.cat([t.shape for t in items], dim)
            except CannotTell:
                shape = None
            except ShapeError as error:
                shape = None
                if node is not None and taint is None:
                    taint = self.trace.report(error, node)
            result = Tensor(shape, taint=taint)
            if shape is not None and name != "stack" and len(shape) > 1 and dim in (1, 1 - len(shape)):
                result.joined = tuple((t.producer, t.shape[1]) for t in items)
            return self.record_op(node, items, result)
        if name in CREATORS:
            return self.create(name, args, kwargs, node)
        if name in ("add", "sub", "mul", "div", "maximum", "minimum", "where", "matmul", "mm", "bmm"):
            tensors = [a for a in args if isinstance(a, Tensor)]
            if name in ("matmul", "mm", "bmm") and len(args) >= 2:
                return self.tensor_binary(ast.MatMult(), args[0], args[1], node)
            if name == "where" and len(args) == 3:
                return self.tensor_binary(ast.Add(), args[1], args[2], node)
            if len(args) >= 2:
                return self.tensor_binary(ast.Add(), args[0], args[1], node)
            return self.unknown_result(tensors)
        if args and isinstance(args[0], Tensor):
            return self.tensor_method(args[0], name, list(args[1:]), kwargs, node)
        return self.unknown_result(args)

    def create(self, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
        if name.endswith("_like"):
            x = args[0] if args else None
            return x.derive(x.shape) if isinstance(x, Tensor) else UNKNOWN
        if name == "tensor" and args:
            data = args[0]
            if isinstance(data, (list, tuple)) and len(data) == 1:
                data = data[0]
            if isinstance(data, (int, float, dims.Expr)) and not isinstance(data, bool):
                return data  # torch.tensor([h2 - h1]) is used as a number (F.pad amounts)
            if isinstance(data, (list, tuple)) and _numbers(data) and len(data) <= MAX_VALUES:
                return Tensor((len(data),), values=tuple(data))
        if name == "eye":  # eye(n) is (n, n), eye(n, m) is (n, m)
            rows = args[0] if args else kwargs.get("n")
            cols = args[1] if len(args) > 1 else kwargs.get("m", rows)
            sizes = (rows, cols)
            ok = all(isinstance(v, (int, dims.Expr)) and not isinstance(v, bool) for v in sizes)
            return Tensor(sizes if ok else None)
        if name in ("from_numpy", "as_tensor"):
            return Tensor(None)  # a tensor of data the analysis does not see: its shape unknown
        if name in ("Tensor", "FloatTensor") and not all(isinstance(a, (int, dims.Expr)) for a in args):
            return Tensor(None)  # the legacy constructor of data, not of sizes
        if name in ("arange", "linspace"):
            made = _arange(args, kwargs) if name == "arange" else _linspace(args, kwargs)
            if made is not None:
                return Tensor((len(made),), values=made)
        if name in ("tensor", "arange", "full"):
            if name == "full" and args:
                sizes = args[0]
                items = self.interp.iterate(sizes)
                if items is not None and all(isinstance(s, (int, dims.Expr)) for s in items):
                    return Tensor(tuple(items))
            return Tensor(None)
        if name == "randint":
            size = kwargs.get("size", args[-1] if args else None)
            items = self.interp.iterate(size)
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

    # ------------------------------------------------------------------ tensor methods
    def tensor_method(self, x: Tensor, name: str, args: list[Any], kwargs: dict[str, Any],
                      node: ast.Call | None) -> Any:
        shape = x.shape
        if name in ("size", "dim", "numel", "nelement", "ndimension"):
            if shape is None:
                return UNKNOWN
            if name == "size":
                if args or "dim" in kwargs:
                    d = args[0] if args else kwargs["dim"]
                    if not isinstance(d, int):
                        return UNKNOWN
                    try:
                        value = shape[d]
                    except IndexError:
                        return UNKNOWN
                    return UNKNOWN if value is None else value
                return tuple(d if d is not None else UNKNOWN for d in shape)
            if name in ("dim", "ndimension"):
                return len(shape)
            total = tensor_ops.numel(shape)
            return UNKNOWN if total is None else total
        if name in ("view", "reshape"):
            sizes = list(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else list(args)
            if "shape" in kwargs and isinstance(kwargs["shape"], (tuple, list)):
                sizes = list(kwargs["shape"])
            if x.shape is None and x.taint is None and sizes and all(
                    isinstance(v, (int, dims.Expr)) and not isinstance(v, bool) and v != -1 for v in sizes) \
                    and all(not isinstance(v, int) or v >= 0 for v in sizes):
                # every size written out: whatever came in, what comes out (if torch runs it) is that
                return self.record_op(node, [x], Tensor(tuple(sizes)))
            return self.view(x, sizes, node)
        if name in ("view_as", "reshape_as", "expand_as", "type_as") and args and isinstance(args[0], Tensor):
            if name == "type_as":
                return self.record_op(node, [x], x.derive(shape, keep_flat=True))
            return self.record_op(node, [x], x.derive(args[0].shape))
        if name == "flatten":
            start = args[0] if args else kwargs.get("start_dim", 0)
            end = args[1] if len(args) > 1 else kwargs.get("end_dim", -1)
            return self.flatten(x, start, end, node)
        if name == "permute":
            order = list(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else list(args)
            return self.op(node, x, lambda s: tensor_ops.permute(s, order))
        if name in ("transpose", "swapaxes", "swapdims"):
            a = args[0] if args else kwargs.get("dim0")
            b = args[1] if len(args) > 1 else kwargs.get("dim1")
            return self.op(node, x, lambda s: tensor_ops.transpose(s, a, b))
        if name == "t":
            return self.op(node, x, lambda s: tuple(reversed(s)))
        if name == "squeeze":
            dim = args[0] if args else kwargs.get("dim")
            return self.op(node, x, lambda s: tensor_ops.squeeze(s, dim), keep_flat=True)
        if name == "unsqueeze":
            dim = args[0] if args else kwargs.get("dim")
            return self.op(node, x, lambda s: tensor_ops.unsqueeze(s, dim))
        if name in REDUCTIONS or name in REDUCTIONS_WITH_INDICES:
            dim = args[0] if args else kwargs.get("dim", kwargs.get("axis"))
            keepdim = args[1] if len(args) > 1 else kwargs.get("keepdim", False)
            if name in ("norm", "std", "var") and args and not isinstance(args[0], int):
                dim = kwargs.get("dim")
            if name in REDUCTIONS_WITH_INDICES and isinstance(dim, Tensor):
                return self.tensor_binary(ast.Add(), x, dim, node)
            result = self.op(node, x, lambda s: tensor_ops.reduce(s, dim, keepdim))
            if name in REDUCTIONS_WITH_INDICES and dim is not None:
                return (result, result.derive(result.shape))
            return result
        if name in ("topk", "sort"):
            result = self.op(node, x, lambda s: _top(s, name, args, kwargs))
            return (result, result.derive(result.shape))
        if name in ("expand", "repeat"):
            given = kwargs.get("repeats" if name == "repeat" else "size")
            if not args and isinstance(given, (tuple, list)):
                args = [given]  # x.repeat(repeats=(B, 1, 1)), x.expand(size=(B, -1, -1))
            sizes = list(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else list(args)
            if name == "expand":
                return self.op(node, x, lambda s: _expand(s, sizes))
            return self.op(node, x, lambda s: _repeat(s, sizes))
        if name in ("split", "chunk"):
            size = args[0] if args else kwargs.get("split_size_or_sections", kwargs.get("chunks"))
            dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
            if shape is None:
                return UNKNOWN
            try:
                parts = tensor_ops.split(shape, size, dim) if name == "split" else tensor_ops.chunk(shape, size, dim)
            except (CannotTell, ShapeError):
                return UNKNOWN
            return tuple(Tensor(p) for p in parts)
        if name == "unbind":
            return UNKNOWN
        if name in ("matmul", "mm", "bmm") and args:
            return self.tensor_binary(ast.MatMult(), x, args[0], node)
        if name in ("add", "sub", "mul", "div", "add_", "sub_", "mul_", "div_") and args:
            if isinstance(args[0], Tensor):
                return self.tensor_binary(ast.Add(), x, args[0], node)
            return self.record_op(node, [x], x.derive(shape, keep_flat=True))
        if name in ("softmax", "log_softmax") or name in SAME_SHAPE or name.endswith("_"):
            return self.record_op(node, [x], x.derive(shape, keep_flat=True))
        if name == "item" and x.values is not None and len(x.values) == 1:
            return x.values[0]
        if name == "tolist" and x.values is not None and x.shape is not None and len(x.shape) == 1:
            return list(x.values)
        if name in ("item", "tolist"):
            return UNKNOWN
        if name in ("new_zeros", "new_ones", "new_empty", "new"):
            return self.create("zeros", args, kwargs, node)
        if name == "new_full" and args:
            return self.create("zeros", args[:1], {}, node)
        return self.record_op(node, [x], Tensor(None, taint=x.taint))

    def view(self, x: Tensor, sizes: list[Any], node: ast.Call | None) -> Any:
        from .fixes import ViewFix
        make_fix = ViewFix(self.trace, node, sizes)
        error_at = make_fix.target_node()
        self.constrain_view(x, sizes, node)
        result = self.op(node, x, lambda s: tensor_ops.view(s, sizes, self.batch_symbol),
                         error_at=error_at, make_fix=make_fix)
        if isinstance(result, Tensor) and result.shape is not None and x.shape is not None and len(result.shape) >= 1:
            tail = result.shape[-1]
            if len(result.shape) < len(x.shape) and tail is not None and isinstance(tail, int):
                merged = self.trailing_factors(x.shape, tail)
                if merged:
                    result.flat_from = merged
                    result.channels_from = x.producer if len(merged) == len(x.shape) - 1 else None
                elif self.mixes_samples(x, sizes, result):
                    result.swallowed = node  # a Linear after it is this view's error (see swallowed_batch)
                    result.flat_from = tuple(x.shape)
                    self.warn_mixed_samples(x, result, node)
        self.mark_swallowed(result, x, node)
        return result

    def warn_mixed_samples(self, x: Tensor, result: Tensor, node: ast.Call | None) -> None:
        """torch runs it for this batch, not for every batch: say so on the size (an error if a Linear fails)."""
        if not isinstance(node, ast.Call) or len(node.args) != 2 or x.taint is not None:
            return
        per_sample = dims.product(list(x.shape[1:]))
        rows, cols = result.shape
        message = (f"shape '[-1, {cols}]' works only for some batch sizes (the input has {per_sample} values per "
                   f"sample): the batch of {x.shape[0]} becomes {rows} row{'' if rows == 1 else 's'} of {cols} values, "
                   f"so the samples are mixed")
        self.trace.report(ShapeError("view-invalid", message), node.args[1], "warning")

    @staticmethod
    def mixes_samples(x: Tensor, sizes: list[Any], result: Tensor) -> bool:
        """``view(-1, 640)`` of a (2, 320) batch: the rows are no longer the samples (the batch of 2 is 1)."""
        shape, out = x.shape, result.shape
        return (shape is not None and out is not None and len(sizes) == 2 and sizes[0] == -1
                and len(out) == 2 and isinstance(out[0], int) and isinstance(shape[0], int)
                and out[0] != shape[0] and all(isinstance(d, int) for d in shape))

    @staticmethod
    def mark_swallowed(result: Any, x: Tensor, node: ast.AST | None) -> None:
        """A flatten of everything: the batch went into the one dimension left."""
        if isinstance(result, Tensor) and result.shape is not None and x.shape is not None \
                and len(result.shape) == 1 and len(x.shape) >= 2 and isinstance(node, ast.Call):
            result.swallowed = node
            result.flat_from = tuple(x.shape)

    def trailing_factors(self, shape: tuple, total: int) -> tuple | None:
        """The trailing dims of ``shape`` whose product is ``total``, for a fix written ``16 * 6 * 6``."""
        product: Any = 1
        for i in range(len(shape) - 1, 0, -1):
            if not isinstance(shape[i], int):
                return None
            product *= shape[i]
            if product == total:
                return tuple(shape[i:])
        return None

    def constrain(self, size: Any, value: Any, where: str, factors: tuple = ()) -> None:
        """Remember a size the model pins down while the input's spatial size is a symbol; ``factors``
        are the sizes it is the product of (each must come out positive)."""
        if isinstance(size, dims.Expr) and isinstance(value, int) and not isinstance(value, bool):
            constraint = Constraint(size, value, where, factors)
            self.trace.constraints.append(constraint)
            names = size.symbols()
            if self.solving_for is not None and names and names <= self.solving_for:
                raise ConstraintFound(constraint)

    def constrain_view(self, x: Tensor, sizes: list[Any], node: ast.AST | None) -> None:
        if x.shape is None or len(x.shape) < 2 or len(sizes) != 2 or any(d is None for d in x.shape[1:]):
            return
        if not isinstance(sizes[1], int) or sizes[1] <= 0:
            return
        per_sample = dims.product(list(x.shape[1:]))
        self.constrain(per_sample, sizes[1], f"the view to (-1, {sizes[1]})", tuple(x.shape[1:]))

    def flatten(self, x: Tensor, start: Any, end: Any, node: ast.Call | None) -> Any:
        result = self.op(node, x, lambda s: tensor_ops.flatten(s, start, end))
        if isinstance(result, Tensor) and result.shape is not None and x.shape is not None and end in (-1, None):
            if isinstance(start, int) and start >= 0:
                result.flat_from = tuple(x.shape[start:])
                result.channels_from = x.producer if start == 1 else None
        self.mark_swallowed(result, x, node)
        return result

    def tensor_index(self, x: Tensor, key: Any) -> Any:
        if x.shape is None or key is UNKNOWN:
            return Tensor(None, taint=x.taint)
        try:
            return x.derive(tensor_ops.index(x.shape, key))
        except (CannotTell, ShapeError):
            return Tensor(None, taint=x.taint)

    def tensor_binary(self, op: ast.operator, a: Any, b: Any, node: ast.AST | None) -> Any:
        ta = a if isinstance(a, Tensor) else None
        tb = b if isinstance(b, Tensor) else None
        taint = (ta.taint if ta else None) or (tb.taint if tb else None)
        if ta is None or tb is None:
            t = ta or tb
            other = b if ta is not None else a
            if not isinstance(other, (int, float, bool, dims.Expr)):
                return Tensor(None, taint=taint)  # a module, a list, something unknown: cannot broadcast it
            return t.derive(t.shape, keep_flat=True)
        elementwise_on_input = ta.is_input and not isinstance(op, ast.MatMult)  # (x - mean) / std
        if ta.shape is None or tb.shape is None:
            return Tensor(None, taint=taint, is_input=elementwise_on_input and ta.shape is None)
        try:
            if isinstance(op, ast.MatMult):
                shape = tensor_ops.matmul(ta.shape, tb.shape)
            else:
                shape = tensor_ops.broadcast(ta.shape, tb.shape)
        except CannotTell:
            shape = None
        except ShapeError as error:
            shape = None
            if node is not None and taint is None:
                taint = self.trace.report(error, node)
                if error.code == "add-mismatch" and not taint.fixes:
                    from .fixes import branch_fix
                    found = branch_fix(self.trace, ta, tb)
                    if found is not None and any(f is taint for f in self.trace.findings):
                        fix, conv = found  # the error belongs to the convolution that changed the size
                        taint.fixes, taint.layer_path = [fix], conv.path
                        taint = self.trace.move(taint, self.trace.span(conv.node))
        result = Tensor(shape, taint=taint, is_input=elementwise_on_input and shape == ta.shape)
        if shape == ta.shape:
            result.keep_flatten_of(ta)
        if isinstance(node, ast.Call):
            self.record_op(node, [ta], result)
        return result


PARAM_NAME = re.compile(r"prod\((\w+)\)|\b([a-z][a-z0-9_]*)\b")


def params_with_numbers(rule: LayerRule, args: Args, resolved: dict, total: Any, extra: str = "") -> str:
    """The parameter formula with the numbers put in: ``6*(3/1)*5*5 + 6 (bias) = 456``."""
    text = rule.params_text + (f" {extra}" if extra and rule.params_text else "")
    if not text or text == "0" or total is None:
        return text
    values = {**args.values, **resolved}

    def number(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        value = values.get(name)
        if match.group(1):
            if isinstance(value, int) and not isinstance(value, bool):  # kernel_size=5 of a Conv2d is 5x5
                value = (value,) * next((int(c) for c in rule.op if c.isdigit()), 1)
            items = value if isinstance(value, (list, tuple)) else None
            return "*".join(str(v) for v in items) if items else match.group(0)
        if isinstance(value, (list, tuple)):
            return "*".join(str(v) for v in value)
        if isinstance(value, (int, dims.Expr)) and not isinstance(value, bool):
            return dims.to_text(value)
        return name

    head, _, note = text.partition(" (")
    filled = PARAM_NAME.sub(number, head)
    if filled == head:
        return f"{text} = {dims.to_text(total)}"
    return f"{filled}{' (' + note if note else ''} = {dims.to_text(total)}"


class FirstLayerFound(Exception):
    """Ends a probe run: the first layer is known (``trace.first_layer``)."""


class ConstraintFound(Exception):
    """Ends a symbolic run that solves for the input: a size pins down the input's spatial symbols."""

    def __init__(self, constraint: Constraint) -> None:
        super().__init__(constraint.where)
        self.constraint = constraint


def is_foreign(node: Any) -> bool:
    """A node of another file (an imported block): its line numbers are not this buffer's."""
    return getattr(node, "_cnnshape_foreign", False)


def _shapes_of(result: Any) -> list:
    if isinstance(result, Tensor):
        return [result.shape]
    if isinstance(result, tuple):
        out: list = []
        for item in result:
            out.extend(_shapes_of(item))
        return out
    return []


def _pad(shape: tuple, pads: Any) -> tuple:
    if not isinstance(pads, (tuple, list)) or len(pads) % 2 or not all(isinstance(p, int) for p in pads):
        raise CannotTell("pad")
    out = list(shape)
    for i in range(len(pads) // 2):
        axis = len(shape) - 1 - i
        if axis < 0:
            raise ShapeError("rank-mismatch", "Padding length too large")
        if out[axis] is not None:
            out[axis] = dims.add(out[axis], pads[2 * i] + pads[2 * i + 1])
    return tuple(out)


def _expand(shape: tuple, sizes: list[Any]) -> tuple:
    if len(sizes) < len(shape):
        raise CannotTell("expand")
    offset = len(sizes) - len(shape)
    out = []
    for i, s in enumerate(sizes):
        if isinstance(s, int) and s == -1:
            out.append(shape[i - offset] if i >= offset else None)
        elif isinstance(s, (int, dims.Expr)):
            out.append(s)
        else:
            raise CannotTell("expand")
    return tuple(out)


def _repeat(shape: tuple, sizes: list[Any]) -> tuple:
    if len(sizes) < len(shape) or not all(isinstance(s, int) for s in sizes):
        raise CannotTell("repeat")
    padded = (1,) * (len(sizes) - len(shape)) + tuple(shape)
    return tuple(None if d is None else dims.mul(d, s) for d, s in zip(padded, sizes))
