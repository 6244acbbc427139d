"""Control flow the interpreter cannot always decide: ``if`` and loops over values it may not know.

Two branches whose condition cannot be told both run, and what they leave is merged (:func:`exec_both`):
names in the environment, and the attributes of instances they write (shared by both branches, so each
branch's writes are undone before the other runs). Loops that cannot be run forget what they assign.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass
from typing import Any

from .layers import UNKNOWN
from .limits import LIMITS
from .py_values import merge, truth
from .values import (
    Env,
    Instance,
    Module,
    OpaqueModule,
    Tensor,
)

MUTATORS = frozenset({"append", "extend", "insert", "add_module", "register_module", "update", "pop", "remove",
                      "clear", "setdefault", "__setitem__", "__setattr__", "register_buffer", "register_parameter",
                      "reverse", "sort", "popitem", "__delitem__", "__delattr__", "register_forward_hook",
                      "register_forward_pre_hook", "apply", "half", "double", "bfloat16"})
"""Methods that change their object in place (a list, a dict, a module): in a loop that cannot be run, what
they change is unknown."""
MERGED_METHODS = frozenset({"add_module", "register_module", "__setattr__", "register_buffer", "register_parameter",
                            "apply"})
"""Methods of an instance of the user's that write its attributes through ``set_attr`` (merged per branch)."""


class BudgetExceeded(Exception):
    """The analysis of one model (or of its file) took too many steps; its result is unknown."""

    def __init__(self, what: str = "") -> None:
        super().__init__(what)
        self.what = what


class Returned(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


class Raised(Returned):
    """A ``raise`` reached on the only path that ran (under a condition the analysis cannot tell, a branch
    that raises is merged as a plain return of unknown)."""

    def __init__(self) -> None:
        super().__init__(UNKNOWN)


class LoopBreak(Exception):
    pass


class LoopContinue(Exception):
    pass


class Frame:
    """Per function call: returns seen under conditions the analysis could not decide."""

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending: list[Any] = []


ABSENT = object()
"""An attribute an instance did not have."""


@dataclass
class AttributeWrite:
    """``owner.name = ...`` run in a branch the analysis cannot choose: what was there before it."""

    owner: Instance
    name: str
    previous: Any
    previous_module: Any
    final: Any = ABSENT


def undo_writes(writes: list[AttributeWrite]) -> dict[tuple[int, str], AttributeWrite]:
    """Put back what a branch's writes replaced; the first write of each attribute, with its final value."""
    firsts: dict[tuple[int, str], AttributeWrite] = {}
    for write in writes:
        key = (id(write.owner), write.name)
        if key not in firsts:
            firsts[key] = write
            write.final = write.owner.attrs.get(write.name, ABSENT)
    for write in firsts.values():
        for table, old in ((write.owner.attrs, write.previous), (write.owner.modules, write.previous_module)):
            if old is ABSENT:
                table.pop(write.name, None)
            else:
                table[write.name] = old
    return firsts


PURE_CALLS = frozenset({"isinstance", "hasattr", "getattr", "len", "print", "int", "float", "abs", "min", "max",
                        "size", "dim", "numel", "sqrt", "fan_in", "_calculate_fan_in_and_fan_out"})
"""Calls a weight-initialising loop may make besides ``nn.init.*`` and the methods below."""
MODULE_WALKS = frozenset({"modules", "named_modules", "children", "named_children", "parameters",
                          "named_parameters"})
INITIALISING_METHODS = frozenset({"normal_", "uniform_", "zero_", "fill_", "copy_", "mul_", "add_", "sub_", "div_",
                                  "clamp_", "requires_grad_", "bernoulli_", "exponential_", "random_",
                                  "trunc_normal_", "orthogonal_", "kaiming_normal_", "kaiming_uniform_",
                                  "xavier_normal_", "xavier_uniform_", "constant_", "zeros_", "ones_"})
"""In-place tensor methods that set values and never change a shape (``unsqueeze_`` does: not here)."""


def initialises_only(loop: ast.For) -> bool:
    """A loop that only initialises weights (``for m in self.modules(): if isinstance(m, nn.Conv2d):
    nn.init.kaiming_normal_(m.weight)``): it changes no shape and registers nothing, so it is not run (in a
    network of a hundred layers it was a fifth of the analysis). Local names it assigns are forgotten."""
    if not _walks_modules(loop.iter):
        return False
    initialises = False
    for sub in (node for stmt in loop.body for node in ast.walk(stmt)):
        if isinstance(sub, (ast.Return, ast.Yield, ast.YieldFrom, ast.Delete, ast.Global, ast.Nonlocal, ast.Await,
                            ast.With, ast.Try, ast.FunctionDef, ast.ClassDef, ast.Lambda, ast.NamedExpr, ast.While,
                            ast.For)):
            return False
        if isinstance(sub, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            targets = sub.targets if isinstance(sub, ast.Assign) else [sub.target]
            if not all(isinstance(t, ast.Name) for t in targets):
                return False  # an attribute or an item set: it may replace a layer
        if isinstance(sub, ast.Call):
            if not _initialising_call(sub.func):
                return False
            initialises = initialises or not _pure_call(sub.func)
    return initialises


def _walks_modules(iterable: ast.expr) -> bool:
    """``self.modules()`` and its kin (``list(...)`` of one): iterating them changes nothing."""
    if isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Name) and iterable.func.id == "list" \
            and len(iterable.args) == 1:
        iterable = iterable.args[0]
    return isinstance(iterable, ast.Call) and isinstance(iterable.func, ast.Attribute) and \
        iterable.func.attr in MODULE_WALKS and not iterable.args and not iterable.keywords


def _pure_call(func: ast.expr) -> bool:
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in PURE_CALLS


def _initialising_call(func: ast.expr) -> bool:
    if _pure_call(func):
        return True
    if not isinstance(func, ast.Attribute):
        return False
    chain = []
    value: ast.expr = func
    while isinstance(value, ast.Attribute):
        chain.append(value.attr)
        value = value.value
    if isinstance(value, ast.Name):
        chain.append(value.id)
    return "init" in chain[1:] or func.attr in INITIALISING_METHODS


class ControlFlow:
    """The interpreter's statements that branch or loop (a part of :class:`Interpreter`)."""

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
        changed: list[Any] = []  # containers changed in place in either branch (``self.seq.append(m)``)
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
            except Returned as ret:
                outcomes.append((None, ret.value))
            finally:
                writes = self.attribute_writes.pop()
                changed.extend(w.owner for w in writes if not isinstance(w.owner, Instance))
                written.append(undo_writes([w for w in writes if isinstance(w.owner, Instance)]))
        self.merge_attribute_writes(*written)
        for module in changed:
            module.incomplete = True  # holds what the branches did to it one after the other: neither outcome
        self.forget_changed_in_place([*first, *second], env)
        alive = [b for b, _ in outcomes if b is not None]
        returned = [v for b, v in outcomes if b is None]
        if not alive:
            raise Returned(merge(returned[0], returned[1]))
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

    def forget_changed_in_place(self, body: list[ast.stmt], env: Env) -> None:
        """After two branches the analysis cannot choose between, a module, a container or a list either one
        changed in place (``self.seq.append(m)``, ``del self.seq[0]``, ``self.blocks[i] = m``) is unknown: both
        branches changed the one shared object, which holds neither outcome. Attribute writes of instances
        are merged instead (:meth:`merge_attribute_writes`), local lists and dicts were copied per branch."""
        for sub in (node for stmt in body for node in ast.walk(stmt)):
            receivers: list[ast.expr] = []
            merged = False  # written through set_attr on an instance of the user's: merged already
            if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr in MUTATORS:
                receivers, merged = [sub.func.value], sub.func.attr in MERGED_METHODS
            elif isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.args \
                    and sub.func.id in ("setattr", "delattr"):
                receivers, merged = [sub.args[0]], sub.func.id == "setattr"
            elif isinstance(sub, (ast.Assign, ast.Delete)):
                receivers = [t.value for t in sub.targets if isinstance(t, ast.Subscript)]
            elif isinstance(sub, ast.AugAssign) and not isinstance(sub.target, ast.Name):
                receivers = [sub.target]
            for receiver in receivers:
                if isinstance(receiver, ast.Name) and isinstance(env.vars.get(receiver.id), (list, dict)):
                    continue  # copied for each branch, merged with the other names
                if merged and isinstance(receiver, ast.Name) and isinstance(env.vars.get(receiver.id), Instance):
                    continue
                self.forget(receiver, env, True)

    def merge_attribute_writes(self, first: dict[tuple[int, str], AttributeWrite],
                               second: dict[tuple[int, str], AttributeWrite]) -> None:
        """Set every attribute either branch wrote to what holds after both: the same value where they
        agree, else an unknown value (a module that may be either is an opaque one: its parameters and
        what it computes are unknown, never one branch's)."""
        for key in [*first, *(k for k in second if k not in first)]:  # in the order they were registered
            write = first.get(key) or second[key]
            owner, name = write.owner, write.name
            before = owner.attrs.get(name, ABSENT)
            after_first = first[key].final if key in first else before
            after_second = second[key].final if key in second else before
            if after_first is after_second:
                value = after_first
            elif isinstance(after_first, Module) or isinstance(after_second, Module):
                value = OpaqueModule(getattr(after_first, "node", None) or getattr(after_second, "node", None),
                                     name="one of two branches")
            elif after_first is ABSENT or after_second is ABSENT:
                value = UNKNOWN
            else:
                value = merge(after_first, after_second)
            if value is not ABSENT:
                self.set_attr(owner, name, value)

    def _stmt_For(self, node: ast.For, env: Env, frame: Frame) -> None:
        if not node.orelse and initialises_only(node):  # weight init: no shape depends on it
            self.forget_assigned(node.body, env)
            self.assign(node.target, UNKNOWN, env)
            return
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
        except LoopBreak:
            return False
        except LoopContinue:
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
                elif isinstance(sub, ast.Delete):
                    targets = sub.targets  # del self.seq[0], del layers[i]
                elif isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.args \
                        and sub.func.id in ("setattr", "delattr"):
                    targets, mutated = [sub.args[0]], True  # setattr(self.seq, name, m)
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
