"""``nn.Sequential``, ``nn.ModuleList`` and ``nn.ModuleDict``: building them and their methods."""

from __future__ import annotations

import ast
from typing import Any

from ..layers import UNKNOWN
from ..values import Container, Instance, Layer, Module, OpaqueModule, iter_modules
from .context import Context
from .mutations import container_pop, container_set_item, insertable, moduledict_update, unfollowed_method


def make_container(cx: Context, kind: str, args: list[Any], node: ast.AST | None, placed: int | None) -> Any:
    container = Container(node, kind=kind)
    container.placed = placed
    if kind == "ModuleDict" or (kind == "Sequential" and len(args) == 1 and isinstance(args[0], dict)):
        source = args[0] if args else {}
        if isinstance(source, (list, tuple)):
            source = dict(p for p in source if isinstance(p, tuple) and len(p) == 2)
        if not isinstance(source, dict):
            return UNKNOWN
        for key, value in source.items():
            if isinstance(value, Module):
                container.children[str(key)] = value
            elif value is not None:
                return UNKNOWN  # a value the analysis cannot tell is a module: never left out
        return container
    items = args
    if kind == "ModuleList":
        items = (cx.iterate(args[0]) or []) if args else []
        if args and cx.iterate(args[0]) is None:
            return UNKNOWN
    for item in items:
        if isinstance(item, Module):
            container.append(item)
        elif item is None and kind == "ModuleList":  # HRNet's fuse layers: torch registers the None
            container.append(None)
        else:
            return UNKNOWN
    return container


def fill_container_instance(cx: Context, inst: Instance, kind: str, args: list[Any], placed: int | None) -> None:
    """A class of the user's that extends a container, given its modules (``super().__init__(*layers)``)."""
    built = make_container(cx, kind, args, inst.node, placed)
    if isinstance(built, Container):
        for name, child in built.children.items():
            inst.modules[name] = child
            inst.attrs.setdefault(name, child)


_LISTINGS = ("items", "keys", "values", "children", "modules", "named_children", "named_modules", "parameters")
TORCH_LAYERS_WITH_SUBMODULES = frozenset({
    "MultiheadAttention", "Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer",
    "TransformerDecoderLayer"})
"""torch layers that hold modules of their own (``MultiheadAttention.out_proj``), which ``modules()`` lists."""


def has_submodules(module: Module) -> bool:
    """A torch layer whose ``named_modules()`` lists more than itself."""
    return isinstance(module, Layer) and (module.rule.parts is not None
                                          or module.rule.op in TORCH_LAYERS_WITH_SUBMODULES)


MODULE_LISTINGS = ("children", "named_children", "modules", "named_modules")
"""``nn.Module`` methods that list submodules, in registration order (see :func:`module_listing`)."""


def module_listing(target: Module, name: str) -> Any:
    """``children()``, ``named_children()``, ``modules()``, ``named_modules()`` of a module, as torch lists
    them: each module once (the first name it was registered under), depth first in registration order.

    Unknown where the tree holds something the analysis cannot see into: a module it could not follow, and
    for the recursive listings a torch module made of submodules (``MultiheadAttention``'s ``out_proj``)
    or one without a rule."""
    if target.incomplete or not all(isinstance(child, Module) for child in target.submodules().values()):
        return UNKNOWN
    if name in ("children", "named_children"):
        seen: set[int] = set()
        named = []
        for key, child in target.submodules().items():
            if id(child) not in seen:  # torch's named_children skips a module registered twice
                seen.add(id(child))
                named.append((key, child))
        return named if name == "named_children" else [child for _, child in named]
    listed = iter_modules(target)
    if any(module.incomplete or isinstance(module, OpaqueModule) or has_submodules(module) for _, module in listed):
        return UNKNOWN
    return listed if name == "named_modules" else [module for _, module in listed]



MODULE_METHOD_PARAMETERS = {
    "add_module": ("name", "module"), "register_module": ("name", "module"),
    "register_buffer": ("name", "tensor", "persistent"), "register_parameter": ("name", "param"),
    "append": ("module",), "extend": ("modules",), "insert": ("index", "module"), "__setattr__": ("name", "value"),
}
"""The parameters of the ``nn.Module`` / container methods that add modules, as torch names them."""


def positional_arguments(name: str, args: list[Any], kwargs: dict[str, Any]) -> list[Any] | None:
    """``block.add_module(name="conv", module=...)`` as ``add_module("conv", ...)``; None where a keyword is
    not one of the method's parameters (the call cannot be followed, and must not be ignored)."""
    if not kwargs:
        return list(args)
    params = MODULE_METHOD_PARAMETERS.get(name)
    if params is None or len(args) > len(params):
        return None
    bound = list(args)
    for param in params[len(args):]:
        if param not in kwargs:
            break
        bound.append(kwargs[param])
    return bound if set(kwargs) <= set(params[len(args):len(bound)]) else None


def container_method(cx: Context, target: Container, name: str, args: list[Any]) -> Any:
    if target.incomplete and name in _LISTINGS:
        return UNKNOWN
    if name in ("append", "extend", "insert", "add_module", "register_module"):
        return _add_modules(cx, target, name, args)
    if name == "items":
        return list(target.children.items())
    if name == "keys":
        return list(target.children.keys())
    if name in MODULE_LISTINGS and not args:
        return module_listing(target, name)
    if name == "values":
        return list(target.children.values())
    if name in ("to", "eval", "train", "cuda", "cpu", "float", "requires_grad_"):
        return target
    if name == "forward":
        return cx.apply_module(target, args, {}, None)
    if name == "pop":
        return container_pop(target, args)
    if name == "__setitem__" and len(args) == 2:
        container_set_item(target, args[0], args[1])
        return None
    if name == "update" and target.kind == "ModuleDict":
        moduledict_update(cx, target, args)
        return None
    if name == "clear" and target.kind == "ModuleDict" and not args:
        target.children.clear()
        return None
    unfollowed_method(target, name)  # a change the analysis cannot follow is never dropped
    return UNKNOWN


def _add_modules(cx: Context, target: Container, name: str, args: list[Any]) -> Any:
    """``append``, ``extend``, ``insert``, ``add_module``: a container the analysis cannot follow is incomplete."""
    if name == "append" and args:
        if isinstance(args[0], Module):
            target.append(args[0])
        elif args[0] is None and target.kind == "ModuleList":
            target.append(None)
        else:
            target.incomplete = True  # something the analysis cannot tell was added
        return target
    if name == "extend" and args:
        items = cx.iterate(args[0])
        if items is None or not all(isinstance(item, Module) for item in items):
            target.incomplete = True
        for item in items or []:
            if isinstance(item, Module):
                target.append(item)
        return target
    if name == "insert" and len(args) == 2:
        if insertable(target, args[0]) and isinstance(args[1], Module):
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
    target.incomplete = True  # a call of another form: what it adds cannot be told, and is never ignored
    return UNKNOWN

