"""Quick fixes, written in the user's style.

A size that follows a flatten, or that was written as a product, is written
back as a product (``16 * 6 * 6``); anything else as a plain number. The first
fix of a finding is the preferred one: applying it must give code torch runs.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from . import dims, fixes_map, fixes_size
from .findings import Edit, Finding, Fix, Span
from .fixes_cat import cat_call_site_fix
from .layers import RULES, Args, Call, CannotTell, ShapeError
from .tensor_ops import broadcast
from .trace import Trace
from .values import Container, Layer, Tensor


def product_text(factors: tuple | list) -> str:
    return " * ".join(str(f) for f in factors)


def size_text(value: Any, factors: tuple | None, old: ast.AST | None) -> str:
    """``value`` as the user would write it here."""
    if isinstance(value, tuple):
        return "(" + ", ".join(str(v) for v in value) + (",)" if len(value) == 1 else ")")
    wants_product = isinstance(old, ast.BinOp) and isinstance(old.op, ast.Mult) or factors is not None
    if wants_product and factors and len(factors) > 1 and all(isinstance(f, int) for f in factors) \
            and dims.product(list(factors)) == value:
        return product_text(factors)
    return str(value)


def blame_fix(trace: Trace, error: ShapeError, layer: Layer, first: Tensor,
              siblings: list[Layer] | None = None) -> Fix | None:
    """Change the blamed constructor argument to the value that fits the input.

    A constructor that runs several times (a block, a loop) needs a value right for every copy:
    a number where they all agree, else a name in scope that fits each (``cout``), else no fix."""
    if not error.blame or error.expected is None:
        return None
    node = trace.argument_node(layer, error.blame)
    if node is None:
        return None
    others = [s for s in siblings or [] if s is not layer and s.seen is not None]
    written_values = {repr(s.args.values.get(error.blame)) for s in siblings or [layer]}
    varying = len(written_values) > 1  # the copies were built with different values: no one number fits
    literal_fits = not varying and all(_fits(s, error.blame, error.expected) for s in others)
    # code written with names (512 * block.expansion + 1) stays written with names where one fits
    parametric = any(isinstance(n, (ast.Name, ast.Attribute)) for n in ast.walk(node))
    named = _named_fix(trace, error, layer, node, others) if parametric or not literal_fits else None
    if named is not None:
        return named
    if literal_fits:
        factors = first.flat_from if error.blame in ("in_features",) else None
        text = _channels_kept(trace, node, layer.args.values.get(error.blame), factors, error.expected) \
            or size_text(error.expected, factors, node)
        shown = f"{error.expected} ({text})" if text != str(error.expected) else text
        return trace.fix(f"Change {error.blame} to {shown}", trace.replace(node, text))
    return None


def _channels_kept(trace: Trace, node: ast.AST, written: Any, factors: tuple | None, value: Any) -> str:
    """``hidden * 7 * 7`` for ``Linear(hidden, ...)`` after a flatten of (hidden, 7, 7): the expression the
    size was written with is the channels, and the spatial sizes were forgotten. Empty where it is not."""
    if not factors or len(factors) < 2 or not all(isinstance(f, int) for f in factors) or written != factors[0] \
            or dims.product(list(factors)) != value or isinstance(node, ast.Constant):
        return ""
    text = trace.text(node)
    loose = isinstance(node, (ast.Name, ast.Attribute, ast.Call, ast.Subscript)) or \
        isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.FloorDiv))
    return " * ".join([text if loose else f"({text})", *(str(f) for f in factors[1:])])


def _named_fix(trace: Trace, error: ShapeError, layer: Layer, node: ast.AST, others: list[Layer]) -> Fix | None:
    """A name or part of the written expression that has the right value in every copy of the layer."""
    written = trace.text(layer.node) if layer.node is not None else ""
    names = sorted((n for n, v in layer.scope.items() if v == error.expected),
                   key=lambda n: (n not in written, n.startswith("self."), -len(n) if n in written else 0, n))
    current = trace.text(node)
    for name in names:
        if name == current:
            continue  # that is what is written: changing it to itself fixes nothing
        if all(name in s.scope and _fits(s, error.blame, s.scope[name]) for s in others):
            return trace.fix(f"Change {error.blame} to {name}", trace.replace(node, name))
    return None


def _fits(layer: Layer, name: str, value: Any) -> bool:
    """Whether ``layer`` would accept the input it saw with ``name`` set to ``value``."""
    args = Args(layer.args.op, {**layer.args.values, name: value})
    try:
        layer.rule.infer(Call(args, [layer.seen]))
    except ShapeError:
        return False
    except CannotTell:
        return True
    return True


def describe(layer: Layer) -> str:
    """``fc1``, or ``layer 0 (Conv2d)`` where the name is only a Sequential index."""
    path = layer.path
    if not path:
        return layer.rule.op
    if path.rsplit(".", 1)[-1].isdigit():
        return f"layer {path} ({layer.rule.op})"
    return path


def producer_fix(trace: Trace, error: ShapeError, layer: Layer, first: Tensor) -> Fix | None:
    """The alternative: make the previous layer produce what this one expects."""
    producer = first.producer
    if producer is None or producer is layer or error.blame is None or _built_often(trace, producer):
        return None
    arg = producer.rule.producer_arg
    wanted = layer.args.values.get(error.blame)
    if arg is None or not isinstance(wanted, int) or isinstance(wanted, bool):
        return None
    if error.code == "linear-in-features" and arg != "out_features":
        return None
    if error.code in ("conv-in-channels", "norm-num-features") and arg != "out_channels":
        return None
    return _change_argument(trace, producer, arg, wanted)


def _change_argument(trace: Trace, producer: Layer, arg: str, wanted: int) -> Fix | None:
    node = trace.argument_node(producer, arg)
    if node is None or getattr(node, "_cnnshape_foreign", False):
        return None
    return trace.fix(f"Change {arg} of {describe(producer)} to {wanted}", trace.replace(node, str(wanted)))


def _size_argument(producer: Layer, code: str) -> str | None:
    """The argument that sets what ``producer`` makes, if it is the kind of size ``code`` is about:
    features (a Linear's out_features) for a Linear's error, channels (out_channels) for any other."""
    arg = producer.rule.producer_arg
    if arg is None or (arg != "out_features" if code == "linear-in-features" else arg != "out_channels"):
        return None
    return arg


def flatten_fix(trace: Trace, layer: Layer, first: Tensor, call: ast.Call | None,
                sequence: Container | None) -> Fix | None:
    """A Linear fed an image tensor: insert the flatten the model forgot."""
    shape = first.shape
    if shape is None or len(shape) <= 2 or layer.rule.op != "Linear":
        return None
    features = shape[1:]
    if not all(isinstance(d, int) for d in features):
        return None
    total = dims.product(list(features))
    if len(shape) == 3 and total != layer.args.values.get("in_features"):
        return None  # (batch, sequence, features) is a Linear's usual input: its in_features is wrong
    edits = []
    in_sequence = isinstance(sequence.node, ast.Call) and any(a is layer.node for a in sequence.node.args) \
        if sequence is not None else False
    if in_sequence:
        func = trace.text(layer.node.func) if isinstance(layer.node, ast.Call) else ""
        prefix = func[: -len("Linear")] if func.endswith("Linear") else None
        if prefix is None or (prefix == "" and "Flatten" not in trace.source.text):
            return None
        edits.append(trace.insert_before(layer.node, f"{prefix}Flatten(), "))
    elif isinstance(call, ast.Call) and call.args and not isinstance(call.args[0], ast.Starred):
        arg = call.args[0]
        edits.append(trace.replace(arg, f"{trace.text(arg)}.flatten(1)"))
    else:
        return None
    want = layer.args.values.get("in_features")
    if want != total:
        node = trace.argument_node(layer, "in_features")
        if node is None:
            return None
        edits.append(trace.replace(node, product_text(features)))
    return trace.fix(f"Flatten the input of {describe(layer)} to ({dims.to_text(shape[0])}, {total})", *edits)


RANKED = re.compile(r"^(BatchNorm|InstanceNorm|LazyBatchNorm|LazyInstanceNorm|Dropout)([123])d$")


def rank_fix(trace: Trace, layer: Layer, first: Tensor) -> Fix | None:
    """``BatchNorm1d`` fed an image: the variant of the layer made for the input's rank (these layers keep
    the shape, so nothing after them changes)."""
    found = RANKED.match(layer.rule.op)
    shape = first.shape
    if found is None or shape is None or not isinstance(layer.node, ast.Call):
        return None
    for n in (1, 2, 3):
        variant = f"{found.group(1)}{n}d"
        rule = RULES.get(variant)
        if rule is None or variant == layer.rule.op or not (len(shape) == n + 2 or (n == 1 and len(shape) == 2)):
            continue
        try:
            rule.infer(Call(rule.bind([], dict(layer.args.values)), [shape]))
        except (ShapeError, CannotTell, TypeError):
            continue
        func = layer.node.func
        text = trace.text(func)
        if not text.endswith(layer.rule.op):
            return None
        return trace.fix(f"Use {variant} for this {len(shape)}-D input",
                         trace.replace(func, text[: -len(layer.rule.op)] + variant))
    return None


def fixes_for_layer(trace: Trace, error: ShapeError, layer: Layer, first: Tensor, call: ast.Call | None,
                    sequence: Container | None, siblings: list[Layer] | None = None) -> list[Fix]:
    fixes: list[Fix] = []
    # a layer of an imported block gets its fixes too: their edits name that file (``Edit.path``), and
    # are offered as actions the user picks, never applied by fix-all
    if error.integer:
        fix = integer_fix(trace, error, layer)
        return [fix] if fix is not None else []
    if error.code == "rank-mismatch":
        fix = rank_fix(trace, layer, first)
        return [fix] if fix is not None else []
    if error.code == "output-too-small":
        return fixes_map.output_too_small(trace, layer)
    if error.code == "linear-in-features":
        flat = flatten_fix(trace, layer, first, call, sequence)
        if flat is not None:
            return [flat]
    cat = None
    if trace.elsewhere(layer.node) is not None:
        # an imported block's layer: where this file's builder gives the size (``ConvBlock(8, 32)``), that
        # argument is the fix; the block's own code changes only where the size is written there as a number
        node = trace.argument_node(layer, error.blame) if error.blame else None
        written_here = node is not None and any(isinstance(n, ast.Name) for n in ast.walk(node))
        fix = call_site_fix(trace, error, layer) or (None if written_here else blame_fix(trace, error, layer, first,
                                                                                             siblings))
    else:
        # a block built after a cat: its call's argument, never the block's own conv; after the branches'
        # guesses (one of the cat's parts may be what is wrong), the checker takes the first that works
        cat = cat_call_site_fix(trace, error, layer, first)
        fix = None if cat is not None else blame_fix(trace, error, layer, first, siblings) \
            or call_site_fix(trace, error, layer)
    if fix is not None:
        fixes.append(fix)
    if len([s for s in siblings or [] if s.seen is not None]) <= 1:  # one copy: its neighbour may change
        fix = producer_fix(trace, error, layer, first)
        if fix is not None:
            fixes.append(fix)
    fix = written_like_fix(trace, error, layer, first)
    if fix is not None:
        fixes.append(fix)
    fix = swap_fix(trace, error, layer, first)
    if fix is not None:
        fixes.append(fix)
    fixes += branch_fixes(trace, error, layer, first)
    if cat is not None:
        fixes.append(cat)
    if error.code == "linear-in-features":
        pools, channels_alone = fixes_size.global_pool_fixes(trace, layer, first.flat_from)
        # first where the Linear takes the channels alone: a global pool was meant
        fixes = [*pools, *fixes] if channels_alone else [*fixes, *pools]
        if not channels_alone:  # a window (a pool's stride) that made the map the wrong size
            want = layer.args.values.get("in_features")
            windows, evident = fixes_map.map_fixes(trace, first.flat_from, want, describe(layer))
            for same in (f for f in fixes for w in windows if f.edits == w.edits and f.shows is None):
                same.shows = next(w.shows for w in windows if w.edits == same.edits)  # a global pool's kernel
            windows = [w for w in windows if all(f.edits != w.edits for f in fixes)]
            fixes = [*windows, *fixes] if evident else [*fixes, *windows]
    return fixes


def integer_fix(trace: Trace, error: ShapeError, layer: Layer) -> Fix | None:
    """A size written with ``/`` (a float in Python 3): the same with ``//``; a float from elsewhere that
    holds a whole number: ``int(...)`` of it."""
    node = trace.argument_node(layer, error.blame) if error.blame else None
    if node is None:
        return None
    divisions = [n for n in ast.walk(node) if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Div)]
    if len(divisions) == 1:
        left, right = trace.span(divisions[0].left), trace.span(divisions[0].right)
        origin = trace.elsewhere(node)
        source = origin.source if origin is not None else trace.source
        if left.end_line == right.line:
            between = source.line_text(left.end_line)[left.end_column:right.column]
            slash = between.find("/")
            if slash >= 0 and between.count("/") == 1:
                column = left.end_column + slash
                return trace.fix(f"Divide with // to keep {error.blame} an int",
                                 Edit(Span(left.end_line, column, left.end_line, column + 1), "//",
                                      origin.path if origin is not None else None))
    value = layer.args.values.get(error.blame)
    if isinstance(value, float) and value.is_integer() and not divisions:
        text = trace.text(node)
        return trace.fix(f"Make {error.blame} an int: int({text})", trace.replace(node, f"int({text})"))
    return None


def swap_fix(trace: Trace, error: ShapeError, layer: Layer, first: Tensor) -> Fix | None:
    """``Conv2d(64, 32)`` given 32 channels may be ``Conv2d(32, 64)`` with its sizes swapped. Only a guess:
    offered where applying it leaves no error further on (:mod:`checking`)."""
    if error.code != "conv-in-channels" or first.shape is None or len(first.shape) < 2:
        return None
    given, made = layer.args.values.get("in_channels"), layer.args.values.get("out_channels")
    if not isinstance(made, int) or made != first.shape[1] or given == made:
        return None
    in_node, out_node = trace.argument_node(layer, "in_channels"), trace.argument_node(layer, "out_channels")
    if in_node is None or out_node is None or getattr(in_node, "_cnnshape_foreign", False):
        return None
    in_text, out_text = trace.text(in_node), trace.text(out_node)
    if not in_text or not out_text:
        return None
    fix = trace.fix(f"Swap in_channels and out_channels: {out_text}, {in_text}",
                    trace.replace(in_node, out_text), trace.replace(out_node, in_text))
    fix.tentative = True
    return fix


def written_like_fix(trace: Trace, error: ShapeError, layer: Layer, first: Tensor) -> Fix | None:
    """``conv3 = Conv2d(planes, self.expansion * planes + 1)`` before ``BatchNorm2d(self.expansion * planes)``
    in a block built many times: no one number fits every copy, but the expression this layer is written
    with does, in the same ``__init__``."""
    producer = first.producer
    if producer is None or producer is layer or not error.blame or not _built_often(trace, producer):
        return None
    sure = True
    if producer.built_in is None or layer.built_in is None or producer.built_in[2] is not layer.built_in[2]:
        sure = False  # not the same __init__ of the same instance: the consumer's names may mean other things
    else:
        straight = _straight_line_calls(producer.built_in[0].node)
        if producer.node is layer.node or producer.node not in straight or layer.node not in straight:
            sure = False  # a loop or a helper may give the names other values between the two
    arg = _size_argument(producer, error.code)
    if arg is None:
        return None
    wanted, target = trace.argument_node(layer, error.blame), trace.argument_node(producer, arg)
    if wanted is None or target is None or isinstance(wanted, ast.Constant):
        return None
    value = layer.args.values.get(error.blame)
    if getattr(target, "_cnnshape_foreign", False):
        return None
    text = trace.text(wanted)
    if not sure and (not _names_in_scope(text, producer) or producer.scope.get(text) not in (None, value)):
        # the consumer's names may not exist, or mean another size, where the producer is built: a name
        # there that holds the size (``cout`` for ``cout + 1`` in a loop's copies)
        text = _name_holding(value, producer, trace.text(target))
    if not text or text == trace.text(target):
        return None
    fix = trace.fix(f"Change {arg} of {describe(producer)} to {text}", trace.replace(target, text))
    fix.relocates = True  # where it is the one fix, the mistake is the producer's
    fix.producer = producer
    fix.tentative = not sure
    return fix


def _name_holding(value: object, layer: Layer, written: str) -> str:
    """The one integer name where ``layer`` was built that holds ``value``, preferring those its argument is
    already written with (``cout`` in ``cout + 1``); empty where there is none, or no one."""
    if not isinstance(value, int) or isinstance(value, bool):
        return ""
    names = [n for n, v in layer.scope.items() if v == value and n != written]
    used = [n for n in names if re.search(rf"(?<![\w.]){re.escape(n)}(?!\w)", written)]
    chosen = used if used else names
    return chosen[0] if len(chosen) == 1 else ""


def _names_in_scope(text: str, layer: Layer) -> bool:
    """Whether every name in ``text`` is an integer variable (or ``self.`` attribute) where ``layer`` is built."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
            if f"self.{node.attr}" not in layer.scope:
                return False
        elif isinstance(node, ast.Name) and node.id != "self" and node.id not in layer.scope:
            return False
    return True


def branch_fixes(trace: Trace, error: ShapeError, layer: Layer, first: Tensor) -> list[Fix]:
    """``torch.cat([a, b], 1)`` with one channel too many for the next layer: one of the branches makes
    the wrong number. A guess for each branch, written with a name that has the right value where the
    branch is built (``expand3x3_planes`` for ``expand3x3_planes + 1``), checked by :mod:`checking`."""
    wanted = layer.args.values.get(error.blame) if error.blame else None
    if error.code not in ("conv-in-channels", "norm-num-features") or not isinstance(wanted, int) \
            or first.shape is None or len(first.shape) < 2 or not isinstance(first.shape[1], int):
        return []
    extra = first.shape[1] - wanted
    fixes = []
    for producer, size in first.joined:
        target = trace.argument_node(producer, "out_channels") if producer is not None else None
        if target is None or not isinstance(size, int) or size - extra <= 0 \
                or getattr(target, "_cnnshape_foreign", False):
            continue
        written = trace.text(target)
        names = sorted((n for n, v in producer.scope.items() if v == size - extra and n != written),
                       key=lambda n: (n not in written, n.startswith("self."), n))
        if names:
            text = names[0]
        elif not _built_often(trace, producer):
            text = str(size - extra)
        else:
            continue
        fix = trace.fix(f"Change out_channels of {describe(producer)} to {text}", trace.replace(target, text))
        fix.tentative = True
        fixes.append(fix)
    return fixes


def drop_cascades(trace: Trace, errors: list[tuple]) -> None:
    """After a producer's fix (``conv2``'s out_channels, written like its consumer ``bn2``), the layers that
    got its wrong size further on (the next block's ``conv1``) are fine: their errors are that one mistake.

    Where the producer is in error for its own input too (``Conv2d(planes, inplanes)`` for
    ``Conv2d(inplanes, planes)``), its two sizes were swapped: one fix, on it, changes both."""
    own_errors = {id(e[2].node): e[0] for e in errors if e[2].node is not None}
    for finding, *_ in errors:
        written = next((f for f in finding.fixes if f.producer is not None and not f.tentative), None)
        own = own_errors.get(id(written.producer.node)) if written is not None else None
        if own is None or own is finding or not own.fixes or not any(f is own for f in trace.findings):
            continue
        mine = own.fixes[0]
        if mine.tentative:
            continue
        if mine.relocates or {e.span for e in mine.edits} & {e.span for e in written.edits}:
            continue  # its fix changes how the block is built, not its in_channels: not a swap
        if not all(trace.argument_node(written.producer, "in_channels") is not None
                   and e.span == trace.span(trace.argument_node(written.producer, "in_channels")) for e in mine.edits):
            continue
        joined = Fix(f"{mine.title}, and {written.title[0].lower()}{written.title[1:]}", [*mine.edits, *written.edits])
        joined.producer = written.producer
        own.fixes.insert(0, joined)
        _drop(trace, [finding])
    for finding, error, layer, _first, *_ in errors:
        fix = finding.fixes[0] if finding.fixes else None
        if fix is None or fix.producer is None or fix.tentative or not any(f is finding for f in trace.findings):
            continue
        producer = fix.producer
        consumers = trace.source.built.get(layer.node, [])
        gone = []
        for other, other_error, other_layer, other_first, *_ in errors:
            source = other_first.producer
            if other is finding or source is None or source.node is not producer.node or not other_error.blame:
                continue
            twin = next((c for c in consumers if c.built_in is not None and source.built_in is not None
                         and c.built_in[2] is source.built_in[2]), None)
            wanted = twin.args.values.get(error.blame) if twin is not None else None
            if wanted is not None and other_layer.args.values.get(other_error.blame) == wanted:
                gone.append(other)
        _drop(trace, gone)
    for finding, *_ in errors:
        for fix in finding.fixes:
            fix.producer = None  # the layer (and its whole model tree) must not travel with the findings


class ViewFix:
    """Repairs ``x.view(-1, N)`` (or ``view(batch, N)``) whose N is not the per-sample size."""

    def __init__(self, trace: Trace, node: ast.Call | None, sizes: list[Any]) -> None:
        self.trace = trace
        self.node = node
        self.sizes = sizes

    def target_node(self) -> ast.AST | None:
        call = self.node
        if not isinstance(call, ast.Call):
            return None
        args = call.args
        if len(args) == 1 and isinstance(args[0], (ast.Tuple, ast.List)):
            args = args[0].elts
        if len(args) == 2 and len(self.sizes) == 2:
            return args[1]
        return call

    def features(self, x: Tensor) -> tuple[list, Any] | None:
        shape = x.shape
        if shape is None or len(shape) < 2 or len(self.sizes) != 2:
            return None
        rest = list(shape[1:])
        if not all(isinstance(d, int) for d in rest):
            return None
        return rest, dims.product(rest)

    def __call__(self, x: Tensor) -> Fix | None:
        found = self.features(x)
        target = self.target_node()
        if found is None or target is None or target is self.node:
            return None
        rest, total = found
        defined = fixes_size.definition_of(self.trace, target)
        if defined is not None:  # x.view(-1, self.num_flat): the number changes where it is written
            text = size_text(total, tuple(rest) if isinstance(defined, ast.BinOp) else None, defined)
            fix = self.trace.fix(f"Change {self.trace.text(target)} to {text}", self.trace.replace(defined, text))
            fix.checked = True  # kept where the model then runs; the error stays on the view
            return fix
        text = size_text(total, tuple(rest), target)
        return self.trace.fix(f"Change the view to ({self.trace.text(self.node.args[0]) if self.node.args else '-1'},"
                              f" {text})", self.trace.replace(target, text))

    def map_fixes(self, x: Tensor) -> list[Fix]:
        """A window before the view whose argument made the map the wrong size for the view's number."""
        want = self.sizes[1] if len(self.sizes) == 2 else None
        if x.shape is None or len(x.shape) < 3 or getattr(self.node, "_cnnshape_foreign", False):
            return []
        return fixes_map.map_fixes(self.trace, tuple(x.shape[1:]), want, self.trace.text(self.node))[0]

    def per_sample_fix(self) -> Fix | None:
        """``t.view(-1, 128)`` -> ``t.flatten(1)``: right for every shape a block's copies give it."""
        call = self.node
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute) or len(self.sizes) != 2:
            return None
        if getattr(call, "_cnnshape_foreign", False):
            return None
        text = f"{self.trace.text(call.func.value)}.flatten(1)"
        return self.trace.fix(f"Flatten each sample: {text}", self.trace.replace(call, text))

    def recover(self, x: Tensor) -> tuple | None:
        found = self.features(x)
        if found is None:
            return None
        return (x.shape[0], found[1])


SIZE_CODES = ("conv-in-channels", "norm-num-features", "linear-in-features")


def one_cause(trace: Trace, errors: list[tuple]) -> None:
    """Errors of several layers fed by one producer are one mistake, the producer's:

    - two or more layers after it agree on the size it should make (``BatchNorm2d(16)`` and
      ``Conv2d(16, ...)`` after a ``Conv2d(8, 32)``): one error, on its ``out_channels``, whose fix
      changes it;
    - the producer is itself in error for its input (``Conv2d(16, 8)`` where ``Conv2d(8, 16)`` was
      meant): one error, on it, whose fix changes both of its sizes.
    """
    at_layer = {id(e[2]): e for e in errors}
    groups: dict[int, list[tuple]] = {}
    seen: set[int] = set()
    for entry in errors:
        finding, error, layer, first = entry[:4]
        producer, wanted = channels_wanted(error, layer, first)
        if id(layer) in seen:
            continue  # one layer applied twice (a siamese network) is one consumer
        seen.add(id(layer))
        if error.code in SIZE_CODES and producer is not None and producer is not layer and wanted is not None:
            groups.setdefault(id(producer), []).append((*entry, producer, wanted))
    for entries in groups.values():
        finding, error, layer, first = entries[0][:4]
        producer = entries[0][-2]
        wanted = {e[-1] for e in entries}
        if len(wanted) != 1 or _built_often(trace, producer):
            continue  # the layers disagree, or the producer is built several times (one value may not fit all)
        flattened = error.code == "linear-in-features" and producer is first.channels_from
        fix = producer_change(trace, producer, entries[0][-1], "conv-in-channels" if flattened else error.code)
        if fix is None:
            continue
        own = at_layer.get(id(producer))
        if own is not None and own[0].fixes and not own[0].fixes[0].tentative:  # both of its sizes were wrong
            mine = own[0].fixes[0]
            own[0].fixes.insert(0, Fix(f"{mine.title}, and {fix.title[0].lower()}{fix.title[1:]}",
                                       [*mine.edits, *fix.edits]))
            _drop(trace, [e[0] for e in entries])
        elif own is None and len(entries) >= 2:
            arg = trace.argument_node(producer, producer.rule.producer_arg)
            if arg is None:
                continue
            finding.fixes = [fix, *(f for f in finding.fixes if f.title != fix.title)]
            finding.layer_path = producer.path
            _drop(trace, [e[0] for e in entries[1:]])
            trace.move(finding, trace.span(arg))


def channels_wanted(error: ShapeError, layer: Layer, first: Tensor) -> tuple[Layer | None, int | None]:
    """The layer that made this layer's input size, and the size this layer wants of it. For a Linear
    after a flatten of (C, H, W), that is the layer that made the C channels, and in_features / (H*W)."""
    value = layer.args.values.get(error.blame) if error.blame else None
    if not isinstance(value, int) or isinstance(value, bool):
        return None, None
    if error.code == "linear-in-features" and first.channels_from is not None and first.flat_from:
        rest = dims.product(list(first.flat_from[1:]))
        if isinstance(rest, int) and rest > 0 and value % rest == 0:
            return first.channels_from, value // rest
        return None, None
    return first.producer, value


def producer_change(trace: Trace, producer: Layer, wanted: int, code: str) -> Fix | None:
    """``code`` is what the size is: features (a Linear's out_features) or channels (a conv's out_channels)."""
    arg = _size_argument(producer, code)
    if arg is None or _built_often(trace, producer):
        return None
    return _change_argument(trace, producer, arg, wanted)


def _straight_line_calls(function: ast.AST) -> set[ast.AST]:
    """The calls of a function's own statements, outside loops, comprehensions and nested functions."""
    found: set[ast.AST] = set()
    skip = (ast.For, ast.AsyncFor, ast.While, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ListComp,
            ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.ClassDef)

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, skip):
                continue
            if isinstance(child, ast.Call):
                found.add(child)
            visit(child)

    visit(function)
    return found


def _built_often(trace: Trace, layer: Layer) -> bool:
    """Built by code that runs several times (a block): one number written there may not fit every copy."""
    return len(copies_of(trace, layer)) > 1


def copies_of(trace: Trace, layer: Layer) -> list[Layer]:
    """The layers built by ``layer``'s constructor call in the same model. The file's ``model = CNN(3, 10)``
    and ``--model "CNN(3, 10)"`` build every layer twice; those are one copy unless they differ."""
    built = trace.source.built.get(layer.node, [layer])
    root = _root(layer)
    same = [b for b in built if _root(b) is root]
    if any(b.args.values != layer.args.values for b in built if _root(b) is not root):
        return built  # another model builds it differently: one number may not fit both
    return same


def _root(layer: Layer) -> object:
    return layer.built_chain[0][2] if layer.built_chain else None


def _drop(trace: Trace, findings: list[Finding]) -> None:
    gone = {id(f) for f in findings}
    trace.findings[:] = [f for f in trace.findings if id(f) not in gone]


def keep_batch_fix(trace: Trace, node: ast.Call) -> Fix | None:
    """``x.view(-1)`` -> ``x.view(x.size(0), -1)``, ``torch.flatten(x)`` -> ``torch.flatten(x, 1)``,
    ``nn.Flatten(0)`` -> ``nn.Flatten()``: flatten each sample, not the batch."""
    if getattr(node, "_cnnshape_foreign", False):
        return None
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    receiver = func.value if isinstance(func, ast.Attribute) else None
    if name == "Flatten":
        text = f"{trace.text(func)}()"
    elif name == "flatten" and (receiver is None or trace.text(receiver) in ("torch", "torch.nn.functional")):
        if not node.args:
            return None
        text = f"{trace.text(func)}({trace.text(node.args[0])}, 1)"  # torch.flatten(x) or flatten(x)
    elif name == "flatten":
        text = f"{trace.text(receiver)}.flatten(1)"
    elif name in ("view", "reshape") and isinstance(receiver, (ast.Name, ast.Attribute)):
        text = f"{trace.text(receiver)}.{name}({trace.text(receiver)}.size(0), -1)"
    elif name in ("view", "reshape") and receiver is not None:
        text = f"{trace.text(receiver)}.flatten(1)"  # self.pool(x).view(-1): the receiver is not repeated
    else:
        return None
    return trace.fix(f"Keep the batch: {text}", trace.replace(node, text))


def call_site_fix(trace: Trace, error: ShapeError, layer: Layer) -> Fix | None:
    """``nn.Conv2d(inplanes, ...)`` in a block built as ``Fire(384, ...)`` and ``Fire(512, ...)``: no one
    number suits the constructor, but this instance's argument can change where it is made. The name may
    be passed on through blocks (``Inception(256, ...)`` builds ``BasicConv2d(in_planes, ...)``): the
    number is changed where it is written."""
    if not error.blame or error.expected is None or not layer.built_chain:
        return None
    node = trace.argument_node(layer, error.blame)
    written_in = layer.node
    for init, call, _ in reversed(layer.built_chain[-3:]):
        if not isinstance(node, ast.Name) or not isinstance(call, ast.Call):
            return None
        if getattr(call, "_cnnshape_foreign", False) or not any(n is written_in for n in ast.walk(init.node)):
            return None  # written in a helper, the name is the helper's, not this __init__'s parameter
        given = _argument_for(init, call, node.id)
        written_in = call
        if isinstance(given, ast.Constant) and isinstance(given.value, int) and not isinstance(given.value, bool):
            owner = trace.text(call.func)
            fix = trace.fix(f"Change {node.id} of this {owner} to {error.expected}",
                            trace.replace(given, str(error.expected)))
            fix.relocates = True
            return fix
        node = given  # a name of the enclosing block's own parameters, passed on: look where that block is made
    return None


def _argument_for(init: Any, call: ast.Call, param: str) -> ast.expr | None:
    """The argument ``call`` passes for the parameter ``param`` of ``init``."""
    params = [a.arg for a in [*init.node.args.posonlyargs, *init.node.args.args][1:]]
    if param not in params:
        return None
    index = params.index(param)
    given = next((k.value for k in call.keywords if k.arg == param), None)
    if given is None and index < len(call.args) and not any(isinstance(a, ast.Starred) for a in call.args[:index + 1]):
        given = call.args[index]
    return given


def relocate(trace: Trace, finding: Finding) -> None:
    """Put a finding whose preferred fix is an instance's argument on that argument."""
    if finding.fixes and finding.fixes[0].relocates and not finding.fixes[0].tentative \
            and not finding.fixes[0].elsewhere and any(f is finding for f in trace.findings):
        trace.move(finding, finding.fixes[0].edits[0].span)


WINDOWED = re.compile(r"^Conv[123]d$")


def branch_fix(trace: Trace, a: Tensor | None, b: Tensor | None) -> tuple[Fix, Layer] | None:
    """``out + shortcut`` whose sizes differ: the branch whose convolution changed the size it was given,
    while the other branch kept that size, gets the padding that keeps it too. Where a block is built
    several times, the new padding must keep the size in every copy."""
    if a is None or b is None or a.shape is None or b.shape is None or len(a.shape) != len(b.shape):
        return None
    culprits = []
    for tensor, other in ((a, b), (b, a)):
        conv = tensor.producer
        if conv is None or not WINDOWED.match(conv.rule.op) or not conv.seen or len(conv.seen) != len(other.shape):
            continue
        if _output(conv, {}) == tuple(tensor.shape) and tuple(conv.seen[2:]) == tuple(other.shape[2:]) \
                and tuple(tensor.shape[2:]) != tuple(conv.seen[2:]):
            culprits.append((tensor, other, conv))
    if len(culprits) != 1:
        return None  # no branch, or both, changed the size: which one is wrong cannot be told
    tensor, other, conv = culprits[0]
    if not isinstance(conv.node, ast.Call) or getattr(conv.node, "_cnnshape_foreign", False):
        return None
    copies = [c for c in trace.source.built.get(conv.node, [conv]) if c.seen is not None] or [conv]
    kernel = conv.args.values.get("kernel_size")
    k = kernel if isinstance(kernel, int) else max(kernel) if isinstance(kernel, tuple) and kernel else 3
    for name, values in (("padding", range(0, k + 1)),):  # not the stride: a shortcut may downsample on purpose
        if len({repr(c.args.values.get(name)) for c in copies}) > 1:
            continue  # written differently in different copies
        for value in values:
            if value == conv.args.values.get(name):
                continue
            changed = _output(conv, {name: value})
            if changed is None or tuple(changed[2:]) != tuple(other.shape[2:]):
                continue
            if not all((out := _output(c, {name: value})) is not None and tuple(out[2:]) == tuple(c.seen[2:])
                       for c in copies):
                continue
            try:
                broadcast(changed, other.shape)
            except (ShapeError, CannotTell):
                continue
            fix = _set_argument(trace, conv, name, value)
            return (fix, conv) if fix is not None else None
    return None


def _output(layer: Layer, changes: dict) -> tuple | None:
    try:
        out = layer.rule.infer(Call(Args(layer.args.op, {**layer.args.values, **changes}), [layer.seen]))
    except (ShapeError, CannotTell, TypeError):
        return None
    return tuple(out) if isinstance(out, tuple) else None


def _set_argument(trace: Trace, layer: Layer, name: str, value: int) -> Fix | None:
    node = trace.argument_node(layer, name)
    title = f"Change {name} of {describe(layer)} to {value}"
    if node is not None:
        return trace.fix(title, trace.replace(node, str(value)))
    call = layer.node
    last = (call.keywords[-1].value if call.keywords else call.args[-1] if call.args else None)
    if last is None:
        return None
    end = trace.span(last)
    return trace.fix(title, Edit(Span(end.end_line, end.end_column, end.end_line, end.end_column), f", {name}={value}"))
