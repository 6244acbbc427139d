"""Reading attributes and subscripts of abstract values (a part of :class:`Interpreter`)."""

from __future__ import annotations

import ast
from typing import Any

from . import dims
from .layers import UNKNOWN
from .libraries import library_value
from .ops.layer_attributes import layer_attribute
from .ops.names import MODULE_METHOD_NAMES
from .ops.stdlib import (
    NOT_HANDLED,
    array_items,
    attribute_of_value,
    enum_member_named,
    external_constant,
)
from .ops.torch_classes import class_name_of, torch_class_of
from .py_values import CONTAINERS
from .values import (
    BoundMethod,
    ClassValue,
    Container,
    EnumMember,
    Env,
    External,
    FunctionValue,
    Instance,
    Layer,
    MethodOf,
    ModuleNamespace,
    NumberArray,
    OpaqueModule,
    Partial,
    Record,
    SuperProxy,
    Tensor,
)


class Attributes:
    """``owner.name`` and ``owner[key]`` over abstract values."""

    def get_attr(self, owner: Any, name: str, node: ast.AST | None = None) -> Any:
        if isinstance(owner, ModuleNamespace):
            return owner.env.vars.get(name, UNKNOWN)
        if isinstance(owner, External):
            if owner.library:  # an installed package's name: its value, read from the package's source
                found = library_value(owner.qualname)
                if found is not None:
                    return self.get_attr(found, name, node)
                inner = library_value(f"{owner.qualname}.{name}")
                return External(f"{owner.qualname}.{name}") if inner is None else inner
            if name in ("__name__", "__qualname__") and class_name_of(owner) is not None:
                return class_name_of(owner)  # ``type(m).__name__ == "Conv2d"``
            return external_constant(f"{owner.qualname}.{name}")
        if name == "__class__" and isinstance(owner, (Layer, Container)):
            return torch_class_of(owner)  # ``m.__class__.__name__`` over ``model.modules()`` (MUNIT)
        if isinstance(owner, Instance):
            if name in owner.attrs and not registered_under_method(owner, name):
                return owner.attrs[name]
            if name == "_modules":  # torch's registry of submodules, by name in registration order
                return UNKNOWN if owner.incomplete else owner.modules
            if name in owner.modules and not registered_under_method(owner, name):
                return owner.modules[name]  # registered through ``self._modules[name] = ...``
            if name == "training":
                return self.training
            if name == "__class__":
                return owner.cls
            found = owner.cls.lookup(name)
            if isinstance(found, FunctionValue):
                return BoundMethod(found, owner)
            if isinstance(found, tuple) and len(found) == 2 and isinstance(found[1], FunctionValue):
                kind, func = found
                if kind == "property":
                    return self.call_function(func, [owner], {})
                if kind == "classmethod":
                    return BoundMethod(func, owner.cls)
                return func
            if found is not None:
                return found
            if owner.base is not None:
                return self.get_attr(owner.base, name, node)
            return MethodOf(owner, name, node)
        if isinstance(owner, EnumMember) and name not in ("value", "name"):
            found = owner.owner.lookup(name)
            if isinstance(found, tuple) and len(found) == 2 and found[0] == "property" \
                    and isinstance(found[1], FunctionValue):  # torchvision's ``weights.meta``
                return self.call_function(found[1], [owner], {})
        made = attribute_of_value(owner, name)  # a namespace, an enum member, a namedtuple: never an Instance
        if made is not NOT_HANDLED:
            return made
        if isinstance(owner, Partial) and name in ("func", "args", "keywords"):
            return owner.func if name == "func" else tuple(owner.args) if name == "args" else dict(owner.kwargs)
        if isinstance(owner, FunctionValue) and name in ("__name__", "__qualname__"):
            return getattr(owner.node, "name", "<lambda>")
        if isinstance(owner, ClassValue):
            if name in ("__name__", "__qualname__"):
                return owner.name
            found = owner.lookup(name)
            if found is None and name == "apply" and extends_autograd_function(owner):
                return autograd_apply(owner)
            if isinstance(found, tuple) and len(found) == 2 and isinstance(found[1], FunctionValue):
                return BoundMethod(found[1], owner) if found[0] == "classmethod" else found[1]
            return UNKNOWN if found is None else found
        if isinstance(owner, SuperProxy):
            for cls in owner.self_value.cls.mro()[owner.self_value.cls.mro().index(owner.cls) + 1:] \
                    if isinstance(owner.self_value, Instance) and owner.cls in owner.self_value.cls.mro() else []:
                if name in cls.namespace and isinstance(cls.namespace[name], FunctionValue):
                    return BoundMethod(cls.namespace[name], owner.self_value)
            return MethodOf(owner, name, node)
        if isinstance(owner, Tensor):
            if name == "shape":
                return tuple(owner.shape) if owner.shape is not None else UNKNOWN
            if name == "ndim":
                return len(owner.shape) if owner.shape is not None else UNKNOWN
            if name == "T":
                return owner.derive(None if owner.shape is None else tuple(reversed(owner.shape)))
            if name in ("device", "dtype", "data", "requires_grad", "is_cuda"):
                return UNKNOWN if name != "data" else owner
            return MethodOf(owner, name, node)
        if isinstance(owner, Layer):
            if name in ("weight", "bias"):  # a conv's bias is a tensor or None, whatever bias= said
                return parameter_tensor(owner, name)
            if name in owner.args.values:
                return layer_attribute(owner, name)
            return MethodOf(owner, name, node)
        if isinstance(owner, tuple) and name in ("values", "indices") and len(owner) == 2 \
                and all(isinstance(t, Tensor) for t in owner):
            return owner[name == "indices"]  # torch's (values, indices) of max(dim=...), topk, sort
        if isinstance(owner, Container) and name == "_modules":  # its registry: changed in place by the user
            return UNKNOWN if owner.incomplete else owner.children
        if isinstance(owner, (Container, OpaqueModule, list, dict, str, tuple)):
            return MethodOf(owner, name, node)
        if owner is UNKNOWN:
            return UNKNOWN
        return MethodOf(owner, name, node)

    def _expr_Subscript(self, node: ast.Subscript, env: Env) -> Any:
        owner = self.eval(node.value, env)
        key = self.eval(node.slice, env)
        return self.subscript(owner, key, node)

    def _expr_Slice(self, node: ast.Slice, env: Env) -> Any:
        parts = [None if p is None else self.eval(p, env) for p in (node.lower, node.upper, node.step)]
        if any(p is UNKNOWN or isinstance(p, dims.Expr) for p in parts):
            return UNKNOWN
        return slice(*parts)

    def subscript(self, owner: Any, key: Any, node: ast.AST) -> Any:
        if isinstance(owner, Tensor):
            return self.calls.tensor_index(owner, key, node)
        if key is UNKNOWN or owner is UNKNOWN:
            return UNKNOWN
        if isinstance(owner, Instance) and owner.cls.container_base and not owner.incomplete:
            # a subclass of nn.Sequential / ModuleList / ModuleDict (torchvision's Conv2dNormActivation)
            owner = Container(owner.node, kind=owner.cls.container_base, children=owner.modules)
        if isinstance(owner, Container):
            children = list(owner.children.values())
            if isinstance(key, slice):
                sliced = Container(owner.node, kind=owner.kind)
                for child in children[key]:
                    sliced.append(child)
                return sliced
            if owner.kind == "ModuleDict":
                return owner.children.get(str(key), UNKNOWN)
            try:
                return children[key]
            except Exception:
                return UNKNOWN
        if isinstance(owner, ClassValue) and isinstance(key, str):
            return enum_member_named(owner, key)  # ``Act['RELU']``
        if isinstance(owner, NumberArray):
            return array_items(owner, key)
        if isinstance(owner, (list, tuple, str, dict, range)):
            if isinstance(owner, dict) and isinstance(key, CONTAINERS) and not self.affordable(key, node):
                return UNKNOWN
            try:
                return owner[key]
            except Exception:
                return UNKNOWN
        return UNKNOWN


AUTOGRAD_FUNCTIONS = ("torch.autograd.Function", "torch.autograd.function.Function")


def extends_autograd_function(cls: ClassValue) -> bool:
    return any(isinstance(base, External) and base.qualname in AUTOGRAD_FUNCTIONS
               for klass in cls.mro() for base in klass.bases)


def autograd_apply(cls: ClassValue) -> Any:
    """``Swish.apply(x)`` of a ``torch.autograd.Function``: its ``forward(ctx, x)``, with a context object that
    holds what ``forward`` saves on it (backward changes no shape)."""
    forward = cls.lookup("forward")
    if isinstance(forward, tuple) and len(forward) == 2:
        forward = forward[1]
    if not isinstance(forward, FunctionValue):
        return UNKNOWN
    return Partial(forward, [Record("ctx")], {})


def registered_under_method(owner: Instance, name: str) -> bool:
    """``self.eval = nn.ReLU()``: torch keeps a submodule or a parameter out of the instance's ``__dict__``, so
    an attribute of the class of that name (``nn.Module``'s methods, the user's methods, ``fc = None`` in the
    class body) wins; any other value assigned (``self.modules = []``) is an ordinary attribute that hides it."""
    value = owner.attrs.get(name)  # absent where only ``self._modules[name] = ...`` registered it
    if not owner.cls.is_module or not (name in owner.modules or isinstance(value, Tensor) and value.is_parameter):
        return False
    return name in MODULE_METHOD_NAMES or any(name in cls.namespace for cls in owner.cls.mro())


def parameter_tensor(layer: Layer, name: str) -> Any:
    """``self.embedding.weight``: the shape of a layer's weight or bias, for the layers whose rule knows it."""
    rule = layer.rule
    if rule.weights is None:
        return UNKNOWN
    if name == "bias" and layer.args.values.get("bias") is False and "bias" in rule.signature:
        return None
    shape = rule.weights(layer.args, name)
    if shape is None or not all(isinstance(d, (int, dims.Expr)) and not isinstance(d, bool) for d in shape):
        return UNKNOWN
    return Tensor(shape, parameter_of=(layer, name))
