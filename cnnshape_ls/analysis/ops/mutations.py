"""Changes made to modules and containers after they are built: item assignment and ``del`` on
``nn.Sequential``/``ModuleList``/``ModuleDict``, their ``pop``/``update``/``clear``, ``Module.apply``, hooks, a
layer's ``weight`` replaced. What the analysis cannot follow makes the module incomplete (unknown): a change is
never dropped, since a dropped change is a wrong shape (the audit: docs/usage.md, "Changing a model after it is
built")."""

from __future__ import annotations

import ast
from typing import Any

from .. import dims
from ..branches import ABSENT, AttributeWrite
from ..layers import UNKNOWN
from ..values import Container, Instance, Layer, Module, Tensor, deep_copy
from .context import Context

READ_ONLY_MODULE_METHODS = frozenset({
    "parameters", "named_parameters", "buffers", "named_buffers", "state_dict", "load_state_dict", "zero_grad",
    "extra_repr", "get_submodule", "get_parameter", "get_buffer", "get_extra_state", "share_memory",
    "register_backward_hook", "register_full_backward_hook", "register_full_backward_pre_hook",
    "register_load_state_dict_post_hook", "register_load_state_dict_pre_hook", "register_state_dict_pre_hook",
    "register_state_dict_post_hook", "_register_load_state_dict_pre_hook", "_register_state_dict_hook",
    "reset_parameters", "flatten_parameters", "to_empty", "bfloat16", "xpu", "ipu", "mtia", "type", "__repr__",
    "__len__", "__iter__", "__contains__", "__dir__", "index", "count", "__getitem__", "named_children",
    "named_modules", "children", "modules", "keys", "values", "items", "compile", "_apply", "_get_name",
    "_load_from_state_dict", "_save_to_state_dict", "reset_running_stats", "_conv_forward", "_check_input_dim",
    "_output_padding", "__str__", "__hash__", "__eq__", "__bool__", "_named_members",
})
"""``nn.Module`` (and container) methods that change neither what a module computes nor its parameters: a
call of any other method the analysis does not follow (``register_forward_hook``, ``pop``) makes the module
unknown, as a hook may change what it returns."""


def unfollowed_method(target: Module, name: str) -> None:
    """A method of a module the analysis does not model: unknown from here on, unless it changes nothing."""
    if name not in READ_ONLY_MODULE_METHODS:
        target.incomplete = True


def renumbered(children: list[Module]) -> dict[str, Module]:
    """``nn.Sequential``/``ModuleList`` after ``del``: torch numbers what is left from 0 again."""
    return {str(i): child for i, child in enumerate(children)}


def container_set_item(target: Container, key: Any, value: Any) -> None:
    """``seq[i] = m``, ``layers[i] = m``, ``heads[k] = m`` as torch registers them."""
    if target.incomplete:
        return
    if target.kind == "ModuleDict":
        if isinstance(key, str) and isinstance(value, Module):
            target.children[key] = value
        else:
            target.incomplete = True  # torch refuses a non-module; an unknown name cannot be told
        return
    names = list(target.children)
    if isinstance(key, int) and not isinstance(key, bool) and isinstance(value, Module) \
            and -len(names) <= key < len(names):
        target.children[names[key]] = value  # Sequential: the key at that position (an OrderedDict's name)
    else:
        target.incomplete = True  # a slice, an unknown index, or something torch refuses


def container_delete_item(target: Container, key: Any) -> None:
    """``del seq[i]``, ``del seq[a:b]``, ``del layers[i]``, ``del heads[k]``."""
    if target.incomplete:
        return
    if target.kind == "ModuleDict":
        if isinstance(key, str) and key in target.children:
            del target.children[key]
        else:
            target.incomplete = True
        return
    children = list(target.children.values())
    if isinstance(key, slice) or (isinstance(key, int) and not isinstance(key, bool)
                                  and -len(children) <= key < len(children)):
        del children[key]
        target.children = renumbered(children)  # torch's __delitem__ numbers the keys again, names too
    else:
        target.incomplete = True


def insertable(target: Container, index: Any) -> bool:
    """Where torch's ``insert`` works as a list's does: ``Sequential`` takes ``-n <= i <= n``, ``ModuleList``
    ``0 <= i <= n`` (a negative index raises ``KeyError`` there), both only over keys ``"0"``..``"n-1"``."""
    n = len(target.children)
    if not isinstance(index, int) or isinstance(index, bool) or not all(k.isdigit() for k in target.children):
        return False
    return (-n if target.kind == "Sequential" else 0) <= index <= n


def added_in_place(target: Container, items: list[Any] | None, other: Any) -> None:
    """``seq += other`` / ``layers += other``: torch's ``Sequential.__iadd__`` takes only a ``Sequential``,
    ``ModuleList``'s any iterable of modules; what it cannot tell, or torch refuses, leaves it unknown."""
    refused = target.kind == "ModuleDict" or (
        target.kind == "Sequential" and not (isinstance(other, Container) and other.kind == "Sequential"))
    if refused or items is None or not all(isinstance(item, Module) for item in items):
        target.incomplete = True
        return
    for item in items:
        target.append(item)


def container_pop(target: Container, args: list[Any]) -> Any:
    """``seq.pop(i)``, ``layers.pop(i)``, ``heads.pop(k)``: the module, gone from the container."""
    if target.incomplete or len(args) != 1:
        target.incomplete = True
        return UNKNOWN
    key = args[0]
    if target.kind == "ModuleDict":
        popped = target.children.get(key, UNKNOWN) if isinstance(key, str) else UNKNOWN
    else:
        children = list(target.children.values())
        ok = isinstance(key, int) and not isinstance(key, bool) and -len(children) <= key < len(children)
        popped = children[key] if ok else UNKNOWN
    if popped is UNKNOWN:
        target.incomplete = True
        return UNKNOWN
    container_delete_item(target, key)
    return popped


def moduledict_update(cx: Context, target: Container, args: list[Any]) -> None:
    """``heads.update({...})`` or ``heads.update([(k, m), ...])``."""
    source = args[0] if len(args) == 1 else UNKNOWN
    if isinstance(source, dict):
        pairs: list[Any] | None = list(source.items())
    elif isinstance(source, Container) and source.kind == "ModuleDict" and not source.incomplete:
        pairs = list(source.children.items())
    else:
        pairs = cx.iterate(source)
    if pairs is None:
        target.incomplete = True
        return
    for pair in pairs:
        if isinstance(pair, (tuple, list)) and len(pair) == 2:
            container_set_item(target, pair[0], pair[1])
        else:
            target.incomplete = True


def joined(left: Container, right: Any) -> Any:
    """``seq + seq`` (torch's ``Sequential.__add__`` takes only a ``Sequential``), ``layers + layers``."""
    if not isinstance(right, Container) or left.incomplete or right.incomplete or left.kind == "ModuleDict" \
            or (left.kind == "Sequential" and right.kind != "Sequential") or right.kind == "ModuleDict":
        return UNKNOWN
    merged = Container(left.node, kind=left.kind)
    for child in [*left.children.values(), *right.children.values()]:
        merged.append(child)
    return merged


def repeated(target: Container, times: Any) -> Any:
    """``seq * n``: torch's ``Sequential.__mul__``, the same modules again under new indices."""
    if not isinstance(times, int) or isinstance(times, bool) or times < 0 or target.incomplete \
            or target.kind != "Sequential" or times * len(target.children) > 10_000:
        return UNKNOWN
    merged = Container(target.node, kind=target.kind)
    for _ in range(times):
        for child in list(target.children.values()):
            merged.append(child)
    return merged


def apply_to_tree(cx: Context, root: Module, fn: Any, node: ast.AST | None) -> Any:
    """``module.apply(fn)``: ``fn`` on every submodule, children first, then the module (as torch does)."""
    if root.incomplete:
        return root
    for child in list(root.submodules().values()):
        if isinstance(child, Module):
            apply_to_tree(cx, child, fn, node)
    result = cx.call(fn, [root], {}, node)  # type: ignore[arg-type]
    if result is UNKNOWN and fn is UNKNOWN:
        root.incomplete = True  # a function the analysis cannot tell may change anything
    return root


def replace_parameter(layer: Layer, name: str, value: Any, data: bool = False) -> None:
    """``conv.weight = nn.Parameter(...)``, ``conv.bias = None``, ``conv.weight.data = ...``: the same shape
    changes nothing the analysis shows; a bias removed counts no more; anything else is unknown."""
    if name == "bias" and value is None and "bias" in layer.rule.signature:
        layer.args.values["bias"] = False
        return
    rule = layer.rule
    expected = rule.weights(layer.args, name) if rule.weights is not None else None
    if isinstance(value, Tensor) and value.shape is not None and expected is not None \
            and len(value.shape) == len(expected) \
            and all(dims.is_known(a) and a == b for a, b in zip(value.shape, expected)):
        if data or value.parameter_of == (layer, name):
            return  # new values in place, or the layer's own parameter (``m.weight = nn.init.normal_(m.weight)``)
        if value.parameter_of is not None:
            layer.extra_params = None  # another module's parameter (tied weights): torch counts it once
            return
        if value.is_parameter:
            return  # a new parameter of the same shape
    layer.incomplete = True  # another shape, or what torch refuses (a plain tensor): unknown


OTHER_DTYPES = frozenset(f"torch.{name}" for name in (
    "float16", "half", "float64", "double", "bfloat16", "complex64", "complex128", "cfloat", "cdouble", "uint8",
    "int8", "int16", "short", "int32", "int", "int64", "long", "bool"))


def changes_dtype(name: str, args: list[Any], kwargs: dict[str, Any]) -> bool:
    """``m.half()``, ``m.double()``, ``m.to(torch.float16)``: parameters of another dtype than the float input
    the analysis assumes (torch then refuses a float input); ``m.to(device)`` and ``m.float()`` change none."""
    if name in ("half", "double", "bfloat16"):
        return True
    return name == "to" and any(getattr(a, "qualname", None) in OTHER_DTYPES for a in (*args, *kwargs.values()))


def replace_data(module: Module, name: str, value: Any) -> bool:
    """``conv.weight.data = t``: the parameter keeps its place (and count where ``t`` has its shape). False where
    ``module.<name>`` is not a tensor (``self.config.data = ...`` sets an attribute of ``config``)."""
    held = module.attrs.get(name) if isinstance(module, Instance) else None
    if isinstance(module, Layer) and name in ("weight", "bias"):
        if value is None:
            module.incomplete = True  # torch refuses ``.data = None``
        else:
            replace_parameter(module, name, value, data=True)
    elif isinstance(held, Tensor) and isinstance(value, Tensor):
        # ``self.w.data = t`` on a module of the user's: the parameter (or buffer) now has t's shape
        module.attrs[name] = Tensor(value.shape, is_parameter=held.is_parameter)  # type: ignore[union-attr]
    elif isinstance(held, Tensor):
        module.incomplete = True  # a tensor the analysis cannot tell: what it computes with is unknown
    else:
        return False
    return True


def delete_item(interp: Any, target: ast.Subscript, env: Any) -> None:
    """``del seq[i]``, ``del self.heads[k]``, ``del layers[a:b]``, ``del parts[k]``: as Python and torch do;
    what cannot be told is unknown (a list or a dict forgotten, a container incomplete)."""
    if registry_changed(interp, target.value, env):
        return
    owner = interp.eval(target.value, env)
    key = interp.eval(target.slice, env)
    if isinstance(owner, Container):
        note_changed(interp, owner)
        container_delete_item(owner, key)
    elif isinstance(owner, (list, dict)):
        try:
            if key is UNKNOWN:
                raise KeyError(key)
            del owner[key]
        except Exception:  # noqa: BLE001 (an unknown key, or one Python refuses: the value is unknown)
            interp.forget(target, env)
    elif isinstance(owner, Module):
        owner.incomplete = True


FUSIONS = frozenset({"torch.nn.utils.fuse_conv_bn_eval", "torch.nn.utils.fusion.fuse_conv_bn_eval",
                     "torch.nn.utils.fuse_linear_bn_eval", "torch.nn.utils.fusion.fuse_linear_bn_eval"})
PARAMETRIZE = frozenset({"torch.nn.utils.parametrize.register_parametrization"})


def fused(qualname: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """``fuse_conv_bn_eval(conv, bn)``: a copy of the conv (or linear) with a bias, the batch norm folded in."""
    layer = args[0] if args else UNKNOWN
    wanted = "Conv" if "conv" in qualname else "Linear"
    if not isinstance(layer, Layer) or not layer.rule.op.startswith(wanted) or layer.incomplete \
            or "bias" not in layer.rule.signature or kwargs.get("transpose", False) is not False:
        return UNKNOWN
    copied = deep_copy(layer)
    copied.args.values["bias"] = True
    return copied


def parametrized(args: list[Any], kwargs: dict[str, Any]) -> Any:
    """``register_parametrization(module, "weight", p)``: the shape stays (torch checks it unless ``unsafe``);
    the parameters of ``p`` add to the module's, counted only where ``p`` is a layer without any."""
    module = args[0] if args else UNKNOWN
    if not isinstance(module, Module):
        return UNKNOWN
    p = args[2] if len(args) > 2 else kwargs.get("parametrization", UNKNOWN)
    unsafe = args[3] if len(args) > 3 else kwargs.get("unsafe", False)
    free = isinstance(p, Layer) and p.rule.count_params(p.args, {}) == 0
    if unsafe is not False:
        module.incomplete = True
    elif not free and isinstance(module, Layer):
        module.extra_params = None  # counted by torch with the parametrization's own: unknown here
    elif not free:
        module.incomplete = True
    return module


def layer_registers(layer: Layer, name: str, args: list[Any]) -> bool:
    """``conv.register_parameter(n, p)`` / ``register_buffer(n, t)`` on a torch layer: its forward reads only
    its own attributes, so a new parameter only adds to the count and a buffer changes nothing; ``weight``
    and ``bias`` replace the layer's. False where the call is not one of these."""
    if name not in ("register_parameter", "register_buffer") or len(args) < 2 or not isinstance(args[0], str):
        return False
    value = args[1]
    if args[0] in ("weight", "bias"):
        replace_parameter(layer, args[0], value)
    elif name == "register_parameter" and value is not None:
        shape = value.shape if isinstance(value, Tensor) and value.is_parameter else None
        if shape is None or not all(dims.is_known(d) for d in shape) or layer.extra_params is None:
            layer.extra_params = None
        else:
            layer.extra_params = dims.add(layer.extra_params, dims.product(shape))
            layer.extra_params_text = f"{layer.extra_params_text} + {dims.product(shape)} ({args[0]})".strip()
    return True


def registry_changed(interp: Any, registry: ast.expr, env: Any) -> bool:
    """``del m._parameters[k]``, ``m._parameters[k] = p``, ``m._buffers[k] = t``: a parameter torch no longer
    (or now) counts, which the analysis does not follow: the module is unknown. False for other targets."""
    if not (isinstance(registry, ast.Attribute) and registry.attr in ("_parameters", "_buffers")):
        return False
    owner = interp.eval(registry.value, env)
    if isinstance(owner, Module) and registry.attr == "_parameters":
        owner.incomplete = True
    return True


def note_changed(interp: Any, module: Module) -> None:
    """A container changed in place while the analysis runs a branch it cannot choose: after both branches it is
    unknown (see ``ControlFlow.exec_both``), also where the change is made in a function the branch calls."""
    pending = getattr(interp, "attribute_writes", None)
    if pending:
        pending[-1].append(AttributeWrite(module, "", ABSENT, ABSENT))  # type: ignore[arg-type]


def unknown_member_changed(interp: Any, member: ast.expr, env: Any) -> None:
    """An attribute written on a module the analysis could not pick out of its container (``layers[k]`` with an
    unknown ``k``, ``getattr(self, name)`` with an unknown name): that container is unknown from here on."""
    if isinstance(member, ast.Subscript):
        holder = interp.eval(member.value, env)
    elif isinstance(member, ast.Call) and isinstance(member.func, ast.Name) and member.func.id == "getattr" \
            and member.args:
        holder = interp.eval(member.args[0], env)
    else:
        return
    if isinstance(holder, Module):
        holder.incomplete = True
