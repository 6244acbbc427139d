"""What a handler of a call is given: the run's record and a few services of the evaluator, never the
evaluator itself (so nothing here imports the interpreter)."""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..layers import RuleTable
from ..trace import Trace
from .record import Recorder


class Evaluator(Protocol):
    """What the dispatcher needs of the interpreter that owns it (``Interpreter`` is one)."""

    trace: Trace
    current_env: Any

    def iterate(self, value: Any) -> list[Any] | None: ...

    def call(self, func: Any, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None) -> Any: ...

    def call_function(self, func: Any, args: list[Any], kwargs: dict[str, Any]) -> Any: ...

    def binary(self, op: ast.operator, left: Any, right: Any, node: ast.AST) -> Any: ...

    def get_attr(self, owner: Any, name: str, node: ast.AST | None = None) -> Any: ...

    def set_attr(self, owner: Any, name: str, value: Any) -> None: ...

    def eval(self, node: ast.expr, env: Any) -> Any: ...


@dataclass(frozen=True)
class Context:
    """What a handler of a builtin, a method, a ``torch.*`` or ``F.*`` function may use."""

    rec: Recorder
    rules: RuleTable
    iterate: Callable[[Any], list[Any] | None]
    call: Callable[[Any, list[Any], dict[str, Any], ast.Call | None], Any]
    apply_module: Callable[..., Any]
    binary: Callable[[ast.operator, Any, Any, ast.AST], Any]
    get_attr: Callable[..., Any]
    set_attr: Callable[[Any, str, Any], None]
    affordable: Callable[[Any, ast.AST | None], bool]
    """Whether comparing or hashing a value stays within the analysis's budget (charged for the walk)."""
    over_budget: Callable[[ast.AST | None, str], Any]
    """An unknown value past a budget, with its information note where it is built."""

    @property
    def trace(self) -> Trace:
        return self.rec.trace


class Registry:
    """Handlers of one kind of call, by name, as ``layers/`` registers rules (and torch ``@register_meta``).

    Filled when its module is imported, never after; the first handler registered for a name wins, as the
    first test of an ``if`` chain would."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.handlers: dict[str, Callable[..., Any]] = {}

    def register(self, *names: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def add(handler: Callable[..., Any]) -> Callable[..., Any]:
            for name in names:
                self.handlers.setdefault(name, handler)
            return handler
        return add

    def get(self, name: str) -> Callable[..., Any] | None:
        return self.handlers.get(name)
