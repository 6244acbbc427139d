"""Where the size torch names was made, shown as related information at the consumer, where torch fails and
the error stays.

- A producer one off a round size (``Conv2d(64, 129)`` before ``Conv2d(128, 256)``): its line, and both fixes.
  The consumer's fix goes first, as torch puts the error, unless the producer's size is the only one of its
  stage that breaks a pattern the others keep (every other convolution doubles the width, or every other
  width is a multiple of 8 and the wanted size is too: ``966`` for ``96``): then the producer's does.
- A ``Linear`` after a flatten of (C, H, W) written as another C times this H * W: the conv that made the C
  channels, with its fix second (checked).
- Channels made by a ``torch.cat`` inside another block: the call that built that block.
"""

from __future__ import annotations

import ast
import re
from fractions import Fraction

from .findings import Finding, Related
from .fixes import channels_wanted, describe, producer_change
from .fixes_cat import common_calls
from .layers import ShapeError
from .trace import Trace
from .values import Layer, Tensor

CONV = re.compile(r"^Conv[123]d$")
SIZE = {"conv-in-channels": ("out_channels", "channels"), "norm-num-features": ("out_channels", "channels"),
        "linear-in-features": ("out_features", "features")}


def note_producer(trace: Trace, finding: Finding, error: ShapeError, layer: Layer, first: Tensor) -> None:
    """Where a fix of ``finding`` changes what the previous layer makes: that layer's place as related
    information, and that fix first where the producer breaks its stage's pattern."""
    producer = first.producer
    size = SIZE.get(error.code)
    if producer is None or size is None or producer is layer or not finding.fixes or finding.in_other_file:
        return  # an imported block's error: its related place is where in that file
    arg, noun = size
    node = trace.argument_node(producer, arg)
    if node is None or trace.elsewhere(node) is not None:
        return
    span = trace.span(node)
    fix = next((f for f in finding.fixes if len(f.edits) == 1 and f.edits[0].span == span and not f.tentative),
               None)  # a guess may be dropped by the checks: the related place would name a fix not offered
    if fix is None or any(r.path is None and r.span == span for r in finding.related):
        return
    made = producer.args.values.get(arg)
    wanted = fix.edits[0].new_text
    finding.related.append(Related(None, span, f"{describe(producer)} makes {made} {noun} here "
                                   f"(one fix makes it {wanted})"))
    if _breaks_pattern(trace, producer, layer, error) or _odd_size(trace, producer, layer, error):
        finding.fixes = [fix, *(f for f in finding.fixes if f is not fix)]


def note_flattened_producer(trace: Trace, finding: Finding, error: ShapeError, layer: Layer, first: Tensor) -> None:
    """A Linear after a flatten of (C, H, W) whose ``in_features`` is another C times H * W: the layer that
    made the C channels, as related information, and the fix that makes it give the C the Linear wants
    (offered where the fixed model is checked to run: a norm after it may want these channels too)."""
    if error.code != "linear-in-features" or first.channels_from is None or finding.in_other_file:
        return
    producer, wanted = channels_wanted(error, layer, first)
    if producer is None or wanted is None or producer is layer or not CONV.match(producer.rule.op):
        return
    spatial = [d for d in list(first.flat_from or ())[1:] if d != 1]
    factors = _written_factors(trace.argument_node(layer, error.blame))
    if spatial and not _holds(factors, spatial):
        return  # not written as C * H * W with this map's H and W: the map's size may be what is wrong
    node = trace.argument_node(producer, "out_channels")
    if node is None or trace.elsewhere(node) is not None:
        return
    span = trace.span(node)
    if any(r.path is None and r.span == span for r in finding.related):
        return
    made = producer.args.values.get("out_channels")
    finding.related.append(Related(None, span, f"{describe(producer)} makes the {made} channels flattened into "
                                   f"these features here"))
    fix = producer_change(trace, producer, wanted, "conv-in-channels")
    if fix is not None and all(f.edits != fix.edits for f in finding.fixes):
        fix.checked = True
        finding.fixes.append(fix)


def _written_factors(node: ast.AST | None) -> list[int]:
    """The numbers a size is written as the product of (``32 * 25 * 25``: [32, 25, 25])."""
    factors: list[ast.AST] = []
    while isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        factors.append(node.right)
        node = node.left
    factors.append(node)
    return [f.value for f in factors if isinstance(f, ast.Constant) and type(f.value) is int]


def _holds(factors: list[int], sizes: list) -> bool:
    """Whether every size is one of the factors (each factor used once)."""
    left = list(factors)
    for size in sizes:
        if size not in left:
            return False
        left.remove(size)
    return True


def note_cat_block(trace: Trace, finding: Finding, error: ShapeError, layer: Layer, first: Tensor) -> None:
    """A size made by a ``torch.cat`` inside another block (an ``Inception``, a ``Fire``): the call that built
    that block, as related information. One of its arguments may be the mistake (``Inception(128, 65, ...)``),
    and it is where the number torch names comes from."""
    sizes = [size for _, size in first.joined]
    if error.code not in SIZE or len(sizes) < 2 or finding.in_other_file \
            or any(p is None for p, _ in first.joined) or not all(isinstance(s, int) for s in sizes):
        return
    made_in = common_calls([producer.made_in for producer, _ in first.joined])
    outside = len(common_calls([made_in, layer.made_in]))
    if len(made_in) <= outside:
        return  # the cat is the consumer's own block's: the block's fixes say it
    call = made_in[outside][1]
    if not isinstance(call, ast.Call) or getattr(call, "_cnnshape_foreign", False) \
            or trace.elsewhere(call) is not None:
        return
    span = trace.span(call)
    if any(r.path is None and r.span == span for r in finding.related) or span.line == finding.span.line:
        return
    finding.related.append(Related(None, span, f"this {trace.text(call.func)} makes the {sum(sizes)} channels "
                                   f"({' + '.join(map(str, sizes))}, concatenated)"))


def _breaks_pattern(trace: Trace, producer: Layer, consumer: Layer, error: ShapeError) -> bool:
    """Every other convolution of the producer's stage scales the width by one ratio (doubles it), and the
    producer would too with the size its consumer wants."""
    if not CONV.match(producer.rule.op) or not CONV.match(consumer.rule.op) or not error.blame:
        return False
    wanted = consumer.args.values.get(error.blame)
    given = producer.args.values.get("in_channels")
    if not isinstance(wanted, int) or not isinstance(given, int) or given <= 0:
        return False
    ratios = []
    for conv in _stage(trace, producer):
        if conv is producer:
            continue
        cin, cout = conv.args.values.get("in_channels"), conv.args.values.get("out_channels")
        if not isinstance(cin, int) or not isinstance(cout, int) or cin <= 0:
            return False
        ratios.append(Fraction(cout, cin))
    if ratios and ratios[0] != ratios[-1] and len(set(ratios[1:])) == 1:
        ratios = ratios[1:]  # the stem (3 -> 32) is not the stage's pattern
    return len(ratios) >= 2 and len(set(ratios)) == 1 and ratios[0] != 1 and Fraction(wanted, given) == ratios[0]


ROUND = 8
"""Widths people write are multiples of 8 (16, 96, 256): the one that is not, among those, is the typo."""


def _odd_size(trace: Trace, producer: Layer, consumer: Layer, error: ShapeError) -> bool:
    """The producer's width is the only one of its stage that is not a round size, and the size its consumer
    wants is round (``Conv2d(1, 966)`` before ``Conv2d(96, 256)`` among 256 and 384)."""
    if not CONV.match(producer.rule.op) or not error.blame:
        return False
    made, wanted = producer.args.values.get("out_channels"), consumer.args.values.get(error.blame)
    if not isinstance(made, int) or not isinstance(wanted, int) or made % ROUND == 0 or wanted % ROUND:
        return False
    others = [conv.args.values.get("out_channels") for conv in _stage(trace, producer) if conv is not producer]
    return len(others) >= 2 and all(isinstance(w, int) and w % ROUND == 0 for w in others)


def _stage(trace: Trace, producer: Layer) -> list[Layer]:
    """The convolutions written next to the producer: the arguments of the ``Sequential(...)`` it is one of,
    else those its block's ``__init__`` built for the same instance; in the order they are written."""
    call = _container_call(trace, producer.node)
    if call is not None:
        nodes = list(call.args)
        found = [_copy(trace, n, producer) for n in nodes]
        return [c for c in found if c is not None and CONV.match(c.rule.op)]
    if producer.built_in is None:
        return []
    owner = producer.built_in[2]
    layers = [layer for built in trace.source.built.values() for layer in built
              if layer.built_in is not None and layer.built_in[2] is owner and CONV.match(layer.rule.op)]
    return sorted(layers, key=lambda layer: (getattr(layer.node, "lineno", 0), getattr(layer.node, "col_offset", 0)))


def _container_call(trace: Trace, node: ast.AST | None) -> ast.Call | None:
    call = trace.source.call_around(node)
    return call if call is not None and any(a is node for a in call.args) else None


def _copy(trace: Trace, node: ast.AST, like: Layer) -> Layer | None:
    built = trace.source.built.get(node, [])
    same = [b for b in built if b.built_in is like.built_in or
            (b.built_in is not None and like.built_in is not None and b.built_in[2] is like.built_in[2])]
    return (same or built or [None])[0]
