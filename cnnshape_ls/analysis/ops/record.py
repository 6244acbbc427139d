"""What a run records of the calls it makes, and the fixes it writes when it ends.

The one place where a shape function's ``CannotTell`` and ``ShapeError`` are told apart (:func:`attempt`),
where an op's error is reported once (:meth:`Recorder.op`) and where the fixes of a run's errors are
written (:meth:`Recorder.finish`).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable
from typing import Any

from .. import dims
from ..findings import Finding, Fix, LayerRecord
from ..fixes import copies_of, drop_cascades, fixes_for_layer, one_cause, relocate
from ..fixes_map import show_places
from ..fixes_producer import note_cat_block, note_flattened_producer, note_producer
from ..fixes_size import narrow_to_argument
from ..layers import UNKNOWN, CannotTell, Out, ShapeError
from ..trace import Constraint, Trace
from ..unknowns import has_unknown, unknown_arguments
from ..values import Container, Layer, Module, Tensor

SIZE_ARGS = ("in_features", "in_channels", "num_features", "normalized_shape", "num_channels", "input_size",
             "embed_dim", "d_model", "in1_features")
"""The arguments whose place in the source a finding may point at (``LayerRecord.arg_spans``)."""


class FirstLayerFound(Exception):
    """Ends a probe run: the first layer is known (``trace.first_layer``)."""


class ConstraintFound(Exception):
    """Ends a symbolic run that solves for the input: a size pins down the input's spatial symbols."""

    def __init__(self, constraint: Constraint) -> None:
        super().__init__(constraint.where)
        self.constraint = constraint


def attempt(shape_of: Callable[[], Any]) -> tuple[Any, ShapeError | None]:
    """Run a shape function: its result, or None where it cannot tell, or None and torch's error."""
    try:
        return shape_of(), None
    except CannotTell:
        return None, None
    except ShapeError as error:
        return None, error


def is_foreign(node: Any) -> bool:
    """A node of another file (an imported block): its line numbers are not this buffer's."""
    return getattr(node, "_cnnshape_foreign", False)


def shapes_of(result: Any) -> list:
    if isinstance(result, Tensor):
        return [result.shape]
    if isinstance(result, tuple):
        out: list = []
        for item in result:
            out.extend(shapes_of(item))
        return out
    return []


def _any_unknown(values: Iterable[Any]) -> bool:
    """Any of a layer's arguments unknown, or a tuple with an unknown in it (a loop: every layer asks)."""
    for value in values:
        if value is UNKNOWN or type(value) in (tuple, list) and has_unknown(value):
            return True
    return False


def unknown_result(args: list[Any]) -> Any:
    """What a call the analysis does not model gives: an unknown tensor where one went in."""
    return Tensor(None) if any(isinstance(a, Tensor) for a in args) else UNKNOWN


class Recorder:
    """One run's record: layer applications, the errors of ops, and the fixes written when it ends."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.batch_symbol: str | None = None
        self.anchor: int | None = None
        """While running code of an imported file: the line of this file that called it."""
        self.probing = False
        """Stop at the first layer ``forward`` applies: it is all a probe for the input's rank needs."""
        self.solving_for: frozenset[str] | None = None
        """Stop at the first size that pins down only these input symbols: solving needs no more of the run."""
        self.running: list[str | None] = []
        """The module paths of the user's modules whose ``forward`` runs, innermost last."""
        self.deferred: list[tuple] = []
        """Layer errors whose fixes are written when the run ends (see :meth:`finish`)."""
        self.op_fixes: dict[int, tuple[Finding, list[tuple[Fix | None, list]]]] = {}
        """An op's error (a view's) with the fix each pass through it asked for: kept only if all agree."""
        self.op_fallbacks: dict[int, Fix] = {}
        """A fix right for every pass, offered where the literal one is not (``y.flatten(1)``)."""
        self.op_ok: set[int] = set()
        """Ops (by node) that ran without error in some pass: a fix for another pass would break that one."""
        self.unknown_why: dict[int, tuple[str, ...]] = {}
        """Each layer's unknown arguments and why (:func:`unknowns.unknown_arguments`), found once per layer."""

    def unknown_arguments(self, layer: Layer) -> tuple[str, ...]:
        if not self.trace.recording:
            return ()
        found = self.unknown_why.get(id(layer))  # a layer is recorded in every run and every pass of a loop
        if found is None:
            unknown = _any_unknown(layer.args.values.values())
            found = self.unknown_why[id(layer)] = unknown_arguments(self.trace, layer) if unknown else ()
        return found

    # ------------------------------------------------------------------ records
    def record(self, path: str | None, op: str, line: int, module: Module | None, args: list[Any], result: Any,
               node: ast.AST | None, leaf: bool = True, explain: list[str] | None = None,
               params: Any = None, formula: str = "", params_text_of: Callable[[], str] | None = None,
               unknown_args: tuple[str, ...] = ()) -> None:
        if not self.trace.recording:
            return
        first = next((a for a in args if isinstance(a, Tensor)), None)
        outputs = shapes_of(result)
        foreign = self.anchor is not None or is_foreign(node) or (module is not None and is_foreign(module.node))
        if foreign:
            line = self.anchor or line  # another file's lines are not this buffer's
            node = None
            module = None
        span = self.trace.span(node) if node is not None else None
        self.trace.records.append(LayerRecord(
            path=path, op=op, line=line,
            def_line=getattr(module.node, "lineno", None) if module is not None and module.node is not None else None,
            input=first.shape if first else None, output=outputs[0] if outputs else None, params=params,
            formula=formula, explain=list(explain or []), params_text_of=params_text_of, outputs=tuple(outputs),
            column=span.column if span and span.line == line else 0,
            end_column=span.end_column if span and span.line == line and span.end_line == line else 0,
            leaf=leaf, arg_spans={} if foreign else self.arg_spans(module), unknown_args=unknown_args,
            owner=self.running[-1] if self.running else None))

    def arg_spans(self, module: Module | None) -> dict:
        if not isinstance(module, Layer):
            return {}
        if module.arg_spans is not None:  # the same layer in every run and every pass of a loop
            return module.arg_spans
        spans = module.arg_spans = {}
        signature = module.rule.signature
        for name in SIZE_ARGS:
            if name in signature:
                node = self.trace.argument_node(module, name)
                if node is not None:
                    spans[name] = self.trace.span(node)
        return spans

    def op_name(self, node: ast.AST | None) -> str:
        if isinstance(node, ast.Call):
            return self.trace.text(node.func) or "op"
        if isinstance(node, ast.Subscript):  # ``x[:, :64]`` names itself, shortened like a table cell
            text = " ".join(self.trace.text(node).split())
            return text if len(text) <= 24 else text[:23] + "…"
        return "op"

    def record_op(self, node: ast.AST | None, args: list[Any], result: Any) -> Any:
        if node is not None:
            self.record(None, self.op_name(node), getattr(node, "lineno", 0), None, args, result, node)
        return result

    def report(self, error: ShapeError, where: ast.AST | None, taint: Finding | None) -> Finding | None:
        """torch's error where the input is not already wrong because of another (then it is that one's)."""
        if where is None or taint is not None:
            return None
        return self.trace.report(error, where)

    def op(self, node: ast.Call | None, x: Tensor, fn, keep_flat: bool = False, error_at: ast.AST | None = None,
           make_fix=None) -> Any:
        """Apply a pure shape function to a tensor, reporting its error once, and record it."""
        if x.shape is None:
            return self.record_op(node, [x], Tensor(None, taint=x.taint))
        finding = None
        where = error_at or node
        ran = []  # the shape function ran to its end (not CannotTell): this pass needs no fix

        def shape_of() -> Any:
            shape = fn(x.shape)
            ran.append(True)
            return shape
        shape, error = attempt(shape_of)
        if ran and make_fix is not None and where is not None:
            self.op_ok.add(id(where))
        if error is not None:
            finding = self.report(error, where, x.taint)
            # an op of another file: what follows it there is unknown, so no fix here can be checked whole
            if finding is not None and make_fix is not None and not finding.in_other_file:
                self.note_op_fix(finding, where, x, make_fix)
            shape = make_fix.recover(x) if finding is not None and make_fix is not None \
                and hasattr(make_fix, "recover") and not finding.in_other_file else None  # another file's: unknown
        result = Tensor(shape, taint=finding if finding is not None else x.taint)
        if keep_flat and shape == x.shape:
            result.keep_flatten_of(x)
        return self.record_op(node, [x], result)

    def note_op_fix(self, finding: Finding, where: ast.AST, x: Tensor, make_fix) -> None:
        """The fix this pass asks for; :meth:`finish` keeps it only if every pass asked for the same."""
        fix = make_fix(x)
        seen = self.op_fixes.setdefault(id(where), (finding, []))[1]
        seen.append((fix, list(fix.edits) if fix is not None else []))
        if hasattr(make_fix, "per_sample_fix") and id(where) not in self.op_fallbacks:
            fallback = make_fix.per_sample_fix()
            if fallback is not None:
                self.op_fallbacks[id(where)] = fallback
        if fix is not None and not finding.fixes:
            finding.fixes.append(fix)
            if hasattr(make_fix, "map_fixes"):  # the first pass: a window that made the map the wrong size
                finding.fixes += make_fix.map_fixes(x)
                show_places(finding)

    # ------------------------------------------------------------------ what follows a layer
    def wrap(self, out: Out, source: Tensor | None, producer: Layer | None, finding: Finding | None) -> Any:
        # a view's recovery is a guess at the user's intent: what follows from it belongs to that error
        if finding is not None and finding.code == "view-invalid":
            taint: Finding | None = finding
        else:
            taint = source.taint if source else None
        if out is None:
            return Tensor(None, taint=taint)
        if isinstance(out, tuple) and out and all(isinstance(o, tuple) or o is None for o in out) \
                and any(isinstance(o, tuple) for o in out):
            return tuple(self.wrap(o, source, producer, finding) for o in out)
        tensor = Tensor(tuple(out), taint=taint, producer=producer)
        if source is not None and out == source.shape and (producer is None or producer.rule.keeps_shape):
            tensor.keep_flatten_of(source)
            tensor.producer = source.producer
        elif source is not None and producer is not None and producer.rule.keeps_channels \
                and source.shape is not None and len(out) == len(source.shape) > 1 and out[1] == source.shape[1]:
            tensor.producer = source.producer  # a pool keeps the channels: they are still the conv's before it
            tensor.joined = source.joined
        return tensor

    def note_first_layer(self, layer: Layer, first: Tensor | None) -> None:
        """The first layer applied to the input itself tells its rank and channels; after a reshape,
        a transpose or on another argument it does not."""
        if not self.trace.first_applied and first is not None:
            self.trace.first_applied = True
            self.trace.first_layer = layer if first.is_input else None
            if self.probing:
                raise FirstLayerFound()

    def constrain(self, size: Any, value: Any, where: str, factors: tuple = ()) -> None:
        """Remember a size the model pins down while the input's spatial size is a symbol; ``factors``
        are the sizes it is the product of (each must come out positive)."""
        if isinstance(size, dims.Expr) and isinstance(value, int) and not isinstance(value, bool):
            constraint = Constraint(size, value, where, factors)
            self.trace.constraints.append(constraint)
            names = size.symbols()
            if self.solving_for is not None and names and names <= self.solving_for:
                raise ConstraintFound(constraint)

    # ------------------------------------------------------------------ the end of a run
    def defer(self, finding: Finding, error: ShapeError, layer: Layer, first: Tensor, node: ast.AST | None,
              sequence: Container | None) -> None:
        self.deferred.append((finding, error, layer, first, node, sequence))

    def finish(self) -> None:
        """Write the fixes of this run's layer errors, now that every copy of each layer has run."""
        for finding, error, layer, first, node, sequence in self.deferred:
            if not finding.fixes:
                siblings = copies_of(self.trace, layer)
                finding.fixes = fixes_for_layer(self.trace, error, layer, first, node, sequence, siblings)
                if error.code == "output-too-small":
                    narrow_to_argument(self.trace, finding, layer)
                note_producer(self.trace, finding, error, layer, first)
                note_cat_block(self.trace, finding, error, layer, first)
                note_flattened_producer(self.trace, finding, error, layer, first)
                show_places(finding)
        one_cause(self.trace, self.deferred)
        for finding, *_ in self.deferred:
            relocate(self.trace, finding)
            for fix in finding.fixes:  # a fix of another file says which, in its title too
                places = sorted({f"{self.trace.shown(e.path)}, line {e.span.line}" for e in fix.edits if e.path})
                if places and not fix.title.endswith(f"({'; '.join(places)})"):
                    fix.title += f" ({'; '.join(places)})"
        drop_cascades(self.trace, self.deferred)
        self.deferred.clear()
        for node_id, (finding, wanted) in self.op_fixes.items():
            # a view in a block used with several shapes: one literal cannot fit every pass
            if node_id in self.op_ok or any(f is None or own != wanted[0][1] for f, own in wanted):
                finding.fixes = [f for f in finding.fixes if all(f is not w for w, _ in wanted)]
                fallback = self.op_fallbacks.get(node_id)
                if fallback is not None and all(f.checked for f in finding.fixes):
                    finding.fixes.insert(0, fallback)  # before a window's fix (checked, maybe dropped)
        self.op_fixes.clear()
        self.op_fallbacks.clear()
