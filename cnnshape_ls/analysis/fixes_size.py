"""Fixes for a feature map of the wrong spatial size: one shrunk too far for a window (``output-too-small``),
and a global pool whose kernel leaves the classifier more than one value per channel.

A run notes every windowed layer it applies (:class:`Window`, in :attr:`Trace.windows`): a conv or a pool,
with the shapes it took and gave. The windows before the one that failed, each giving the size the next
took, are the chain that shrank the map. Each fix is tried on that chain first (the shape rules, no run),
then offered as :attr:`Fix.checked`: :mod:`checking` keeps it only where the fixed model has no error.
"""

from __future__ import annotations

import ast
import re
from typing import Any, NamedTuple

from .findings import Edit, Finding, Fix, Related, Span
from .layers import Args, Call, CannotTell, ShapeError
from .trace import Trace
from .values import Container, Layer

WINDOWED = frozenset(f"{kind}{n}d" for kind in ("Conv", "MaxPool", "AvgPool", "LPPool") for n in (1, 2, 3))
"""A set, not a pattern: every layer applied in a recording run is tested against it."""
POOL = re.compile(r"^(MaxPool|AvgPool)[123]d$")
CONV = re.compile(r"^Conv[123]d$")
MAX_CHAIN = 12
"""Windows looked at before the one that failed: the stage that shrank the map, not the whole model."""


class Window(NamedTuple):
    """One application of a conv or a pool: the layer, where it was applied, what it took and gave (a
    named tuple: made for every conv and pool a recording run applies, and cheaper to make than a frozen
    dataclass)."""

    layer: Layer
    applied: ast.AST | None
    """The call in ``forward`` that applied it (``self.pool(x)``, ``F.max_pool2d(x, 2)``), if any."""
    sequence: Container | None
    """The ``nn.Sequential`` it ran in, if any."""
    functional: bool
    shape_in: tuple
    shape_out: tuple | None


def note_window(trace: Trace, layer: Layer, applied: ast.AST | None, sequence: Container | None,
                shape_in: Any, shape_out: Any, functional: bool = False) -> None:
    """Remember a conv or a pool the run applied (only in the run that records)."""
    if not trace.recording or layer.rule.op not in WINDOWED or not isinstance(shape_in, tuple):
        return
    out = shape_out if isinstance(shape_out, tuple) else None
    trace.windows.append(Window(layer, applied, sequence, functional, shape_in, out))


# ------------------------------------------------------------------ arguments of a layer, as written
def argument_node(trace: Trace, window: Window, name: str) -> ast.expr | None:
    """The argument as written; a functional call's positions start after its input (``F.max_pool2d(x, 2)``)."""
    layer = window.layer
    if not window.functional:
        return trace.argument_node(layer, name)
    call = layer.node
    if not isinstance(call, ast.Call) or name not in layer.rule.signature:
        return None
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    index = layer.rule.signature.index(name) + 1
    if any(isinstance(a, ast.Starred) for a in call.args) or index >= len(call.args):
        return None
    return call.args[index]


def _keyword_of(layer: Layer, node: ast.AST) -> ast.keyword | None:
    call = layer.node
    if isinstance(call, ast.Call):
        return next((kw for kw in call.keywords if kw.value is node), None)
    return None


def set_argument(trace: Trace, window: Window, name: str, value: Any, title: str) -> Fix | None:
    """Change (or add, as a keyword) one integer argument of the window's layer."""
    layer = window.layer
    if not isinstance(layer.node, ast.Call) or getattr(layer.node, "_cnnshape_foreign", False):
        return None
    node = argument_node(trace, window, name)
    if node is not None:
        if trace.elsewhere(node) is not None:
            return None
        return trace.fix(title, trace.replace(node, _text(value)))
    if any(kw.arg is None for kw in layer.node.keywords):
        return None  # **kwargs may hold it already
    call = layer.node
    last = call.keywords[-1].value if call.keywords else call.args[-1] if call.args else None
    if last is None:
        return None
    end = trace.span(last)
    return trace.fix(title, Edit(Span(end.end_line, end.end_column, end.end_line, end.end_column),
                                 f", {name}={_text(value)}"))


# ------------------------------------------------------------------ shapes, by the rules
def _output(layer: Layer, changes: dict, shape_in: tuple) -> tuple | None:
    try:
        out = layer.rule.infer(Call(Args(layer.args.op, {**layer.args.values, **changes}), [shape_in]))
    except (ShapeError, CannotTell, TypeError, ValueError, ArithmeticError, LookupError, AttributeError):
        return None  # a rule given arguments no layer was built with: that change is not offered
    return tuple(out) if isinstance(out, tuple) else None


def _spatial(shape: tuple, n: int) -> tuple:
    return tuple(shape[len(shape) - n:])


def _rank(layer: Layer) -> int:
    return int(layer.rule.op[-2])


def chain_before(windows: list[Window], failing: Window) -> list[Window]:
    """The windows that made the failing one's input, in order: each gave the spatial size the next took."""
    n = _rank(failing.layer)
    index = max((i for i, w in enumerate(windows) if w is failing), default=-1)
    want = _spatial(failing.shape_in, n)
    chain: list[Window] = []
    for window in reversed(windows[:max(index, 0)]):
        if len(chain) >= MAX_CHAIN:
            break
        out = window.shape_out
        if out is None or _rank(window.layer) != n or len(out) != len(failing.shape_in) \
                or _spatial(out, n) != want:
            continue
        chain.insert(0, window)
        want = _spatial(window.shape_in, n)
    return chain


def _runs_after(chain: list[Window], start: int, first_out: tuple | None, failing: Window) -> bool:
    """Whether the failing window accepts its input once ``chain[start]`` gives ``first_out`` (the windows
    after it each given the new size, their channels unchanged)."""
    if first_out is None:
        return False
    n = _rank(failing.layer)
    spatial = _spatial(first_out, n)
    for window in chain[start + 1:]:
        out = _output(window.layer, {}, (*window.shape_in[:len(window.shape_in) - n], *spatial))
        if out is None:
            return False
        spatial = _spatial(out, n)
    shape_in = (*failing.shape_in[:len(failing.shape_in) - n], *spatial)
    return _output(failing.layer, {}, shape_in) is not None


def _int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, tuple) and value and len(set(value)) == 1 and isinstance(value[0], int) \
            and not isinstance(value[0], bool):
        return value[0]  # (2, 2) is 2 on every axis
    return None


def _name(window: Window) -> str:
    layer = window.layer
    if window.functional:
        call = layer.node
        func = call.func if isinstance(call, ast.Call) else None
        name = (func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else "pool")
        return f"{name} on line {getattr(call, 'lineno', '?')}"
    path = layer.path
    if path and path.rsplit(".", 1)[-1].isdigit():
        return f"layer {path} ({layer.rule.op})"
    return path or layer.rule.op


# ------------------------------------------------------------------ output too small
def _padding_fix(trace: Trace, failing: Window) -> Fix | None:
    layer = failing.layer
    kernel = _int(layer.args.values.get("kernel_size"))
    padding = layer.args.values.get("padding")
    current = _int(padding)
    if kernel is None or kernel <= 1 or current is None or isinstance(padding, str):
        return None
    for value in sorted({(kernel - 1) // 2, kernel // 2}):
        if value > current and _output(layer, {"padding": value}, failing.shape_in) is not None:
            return set_argument(trace, failing, "padding", value,
                                f"Pad {_name(failing)}: padding={value} keeps a {kernel}x{kernel} window inside "
                                f"the input")
    return None


def _smaller(value: Any, floor: int = 1) -> list:
    """Smaller values of a kernel or stride, the nearest first: an int, or a tuple one axis at a time."""
    if isinstance(value, int) and not isinstance(value, bool):
        return list(range(value - 1, floor - 1, -1))
    if isinstance(value, tuple) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        if len(set(value)) == 1:
            return [v for v in range(value[0] - 1, floor - 1, -1)]
        return [(*value[:i], v, *value[i + 1:]) for i in range(len(value)) for v in range(value[i] - 1, 0, -1)]
    return []


def _text(value: Any) -> str:
    return str(value) if not isinstance(value, tuple) else "(" + ", ".join(str(v) for v in value) + ")"


def _own_kernel_fixes(trace: Trace, failing: Window) -> list[Fix]:
    """A window larger than its input: the largest smaller kernel that fits (not 1 for a pool that strides
    by its kernel: that is no pool, offered as removing it)."""
    layer = failing.layer
    strides_by_kernel = POOL.match(layer.rule.op) and layer.args.values.get("stride") in (None, (), [])
    for value in _smaller(layer.args.values.get("kernel_size"), 2 if strides_by_kernel else 1):
        if _output(layer, {"kernel_size": value}, failing.shape_in) is not None:
            fix = set_argument(trace, failing, "kernel_size", value,
                               f"Change kernel_size of {_name(failing)} to {_text(value)}")
            return [fix] if fix is not None else []
    return []


def _pool_fixes(trace: Trace, chain: list[Window], index: int, failing: Window) -> list[Fix]:
    """The nearest smaller kernel, then the nearest smaller stride, of an earlier pool, after which the
    failing layer runs."""
    window = chain[index]
    layer = window.layer
    kernel = layer.args.values.get("kernel_size")
    stride = layer.args.values.get("stride")
    strides_by_kernel = stride in (None, (), [])
    fixes = []
    # a kernel of 1 that strides as it is (the default) keeps every value: that is removing the pool
    for value in _smaller(kernel, 2 if strides_by_kernel else 1):
        if _runs_after(chain, index, _output(layer, {"kernel_size": value}, window.shape_in), failing):
            fix = set_argument(trace, window, "kernel_size", value,
                               f"Change kernel_size of {_name(window)} to {_text(value)}")
            if fix is not None:
                fixes.append(fix)
            break
    for value in _smaller(kernel if strides_by_kernel else stride):
        if _runs_after(chain, index, _output(layer, {"stride": value}, window.shape_in), failing):
            fix = set_argument(trace, window, "stride", value, f"Change stride of {_name(window)} to {_text(value)}")
            if fix is not None:
                fixes.append(fix)
            break
    return fixes


def remove_pool(trace: Trace, window: Window, chain: list[Window], failing: Window) -> Fix | None:
    """Remove a pool where that is one simple edit: its element of an ``nn.Sequential(...)``, or its call
    in ``forward`` (``self.pool(x)`` -> ``x``; the statement ``x = self.pool(x)`` goes)."""
    if window is not failing:
        index = next((i for i, w in enumerate(chain) if w is window), None)
        if index is None or not _runs_after(chain, index, window.shape_in, failing):
            return None
    title = f"Remove the pool {_name(window)}"
    layer = window.layer
    applied = window.applied if not window.functional else layer.node
    if window.sequence is not None and isinstance(window.sequence.node, ast.Call):
        elements = window.sequence.node.args
        at = next((i for i, e in enumerate(elements) if e is layer.node), None)
        if at is None or len(elements) < 2 or any(isinstance(e, ast.Starred) for e in elements):
            return None
        here = trace.span(elements[at])
        if at + 1 < len(elements):
            after = trace.span(elements[at + 1])
            span = Span(here.line, here.column, after.line, after.column)
        else:
            before = trace.span(elements[at - 1])
            span = Span(before.end_line, before.end_column, here.end_line, here.end_column)
        if trace.elsewhere(layer.node) is not None:
            return None
        return trace.fix(title, Edit(span, ""))
    if not isinstance(applied, ast.Call) or not applied.args or isinstance(applied.args[0], ast.Starred) \
            or trace.elsewhere(applied) is not None:
        return None
    inner = applied.args[0]
    statement = trace.source.statement_of_value(applied)
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1 \
            and trace.text(statement.targets[0]) == trace.text(inner):
        where = trace.span(statement)
        alone = trace.source.line_text(where.line)[:where.column].strip() == "" \
            and trace.source.line_text(where.end_line)[where.end_column:].strip() == ""
        return trace.fix(title, Edit(Span(where.line, 0, where.end_line + 1, 0), "")) if alone else None
    return trace.fix(title, trace.replace(applied, trace.text(inner)))


def failing_window(trace: Trace, layer: Layer) -> Window | None:
    """The last application of ``layer`` that gave no output."""
    return next((w for w in reversed(trace.windows) if w.layer is layer and w.shape_out is None), None)


def narrow_to_argument(trace: Trace, finding: Finding, layer: Layer) -> None:
    """Where the first fix changes a written argument of the failing layer (``padding=0``), the squiggle is
    that argument (the keyword with its name), not the whole call."""
    failing = failing_window(trace, layer)
    if not finding.fixes or failing is None:
        return
    edits = finding.fixes[0].edits
    if len(edits) != 1:
        return
    for name in ("padding", "kernel_size", "stride"):
        node = argument_node(trace, failing, name)
        if node is None or trace.elsewhere(node) is not None or trace.span(node) != edits[0].span:
            continue
        keyword = _keyword_of(failing.layer, node)
        finding.span = trace.span(keyword) if keyword is not None else trace.span(node)
        return


# ------------------------------------------------------------------ a global pool before the classifier
def global_pool_fixes(trace: Trace, layer: Layer, flat_from: tuple | None) -> tuple[list[Fix], bool]:
    """``F.avg_pool2d(out, 2)`` on a 4x4 map before ``Linear(256, ...)``: the pool's kernel that gives the
    Linear the features it takes (``4``: a 1x1 map), then, where that is one value per channel, the adaptive
    pool (``F.adaptive_avg_pool2d(out, 1)``). Also says whether these fixes go first: the Linear takes the
    channels alone after a pool that pools globally (the evident intent)."""
    found = global_pool_fix(trace, layer, flat_from)
    if found is None:
        return [], False
    fix, channels_alone = found
    window = next((w for w in reversed(trace.windows) if w.shape_out is not None
                   and tuple(w.shape_out[1:]) == tuple(flat_from or ())), None)
    adaptive = adaptive_fix(trace, window) if channels_alone and window is not None else None
    return [fix, *([adaptive] if adaptive is not None else [])], channels_alone and _pools_globally(window)


def _pools_globally(window: Window | None) -> bool:
    """An average pool, or a window at least half its map (``avg_pool2d(out, 2)`` on 4x4): one meant to leave
    a value per channel. A max pool of 2 on a 14x14 map halves it: the Linear's size is what was forgotten
    (``hidden * 7 * 7``)."""
    if window is None:
        return False
    kernel = _int(window.layer.args.values.get("kernel_size"))
    size = _spatial(window.shape_in, _rank(window.layer))
    return window.layer.rule.op.startswith("Avg") or (
        kernel is not None and bool(size) and isinstance(size[0], int) and 2 * kernel >= size[0])


def adaptive_fix(trace: Trace, window: Window) -> Fix | None:
    """``F.avg_pool2d(out, 2)`` -> ``F.adaptive_avg_pool2d(out, 1)``, ``nn.AvgPool2d(4)`` ->
    ``nn.AdaptiveAvgPool2d(1)``: one value per channel whatever the input's size."""
    layer = window.layer
    call = layer.node
    if not isinstance(call, ast.Call) or trace.elsewhere(call) is not None:
        return None
    op = layer.rule.op
    func = trace.text(call.func)
    if window.functional:
        name = f"{'avg' if op.startswith('Avg') else 'max'}_pool{_rank(layer)}d"
        if not func.endswith(name) or not call.args or isinstance(call.args[0], ast.Starred):
            return None
        text = f"{func[:-len(name)]}adaptive_{name}({trace.text(call.args[0])}, 1)"
    else:
        if not func.endswith(op):
            return None
        text = f"{func[:-len(op)]}Adaptive{op}(1)"
    fix = trace.fix(f"Use {text}: one value per channel for any input size", trace.replace(call, text))
    fix.checked = True
    return fix


def global_pool_fix(trace: Trace, layer: Layer, flat_from: tuple | None) -> tuple[Fix, bool] | None:
    """The pool's kernel that gives the Linear the features it takes, and whether those are the channels
    alone."""
    want = _int(layer.args.values.get("in_features"))
    if want is None or not flat_from or len(flat_from) < 2 or not all(isinstance(d, int) for d in flat_from):
        return None
    channels = flat_from[0]
    window = next((w for w in reversed(trace.windows) if w.shape_out is not None
                   and tuple(w.shape_out[1:]) == tuple(flat_from)), None)
    if window is None or not POOL.match(window.layer.rule.op) or window.layer.node is None:
        return None
    pool = window.layer
    n = _rank(pool)
    size = _spatial(window.shape_in, n)
    kernel = _int(pool.args.values.get("kernel_size"))
    stride_written = pool.args.values.get("stride") not in (None, (), [])
    stride = _int(pool.args.values.get("stride")) if stride_written else kernel
    if kernel is None or stride != kernel or len(set(size)) != 1 or not isinstance(size[0], int):
        return None  # a window that strides unlike its size was written on purpose
    for value in range(size[0], 0, -1):
        if value == kernel:
            continue
        changes: dict = {"kernel_size": value, **({"stride": value} if stride_written else {})}
        out = _output(pool, changes, window.shape_in)
        if out is None or len(out) < 2 or out[1] * _product(_spatial(out, n)) != want:
            continue
        edits = []
        for name in changes:
            node = argument_node(trace, window, name)
            if node is None or trace.elsewhere(node) is not None:
                return None
            edits.append(trace.replace(node, str(value)))
        what = "one value per channel" if value == size[0] else f"a {'x'.join([str(out[2])] * n)} map"
        names = " and ".join(changes)
        fix = trace.fix(f"Change {names} of {_name(window)} to {value} ({what}, {want} features for "
                        f"{describe_linear(layer)})", *edits)
        fix.checked = True
        return fix, want == channels
    return None


def describe_linear(layer: Layer) -> str:
    return layer.path or "the Linear"


def _product(values: tuple) -> int:
    total = 1
    for v in values:
        total *= v
    return total


# ------------------------------------------------------------------ the smallest input a model accepts
def smallest_input_note(name: str, line: int, findings: list[Finding], shape: tuple | None,
                        rerun) -> Finding | None:
    """Where a map grew too small for a window: the smallest square input the model accepts, as information
    (solved as the input is solved for, over one run with the spatial sizes as a symbol). ``rerun`` runs the
    model over a shape and gives that run's :class:`Trace`."""
    from . import dims
    from .inputs import MAX_SOLVE

    errors = [f for f in findings if f.code == "output-too-small" and f.severity == "error"]
    if not errors or shape is None or len(shape) < 3:
        return None
    spatial = shape[2:]
    if not all(isinstance(d, int) and not isinstance(d, bool) for d in spatial) or len(set(spatial)) != 1:
        return None
    symbol = "S_in"
    run = rerun((*shape[:2], *([dims.sym(symbol)] * len(spatial))))
    if run is None:
        return None
    names = (symbol,)
    sizes = [dims.compile_function(d, names) for r in run.records for out in r.outputs if isinstance(out, tuple)
             for d in out if isinstance(d, dims.Expr) and dims.symbols(d) == {symbol}]
    pinned = [(dims.compile_function(c.size, names), c.value) for c in run.constraints
              if isinstance(c.size, dims.Expr) and dims.symbols(c.size) == {symbol}]
    if not sizes:
        return None

    def fits(s: int) -> bool:
        return all((f(s) or 0) >= 1 for f in sizes) and all(f(s) == v for f, v in pinned)

    try:
        found = next((s for s in range(spatial[0] + 1, MAX_SOLVE + 1) if fits(s)), None)
    except (ArithmeticError, TypeError, ValueError):
        return None  # a size the symbolic run wrote that cannot be evaluated: no note
    if found is None:
        return None
    where = Span(line, 0, line, 0)  # on the model, as the notes about its input
    given = "x".join(str(d) for d in spatial)
    wanted = "x".join(str(found) for _ in spatial)
    return Finding(where, "information", "output-too-small",
                   f"The smallest input {name} accepts is {wanted} (this one is {given}): its convolutions and "
                   "pools shrink a smaller one to nothing", model=name,
                   related=[Related(None, errors[0].span, f"where {given} runs out: {errors[0].message}")])


# ------------------------------------------------------------------ a size written as a name
def definition_of(trace: Trace, node: ast.AST | None) -> ast.expr | None:
    """Where a size written as a name gets its value: ``self.num_flat = 64 * 7 * 7`` for ``self.num_flat``,
    ``FLAT = 3136`` at the top of the file for ``FLAT``; None unless it is assigned exactly once."""
    if getattr(node, "_cnnshape_foreign", False) or trace.elsewhere(node) is not None:
        return None
    if isinstance(node, ast.Name):
        found = [s.value for s in trace.source.tree.body if isinstance(s, ast.Assign) and len(s.targets) == 1
                 and isinstance(s.targets[0], ast.Name) and s.targets[0].id == node.id]
        stores = sum(isinstance(n, ast.Name) and n.id == node.id and isinstance(n.ctx, ast.Store)
                     for n in ast.walk(trace.source.tree))
        return found[0] if len(found) == 1 and stores == 1 else None
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        found = [n for n in ast.walk(trace.source.tree) if isinstance(n, ast.Attribute) and n.attr == node.attr
                 and isinstance(n.ctx, ast.Store) and isinstance(n.value, ast.Name) and n.value.id == "self"]
        values = [s.value for s in ast.walk(trace.source.tree) if isinstance(s, ast.Assign) and len(s.targets) == 1
                  and any(s.targets[0] is f for f in found)]
        return values[0] if len(found) == 1 and len(values) == 1 else None
    return None
