"""The part of a file that one model's analysis reads, for checking its fixes quickly.

A fix is checked by analyzing the fixed text again (:mod:`checking`). Analyzing the whole file again for
each fix would cost as much as the first analysis, and more the more models the file has. So the check
analyzes only the top-level statements the model needs: the ones that define a name it uses, then the names
those use, and the statements that name the model (``model = CNN(3, 10)``, ``summary(model, ...)``), which
may show its input. Every other line is blank, so line numbers stay the file's; comment lines stay (``# in:``).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from .cache import IDENTIFIER


@dataclass(frozen=True)
class Statement:
    start: int
    end: int
    """1-based lines, the decorators included."""
    uses: frozenset[str]
    defines: frozenset[str]


@dataclass(frozen=True)
class Focus:
    text: str
    lines: frozenset[int]
    """The 1-based lines kept: a fix that edits another line cannot be checked on this text."""


def outline(tree: ast.Module, lines: list[str]) -> list[Statement]:
    statements = []
    for node in tree.body:
        start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
        end = node.end_lineno or node.lineno
        text = "\n".join(lines[start - 1:end])
        statements.append(Statement(start, end, frozenset(IDENTIFIER.findall(text)), _defines(node)))
    return statements


def _defines(node: ast.stmt) -> frozenset[str]:
    if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
        return frozenset({node.name})
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return frozenset((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return frozenset(n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))


def focus(statements: list[Statement], lines: list[str], names: set[str]) -> Focus:
    """The text of the statements a model named by ``names`` (its class and the variables holding it) needs."""
    needed = set(names)
    kept: set[int] = set()
    changed = True
    while changed:
        changed = False
        for i, stmt in enumerate(statements):
            if i in kept or not (stmt.defines & needed or stmt.uses & names or "*" in stmt.defines):
                continue
            kept.add(i)
            needed |= stmt.uses
            changed = True
    keep = {n for i in kept for n in range(statements[i].start, statements[i].end + 1)}
    keep |= {n for n, line in enumerate(lines, 1) if line.lstrip().startswith("#")}
    return Focus("\n".join(line if n in keep else "" for n, line in enumerate(lines, 1)), frozenset(keep))


__all__ = ["Focus", "Statement", "focus", "outline"]
