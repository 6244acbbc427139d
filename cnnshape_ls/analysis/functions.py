"""Python functions as the interpreter makes and calls them: defaults evaluated once where a function is
defined, decorators it knows (``property``, ``staticmethod``, ``classmethod``, torchvision's
``handle_legacy_interface``), arguments bound as Python binds them (a call Python would refuse gives unknown),
``super()``'s implicit arguments, and a ``raise`` in an installed package failing its package callers."""

from __future__ import annotations

import ast
from typing import Any

from . import dims
from .branches import Frame, LoopBreak, LoopContinue, Raised, Returned
from .layers import UNKNOWN
from .py_values import accepts, merge, truth
from .source import is_installed
from .values import Env, FunctionValue, Instance

SUPER_SELF = "super() self"


class Functions:
    """Mixed into :class:`~cnnshape_ls.analysis.interpreter.Interpreter` (``eval``, ``exec_block``)."""

    installed_depth: int

    def function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, env: Env) -> FunctionValue:
        """A function, its defaults evaluated here, once (Python shares them between calls)."""
        params = node.args
        return FunctionValue(node, env, defaults=[self.eval(d, env) for d in params.defaults],
                             kw_defaults=[None if d is None else self.eval(d, env) for d in params.kw_defaults])

    def decorated(self, func: FunctionValue, node: ast.FunctionDef) -> Any:
        for deco in node.decorator_list:
            if isinstance(deco, ast.Call) and getattr(deco.func, "id", "") == "handle_legacy_interface":
                func.legacy = tuple(kw for kw in deco.keywords if kw.arg and isinstance(kw.value, ast.Tuple)
                                    and len(kw.value.elts) == 2 and isinstance(kw.value.elts[0], ast.Constant))
            name = deco.attr if isinstance(deco, ast.Attribute) else getattr(deco, "id", "")
            if name == "property":
                return ("property", func)
            if name in ("staticmethod",):
                return ("static", func)
            if name == "classmethod":
                return ("classmethod", func)
        return func

    @staticmethod
    def super_arguments(env: Env) -> list[Any]:
        """``super()`` in a method: ``super(__class__, self)``."""
        try:
            return [env.lookup("__class__"), env.lookup(SUPER_SELF)]
        except KeyError:
            return []

    def call_function(self, func: FunctionValue, args: list[Any], kwargs: dict[str, Any]) -> Any:
        node = func.node
        if func.legacy and not self.legacy_keywords(func, kwargs):
            return UNKNOWN
        if not accepts(node.args, len(args), kwargs):
            return UNKNOWN  # Python's TypeError: torchvision's resnet18(pretrained=True) without its decorator
        local = Env(func.closure)
        params = node.args
        positional = [*params.posonlyargs, *params.args]
        defaults = params.defaults
        first_default = len(positional) - len(defaults)
        for i, param in enumerate(positional):
            if i < len(args):
                local.vars[param.arg] = args[i]
            elif param.arg in kwargs:
                local.vars[param.arg] = kwargs.pop(param.arg)
            elif i >= first_default:
                local.vars[param.arg] = self.eval(defaults[i - first_default], func.closure) \
                    if func.defaults is None else func.defaults[i - first_default]
            else:
                local.vars[param.arg] = self.unbound_parameter(param.arg)
        if params.vararg is not None:
            local.vars[params.vararg.arg] = tuple(args[len(positional):])
        for index, (param, default) in enumerate(zip(params.kwonlyargs, params.kw_defaults)):
            if param.arg in kwargs:
                local.vars[param.arg] = kwargs.pop(param.arg)
            elif default is not None:
                local.vars[param.arg] = self.eval(default, func.closure) if func.kw_defaults is None \
                    else func.kw_defaults[index]
            else:
                local.vars[param.arg] = self.unbound_parameter(param.arg)
        if params.kwarg is not None:
            local.vars[params.kwarg.arg] = dict(kwargs)
        if args and isinstance(args[0], Instance) and func.owner is args[0].cls \
                and getattr(node, "name", "") == "__init__":
            # the sizes a block was built with: a shared line's label names the parameter a size equals
            args[0].arguments = {p.arg: v for p in [*positional[1:], *params.kwonlyargs]
                                 for v in [local.vars.get(p.arg)] if isinstance(v, int) and not isinstance(v, bool)}
        if func.owner is not None:
            local.vars["__class__"] = func.owner
            if args:  # what a bare super() binds, as Python's own __class__ cell and first argument
                local.vars[SUPER_SELF] = args[0]
        if isinstance(node, ast.Lambda):
            return self.eval(node.body, local)
        frame = Frame()
        installed = is_installed(node)
        self.installed_depth += installed
        try:
            self.exec_block(node.body, local, frame)
            result: Any = None
        except Raised:
            if installed and self.installed_depth > 1:
                raise  # a package's builder fails with its helper (torchvision: weights with num_classes=10)
            result = UNKNOWN
        except Returned as ret:
            result = ret.value
        except (LoopBreak, LoopContinue):
            result = UNKNOWN
        finally:
            self.installed_depth -= installed
        for pending in frame.pending:
            result = merge(pending, result)
        return result

    def legacy_keywords(self, func: FunctionValue, kwargs: dict[str, Any]) -> bool:
        """``resnet18(pretrained=True)``: ``weights=`` the decorator's default (False: None), as torchvision's
        ``handle_legacy_interface`` passes it; False where the flag's truth cannot be told."""
        for keyword in func.legacy:
            old = keyword.value.elts[0].value  # type: ignore[attr-defined]
            if old not in kwargs or keyword.arg in kwargs:
                continue
            flag = truth(kwargs.pop(old))
            if flag is None:
                return False
            default = self.eval(keyword.value.elts[1], func.closure) if flag else None  # type: ignore[attr-defined]
            if isinstance(default, FunctionValue):  # a default computed from the other keywords
                default = self.call_function(default, [dict(kwargs)], {})
            kwargs[keyword.arg] = default
        return True

    def unbound_parameter(self, name: str) -> Any:
        """A parameter nobody gave a value: a named symbol, so shapes read ``num_classes``."""
        return dims.sym(name)


__all__ = ["SUPER_SELF", "Functions"]
