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
    chain = list(reversed(layer.built_chain))  # innermost __init__ first
    expr: ast.expr | None = node
    for _ in range(MAX_HOPS):
        if expr is None:
            break
        call = _unfollowed_call(trace, expr)
        if call is not None:
            return f"{trace.text(call.func) or 'a call'}(...) could not be followed"
        if not isinstance(expr, (ast.Name, ast.Attribute)):
            break
        expr = _assigned(trace, expr) or _passed(expr, chain)
    return f"{trace.text(node)} is not known statically"


def _unfollowed_call(trace: Trace, expr: ast.expr) -> ast.Call | None:
    unfollowed = trace.source.unfollowed
    if not unfollowed:
        return None
    for sub in ast.walk(expr):
        if isinstance(sub, ast.Call) and sub in unfollowed:
            return sub
    return None


def _assigned(trace: Trace, target: ast.expr) -> ast.expr | None:
    """The value of an assignment to ``target``'s name (``U = int(os.environ.get(...))``) that holds an
    unfollowed call; the file's own assignments only."""
    wanted = ast.dump(target, annotate_fields=False).replace("Load()", "")
    for stmt in ast.walk(trace.source.tree):
        if isinstance(stmt, ast.Assign):
            targets, value = stmt.targets, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            targets, value = [stmt.target], stmt.value
        else:
            continue
        if any(ast.dump(t, annotate_fields=False).replace("Store()", "") == wanted for t in targets) \
                and _unfollowed_call(trace, value) is not None:
            return value
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
