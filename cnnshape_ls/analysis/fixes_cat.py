"""A block built with the wrong channel count after a ``torch.cat`` (a U-Net decoder: ``Up(64, 32)`` fed
``cat([up, skip])`` of 96 channels).

torch fails inside the block, on a convolution whose ``in_channels`` is the block's parameter; the mistake is
the argument of the call that builds this instance (``Up(64, 32)``, ``block(features * 2, ...)``). The fix
sets it to the sum the cat makes, written as the sum of its parts where each part is written in the same
function (``64 + 32``, ``features * 2 + features * 2``), else as the numbers where the file writes them.
"""

from __future__ import annotations

import ast
import re

from .layers import ShapeError
from .trace import Trace
from .values import Layer, Tensor

LOOSE = (ast.Constant, ast.Name, ast.Attribute, ast.Call, ast.Subscript)
"""Expressions that need no parentheses as a term of a sum."""
TERMS = (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod, ast.Pow)


def written_at(trace: Trace, layer: Layer, arg: str) -> tuple[ast.expr, ast.AST | None, str] | None:
    """Where the value of ``layer``'s argument ``arg`` is written: a parameter passed down is followed up to
    the call that gives it (``in_ch`` of ``block(in_ch, out_ch)`` to ``features * 2`` in
    ``block(features * 2, ...)``). The expression, the function it is written in (None: the module), and the
    name it has there (the parameter it is given for, or ``arg``)."""
    node = trace.argument_node(layer, arg)
    if node is None:
        return None
    name = arg
    written_in: ast.AST | None = layer.node
    for func, call, method in reversed(layer.made_in):
        definition = func.node
        if not isinstance(definition, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                or not any(n is written_in for n in ast.walk(definition)):
            return None  # built by code the frames do not show (a lambda): where it is written is unknown
        if not isinstance(node, ast.Name):
            return node, definition, name
        given = _argument_for(definition, call, node.id, method)
        if given is None:
            return node, definition, name  # a local name of that function
        if not isinstance(call, ast.Call) or getattr(call, "_cnnshape_foreign", False):
            return None
        node, written_in, name = given, call, node.id
    return node, None, name


def _argument_for(definition: ast.FunctionDef | ast.AsyncFunctionDef, call: ast.AST | None, param: str,
                  method: bool) -> ast.expr | None:
    params = [a.arg for a in [*definition.args.posonlyargs, *definition.args.args]][1 if method else 0:]
    if param not in params or not isinstance(call, ast.Call):
        return None
    given = next((k.value for k in call.keywords if k.arg == param), None)
    index = params.index(param)
    if given is None and index < len(call.args) and not any(isinstance(a, ast.Starred) for a in call.args[:index + 1]):
        given = call.args[index]
    return given


def sum_text(trace: Trace, first: Tensor, expected: int, where: ast.AST | None, consumer: Layer) -> str:
    """``expected`` channels, made by a cat, as the user would write them in the function ``where``. Where
    the cat is another block's output (an Inception's branches), that block's size is one number."""
    parts = [(producer, size) for producer, size in first.joined]
    if len(parts) < 2 or not all(isinstance(s, int) for _, s in parts) or sum(s for _, s in parts) != expected \
            or any(p is None for p, _ in parts):
        return str(expected)
    shared = common_calls([p.made_in for p, _ in parts])
    if len(shared) > len(common_calls([shared, consumer.made_in])):
        return str(expected)  # the parts are made inside one block the consumer is not in: its output
    texts = []
    for producer, size in parts:
        found = written_at(trace, producer, "out_channels") if producer is not None else None
        if found is None or found[1] is not where or producer.args.values.get("out_channels") != size:
            break
        node = found[0]
        text = trace.text(node)
        loose = isinstance(node, LOOSE) or isinstance(node, ast.BinOp) and isinstance(node.op, TERMS)
        texts.append(text if loose else f"({text})")
    else:
        return " + ".join(texts)
    if all(re.search(rf"(?<![\w.]){size}(?![\w.])", trace.source.text) for _, size in parts):
        return " + ".join(str(size) for _, size in parts)
    return str(expected)


def common_calls(chains: list[tuple]) -> tuple:
    """The calls under way that every chain shares (the same runs of them, not only the same code)."""
    shortest = min(chains, key=len)
    for i, frame in enumerate(shortest):
        if any(chain[i] is not frame for chain in chains):
            return shortest[:i]
    return shortest


def cat_call_site_fix(trace: Trace, error: ShapeError, layer: Layer, first: Tensor):
    """The argument of the call that builds this block (or a helper's call) that sets the size torch
    rejects, set to the sum the cat makes."""
    if not error.blame or not isinstance(error.expected, int) or not first.joined:
        return None
    own = trace.argument_node(layer, error.blame)
    if not isinstance(own, ast.Name):
        return None  # written as a number or an expression in the block: the block's own fix is that one
    found = written_at(trace, layer, error.blame)
    if found is None or found[0] is own:
        return None
    node, where, name = found
    if getattr(node, "_cnnshape_foreign", False) or trace.elsewhere(node) is not None:
        return None
    text = sum_text(trace, first, error.expected, where, layer)
    call = trace.source.call_around(node)
    owner = trace.text(call.func) if call is not None else "block"
    shown = f"{error.expected} ({text})" if text != str(error.expected) else text
    fix = trace.fix(f"Change {name} of this {owner} to {shown}", trace.replace(node, text))
    fix.relocates = True
    return fix
