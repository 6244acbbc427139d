"""Applying a ``torch.nn`` layer: its rule's shape, the error on the argument to change, the record."""

from __future__ import annotations

import ast
import re
from typing import Any

from .. import dims
from ..findings import Finding, Fix, Related
from ..fixes import blame_fix, keep_batch_fix
from ..fixes_size import definition_of, note_window
from ..layers import Args, Call, CannotTell, LayerRule, Out, ShapeError
from ..trace import Trace
from ..values import Container, Layer, Tensor, layer_params
from .record import Recorder, attempt, is_foreign
from .tensors import mark_swallowed


def apply_layer(rec: Recorder, layer: Layer, args: list[Any], kwargs: dict[str, Any], node: ast.Call | None,
                line: int, sequence: Container | None) -> Any:
    rule = layer.rule
    tensors = [a if isinstance(a, Tensor) else None for a in args]
    if kwargs:  # inputs passed by name (``attention(query=q, key=k, value=v)``)
        for key in ("input", "query", "key", "value", "input1", "input2"):
            if key in kwargs and isinstance(kwargs[key], Tensor):
                tensors.append(kwargs[key])
    first = next((t for t in tensors if t is not None), None)
    shapes: list[Out] = [t.shape if t is not None else None for t in tensors]
    call = Call(forward_args(layer, args, kwargs), shapes)
    if first is not None and first.shape is not None:
        layer.seen = first.shape
    rec.note_first_layer(layer, first)
    if first is not None and first.shape and rule.op == "Linear":
        rec.constrain(first.shape[-1], layer.args.values.get("in_features"),
                      f"{layer.path or 'Linear'}'s in_features={layer.args.values.get('in_features')}",
                      first.flat_from or ())
    out: Out = None
    finding: Finding | None = None
    swallowed = swallowed_batch(rec, layer, first) if rule.op == "Linear" else None
    if swallowed is not None:
        finding, out = swallowed
    elif first is not None and first.shape is not None:
        out, error = attempt(lambda: rule.shape(call))
        if error is not None:
            finding = layer_error(rec, error, layer, first, node, sequence, line)
            out = error.recover if not error.integer else as_integers(rule, call, error)
            if finding is not None and finding.in_other_file:
                out = None  # another file's layer cannot run: everything after it is unknown
    if first is not None and first.shape is not None:
        note_window(rec.trace, layer, node, sequence, first.shape, out)
    for note in call.notes:
        if layer.node is not None:
            rec.trace.note(layer.node, note)
    layer.resolved = call.resolved
    params = layer.params = layer_params(layer, call.resolved)
    result = rec.wrap(out, first, layer, finding)
    if rule.op == "Flatten" and isinstance(result, Tensor) and result.shape is not None and first is not None:
        start, end = layer.args.values.get("start_dim"), layer.args.values.get("end_dim")
        if isinstance(start, int) and start >= 0 and end == -1:
            result.flat_from = tuple(first.shape[start:])
            result.channels_from = first.producer if start == 1 else None
        mark_swallowed(result, first, layer.node)
    record_layer(rec, layer, call, first, result, node, line, params, finding)
    return result


def record_layer(rec: Recorder, layer: Layer, call: Call, first: Tensor | None, result: Any, node: ast.AST | None,
                 line: int, params: Any, finding: Finding | None) -> None:
    """The layer's record, and one for each leaf call inside a layer made of submodules."""
    rule = layer.rule
    parts = layer_parts(layer, first, finding)
    resolved = call.resolved
    rec.record(layer.path, rule.op, line, layer, [first] if first else [], result, node,
               explain=call.explain, params=params, formula=rule.formula,
               params_text_of=lambda: params_with_numbers(rule, layer.args, resolved, params,
                                                          layer.extra_params_text),
               leaf=parts is None, unknown_args=rec.unknown_arguments(layer))
    for name, op, shape_in, shape_out in parts or []:
        path = f"{layer.path}.{name}" if layer.path else None
        rec.record(path, op, line, layer, [Tensor(shape_in)], Tensor(shape_out), node)


def swallowed_batch(rec: Recorder, layer: Layer, first: Tensor | None) -> tuple[Finding | None, Out] | None:
    """A Linear after ``x.view(-1)``: the error is the flatten's (it took the batch too), and the fix
    keeps the batch; the run goes on with (batch, out_features)."""
    if first is None or first.swallowed is None or not first.flat_from or len(first.flat_from) < 2:
        return None
    want = layer.args.values.get("in_features")
    per_sample = dims.product(list(first.flat_from[1:]))
    if not isinstance(want, int) or isinstance(want, bool) or per_sample != want:
        return None
    out_features = layer.args.values.get("out_features")
    node = first.swallowed
    batch = first.flat_from[0]
    shape = first.shape or ()
    message = _swallowed_message(rec, layer, first, node, want, out_features)
    # a batch of one runs (and gives an output without its batch): a warning, not torch's error
    where = node
    if len(shape) == 2 and isinstance(node, ast.Call) and len(node.args) == 2:
        where = node.args[1]  # where a view's size is wrong in another pass: one finding for both
    severity = "warning" if batch == 1 else "error"
    finding = rec.trace.report(ShapeError("view-invalid", message), where, severity)
    finding.severity, finding.message = severity, message  # the view's warning, now that a Linear fails
    fix = keep_batch_fix(rec.trace, node)
    if fix is not None and not finding.fixes:
        finding.fixes = [fix]
    return finding, (batch, out_features)


def _swallowed_message(rec: Recorder, layer: Layer, first: Tensor, node: ast.AST, want: int,
                       out_features: Any) -> str:
    batch = first.flat_from[0]
    shape = first.shape or ()
    if len(shape) == 2:  # view(-1, 640) of (2, 320): rows of two samples each
        rows, cols = dims.to_text(shape[0]), dims.to_text(shape[1])
        return (f"mat1 and mat2 shapes cannot be multiplied ({rows}x{cols} and {want}x"
                f"{dims.to_text(out_features)}): {rec.trace.text(node)} mixes the samples, so the batch "
                f"of {dims.to_text(batch)} becomes {rows} row{'' if rows == '1' else 's'} of {cols} values")
    total = dims.product(list(first.flat_from))
    rows = str(total) if isinstance(total, int) else f"({total})"
    return (f"mat1 and mat2 shapes cannot be multiplied (1x{rows} and {want}x"
            f"{dims.to_text(out_features)}): {rec.trace.text(node)} flattens the batch too, so "
            f"{layer.path or 'the Linear'} gets one row of {rows} values")


def forward_args(layer: Layer, args: list[Any], kwargs: dict[str, Any]) -> Args:
    """Constructor arguments, plus what a few layers also take in ``forward`` (MaxUnpool's output_size)."""
    if layer.rule.op.startswith("MaxUnpool"):
        size = kwargs.get("output_size", args[2] if len(args) > 2 else None)
        if size is not None:
            return Args(layer.args.op, {**layer.args.values, "output_size": size})
    return layer.args


def layer_parts(layer: Layer, first: Tensor | None, finding: Finding | None) -> list | None:
    """The leaf calls inside a layer made of submodules; None for a true leaf."""
    if layer.rule.parts is None:
        return None
    shape = first.shape if first is not None and first.shape is not None and finding is None else None
    try:
        # with an unknown input, list the calls all the same, their shapes unknown
        parts = layer.rule.parts(layer.args, shape if shape is not None else (None,))
    except (CannotTell, TypeError, AttributeError):
        return []
    if shape is None:
        return [(name, op, None, None) for name, op, _, _ in parts]
    return parts


def layer_error(rec: Recorder, error: ShapeError, layer: Layer, first: Tensor, node: ast.Call | None,
                sequence: Container | None, line: int = 0) -> Finding | None:
    if first.taint is not None:
        extra = blame_fix(rec.trace, error, layer, first)
        named = definition_of(rec.trace, rec.trace.argument_node(layer, error.blame) if error.blame else None)
        if named is not None and first.taint.fixes and any(e.span == rec.trace.span(named)
                                                           for e in first.taint.fixes[0].edits):
            extra = None  # Linear(self.num_flat, ...): the view's fix changed the name's value already
        if extra is not None and first.taint.fixes:
            fix = first.taint.fixes[0]
            written = {edit.span: edit.new_text for edit in fix.edits}
            if any(written.get(edit.span, edit.new_text) != edit.new_text for edit in extra.edits):
                del first.taint.fixes[0]  # copies of one layer would need different values: no one fix
            elif any(edit.span not in written for edit in extra.edits):
                fix.edits.extend(edit for edit in extra.edits if edit.span not in written)
                fix.title += f"; change {layer.path or layer.rule.op}'s {error.blame} to match"
                agrees_with(rec.trace, first.taint, layer, error, extra)
        return None
    where = (rec.trace.argument_node(layer, error.blame) if error.blame else None) or layer.node or node
    if where is None:
        return None
    anchor = None
    if rec.trace.elsewhere(where) is not None and rec.trace.anchor is None:
        # another file built it and this file applies it (a Sequential a helper there made)
        anchor = rec.trace.span(node) if node is not None and not is_foreign(node) else \
            rec.trace.line_span(line) if line else None
    finding = rec.trace.report(error, where, anchor=anchor)
    finding.layer_path = layer.path
    if not finding.fixes:
        rec.defer(finding, error, layer, first, node, sequence)
    return finding


def agrees_with(trace: Trace, finding: Finding, layer: Layer, error: ShapeError, fix: Fix) -> None:
    """The layer after a wrong view (``Linear(1568, ...)`` after ``view(-1, 1568)``) was written to agree
    with it: one error, the view's, whose fix changes both; the layer is shown as a related place."""
    edit = fix.edits[0]
    if edit.path is not None or any(r.path is None and r.span == edit.span for r in finding.related):
        return
    value = layer.args.values.get(error.blame) if error.blame else None
    finding.related.append(Related(None, edit.span, f"{layer.path or layer.rule.op}'s {error.blame} ({value}) "
                                   "agrees with the view: the fix changes both"))


def as_integers(rule: LayerRule, call: Call, error: ShapeError) -> Out:
    """The output once each float size is an int (the fix's ``//``): the run goes on as if it were applied."""
    values = dict(call.args.values)
    for _ in range(len(values)):
        if error.blame is None or not error.integer:
            return error.recover
        values[error.blame] = _floored(values.get(error.blame))
        out, again = attempt(lambda: rule.infer(Call(Args(call.args.op, values), call.inputs)))
        if again is None:
            return out
        error = again
    return None


def _floored(value: Any) -> Any:
    if isinstance(value, float):
        return int(value // 1)
    if isinstance(value, (list, tuple)):
        return type(value)(_floored(v) for v in value)
    return value


def weight_rows(layer: Layer) -> Any:
    """The size of dim 0 of a layer's ``weight``, or None where it has none the analysis knows."""
    shape = layer.rule.weights(layer.args, "weight") if layer.rule.weights is not None else None
    value = shape[0] if shape else None
    return value if isinstance(value, (int, dims.Expr)) and not isinstance(value, bool) else None


def reparametrise(name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
    """``weight_norm(layer)``, ``spectral_norm(layer)``: the same layer, shapes unchanged.

    ``spectral_norm`` keeps the parameter count (its ``u``/``v`` are buffers); ``weight_norm``
    adds the magnitude ``weight_g``, one value per slice along ``dim`` of the weight.
    """
    layer = args[0]
    if not isinstance(layer, Layer) or name != "weight_norm":
        return layer
    weight = kwargs.get("name", args[1] if len(args) > 1 else "weight")
    dim = kwargs.get("dim", args[2] if len(args) > 2 else 0)
    rows = weight_rows(layer) if weight == "weight" else None
    extra: Any = 1 if dim is None else rows if dim == 0 and not isinstance(dim, bool) else None
    layer.extra_params = extra
    layer.extra_params_text = f"+ {dims.to_text(extra)} (weight_norm weight_g)" if extra is not None else ""
    return layer


PARAM_NAME = re.compile(r"prod\((\w+)\)|\b([a-z][a-z0-9_]*)\b")


def params_with_numbers(rule: LayerRule, args: Args, resolved: dict, total: Any, extra: str = "") -> str:
    """The parameter formula with the numbers put in: ``6*(3/1)*5*5 + 6 (bias) = 456``."""
    text = rule.params_text + (f" {extra}" if extra and rule.params_text else "")
    if not text or text == "0" or total is None:
        return text
    values = {**args.values, **resolved}

    def number(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        value = values.get(name)
        if match.group(1):
            if isinstance(value, int) and not isinstance(value, bool):  # kernel_size=5 of a Conv2d is 5x5
                value = (value,) * next((int(c) for c in rule.op if c.isdigit()), 1)
            items = value if isinstance(value, (list, tuple)) else None
            return "*".join(str(v) for v in items) if items else match.group(0)
        if isinstance(value, (list, tuple)):
            return "*".join(str(v) for v in value)
        if isinstance(value, (int, dims.Expr)) and not isinstance(value, bool):
            return dims.to_text(value)
        return name

    head, _, note = text.partition(" (")
    filled = PARAM_NAME.sub(number, head)
    if filled == head:
        return f"{text} = {dims.to_text(total)}"
    return f"{filled}{' (' + note if note else ''} = {dims.to_text(total)}"
