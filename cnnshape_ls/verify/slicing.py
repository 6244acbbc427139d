"""What verification executes: the dependency slice of a module for one model.

Starting from the names the model expression uses (``CNN(3, 10)`` uses ``CNN``), keep the top-level
imports, definitions and assignments that define a needed name, then the names those use, until nothing
new is needed. Everything else is left out: the training loop, the ``if __name__ == "__main__":`` block,
a top-level ``trainset = datasets.CIFAR10(download=True)`` the model does not use, any bare expression.
Pure: no torch, nothing executed here.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass

BUILTIN_NAMES = frozenset(dir(builtins))


@dataclass(frozen=True)
class Slice:
    source: str
    """The kept statements, each at its original line (the lines between are blank)."""
    lines: tuple[int, ...]
    """The first line of every kept statement."""
    missing: tuple[str, ...]
    """Names the model needs that no top-level statement defines."""


def free_names(node: ast.AST) -> set[str]:
    """Names a statement reads from its module. A function's own parameters and locals are not free,
    so a method's local ``trainset`` does not pull in a top-level ``trainset = datasets.CIFAR10(...)``."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        args = node.args
        params = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
        params |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
        body = node.body if isinstance(node.body, list) else [node.body]
        local = params | {n.id for stmt in body for n in ast.walk(stmt)
                          if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        outer = set()
        for expr in [*args.defaults, *(d for d in args.kw_defaults if d is not None),
                     *getattr(node, "decorator_list", []), *([node.returns] if getattr(node, "returns", None) else [])]:
            outer |= free_names(expr)
        inner = set()
        for stmt in body:
            inner |= free_names(stmt)
        return outer | (inner - local)
    if isinstance(node, ast.ClassDef):
        used = set()
        for expr in [*node.bases, *(k.value for k in node.keywords), *node.decorator_list]:
            used |= free_names(expr)
        for stmt in node.body:
            used |= free_names(stmt)
        return used
    used: set[str] = set()
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            used |= free_names(child)
        elif isinstance(child, ast.Name):
            if isinstance(child.ctx, ast.Load):
                used.add(child.id)
        else:
            used |= free_names(child)
    return used - BUILTIN_NAMES


def defined_names(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).split(".")[0] for alias in node.names if alias.name != "*"}
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        targets = [node.target]
    names: set[str] = set()
    for target in targets:
        for sub in ast.walk(target):
            if isinstance(sub, ast.Name):
                names.add(sub.id)
    return names


KEEPABLE = (ast.Import, ast.ImportFrom, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef, ast.Assign,
            ast.AnnAssign, ast.AugAssign)


def slice_module(source: str, model_expr: str) -> Slice:
    tree = ast.parse(source)
    expr = ast.parse(model_expr, mode="eval")
    needed = free_names(expr)
    statements = [s for s in tree.body if isinstance(s, KEEPABLE)]
    star_imports = [s for s in tree.body if isinstance(s, ast.ImportFrom) and any(a.name == "*" for a in s.names)]
    kept: set[int] = set()
    changed = True
    while changed:
        changed = False
        for i, stmt in enumerate(statements):
            if i in kept or not defined_names(stmt) & needed:
                continue
            kept.add(i)
            needed |= free_names(stmt)
            changed = True
    defined = set().union(*(defined_names(statements[i]) for i in kept)) if kept else set()
    missing = tuple(sorted(needed - defined))
    chosen = sorted([statements[i] for i in kept] + star_imports, key=lambda s: s.lineno)
    lines = source.split("\n")
    out = [""] * len(lines)
    for stmt in chosen:
        start = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
        for n in range(start, (stmt.end_lineno or stmt.lineno) + 1):
            out[n - 1] = lines[n - 1]
    return Slice("\n".join(out), tuple(s.lineno for s in chosen), missing)
