"""Why a layer's argument is unknown: the call the analysis could not follow, for hovers.

The interpreter notes each call whose result is unknown although every argument it was given was known
(``SourceFile.unfollowed``): that call is where the unknown started. A layer argument written as such an
expression names the call; one written as a name is followed to the assignment that made it, or through
the parameter of the ``__init__`` that built the layer to the argument its caller passed.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Any

from .layers import UNKNOWN

if TYPE_CHECKING:
    from .trace import Trace
    from .values import Layer

MAX_HOPS = 4
"""How far a name is followed (assignment or caller's argument) before the hover just names it."""


def has_unknown(value: Any) -> bool:
    if value is UNKNOWN:
        return True
    return isinstance(value, (list, tuple)) and any(v is UNKNOWN for v in value)


def unknown_arguments(trace: Trace, layer: Layer) -> tuple[str, ...]:
    """One line per constructor argument that is unknown: ``kernel_size: np.power(...) could not be followed``."""
    lines = []
    for name in layer.rule.signature:
        if not has_unknown(layer.args.values.get(name)):
            continue
        node = trace.argument_node(layer, name)
        if node is None:
            lines.append(f"{name}: not known statically")
            continue
        lines.append(f"{name}: {_why(trace, layer, node)}")
    return tuple(lines)


def _why(trace: Trace, layer: Layer, node: ast.expr) -> str:
    call = _origin(trace, node, list(reversed(layer.built_chain)), MAX_HOPS)  # innermost __init__ first
    if call is not None:
        return f"{trace.text(call.func) or 'a call'}(...) could not be followed"
    return f"{trace.text(node)} is not known statically"


def _origin(trace: Trace, expr: ast.expr, chain: list, hops: int) -> ast.Call | None:
    """The unfollowed call ``expr`` holds, or that a name in it was assigned from or passed as."""
    call = _unfollowed_call(trace, expr)
    if call is not None or hops == 0:
        return call
    if isinstance(expr, (ast.Name, ast.Attribute)):
        scope = getattr(chain[0][0], "node", None) if chain else None
        for assigned in _assigned(trace, expr, scope):
            found = _origin(trace, assigned, chain, hops - 1)
            if found is not None:
                return found
        rest = list(chain)
        passed = _passed(expr, rest)  # pops the __init__ the name is a parameter of
        return None if passed is None else _origin(trace, passed, rest, hops - 1)
    for sub in ast.walk(expr):  # (2, k), 2 * k: the names in it
        if sub is not expr and isinstance(sub, (ast.Name, ast.Attribute)) and isinstance(sub.ctx, ast.Load):
            found = _origin(trace, sub, chain, hops - 1)
            if found is not None:
                return found
    return None


def _unfollowed_call(trace: Trace, expr: ast.expr) -> ast.Call | None:
    unfollowed = trace.source.unfollowed
    if not unfollowed:
        return None
    for sub in ast.walk(expr):
        if isinstance(sub, ast.Call) and sub in unfollowed:
            return sub
    return None


def _assigned(trace: Trace, target: ast.expr, scope: ast.AST | None) -> list[ast.expr]:
    """The values assigned to ``target``'s name (``U = int(os.environ.get(...))``, ``self.pad = 2 * k``):
    in the ``__init__`` that built the layer, then at the top level of the file (indexed once: not the whole
    tree, a large buffer has many layers). At most a few, the first first."""
    wanted = _name_of(target)
    if wanted is None:
        return []
    values = _assignments(ast.walk(scope)).get(wanted, []) if scope is not None else []
    source = trace.source
    if source.assigned is None:
        source.assigned = _assignments(source.tree.body)
    return (values + source.assigned.get(wanted, []))[:MAX_HOPS]


def _assignments(statements) -> dict[str, list[ast.expr]]:
    found: dict[str, list[ast.expr]] = {}
    for stmt in statements:
        if isinstance(stmt, ast.Assign):
            targets, value = stmt.targets, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            targets, value = [stmt.target], stmt.value
        else:
            continue
        for target in targets:
            name = _name_of(target)
            if name is not None:
                found.setdefault(name, []).append(value)
    return found


def _name_of(expr: ast.expr) -> str | None:
    """``k``, ``self.k``, ``cfg.model.k``; None for anything else."""
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        owner = _name_of(expr.value)
        return None if owner is None else f"{owner}.{expr.attr}"
    return None


def _passed(name: ast.expr, chain: list) -> ast.expr | None:
    """A parameter of the ``__init__`` that built the layer: the argument its caller wrote for it, or its
    default where the caller wrote none."""
    if not isinstance(name, ast.Name) or not chain:
        return None
    init, call, _ = chain.pop(0)
    node = getattr(init, "node", None)
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    params = [a.arg for a in (*node.args.posonlyargs, *node.args.args)]
    if name.id not in params:
        return None
    index = params.index(name.id)
    if isinstance(call, ast.Call):
        for kw in call.keywords:
            if kw.arg == name.id:
                return kw.value
        written = call.args
        if 0 <= index - 1 < len(written) and not any(isinstance(a, ast.Starred) for a in written[:index]):
            return written[index - 1]  # self is not written in the call
    defaults = node.args.defaults
    first_default = len(params) - len(defaults)
    return defaults[index - first_default] if index >= first_default else None
