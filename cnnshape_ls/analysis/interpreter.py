"""An abstract interpreter for the Python that builds and runs models.

It evaluates a safe subset of Python over abstract values (:mod:`values`):
nothing is imported, nothing the user wrote is executed. What it cannot tell
becomes :data:`UNKNOWN`, and every evaluation step is counted against a
budget so that no input can make it run long.
"""

from __future__ import annotations

import ast
import copy
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import dims
from .findings import Finding
from .layers import UNKNOWN
from .limits import BUDGET_CODE, FILE_STEPS, LIMITS, TooLarge, text_fits
from .ops import CallDispatcher
from .ops.layer_attributes import layer_attribute, write_layer_attribute
from .ops.names import MODULE_METHOD_NAMES
from .ops.stdlib import (
    NOT_HANDLED,
    array_items,
    attribute_of_value,
    enum_member_named,
    enum_members,
    external_constant,
    set_namedtuple_defaults,
)
from .trace import Trace
from .values import (
    BoundMethod,
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
    OpaqueModule,
    Partial,
    Record,
    SuperProxy,
    Tensor,
)

SUPER = External("builtins.super")
SUPER_SELF = "super() self"
"""The name a method's first argument is also bound to (not an identifier: user code cannot clash)."""
MUTATORS = frozenset({"append", "extend", "insert", "add_module", "register_module", "update", "pop", "remove",
                      "clear", "setdefault", "__setitem__", "__setattr__", "register_buffer", "register_parameter"})


class BudgetExceeded(Exception):
    """The analysis of one model (or of its file) took too many steps; its result is unknown."""

    def __init__(self, what: str = "") -> None:
        super().__init__(what)
        self.what = what


class _Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class Frame:
    """Per function call: returns seen under conditions the analysis could not decide."""

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending: list[Any] = []


def merge(a: Any, b: Any) -> Any:
    """One value for two control-flow paths: equal values survive, the rest becomes unknown."""
    if a is b:
        return a
    if (isinstance(a, CONTAINERS) or isinstance(b, CONTAINERS)) and not (small(a) and small(b)):
        return UNKNOWN  # comparing them could take exponential time (``t = (t, t)``)
    return _merge(a, b)


def _merge(a: Any, b: Any) -> Any:
    if a is b:
        return a
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        return a if a.shape == b.shape else Tensor(None)
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return Tensor(None)
    if isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b):
        return tuple(_merge(x, y) for x, y in zip(a, b))
    try:
        if type(a) is type(b) and a == b:
            return a
    except Exception:
        pass
    return UNKNOWN


_ABSENT = object()
"""An attribute an instance did not have."""


@dataclass
class AttributeWrite:
    """``owner.name = ...`` run in a branch the analysis cannot choose: what was there before it."""

    owner: Instance
    name: str
    previous: Any
    previous_module: Any
    final: Any = _ABSENT


def undo_writes(writes: list[AttributeWrite]) -> dict[tuple[int, str], AttributeWrite]:
    """Put back what a branch's writes replaced; the first write of each attribute, with its final value."""
    firsts: dict[tuple[int, str], AttributeWrite] = {}
    for write in writes:
        key = (id(write.owner), write.name)
        if key not in firsts:
            firsts[key] = write
            write.final = write.owner.attrs.get(write.name, _ABSENT)
    for write in firsts.values():
        for table, old in ((write.owner.attrs, write.previous), (write.owner.modules, write.previous_module)):
            if old is _ABSENT:
                table.pop(write.name, None)
            else:
                table[write.name] = old
    return firsts


def truth(value: Any) -> bool | None:
    """The truth of a condition, or None when it cannot be told."""
    if value is UNKNOWN or isinstance(value, (Tensor, dims.Expr)):
        return None
    if isinstance(value, (Module, ClassValue, FunctionValue, BoundMethod, External, MethodOf)):
        return True
    try:
        return bool(value)
    except Exception:
        return None


CONTAINERS = (list, tuple, dict)


def nested_items(value: Any, limit: int = LIMITS.value_nodes) -> int:
    """The items inside ``value``, counted through nested lists, tuples and dicts (shared ones each time
    they are met, as comparing or hashing meets them), up to just past ``limit``."""
    if not isinstance(value, CONTAINERS):
        return 0
    count, stack = 0, [value]
    while stack and count <= limit:
        items = stack.pop()
        if isinstance(items, dict):
            items = [*items.keys(), *items.values()]
        count += len(items)
        stack.extend(item for item in items if isinstance(item, CONTAINERS))
    return count


def small(value: Any) -> bool:
    """Whether comparing, hashing or merging ``value`` stays within the budget."""
    return not isinstance(value, CONTAINERS) or nested_items(value) <= LIMITS.value_nodes


def _safe_number(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > LIMITS.int_magnitude:
        return UNKNOWN
    return value


def check_length(length: int, kind: Any) -> None:
    """:class:`TooLarge` for a string, list or tuple (``kind``, a value of its type) past the budget."""
    if length > LIMITS.sequence_length:
        noun = "string" if isinstance(kind, (str, bytes)) else type(kind).__name__
        raise TooLarge(f"a {noun} of more than {LIMITS.sequence_length:,} items")


def _arith(op: type, a: Any, b: Any) -> Any:
    """Arithmetic on ints, floats and symbolic dims; :class:`TooLarge` for a result past a budget."""
    sym = isinstance(a, dims.Expr) or isinstance(b, dims.Expr)
    if sym:
        if not all(isinstance(v, (int, dims.Expr)) and not isinstance(v, bool) for v in (a, b)):
            return UNKNOWN
        if op is ast.Add:
            return dims.add(a, b)
        if op is ast.Sub:
            return dims.sub(a, b)
        if op is ast.Mult:
            return dims.mul(a, b)
        if op is ast.FloorDiv and isinstance(b, int) and b > 0:
            return dims.floordiv(a, b)
        if op is ast.Div and isinstance(b, int) and b > 0:
            exact = dims.exact_div(a, b)
            return UNKNOWN if exact is None else exact
        return UNKNOWN
    fn = _BINOPS.get(op)
    if fn is None:
        return UNKNOWN
    if op is ast.Pow and isinstance(b, (int, float)) and abs(b) > 64:
        return UNKNOWN
    if op is ast.Mult and isinstance(b, int) and isinstance(a, (str, list, tuple)):
        check_length(len(a) * b, a)
    if op is ast.Mult and isinstance(a, int) and isinstance(b, (str, list, tuple)):
        check_length(len(b) * a, b)
    if op is ast.Add and isinstance(a, (str, list, tuple)) and isinstance(b, (str, list, tuple)):
        check_length(len(a) + len(b), a)  # l = l + l forty times is 2**40 items
    if op is ast.LShift and isinstance(b, int) and b > 64:
        return UNKNOWN
    try:
        return _safe_number(fn(a, b))
    except Exception:
        return UNKNOWN


_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
    ast.LShift: operator.lshift, ast.RShift: operator.rshift, ast.BitOr: operator.or_,
    ast.BitAnd: operator.and_, ast.BitXor: operator.xor,
}
_CMPOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_, ast.IsNot: operator.is_not,
}


class Interpreter:
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
        self.training = False  # as torch's eval(): the mode truth and verification run in
        self.current_env: Env | None = None
        self.imports: Callable[[str, int], Env | None] | None = None
        """Evaluates a workspace module this file imports; None keeps imports opaque."""
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
            for item in self.iterate(value) or []:
                if isinstance(item, Module):
                    current.append(item)
            return
        self.assign(node.target, self.binary(node.op, current, value, node), env)

    def _stmt_Return(self, node: ast.Return, env: Env, frame: Frame) -> None:
        raise _Return(None if node.value is None else self.eval(node.value, env))

    def _stmt_Pass(self, node: ast.Pass, env: Env, frame: Frame) -> None:
        return None

    def _stmt_Break(self, node: ast.Break, env: Env, frame: Frame) -> None:
        raise _Break()

    def _stmt_Continue(self, node: ast.Continue, env: Env, frame: Frame) -> None:
        raise _Continue()

    def _stmt_If(self, node: ast.If, env: Env, frame: Frame) -> None:
        decided = truth(self.eval(node.test, env))
        if decided is True:
            self.exec_block(node.body, env, frame)
        elif decided is False:
            self.exec_block(node.orelse, env, frame)
        else:
            self.exec_both(node.body, node.orelse, env, frame)

    def exec_both(self, first: list[ast.stmt], second: list[ast.stmt], env: Env, frame: Frame) -> None:
        """Run two branches the analysis cannot choose between, and merge what they leave.

        Attributes of instances are shared by both branches, so each branch's writes are undone before the
        other runs and merged afterwards: ``self.pad = ZeroPad2d(...)`` in one branch and ``Identity()`` in the
        other leave a module that may be either, never the last one run."""
        outcomes = []
        written: list[dict[tuple[int, str], AttributeWrite]] = []
        for body in (first, second):
            branch = env.copy()
            for name, value in branch.vars.items():  # each branch appends to its own copy of a list
                if isinstance(value, (list, dict)):
                    self.charge(len(value))
                    branch.vars[name] = copy.copy(value)
            self.attribute_writes.append([])
            try:
                self.exec_block(body, branch, frame)
                outcomes.append((branch, None))
            except _Return as ret:
                outcomes.append((None, ret.value))
            finally:
                written.append(undo_writes(self.attribute_writes.pop()))
        self.merge_attribute_writes(*written)
        alive = [b for b, _ in outcomes if b is not None]
        returned = [v for b, v in outcomes if b is None]
        if not alive:
            raise _Return(merge(returned[0], returned[1]))
        frame.pending.extend(returned)
        if len(alive) == 1:
            env.vars.clear()
            env.vars.update(alive[0].vars)
            return
        a, b = alive
        merged = {}
        for name in set(a.vars) | set(b.vars):
            if name in a.vars and name in b.vars:
                merged[name] = merge(a.vars[name], b.vars[name])
            else:
                merged[name] = UNKNOWN
        env.vars.clear()
        env.vars.update(merged)

    def merge_attribute_writes(self, first: dict[tuple[int, str], AttributeWrite],
                               second: dict[tuple[int, str], AttributeWrite]) -> None:
        """Set every attribute either branch wrote to what holds after both: the same value where they
        agree, else an unknown value (a module that may be either is an opaque one: its parameters and
        what it computes are unknown, never one branch's)."""
        for key in [*first, *(k for k in second if k not in first)]:  # in the order they were registered
            write = first.get(key) or second[key]
            owner, name = write.owner, write.name
            before = owner.attrs.get(name, _ABSENT)
            after_first = first[key].final if key in first else before
            after_second = second[key].final if key in second else before
            if after_first is after_second:
                value = after_first
            elif isinstance(after_first, Module) or isinstance(after_second, Module):
                value = OpaqueModule(getattr(after_first, "node", None) or getattr(after_second, "node", None),
                                     name="one of two branches")
            elif after_first is _ABSENT or after_second is _ABSENT:
                value = UNKNOWN
            else:
                value = merge(after_first, after_second)
            if value is not _ABSENT:
                self.set_attr(owner, name, value)

    def _stmt_For(self, node: ast.For, env: Env, frame: Frame) -> None:
        items = self.iterate(self.eval(node.iter, env))
        if items is None:
            self.forget_assigned(node.body, env)
            self.assign(node.target, UNKNOWN, env)
            return
        for item in items:
            self.tick()
            self.assign(node.target, item, env)
            if not self.loop_body(node.body, env, frame):
                return
        self.exec_block(node.orelse, env, frame)

    def _stmt_While(self, node: ast.While, env: Env, frame: Frame) -> None:
        """Run while the condition can be told (``while n - 1: layers.append(...); n -= 1``)."""
        for _ in range(LIMITS.while_iterations):
            decided = truth(self.eval(node.test, env))
            if decided is False:
                self.exec_block(node.orelse, env, frame)
                return
            if decided is None:
                break
            self.tick()
            if not self.loop_body(node.body, env, frame):
                return
        self.forget_assigned(node.body, env)

    def loop_body(self, body: list[ast.stmt], env: Env, frame: Frame) -> bool:
        """One pass of a loop's body; False when it breaks out."""
        try:
            self.exec_block(body, env, frame)
        except _Break:
            return False
        except _Continue:
            pass
        return True

    def forget_assigned(self, body: list[ast.stmt], env: Env) -> None:
        """After a loop that cannot be run, what it assigns or adds to is unknown."""
        for stmt in body:
            for sub in ast.walk(stmt):
                targets: list[ast.expr] = []
                mutated = False
                if isinstance(sub, ast.Assign):
                    targets = sub.targets
                elif isinstance(sub, (ast.AugAssign, ast.AnnAssign, ast.For)):
                    targets = [sub.target]
                elif isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr in MUTATORS:
                    targets, mutated = [sub.func.value], True  # layers.append(...), self.add_module(...)
                for target in targets:
                    self.forget(target, env, mutated)

    def forget(self, target: ast.expr, env: Env, mutated: bool = False) -> None:
        """``target`` is now unknown; a module changed in place (``mutated``, or an attribute of an instance,
        which is registered there) becomes incomplete, while a name bound again just forgets its value."""
        if isinstance(target, (ast.Tuple, ast.List)):
            for item in target.elts:
                self.forget(item, env, mutated)
        elif isinstance(target, ast.Starred):
            self.forget(target.value, env, mutated)
        elif isinstance(target, ast.Subscript):
            self.forget(target.value, env, True)
        elif isinstance(target, ast.Name):
            found = env.vars.get(target.id)
            if mutated and isinstance(found, Module):
                found.incomplete = True
            elif target.id in env.vars:
                env.vars[target.id] = Tensor(None) if isinstance(found, Tensor) else UNKNOWN
        elif isinstance(target, ast.Attribute):
            owner = self.eval(target.value, env) if isinstance(target.value, ast.Name) else UNKNOWN
            if isinstance(owner, Instance):
                value = owner.attrs.get(target.attr)
                if isinstance(value, Module):
                    value.incomplete = True
                elif target.attr in owner.attrs:
                    owner.attrs[target.attr] = Tensor(None) if isinstance(value, Tensor) else UNKNOWN

    def _stmt_With(self, node: ast.With, env: Env, frame: Frame) -> None:
        for item in node.items:
            value = self.eval(item.context_expr, env)
            if item.optional_vars is not None:
                self.assign(item.optional_vars, UNKNOWN if not isinstance(value, Tensor) else value, env)
        self.exec_block(node.body, env, frame)

    def _stmt_Try(self, node: ast.Try, env: Env, frame: Frame) -> None:
        self.exec_block(node.body, env, frame)
        self.exec_block(node.orelse, env, frame)
        self.exec_block(node.finalbody, env, frame)

    def _stmt_FunctionDef(self, node: ast.FunctionDef, env: Env, frame: Frame) -> None:
        env.vars[node.name] = self.decorated(FunctionValue(node, env), node)

    _stmt_AsyncFunctionDef = _stmt_FunctionDef

    def decorated(self, func: FunctionValue, node: ast.FunctionDef) -> Any:
        for deco in node.decorator_list:
            name = deco.attr if isinstance(deco, ast.Attribute) else getattr(deco, "id", "")
            if name == "property":
                return ("property", func)
            if name in ("staticmethod",):
                return ("static", func)
            if name == "classmethod":
                return ("classmethod", func)
        return func

    def _stmt_ClassDef(self, node: ast.ClassDef, env: Env, frame: Frame) -> None:
        env.vars[node.name] = self.make_class(node, env)

    def make_class(self, node: ast.ClassDef, env: Env) -> ClassValue | Any:
        bases = [self.eval(b, env) for b in node.bases]
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
            except (_Return, _Break, _Continue):
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
        raise _Return(UNKNOWN)

    def _stmt_Delete(self, node: ast.Delete, env: Env, frame: Frame) -> None:
        for target in node.targets:
            if isinstance(target, ast.Name):
                env.vars.pop(target.id, None)

    # ------------------------------------------------------------------ assignment
    def assign(self, target: ast.expr, value: Any, env: Env) -> None:
        if isinstance(target, ast.Name):
            env.vars[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            self.unpack(target, value, env)
        elif isinstance(target, ast.Attribute):
            owner = self.eval(target.value, env)
            self.set_attr(owner, target.attr, value)
        elif isinstance(target, ast.Subscript):
            if isinstance(target.value, ast.Attribute) and target.value.attr == "_modules":
                self.register_module(self.eval(target.value.value, env), self.eval(target.slice, env), value)
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
            elif isinstance(owner, Container) and owner.kind == "ModuleDict" and isinstance(value, Module):
                owner.children[str(key)] = value
        elif isinstance(target, ast.Starred):
            self.assign(target.value, value, env)

    @staticmethod
    def register_module(owner: Any, key: Any, value: Any) -> None:
        """``self._modules[key] = value``: registered as torch does, without ``__setattr__``; a name or a
        value the analysis cannot tell leaves the module incomplete."""
        if not isinstance(owner, Instance):
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
                    owner, name, owner.attrs.get(name, _ABSENT), owner.modules.get(name, _ABSENT)))
            if isinstance(value, Module):
                owner.modules[name] = value
            elif name in owner.modules and value is None:
                del owner.modules[name]
            owner.attrs[name] = value
            if owner.base is not None:  # ``self.stride = ...`` in a subclass of a torch layer
                write_layer_attribute(owner.base, name, value)
        elif isinstance(owner, Record):
            owner.fields[name] = value
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
        return _safe_number(value)

    def _expr_Name(self, node: ast.Name, env: Env) -> Any:
        try:
            return env.lookup(node.id)
        except KeyError:
            return BUILTINS.get(node.id, UNKNOWN)

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
        if isinstance(left, Container) and isinstance(right, Container) and isinstance(op, ast.Add):
            merged = Container(left.node, kind=left.kind)
            for child in [*left.children.values(), *right.children.values()]:
                merged.append(child)
            return merged
        try:
            return _arith(type(op), left, right)
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
                    result = _CMPOPS[type(op)](left, right)
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
        return FunctionValue(node, env)

    def _expr_Starred(self, node: ast.Starred, env: Env) -> Any:
        return self.eval(node.value, env)

    def _expr_NamedExpr(self, node: ast.NamedExpr, env: Env) -> Any:
        value = self.eval(node.value, env)
        self.assign(node.target, value, env)
        return value

    def _expr_Attribute(self, node: ast.Attribute, env: Env) -> Any:
        owner = self.eval(node.value, env)
        return self.get_attr(owner, node.attr, node)

    def get_attr(self, owner: Any, name: str, node: ast.AST | None = None) -> Any:
        if isinstance(owner, ModuleNamespace):
            return owner.env.vars.get(name, UNKNOWN)
        if isinstance(owner, External):
            return external_constant(f"{owner.qualname}.{name}")
        made = attribute_of_value(owner, name)
        if made is not NOT_HANDLED:
            return made
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
        if isinstance(owner, Partial) and name in ("func", "args", "keywords"):
            return owner.func if name == "func" else tuple(owner.args) if name == "args" else dict(owner.kwargs)
        if isinstance(owner, FunctionValue) and name in ("__name__", "__qualname__"):
            return getattr(owner.node, "name", "<lambda>")
        if isinstance(owner, ClassValue):
            if name in ("__name__", "__qualname__"):
                return owner.name
            found = owner.lookup(name)
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
            return self.calls.tensor_index(owner, key)
        if key is UNKNOWN or owner is UNKNOWN:
            return UNKNOWN
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

    @staticmethod
    def super_arguments(env: Env) -> list[Any]:
        """``super()`` in a method: ``super(__class__, self)``."""
        try:
            return [env.lookup("__class__"), env.lookup(SUPER_SELF)]
        except KeyError:
            return []

    # ------------------------------------------------------------------ calls
    def call(self, func: Any, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any:
        if self.depth > LIMITS.call_depth:
            return UNKNOWN
        self.depth += 1
        try:
            return self.calls.dispatch(func, args, kwargs, node)
        finally:
            self.depth -= 1

    def call_function(self, func: FunctionValue, args: list[Any], kwargs: dict[str, Any]) -> Any:
        node = func.node
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
                local.vars[param.arg] = self.eval(defaults[i - first_default], func.closure)
            else:
                local.vars[param.arg] = self.unbound_parameter(param.arg)
        if params.vararg is not None:
            local.vars[params.vararg.arg] = tuple(args[len(positional):])
        for param, default in zip(params.kwonlyargs, params.kw_defaults):
            if param.arg in kwargs:
                local.vars[param.arg] = kwargs.pop(param.arg)
            elif default is not None:
                local.vars[param.arg] = self.eval(default, func.closure)
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
        try:
            self.exec_block(node.body, local, frame)
            result: Any = None
        except _Return as ret:
            result = ret.value
        except (_Break, _Continue):
            result = UNKNOWN
        for pending in frame.pending:
            result = merge(pending, result)
        return result

    def unbound_parameter(self, name: str) -> Any:
        """A parameter nobody gave a value: a named symbol, so shapes read ``num_classes``."""
        return dims.sym(name)

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


def registered_under_method(owner: Instance, name: str) -> bool:
    """``self.eval = nn.ReLU()``: torch keeps a submodule or a parameter out of the instance's ``__dict__``, so
    an attribute of the class of that name (``nn.Module``'s methods, the user's methods, ``fc = None`` in the
    class body) wins; any other value assigned (``self.modules = []``) is an ordinary attribute that hides it."""
    value = owner.attrs[name]
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
    return Tensor(shape)


def _dispatch_table(prefix: str) -> dict[type, Callable]:
    """Handlers by node type, looked up once instead of by name on every node."""
    return {getattr(ast, name[len(prefix):]): getattr(Interpreter, name)
            for name in dir(Interpreter) if name.startswith(prefix) and hasattr(ast, name[len(prefix):])}


Interpreter._stmt_methods = _dispatch_table("_stmt_")
Interpreter._expr_methods = _dispatch_table("_expr_")


def _builtin(name: str) -> External:
    return External(f"builtins.{name}")


BUILTINS: dict[str, Any] = {name: _builtin(name) for name in (
    "range", "len", "list", "tuple", "dict", "zip", "enumerate", "int", "float", "min", "max", "sum", "abs",
    "round", "str", "isinstance", "print", "super", "getattr", "setattr", "hasattr", "reversed", "sorted",
    "any", "all", "map", "filter", "iter", "next", "bool", "type", "divmod", "pow", "callable", "object", "vars",
    "ValueError", "TypeError", "NotImplementedError", "RuntimeError", "AssertionError", "Exception",
)}
BUILTINS.update({"True": True, "False": False, "None": None, "__name__": "__cnnshape__"})

__all__ = ["BudgetExceeded", "Interpreter", "Frame", "merge", "truth"]
