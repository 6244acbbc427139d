"""An abstract interpreter for the Python that builds and runs models.

It evaluates a safe subset of Python over abstract values (:mod:`values`):
nothing is imported, nothing the user wrote is executed. What it cannot tell
becomes :data:`UNKNOWN`, and every evaluation step is counted against a
budget so that no input can make it run long.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

from . import dims
from .attributes import Attributes
from .branches import (
    ABSENT,
    AttributeWrite,
    BudgetExceeded,
    ControlFlow,
    Frame,
    LoopBreak,
    LoopContinue,
    Raised,
    Returned,
)
from .findings import Finding
from .functions import Functions
from .layers import UNKNOWN
from .libraries import absolute, library_value
from .limits import BUDGET_CODE, FILE_STEPS, LIMITS, TooLarge, text_fits
from .ops import CallDispatcher
from .ops.layer_attributes import write_layer_attribute
from .ops.mutations import (
    added_in_place,
    container_set_item,
    delete_item,
    joined,
    note_changed,
    registry_changed,
    repeated,
    replace_data,
    replace_parameter,
    unknown_member_changed,
)
from .ops.stdlib import (
    array_arith,
    enum_members,
    external_constant,
    set_namedtuple_defaults,
)
from .py_values import (
    BUILTINS,
    COMPARISONS,
    CONTAINERS,
    arith,
    merge,
    nested_items,
    safe_number,
    truth,
)
from .trace import Trace
from .values import (
    ClassValue,
    Container,
    Env,
    External,
    FunctionValue,
    Instance,
    Layer,
    MethodOf,
    Module,
    ModuleNamespace,
    NumberArray,
    Record,
    Tensor,
)

SUPER = External("builtins.super")
"""The name a method's first argument is also bound to (not an identifier: user code cannot clash)."""
class Interpreter(ControlFlow, Attributes, Functions):
    """Evaluates statements and expressions of one source file over abstract values."""

    def __init__(self, trace: Trace, budget: int) -> None:
        self.trace = trace
        self.budget = budget
        self.pool = FILE_STEPS.get()
        """The file's steps (:func:`limits.file_budget`): drawn in growing chunks, so a small run takes little."""
        self.chunk = 16
        self.not_drawn = budget
        self.steps_left = 0
        if self.pool is None:
            self.steps_left, self.not_drawn = budget, 0
        self.depth = 0
        self.installed_depth = 0
        """Functions of installed packages under way: a raise in one fails its package callers too."""
        self.training = False  # as torch's eval(): the mode truth and verification run in
        self.current_env: Env | None = None
        self.imports: Callable[[str, int], Env | None] | None = None
        """Evaluates a workspace module this file imports; None keeps imports opaque."""
        self.package: str | None = None
        """The package of an installed package's module being evaluated: its relative imports' base."""
        self.attribute_writes: list[list[AttributeWrite]] = []
        """One log per branch being run whose condition the analysis cannot tell (innermost last)."""
        self.calls = CallDispatcher(self)

    # ------------------------------------------------------------------ statements
    def tick(self, n: int = 1) -> None:
        self.steps_left -= n
        if self.steps_left < 0:
            self.draw()

    def draw(self) -> None:
        """More steps from the file's pool, or :class:`BudgetExceeded` past this run's or the file's budget."""
        pool = self.pool
        while self.steps_left < 0:
            if self.not_drawn <= 0:
                raise BudgetExceeded(f"the analysis's budget of {self.budget:,} steps")
            if pool is None or pool.left <= 0:
                raise BudgetExceeded(f"the budget of {LIMITS.steps_per_file:,} steps for the whole file")
            grant = min(self.chunk, self.not_drawn, pool.left)
            self.chunk = min(self.chunk * 2, 8192)
            self.not_drawn -= grant
            pool.left -= grant
            self.steps_left += grant

    def charge(self, items: int) -> None:
        """Copying or walking ``items`` values costs steps too: a loop over long lists stays bounded."""
        if items >= LIMITS.copy_cost_items:
            self.tick(items // LIMITS.copy_cost_items)

    def affordable(self, value: Any, node: ast.AST | None) -> bool:
        """Whether comparing or hashing ``value`` stays within the budget; charged for the walk."""
        if not isinstance(value, CONTAINERS):
            return True
        count = nested_items(value)
        self.charge(count)
        if count <= LIMITS.value_nodes:
            return True
        self.over_budget(node, f"a value nesting more than {LIMITS.value_nodes:,} items")
        return False

    def over_budget(self, node: ast.AST | None, what: str) -> Any:
        """A value past one of the analysis's budgets: unknown, with an information note where it is built."""
        if node is not None and hasattr(node, "lineno") and not getattr(node, "_cnnshape_foreign", False):
            self.trace.add(Finding(self.trace.span(node), "information", BUDGET_CODE,
                                   f"Not followed: {what} is past the analysis's budget, so this value and the "
                                   "shapes that depend on it are unknown"))
        return UNKNOWN

    def exec_block(self, body: list[ast.stmt], env: Env, frame: Frame) -> None:
        for stmt in body:
            self.exec_stmt(stmt, env, frame)

    def exec_stmt(self, node: ast.stmt, env: Env, frame: Frame) -> None:
        self.steps_left -= 1
        if self.steps_left < 0:
            self.draw()
        method = self._stmt_methods.get(type(node))
        if method is not None:
            method(self, node, env, frame)

    def _stmt_Expr(self, node: ast.Expr, env: Env, frame: Frame) -> None:
        self.eval(node.value, env)

    def _stmt_Assign(self, node: ast.Assign, env: Env, frame: Frame) -> None:
        value = self.eval(node.value, env)
        for target in node.targets:
            self.assign(target, value, env)

    def _stmt_AnnAssign(self, node: ast.AnnAssign, env: Env, frame: Frame) -> None:
        if node.value is not None:
            self.assign(node.target, self.eval(node.value, env), env)

    def _stmt_AugAssign(self, node: ast.AugAssign, env: Env, frame: Frame) -> None:
        current = self.eval(node.target, env)
        value = self.eval(node.value, env)
        if isinstance(current, list) and isinstance(node.op, ast.Add):
            items = self.iterate(value)
            if items is not None and len(current) + len(items) > LIMITS.sequence_length:
                items = self.over_budget(node, f"a list of more than {LIMITS.sequence_length:,} items")
            if items is None or items is UNKNOWN:
                self.assign(node.target, UNKNOWN, env)
            else:
                current.extend(items)  # in place, as Python does for lists
            return
        if isinstance(current, Container) and isinstance(node.op, ast.Add):
            note_changed(self, current)
            added_in_place(current, self.iterate(value), value)  # what cannot be told is never dropped
            return
        self.assign(node.target, self.binary(node.op, current, value, node), env)

    def _stmt_Return(self, node: ast.Return, env: Env, frame: Frame) -> None:
        raise Returned(None if node.value is None else self.eval(node.value, env))

    def _stmt_Pass(self, node: ast.Pass, env: Env, frame: Frame) -> None:
        return None

    def _stmt_Break(self, node: ast.Break, env: Env, frame: Frame) -> None:
        raise LoopBreak()

    def _stmt_Continue(self, node: ast.Continue, env: Env, frame: Frame) -> None:
        raise LoopContinue()

    def _stmt_With(self, node: ast.With, env: Env, frame: Frame) -> None:
        for item in node.items:
            value = self.eval(item.context_expr, env)
            if item.optional_vars is not None:
                self.assign(item.optional_vars, UNKNOWN if not isinstance(value, Tensor) else value, env)
        self.exec_block(node.body, env, frame)

    def _stmt_Try(self, node: ast.Try, env: Env, frame: Frame) -> None:
        try:
            self.exec_block(node.body, env, frame)
        except Raised:
            raise Returned(UNKNOWN) from None  # a handler may catch it: this function's value is unknown
        self.exec_block(node.orelse, env, frame)
        self.exec_block(node.finalbody, env, frame)

    def _stmt_FunctionDef(self, node: ast.FunctionDef, env: Env, frame: Frame) -> None:
        env.vars[node.name] = self.decorated(self.function(node, env), node)

    _stmt_AsyncFunctionDef = _stmt_FunctionDef

    def _stmt_ClassDef(self, node: ast.ClassDef, env: Env, frame: Frame) -> None:
        env.vars[node.name] = self.make_class(node, env)

    def make_class(self, node: ast.ClassDef, env: Env) -> ClassValue | Any:
        bases = [self.eval(b, env) for b in node.bases]  # an installed package's class is read (get_attr)
        depth = 1 + max((b.depth for b in bases if isinstance(b, ClassValue)), default=0)
        if depth > LIMITS.inheritance_depth:
            return self.over_budget(node, f"a chain of more than {LIMITS.inheritance_depth} base classes")
        is_module = False
        container = None
        for base in bases:
            if isinstance(base, ClassValue):
                is_module = is_module or base.is_module
                container = container or base.container_base
            elif isinstance(base, External):
                if base.qualname.startswith("torch.nn.") or base.qualname.endswith("LightningModule") \
                        or base.qualname.endswith(".Module"):
                    is_module = True
                    tail = base.qualname.rsplit(".", 1)[-1]
                    if tail in ("Sequential", "ModuleList", "ModuleDict"):
                        container = tail
        cls = ClassValue(node, node.name, bases, {}, env, is_module, container, depth)
        class_env = Env(env)
        frame = Frame()
        for stmt in node.body:
            try:
                self.exec_stmt(stmt, class_env, frame)
            except (Returned, LoopBreak, LoopContinue):
                pass
        for value in class_env.vars.values():
            if isinstance(value, FunctionValue):
                value.owner = cls
            elif isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], FunctionValue):
                value[1].owner = cls
        cls.namespace = class_env.vars
        enum_members(cls)
        return cls

    def _stmt_Import(self, node: ast.Import, env: Env, frame: Frame) -> None:
        for alias in node.names:
            loaded = self.load_module(alias.name, 0) if alias.asname or "." not in alias.name else None
            if loaded is not None:
                env.vars[alias.asname or alias.name] = ModuleNamespace(alias.name, loaded)
            elif alias.asname:
                env.vars[alias.asname] = External(alias.name)
            else:
                root = alias.name.split(".")[0]
                env.vars[root] = External(root)

    def _stmt_ImportFrom(self, node: ast.ImportFrom, env: Env, frame: Frame) -> None:
        module = node.module or ""
        if node.level and self.package is not None:  # a package's own module: names read when used
            module = absolute(module, node.level, self.package) or module
            for alias in node.names:
                if alias.name != "*":
                    env.vars[alias.asname or alias.name] = External(f"{module}.{alias.name}")
            return
        loaded = self.load_module(module, node.level)
        for alias in node.names:
            if alias.name == "*":
                if loaded is not None:
                    env.vars.update({k: v for k, v in loaded.vars.items() if not k.startswith("_")})
                continue
            if loaded is not None and alias.name in loaded.vars:
                env.vars[alias.asname or alias.name] = loaded.vars[alias.name]
            else:
                env.vars[alias.asname or alias.name] = external_constant(f"{module}.{alias.name}" if module
                                                                         else alias.name)

    def load_module(self, module: str, level: int) -> Env | None:
        """A workspace module's top level, evaluated; never for torch and other libraries."""
        if self.imports is None or module.split(".")[0] in ("torch", "torchvision", "numpy", "math", "collections",
                                                             "typing", "pytorch_lightning", "lightning"):
            return None
        try:
            return self.imports(module, level)
        except (RecursionError, OSError, ValueError):
            return None

    def _stmt_Global(self, node: ast.stmt, env: Env, frame: Frame) -> None:
        return None

    _stmt_Nonlocal = _stmt_Global

    def _stmt_Assert(self, node: ast.Assert, env: Env, frame: Frame) -> None:
        return None

    def _stmt_Raise(self, node: ast.Raise, env: Env, frame: Frame) -> None:
        # an unconditional raise ends this path: nothing after it runs
        raise Raised()

    def _stmt_Delete(self, node: ast.Delete, env: Env, frame: Frame) -> None:
        for target in node.targets:
            if isinstance(target, ast.Name):
                env.vars.pop(target.id, None)
            elif isinstance(target, ast.Attribute):  # ``del model.classifier``: torch unregisters it
                owner = self.eval(target.value, env)
                if isinstance(owner, Instance):
                    if self.attribute_writes:  # under a condition: undone and merged as a write is
                        self.attribute_writes[-1].append(AttributeWrite(
                            owner, target.attr, owner.attrs.get(target.attr, ABSENT),
                            owner.modules.get(target.attr, ABSENT)))
                    owner.attrs.pop(target.attr, None)
                    owner.modules.pop(target.attr, None)
                elif isinstance(owner, Module):
                    owner.incomplete = True
            elif isinstance(target, ast.Subscript):  # ``del self.layers[0]``, ``del layers[-1]``
                delete_item(self, target, env)

    # ------------------------------------------------------------------ assignment
    def assign(self, target: ast.expr, value: Any, env: Env) -> None:
        if isinstance(target, ast.Name):
            env.vars[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            self.unpack(target, value, env)
        elif isinstance(target, ast.Attribute):
            if target.attr == "data" and isinstance(target.value, ast.Attribute):  # ``conv.weight.data = ...``
                layer = self.eval(target.value.value, env)
                if isinstance(layer, Module) and replace_data(layer, target.value.attr, value):
                    return
            owner = self.eval(target.value, env)
            if owner is UNKNOWN:  # ``self.layers[k].stride = 2``: a module the analysis cannot tell changed
                unknown_member_changed(self, target.value, env)
            self.set_attr(owner, target.attr, value)
        elif isinstance(target, ast.Subscript):
            if isinstance(target.value, ast.Attribute) and target.value.attr == "_modules":
                registry = self.eval(target.value.value, env)
                if isinstance(registry, Container):
                    note_changed(self, registry)
                self.register_module(registry, self.eval(target.slice, env), value)
                return
            if registry_changed(self, target.value, env):
                return
            owner = self.eval(target.value, env)
            key = self.eval(target.slice, env)
            if isinstance(key, CONTAINERS) and not self.affordable(key, target):
                self.forget(target, env)  # a key too costly to hash or write: what it held is unknown
                return
            if isinstance(owner, (list, dict)) and key is not UNKNOWN:
                try:
                    owner[key] = value
                except Exception:
                    pass
            elif isinstance(owner, (list, dict)):
                self.forget(target, env)  # an item written under a key the analysis cannot tell
            elif isinstance(owner, Container):
                note_changed(self, owner)
                container_set_item(owner, key, value)
            elif isinstance(owner, Module):
                owner.incomplete = True  # ``__setitem__`` of a subclass of nn.Sequential, or the user's own
        elif isinstance(target, ast.Starred):
            self.assign(target.value, value, env)

    @staticmethod
    def register_module(owner: Any, key: Any, value: Any) -> None:
        """``self._modules[key] = value``: registered as torch does, without ``__setattr__``; a name or a
        value the analysis cannot tell leaves the module incomplete."""
        if isinstance(owner, Container) and isinstance(key, str) and isinstance(value, Module):
            owner.children[key] = value
            return
        if not isinstance(owner, Instance):
            if isinstance(owner, Module):
                owner.incomplete = True  # ``seq._modules[k] = None`` or any module's registry changed
            return
        if isinstance(key, str) and isinstance(value, Module):
            owner.modules[key] = value
        elif isinstance(key, str) and value is None:
            owner.modules.pop(key, None)  # torch keeps None there, and its listings skip it
        else:
            owner.incomplete = True

    def unpack(self, target: ast.Tuple | ast.List, value: Any, env: Env) -> None:
        items = self.iterate(value)
        names = target.elts
        star = next((i for i, e in enumerate(names) if isinstance(e, ast.Starred)), None)
        if items is None or (star is None and len(items) != len(names)):
            for elt in names:
                self.assign(elt, Tensor(None) if isinstance(value, Tensor) else UNKNOWN, env)
            return
        if star is None:
            for elt, item in zip(names, items):
                self.assign(elt, item, env)
            return
        after = len(names) - star - 1
        for elt, item in zip(names[:star], items[:star]):
            self.assign(elt, item, env)
        self.assign(names[star], list(items[star:len(items) - after]), env)
        for elt, item in zip(names[star + 1:], items[len(items) - after:]):
            self.assign(elt, item, env)

    def set_attr(self, owner: Any, name: str, value: Any) -> None:
        if isinstance(owner, Instance):
            if self.attribute_writes:
                self.attribute_writes[-1].append(AttributeWrite(
                    owner, name, owner.attrs.get(name, ABSENT), owner.modules.get(name, ABSENT)))
            if isinstance(value, Module):
                owner.modules[name] = value
            elif name in owner.modules and value is None:
                del owner.modules[name]
            owner.attrs[name] = value
            if owner.base is not None:  # ``self.stride = ...`` in a subclass of a torch layer
                write_layer_attribute(owner.base, name, value)
        elif isinstance(owner, Container) and isinstance(value, Module):
            note_changed(self, owner)
            owner.children[name] = value  # registered: ``nn.Sequential`` then runs it last
        elif isinstance(owner, Layer) and name in ("weight", "bias"):  # ``conv.weight = nn.Parameter(...)``
            replace_parameter(owner, name, value)
        elif isinstance(owner, Layer):  # ``m.stride = (2, 2)`` on a torch layer: what its forward computes with
            # under a condition the analysis cannot tell, the argument may or may not have changed
            write_layer_attribute(owner, name, UNKNOWN if self.attribute_writes else value)
        elif isinstance(owner, Record):
            owner.fields[name] = value
        elif isinstance(owner, ClassValue) and not name.startswith("__"):
            # ``Cfg.width = 7``: what its instances and the class read from then on (unknown where the
            # write's condition cannot be told)
            owner.namespace[name] = UNKNOWN if self.attribute_writes else value
        else:
            set_namedtuple_defaults(owner, name, value)

    # ------------------------------------------------------------------ expressions
    def eval(self, node: ast.expr, env: Env) -> Any:
        self.steps_left -= 1
        if self.steps_left < 0:
            self.draw()
        method = self._expr_methods.get(type(node))
        if method is None:
            return UNKNOWN
        return method(self, node, env)

    def _expr_Constant(self, node: ast.Constant, env: Env) -> Any:
        value = node.value
        if isinstance(value, (str, bytes)) and len(value) > LIMITS.sequence_length:
            return self.over_budget(node, f"a string of more than {LIMITS.sequence_length:,} characters")
        return safe_number(value)

    def _expr_Name(self, node: ast.Name, env: Env) -> Any:
        try:
            value = env.lookup(node.id)
        except KeyError:
            return BUILTINS.get(node.id, UNKNOWN)
        if type(value) is External and value.library:  # ``from torchvision.models import resnet18``
            found = library_value(value.qualname)
            return value if found is None else found
        return value

    def _expr_Tuple(self, node: ast.Tuple, env: Env) -> Any:
        return tuple(self.eval_elements(node.elts, env))

    def _expr_List(self, node: ast.List, env: Env) -> Any:
        return self.eval_elements(node.elts, env)

    def _expr_Set(self, node: ast.Set, env: Env) -> Any:
        return UNKNOWN

    def eval_elements(self, elts: list[ast.expr], env: Env) -> list[Any]:
        out: list[Any] = []
        for elt in elts:
            if isinstance(elt, ast.Starred):
                items = self.iterate(self.eval(elt.value, env))
                if items is None:
                    return UNKNOWN
                out.extend(items)
            else:
                out.append(self.eval(elt, env))
        return out

    def _expr_Dict(self, node: ast.Dict, env: Env) -> Any:
        out: dict[Any, Any] = {}
        for key, value in zip(node.keys, node.values):
            if key is None:
                extra = self.eval(value, env)
                if isinstance(extra, dict):
                    out.update(extra)
                continue
            k = self.eval(key, env)
            if isinstance(k, CONTAINERS) and not self.affordable(k, node):
                return UNKNOWN
            try:
                out[k] = self.eval(value, env)
            except TypeError:
                return UNKNOWN
        return out

    def _expr_JoinedStr(self, node: ast.JoinedStr, env: Env) -> Any:
        parts: list[str] = []
        length = 0
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            elif isinstance(value, ast.FormattedValue):
                v = self.eval(value.value, env)
                if v is UNKNOWN or not isinstance(v, (int, float, str, dims.Expr)):
                    return UNKNOWN
                parts.append(str(v))
            length += len(parts[-1]) if parts else 0
            if length > LIMITS.sequence_length:
                return self.over_budget(node, f"a string of more than {LIMITS.sequence_length:,} characters")
        return "".join(parts)

    def _expr_BinOp(self, node: ast.BinOp, env: Env) -> Any:
        left = self.eval(node.left, env)
        right = self.eval(node.right, env)
        return self.binary(node.op, left, right, node)

    def binary(self, op: ast.operator, left: Any, right: Any, node: ast.AST) -> Any:
        if isinstance(left, Tensor) or isinstance(right, Tensor):
            return self.calls.tensor_binary(op, left, right, node)
        if left is UNKNOWN or right is UNKNOWN:
            return UNKNOWN
        if isinstance(op, ast.Mod) and isinstance(left, str):
            values = right if isinstance(right, tuple) else (right,)
            if not all(isinstance(v, (str, int, float)) for v in values):
                return UNKNOWN
            if not text_fits(left, values, percent=True):
                return self.over_budget(node, f"a string of more than {LIMITS.sequence_length:,} characters")
            try:
                return left % right
            except Exception:
                return UNKNOWN
        if isinstance(left, NumberArray) or isinstance(right, NumberArray):
            return array_arith(type(op), left, right)
        if isinstance(left, Container) and isinstance(op, ast.Mult):
            return repeated(left, right)  # ``nn.Sequential(...) * 2``
        if isinstance(left, Container) and isinstance(op, ast.Add):
            return joined(left, right)
        try:
            return arith(type(op), left, right)
        except TooLarge as too_large:
            return self.over_budget(node, too_large.what)

    def _expr_UnaryOp(self, node: ast.UnaryOp, env: Env) -> Any:
        value = self.eval(node.operand, env)
        if isinstance(node.op, ast.Not):
            t = truth(value)
            return UNKNOWN if t is None else not t
        if isinstance(value, Tensor):
            return value
        if isinstance(node.op, ast.USub):
            if isinstance(value, dims.Expr):
                return dims.neg(value)
            return -value if isinstance(value, (int, float)) else UNKNOWN
        if isinstance(node.op, ast.UAdd):
            return value
        if isinstance(node.op, ast.Invert) and isinstance(value, int):
            return ~value
        return UNKNOWN

    def _expr_BoolOp(self, node: ast.BoolOp, env: Env) -> Any:
        is_and = isinstance(node.op, ast.And)
        value: Any = None
        for operand in node.values:
            value = self.eval(operand, env)
            t = truth(value)
            if t is None:
                return UNKNOWN
            if is_and and not t:
                return value
            if not is_and and t:
                return value
        return value

    def _expr_Compare(self, node: ast.Compare, env: Env) -> Any:
        left = self.eval(node.left, env)
        for op, comparator in zip(node.ops, node.comparators):
            right = self.eval(comparator, env)
            if isinstance(left, MethodOf) or isinstance(right, MethodOf):
                return UNKNOWN  # an attribute the analysis does not model (``norm_layer.func``) equals nothing known
            if isinstance(op, (ast.Is, ast.IsNot)):
                if left is UNKNOWN or right is UNKNOWN:
                    return UNKNOWN
                same = left == right if isinstance(left, External) and isinstance(right, External) else left is right
                result = same if isinstance(op, ast.Is) else not same
            else:
                if left is UNKNOWN or right is UNKNOWN or isinstance(left, (dims.Expr, Tensor)) \
                        or isinstance(right, (dims.Expr, Tensor)):
                    return UNKNOWN
                if (isinstance(left, CONTAINERS) or isinstance(right, CONTAINERS)) \
                        and not (self.affordable(left, node) and self.affordable(right, node)):
                    return UNKNOWN
                try:
                    result = COMPARISONS[type(op)](left, right)
                except Exception:
                    return UNKNOWN
            if not result:
                return False
            left = right
        return True

    def _expr_IfExp(self, node: ast.IfExp, env: Env) -> Any:
        t = truth(self.eval(node.test, env))
        if t is True:
            return self.eval(node.body, env)
        if t is False:
            return self.eval(node.orelse, env)
        return merge(self.eval(node.body, env), self.eval(node.orelse, env))

    def _expr_Lambda(self, node: ast.Lambda, env: Env) -> Any:
        return self.function(node, env)

    def _expr_Starred(self, node: ast.Starred, env: Env) -> Any:
        return self.eval(node.value, env)

    def _expr_NamedExpr(self, node: ast.NamedExpr, env: Env) -> Any:
        value = self.eval(node.value, env)
        self.assign(node.target, value, env)
        return value

    def _expr_Attribute(self, node: ast.Attribute, env: Env) -> Any:
        owner = self.eval(node.value, env)
        return self.get_attr(owner, node.attr, node)

    def _expr_ListComp(self, node: ast.ListComp, env: Env) -> Any:
        out = self.comprehension(node.generators, env, lambda e: [self.eval(node.elt, e)])
        return UNKNOWN if out is None else out

    def _expr_GeneratorExp(self, node: ast.GeneratorExp, env: Env) -> Any:
        return self._expr_ListComp(node, env)  # type: ignore[arg-type]

    def _expr_SetComp(self, node: ast.SetComp, env: Env) -> Any:
        return UNKNOWN

    def _expr_DictComp(self, node: ast.DictComp, env: Env) -> Any:
        pairs = self.comprehension(node.generators, env,
                                   lambda e: [(self.eval(node.key, e), self.eval(node.value, e))])
        if pairs is None:
            return UNKNOWN
        try:
            return dict(pairs)
        except TypeError:
            return UNKNOWN

    def comprehension(self, generators: list[ast.comprehension], env: Env,
                      produce: Callable[[Env], list[Any]]) -> list[Any] | None:
        inner = Env(env)
        out: list[Any] = []

        def loop(i: int) -> bool:
            if i == len(generators):
                out.extend(produce(inner))
                return True
            gen = generators[i]
            items = self.iterate(self.eval(gen.iter, inner))
            if items is None:
                return False
            for item in items:
                self.tick()
                self.assign(gen.target, item, inner)
                conditions = [truth(self.eval(c, inner)) for c in gen.ifs]
                if any(c is None for c in conditions):
                    return False
                if all(conditions) and not loop(i + 1):
                    return False
            return True

        return out if loop(0) else None

    def _expr_Call(self, node: ast.Call, env: Env) -> Any:
        func = self.eval(node.func, env)
        args: list[Any] = []
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                items = self.iterate(self.eval(arg.value, env))
                if items is None:
                    return UNKNOWN
                args.extend(items)
            else:
                args.append(self.eval(arg, env))
        kwargs: dict[str, Any] = {}
        for kw in node.keywords:
            value = self.eval(kw.value, env)
            if kw.arg is None:
                if isinstance(value, dict):
                    kwargs.update({str(k): v for k, v in value.items()})
                else:
                    return UNKNOWN
            else:
                kwargs[kw.arg] = value
        self.current_env = env  # a layer built here remembers the names in scope, for fixes
        if isinstance(func, External) and func == SUPER and not args and not kwargs:
            args = self.super_arguments(env)
        result = self.call(func, args, kwargs, node)
        if result is UNKNOWN and UNKNOWN not in args and UNKNOWN not in kwargs.values():
            self.calls.trace.source.unfollowed.add(node)  # where an unknown starts: hovers name this call
        return result

    # ------------------------------------------------------------------ calls
    def call(self, func: Any, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
        if self.depth > LIMITS.call_depth:
            return UNKNOWN
        self.depth += 1
        try:
            return self.calls.dispatch(func, args, kwargs, node)
        finally:
            self.depth -= 1

    # ------------------------------------------------------------------ iteration
    def iterate(self, value: Any) -> list[Any] | None:
        """The items of an iterable the analysis can enumerate, else None."""
        if isinstance(value, (list, tuple)):
            self.charge(len(value))
            return list(value)
        if isinstance(value, range):
            if len(value) > LIMITS.sequence_length:
                return None
            return list(value)
        if isinstance(value, dict):
            return list(value.keys())
        if isinstance(value, NumberArray):
            return list(value.items)
        if isinstance(value, str):
            self.charge(len(value))
            return list(value)
        if isinstance(value, Container):
            if value.incomplete:
                return None
            if value.kind == "ModuleDict":
                return list(value.children.keys())
            return list(value.children.values())
        if isinstance(value, Tensor):
            if value.values is not None and value.shape is not None and len(value.shape) == 1:
                return [Tensor((), values=(v,)) for v in value.values]
            if value.shape and isinstance(value.shape[0], int) and value.shape[0] <= 64:
                return [value.derive(value.shape[1:]) for _ in range(value.shape[0])]
            return None
        return None


def _dispatch_table(prefix: str) -> dict[type, Callable]:
    """Handlers by node type, looked up once instead of by name on every node."""
    return {getattr(ast, name[len(prefix):]): getattr(Interpreter, name)
            for name in dir(Interpreter) if name.startswith(prefix) and hasattr(ast, name[len(prefix):])}


Interpreter._stmt_methods = _dispatch_table("_stmt_")
Interpreter._expr_methods = _dispatch_table("_expr_")


__all__ = ["BudgetExceeded", "Interpreter", "Frame", "merge", "truth"]

