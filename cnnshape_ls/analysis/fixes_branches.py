"""Fixes of a residual add whose two branches differ (``out + self.shortcut(x)`` of 128 and 64 channels).

The fix is on the layer that changed the size, not on the add where torch fails:

- a shortcut that projects only when the stride changes (``if stride != 1:`` where the channels change too):
  the condition, ``if stride != 1 or in_planes != self.expansion * planes:``; the error moves there;
- the shortcut's projection (a 1x1 convolution, or one named ``shortcut``/``downsample``): its
  ``out_channels`` and ``stride`` (with the norm after it in its ``Sequential``);
- a block with no projection whose channels change: a new shortcut, ``nn.Conv2d(in, out, 1, stride)``,
  made in ``__init__`` and applied in ``forward`` (one fix of two edits);
- the branch's last convolution: its ``out_channels`` (a guess, kept only where applying it is checked).

Every fix is checked by applying it and analyzing again (:mod:`checking`).
"""

from __future__ import annotations

import ast
import re
from typing import Any

from .findings import Edit, Finding, Fix, Related, Span
from .fixes import _output, copies_of, describe, producer_change
from .trace import Trace
from .values import Container, Instance, Layer, Tensor

CONV = re.compile(r"^Conv([123])d$")
NORM = re.compile(r"^(BatchNorm|InstanceNorm)[123]d$")
SHORTCUT_NAMES = re.compile(r"shortcut|downsample|skip|proj|residual|identity|^sc$|^res(_|$)", re.IGNORECASE)
"""A module path part that names a shortcut (``shortcut.0``, ``downsample``, ``res_conv``)."""


def residual_fixes(trace: Trace, finding: Finding, a: Tensor, b: Tensor, node: ast.AST | None) -> None:
    """Give an add-mismatch ``finding`` (of ``a + b`` at ``node``) the fixes of the layer that changed a size;
    where the mistake is a shortcut's condition, put the finding there."""
    if a.shape is None or b.shape is None or len(a.shape) != len(b.shape) or len(a.shape) < 3 \
            or not all(isinstance(d, int) for d in (*a.shape, *b.shape)):
        return
    operands = _operands(node)
    fixes: list[Fix] = []
    shortcuts: list[Fix] = []
    moved: tuple[Span, Fix, str] | None = None
    block = _adding_block(a, b, node)
    for tensor, other, expr in ((a, b, operands[0]), (b, a, operands[1])):
        conv = tensor.producer
        if conv is not None and CONV.match(conv.rule.op) and block is not None and _built_in(conv, block) \
                and _is_projection(conv):
            fix = _projection_fix(trace, conv, tensor, other)
            if fix is not None:
                fixes.append(fix)
        elif block is not None and expr is not None and tensor.shape[1] != other.shape[1] \
                and not _built_in(conv, block):
            condition = _condition_fix(trace, block, expr) or _flag_fix(trace, block, node, tensor, other)
            if condition is not None:
                moved = condition
                fixes.insert(0, condition[1])
            else:
                fix = _new_shortcut_fix(trace, block, expr, tensor, other)
                if fix is not None:
                    fixes.append(fix)
                    shortcuts.append(fix)
    for tensor, other in ((a, b), (b, a)):
        conv = tensor.producer
        if conv is not None and CONV.match(conv.rule.op) and not _is_projection(conv) \
                and tensor.shape[1] != other.shape[1] and tensor.shape[2:] == other.shape[2:]:
            fix = _out_channels_fix(trace, conv, other.shape[1])
            if fix is not None:
                fix.tentative = True  # the branch's width may be what the block is for: only if checked
                if fixes and len(shortcuts) == len(fixes):
                    fixes.insert(0, fix)  # one argument, before a new layer (an RDB's fusion conv)
                    for shortcut in shortcuts:  # still offered second, where it too lets the model run
                        shortcut.tentative, shortcut.checked = False, True
                else:
                    fixes.append(fix)
    if not fixes:
        return
    finding.fixes = fixes
    if moved is not None and any(f is finding for f in trace.findings):
        span, _, why = moved
        finding.related.append(Related(None, finding.span, f"torch fails here: {finding.message}"))
        finding.message += f" ({why}; here the channels change: {a.shape[1]} and {b.shape[1]})"
        finding.layer_path = None
        trace.move(finding, span)


def feature_fixes(trace: Trace, finding: Finding, a: Tensor, b: Tensor) -> None:
    """Give an add-mismatch ``finding`` whose operands differ in their last size only, each made by a
    ``Linear`` (a VAE's ``mu + eps * std`` of ``fc21`` and ``fc22``), the places of those ``Linear``s as
    related information and the fixes that make one give the other's size, each offered where the model then
    runs (checked: which one was the mistake, the layers after them tell)."""
    if a.shape is None or b.shape is None or not a.shape or not b.shape:
        return
    last_a, last_b = a.shape[-1], b.shape[-1]
    if not isinstance(last_a, int) or not isinstance(last_b, int) or 1 in (last_a, last_b) or last_a == last_b:
        return
    fixes: list[Fix] = []
    for tensor, other, name in ((a, b, "a"), (b, a, "b")):
        linear = tensor.producer
        if linear is None or linear.rule.op != "Linear" or linear.args.values.get("out_features") != tensor.shape[-1]:
            continue
        node = trace.argument_node(linear, "out_features")
        if node is None or trace.elsewhere(node) is not None:
            continue
        finding.related.append(Related(None, trace.span(node), f"{describe(linear)} makes the {tensor.shape[-1]} "
                                       f"features of tensor {name} here"))
        fix = producer_change(trace, linear, other.shape[-1], "linear-in-features")
        if fix is not None:
            fix.checked = True
            fixes.append(fix)
    finding.fixes.extend(fixes)


def assignment_typo_fix(trace: Trace, finding: Finding, node: ast.AST | None) -> None:
    """``x - self.fc(x)`` as a statement of its own: its value is dropped, so the ``-`` (next to ``=`` on the
    keyboard) was meant as ``=``. Offered first, where the model then runs (checked)."""
    if not isinstance(node, ast.BinOp) or not isinstance(node.op, ast.Sub) or not isinstance(node.left, ast.Name):
        return
    if not isinstance(trace.source.statement_of_value(node), ast.Expr):
        return
    text = f"{node.left.id} = {trace.text(node.right)}"
    fix = trace.fix(f"Assign instead of subtracting: {text}", trace.replace(node, text))
    fix.checked = True
    finding.fixes.insert(0, fix)


def _adding_block(a: Tensor, b: Tensor, node: ast.AST | None) -> Instance | None:
    """The instance whose class's ``forward`` makes the add: of the blocks that built either side's layer,
    innermost first, the one whose class holds ``node``."""
    for tensor in (a, b):
        layer = tensor.producer
        for entry in reversed(layer.built_chain if layer is not None else ()):
            owner = entry[2]
            if isinstance(owner, Instance) and node is not None \
                    and any(n is node for n in ast.walk(owner.cls.node)):
                return owner
    return None


# ---------------------------------------------------------------------- where things are
def _operands(node: ast.AST | None) -> tuple[ast.expr | None, ast.expr | None]:
    """The expressions of ``a`` and ``b`` in ``a + b``, ``a += b`` or ``torch.add(a, b)``."""
    if isinstance(node, ast.BinOp):
        return node.left, node.right
    if isinstance(node, ast.AugAssign):
        return node.target, node.value
    if isinstance(node, ast.Call) and len(node.args) >= 2:
        return node.args[0], node.args[1]
    return None, None


def _block_of(layer: Layer | None) -> Instance | None:
    """The instance of the user's class whose ``__init__`` built ``layer`` (the residual block)."""
    if layer is None or layer.built_in is None or not isinstance(layer.built_in[2], Instance):
        return None
    return layer.built_in[2]


def _built_in(layer: Layer | None, block: Instance) -> bool:
    return layer is not None and any(entry[2] is block for entry in layer.built_chain)


def _is_projection(conv: Layer) -> bool:
    """A shortcut's convolution: named like one (``shortcut.0``, ``downsample.0``); a 1x1 convolution may as
    well be a bottleneck's own (``conv3``)."""
    return bool(conv.path) and any(SHORTCUT_NAMES.search(part) for part in conv.path.split(".")[-2:])


def _init_of(block: Instance) -> ast.FunctionDef | None:
    for stmt in block.cls.node.body:
        if isinstance(stmt, ast.FunctionDef) and stmt.name == "__init__":
            return stmt
    return None


def _block_layers(trace: Trace, block: Instance) -> list[Layer]:
    """The layers the block's ``__init__`` built for this instance, in the order they were built."""
    return [layer for layers in trace.source.built.values() for layer in layers if _built_in(layer, block)]


def _name_for(trace: Trace, value: int, layers: list[Layer], params: list[str]) -> str:
    """``value`` written with a parameter of the block's ``__init__`` that has it, else as a number."""
    for layer in layers:
        for name in params:
            if layer.scope.get(name) == value:
                return name
    return str(value)


# ---------------------------------------------------------------------- the fixes
def _projection_fix(trace: Trace, conv: Layer, tensor: Tensor, other: Tensor) -> Fix | None:
    """The shortcut's convolution makes the other branch's channels and size: its ``out_channels`` (and the
    norm after it), its ``stride``."""
    if not isinstance(conv.node, ast.Call) or getattr(conv.node, "_cnnshape_foreign", False) or conv.seen is None:
        return None
    edits: list[Edit] = []
    titles: list[str] = []
    changes: dict[str, Any] = {}
    block = _block_of(conv)
    init = _init_of(block) if block is not None else None
    params = [a.arg for a in init.args.args[1:]] if init is not None else []
    if tensor.shape[1] != other.shape[1]:
        wanted = other.shape[1]
        target = trace.argument_node(conv, "out_channels")
        if target is None:
            return None
        text = _name_for(trace, wanted, [conv], params) if len(copies_of(trace, conv)) > 1 or \
            not isinstance(target, ast.Constant) else str(wanted)
        edits.append(trace.replace(target, text))
        titles.append(f"out_channels of {describe(conv)} to {text}")
        changes["out_channels"] = wanted
        for norm in _norms_after(trace, conv):
            node = trace.argument_node(norm, "num_features")
            if node is not None:
                edits.append(trace.replace(node, text))
    if tensor.shape[2:] != other.shape[2:]:
        for stride in range(1, 5):
            out = _output(conv, {"stride": stride, **changes})
            if out is not None and tuple(out[2:]) == tuple(other.shape[2:]):
                break
        else:
            return None
        text = _name_for(trace, stride, [conv, *_block_layers(trace, block)] if block else [conv], params)
        node = trace.argument_node(conv, "stride")
        if node is not None:
            edits.append(trace.replace(node, text))
        else:
            edits.append(_append_keyword(trace, conv.node, "stride", text))
        titles.append(f"stride{'' if titles else f' of {describe(conv)}'} to {text}")
    if not edits:
        return None
    return trace.fix(f"Change {' and '.join(titles)}", *edits)


def _norms_after(trace: Trace, conv: Layer) -> list[Layer]:
    """The norms right after ``conv`` in the ``Sequential`` it is written in, sized as it makes."""
    made = conv.args.values.get("out_channels")
    call = conv.node
    found = []
    for layers in trace.source.built.values():
        for layer in layers:
            if NORM.match(layer.rule.op) and layer.args.values.get("num_features") == made \
                    and layer.built_in is not None and conv.built_in is not None \
                    and layer.built_in[2] is conv.built_in[2] and _next_sibling(trace, call, layer.node):
                found.append(layer)
                break
    return found


def _next_sibling(trace: Trace, first: ast.AST | None, second: ast.AST | None) -> bool:
    """``second`` is the argument after ``first`` in one call (``nn.Sequential(conv, bn)``)."""
    call = trace.source.call_around(first)
    if call is None:
        return False
    args = call.args
    return any(args[i] is first and args[i + 1] is second for i in range(len(args) - 1))


def _append_keyword(trace: Trace, call: ast.Call, name: str, text: str) -> Edit:
    """``name=text`` after the last argument, written as a change of that argument: the error that moves to
    the fix's place gets a range, not an empty one."""
    last = call.keywords[-1] if call.keywords else call.args[-1]
    return trace.replace(last, f"{trace.text(last)}, {name}={text}")


def _out_channels_fix(trace: Trace, conv: Layer, wanted: int) -> Fix | None:
    target = trace.argument_node(conv, "out_channels")
    if target is None or getattr(target, "_cnnshape_foreign", False):
        return None
    block = _block_of(conv)
    init = _init_of(block) if block is not None else None
    params = [a.arg for a in init.args.args[1:]] if init is not None else []
    text = _name_for(trace, wanted, [conv], params)
    if text == trace.text(target) or (text == str(wanted) and len(copies_of(trace, conv)) > 1):
        return None
    return trace.fix(f"Change out_channels of {describe(conv)} to {text}", trace.replace(target, text))


def _condition_fix(trace: Trace, block: Instance, expr: ast.expr) -> tuple[Span, Fix, str] | None:
    """``out + self.shortcut(x)`` (or ``out + identity`` after ``identity = self.downsample(x)``) where the
    shortcut is empty, and the projection is made only ``if stride != 1:``: the condition also asks whether
    the channels change. The ``if`` is looked for in the block's ``__init__``, then in the whole file (a
    torchvision ResNet makes ``downsample`` in ``_make_layer``)."""
    names = _shortcut_names(block, expr)
    if not names:
        return None
    init = _init_of(block)
    places = [init] if init is not None else []
    for place in [*places, trace.source.tree]:
        for statement in ast.walk(place):
            if not isinstance(statement, ast.If) or not any(_assigns(statement.body, n) for n in names):
                continue
            conv = _first_conv(statement.body)
            if conv is None or len(conv.args) < 2:
                return None
            cin, cout = trace.text(conv.args[0]), trace.text(conv.args[1])
            test = statement.test
            written = trace.text(test)
            if not cin or not cout or cin in written and cout in written:
                return None  # the condition already compares the channels: something else is wrong
            simple = isinstance(test, (ast.Compare, ast.Name, ast.Attribute, ast.Call)) or \
                isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or)
            new = f"{written if simple else f'({written})'} or {cin} != {cout}"
            fix = trace.fix(f"Project the shortcut when the channels change too: if {new}:",
                            trace.replace(test, new))
            return trace.span(test), fix, "the shortcut projects only when the stride changes"
    return None


def _flag_fix(trace: Trace, block: Instance, node: ast.AST | None, identity: Tensor,
              branch: Tensor) -> tuple[Span, Fix, str] | None:
    """``if self.use_res_connect: return x + self.conv(x)`` with ``self.use_res_connect = self.stride == 1``
    in ``__init__``: the flag also asks that the channels stay (``and inp == oup``)."""
    init = _init_of(block)
    if node is None or init is None:
        return None
    guard = next((s for s in ast.walk(block.cls.node) if isinstance(s, ast.If)
                  and any(n is node for b in s.body for n in ast.walk(b))), None)
    test = guard.test if guard is not None else None
    if not (isinstance(test, ast.Attribute) and isinstance(test.value, ast.Name) and test.value.id == "self"):
        return None
    made = next((s.value for s in ast.walk(init) if isinstance(s, ast.Assign) and any(
        isinstance(t, ast.Attribute) and t.attr == test.attr for t in s.targets)), None)
    if made is None:
        return None
    layers = _block_layers(trace, block)
    params = [a.arg for a in init.args.args[1:]]
    cin, cout = _name_for(trace, identity.shape[1], layers, params), _name_for(trace, branch.shape[1], layers, params)
    written = trace.text(made)
    if cin.isdigit() or cout.isdigit() or cin in written and cout in written:
        return None
    loose = isinstance(made, (ast.Compare, ast.Name, ast.Attribute, ast.Call)) or \
        isinstance(made, ast.BoolOp) and isinstance(made.op, ast.And)
    new = f"{written if loose else f'({written})'} and {cin} == {cout}"
    fix = trace.fix(f"Add the identity only where the channels stay: self.{test.attr} = {new}",
                    trace.replace(made, new))
    return trace.span(made), fix, f"self.{test.attr} does not ask whether the channels stay"


def _shortcut_names(block: Instance, expr: ast.expr) -> set[str]:
    """The names of the empty shortcut that ``expr`` applies (``self.shortcut(x)``), or that made the name
    ``expr`` is (``identity = self.downsample(x)``, run only where it is not None)."""
    calls = [expr] if isinstance(expr, ast.Call) else []
    if isinstance(expr, ast.Name):
        for node in ast.walk(block.cls.node):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) \
                    and any(isinstance(t, ast.Name) and t.id == expr.id for t in node.targets):
                calls.append(node.value)
    names = set()
    for call in calls:
        func = call.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self":
            module = block.modules.get(func.attr)
            if module is None or isinstance(module, Container) and not module.children:
                names.add(func.attr)
    return names


def _assigns(body: list[ast.stmt], name: str) -> bool:
    """``self.name = ...`` or ``name = ...`` among the statements."""
    return any(isinstance(s, ast.Assign) and any(
        isinstance(t, ast.Attribute) and t.attr == name and isinstance(t.value, ast.Name) and t.value.id == "self"
        or isinstance(t, ast.Name) and t.id == name for t in s.targets) for s in body)


def _first_conv(body: list[ast.stmt]) -> ast.Call | None:
    """The projection: a convolution, or a helper that makes one (``conv1x1(inplanes, planes, stride)``)."""
    for statement in body:
        for node in ast.walk(statement):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
                if CONV.match(name) or "conv" in name.lower() and "transpose" not in name.lower():
                    return node
    return None


def _new_shortcut_fix(trace: Trace, block: Instance, expr: ast.expr, identity: Tensor, branch: Tensor) -> Fix | None:
    """A block without a projection whose branch changes the channels: a 1x1 convolution as its shortcut,
    made at the end of ``__init__`` and applied to the identity in ``forward``."""
    init = _init_of(block)
    if init is None or not init.body or getattr(init, "_cnnshape_foreign", False) or trace.elsewhere(expr) \
            or not isinstance(expr, ast.Name):
        return None  # the identity is a name (``x``, ``identity``), not another branch's output
    layers = _block_layers(trace, block)
    convs = [layer for layer in layers if CONV.match(layer.rule.op) and isinstance(layer.node, ast.Call)]
    if not convs:
        return None
    rank = len(identity.shape) - 2
    func = trace.text(convs[0].node.func)
    op = convs[0].rule.op
    if not func.endswith(op) or op != f"Conv{rank}d":
        return None
    prefix = func[: -len(op)]
    attribute = next((n for n in ("shortcut", "downsample", "proj") if n not in block.modules
                      and f"self.{n}" not in trace.text(block.cls.node)), None)
    if attribute is None:
        return None
    params = [a.arg for a in init.args.args[1:]]
    cin = _name_for(trace, identity.shape[1], layers, params)
    cout = _name_for(trace, branch.shape[1], layers, params)
    stride = _stride_text(trace, identity, branch, convs, params)
    if stride is None:
        return None
    last = init.body[-1]
    end_line = last.end_lineno or last.lineno
    end = len(trace.source.line_text(end_line))
    indent = " " * trace.span(last).column
    made = f"self.{attribute} = {prefix}{op}({cin}, {cout}, 1{', ' + stride if stride else ''})"
    edits = [Edit(Span(end_line, end, end_line, end), f"\n{indent}{made}"),
             trace.replace(expr, f"self.{attribute}({trace.text(expr)})")]
    fix = trace.fix(f"Add a shortcut that projects {cin} to {cout} channels: {made}", *edits)
    fix.tentative = True  # the branch's last conv may be what is wrong instead: offered where the check chose it
    return fix


def _stride_text(trace: Trace, identity: Tensor, branch: Tensor, convs: list[Layer], params: list[str]) -> str | None:
    """The shortcut's stride: the name the branch's convolutions take theirs from, or the ratio of the sizes;
    "" where the sizes agree and no stride is a parameter; None where no one stride makes them agree."""
    for conv in convs:
        node = Trace.argument_node(conv, "stride")
        if isinstance(node, ast.Name) and node.id in params:
            return node.id
    for stride in range(1, 5):  # a 1x1 convolution with stride s makes (h - 1) // s + 1 of h
        if all((have - 1) // stride + 1 == want for have, want in zip(identity.shape[2:], branch.shape[2:])):
            return "" if stride == 1 else str(stride)
    return None
