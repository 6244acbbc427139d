"""The window that made a feature map the wrong size: one argument of a conv or a pool earlier in the chain.

torch fails where the map is used: a Linear (or a hard-coded ``view(-1, N)``) whose size no longer fits the
flattened map, or a later window larger than the map. The error stays there, with the consumer's own fixes.
This module looks at the windows that made the map's spatial size (:attr:`Trace.windows`, chained as
:mod:`fixes_size` does) for one argument of one window (``kernel_size``, ``stride``, ``padding``) whose
change makes the consumer fit by the shape rules (no run), and offers it as another fix
(:attr:`Fix.checked`: kept only where the fixed model has no error) with the window's argument as a related
place (:attr:`Fix.shows`). It goes after the consumer's fix, and first only where the evidence says the
window is the outlier (issue 15's rule for a producer): before a Linear or a view, every other window of its
kind has the value it is changed to; before a later window, most do, and the failing window is not itself
the one that differs from its siblings in a single argument (then its own padding may be the slip).

Which values are tried: the ones a slip would undo (one more or less, half, a quarter, double; the padding
that keeps a conv's size) and the values the other windows of its kind use. Where several windows could be
changed, only the best supported are named (:func:`named`): a value the window's siblings all use, or most
of them, over a slip undone, over a change that breaks the siblings' pattern. More than two windows tied is
not an answer a user can act on: then none is named, and the consumer's fix stands alone.

A window larger than its input (``output-too-small``) gets its fixes here too (:func:`output_too_small`): those
of :mod:`fixes_size` on the chain, and the earlier window this search names.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from .findings import Finding, Fix, Related
from .fixes_size import (
    CONV,
    POOL,
    Window,
    _int,
    _name,
    _output,
    _own_kernel_fixes,
    _padding_fix,
    _pool_fixes,
    _rank,
    _spatial,
    argument_node,
    chain_before,
    failing_window,
    remove_pool,
    set_argument,
)
from .layers.base import window as window_size
from .trace import Trace
from .values import Layer

ARGUMENTS = ("kernel_size", "stride", "padding")
MAX_WINDOWS = 24
"""Windows looked at before the consumer: a ResNet's stem is 20 windows before its last pool."""
MAX_NAMED = 2
"""Windows named at most (each a related place and a fix): more tied candidates are not shown at all."""
PATTERN = 6
"""The score of a value every other window of the kind uses (the window breaks their pattern)."""
EVIDENT = 4
"""The score from which a window's fix goes before the failing window's own (most other windows of the kind
have the value); before a Linear's or a view's, only :data:`PATTERN` does (every other window has it)."""


@dataclass(frozen=True)
class Candidate:
    window: Window
    """An application of the layer the edit changes (every application of its constructor call changes)."""
    name: str
    value: int
    score: int
    """How well supported the value is (:func:`_score`): :data:`PATTERN` where every sibling has it."""
    spatial: tuple
    """The spatial size the map then has where it is used."""
    slip: bool
    """The value undoes a slip (one more or less, double, half): of two edits of one window, the one taken."""


# ------------------------------------------------------------------ the chain of windows
def chain_to(windows: list[Window], end: int, spatial: tuple, n: int, channels_at: int) -> list[Window]:
    """The windows before ``end`` that made a map of ``spatial`` size, in order: each gave the size the next
    took. ``channels_at``: the rank of the map (its number of dimensions, with the batch)."""
    chain: list[Window] = []
    want = tuple(spatial)
    for window in reversed(windows[:end]):
        if len(chain) >= MAX_WINDOWS:
            break
        out = window.shape_out
        if out is None or _rank(window.layer) != n or len(out) != channels_at or _spatial(out, n) != want:
            continue
        chain.insert(0, window)
        want = _spatial(window.shape_in, n)
    return chain


def effective(window: Window, name: str) -> int | None:
    """The value the layer uses: a pool's omitted stride is its kernel; None for an uneven tuple."""
    values = window.layer.args.values
    value = values.get(name)
    if name == "stride" and value in (None, (), []):
        value = values.get("kernel_size")
    return _int(value)


def _family(window: Window) -> str | None:
    op = window.layer.rule.op
    return "conv" if CONV.match(op) else "pool" if POOL.match(op) else None


def _written_plainly(trace: Trace, window: Window, name: str) -> bool:
    """The argument is a number (or a tuple of numbers) written here, or not written: an edit changes what
    this call builds and nothing else (``stride=stride`` is a block's parameter, set elsewhere)."""
    node = argument_node(trace, window, name)
    if node is None:
        return True
    if trace.elsewhere(node) is not None:
        return False
    parts = node.elts if isinstance(node, ast.Tuple) else [node]
    return all(isinstance(p, ast.Constant) and isinstance(p.value, int) and not isinstance(p.value, bool)
               for p in parts)


def _tried_values(window: Window, name: str, current: int, others: list[int]) -> set[int]:
    values = {current - 1, current + 1, current * 2, *others}
    values |= {current // d for d in (2, 4) if current % d == 0}
    kernel = effective(window, "kernel_size")
    if name == "padding" and kernel is not None:
        values.add((kernel - 1) // 2)
    if name == "stride" and kernel is not None and _family(window) == "pool":
        values.add(kernel)
    low = 0 if name == "padding" else 2 if name == "kernel_size" and _family(window) == "pool" else 1
    return {v for v in values if v >= low and v != current}  # a pool of kernel 1 is no pool: removing it


def _key(window: Window, name: str, value: int) -> int | None:
    """What siblings are compared on: a conv's kernel and padding by how much it shrinks the map
    (``kernel - 1 - 2 * padding``: 0 for a 3x3 with padding 1 as for a 5x5 with padding 2); else the value."""
    if _family(window) != "conv" or name == "stride":
        return value
    kernel, padding = effective(window, "kernel_size"), effective(window, "padding")
    if kernel is None or padding is None:
        return None
    return (value if name == "kernel_size" else kernel) - 1 - 2 * (value if name == "padding" else padding)


def _score(window: Window, name: str, value: int, current: int, siblings: list[Window]) -> int:
    """How well the value is supported: 6 every sibling (two or more) has it, 4 most do, 3 it moves the window
    to a sibling's value (or a pool's stride to its kernel, the usual), 2 it undoes a slip, 1 otherwise,
    0 it breaks an agreement of several (or a pool's stride that was its kernel); an even conv kernel no
    sibling has counts one less."""
    mine, now = _key(window, name, value), _key(window, name, current)
    others, written = [], set()
    for sibling in siblings:
        value_there = effective(sibling, name)
        key = _key(sibling, name, value_there) if value_there is not None else None
        if key is not None:
            others.append(key)
            written.add(value_there)
    if len(others) >= 2:
        common, count = Counter(others).most_common(1)[0]
        if count == len(others) and mine == common:
            return PATTERN if value in written else 2  # a kernel of 13 keeps the pattern, but no sibling has it
        if count == len(others) and now == common:
            return 0
        if count * 2 > len(others) and mine == common:
            return 4
    if name == "stride" and _family(window) == "pool":
        kernel = effective(window, "kernel_size")
        if value == kernel:
            return 3
        if current == kernel:
            return 0
    if mine in others and now not in others:
        score = 3
    elif now in others and mine not in others:
        score = 0 if len(others) >= 2 else 1  # one sibling may be the one that is wrong
    else:
        score = 2 if value in _tried_values(window, name, current, []) else 1
    if name == "kernel_size" and _family(window) == "conv" and value % 2 == 0 and value not in written:
        score = max(score - 1, 0)  # an even kernel is unusual where no sibling has it
    return score


def candidates(trace: Trace, chain: list[Window], fits: Callable[[tuple], bool]) -> list[Candidate]:
    """Each single-argument edit of a window of ``chain`` after which ``fits`` holds for the spatial size the
    chain then gives, by the shape rules; every application of the edited call changes."""
    if not chain:
        return []
    n = _rank(chain[0].layer)
    found: list[Candidate] = []
    done: set[int] = set()
    built = _by_call(trace, n)
    # what each unchanged window gives for a spatial size, shared by the candidates (it starts as the run's)
    known: dict[tuple, tuple | None] = {(id(w), _spatial(w.shape_in, n)): _spatial(w.shape_out, n) for w in chain}
    for window in chain:
        node = window.layer.node
        family = _family(window)
        if id(node) in done or family is None or not isinstance(node, ast.Call):
            continue  # edited once already; not a conv or a pool
        done.add(id(node))
        copies = [w for w in chain if w.layer.node is node]
        siblings = {key: other for key, other in built.get(family, {}).items() if key != id(node)}
        for name in ARGUMENTS:
            if name == "padding" and family == "pool" and window.layer.args.values.get("padding") in (None, 0):
                continue  # an unpadded pool's padding is rarely the mistake
            current = effective(window, name)
            if current is None or any(effective(c, name) != current for c in copies) \
                    or not _written_plainly(trace, window, name):
                continue
            others = [v for v in (effective(s, name) for s in siblings.values()) if v is not None]
            for value in sorted(_tried_values(window, name, current, others)):
                spatial = _propagate(chain, node, {name: value}, n, known)  # an omitted stride follows the kernel
                if spatial is not None and fits(spatial):
                    score = _score(window, name, value, current, list(siblings.values()))
                    slip = value in _tried_values(window, name, current, [])
                    found.append(Candidate(window, name, value, score, spatial, slip))
    return found


def _by_call(trace: Trace, n: int) -> dict[str, dict[int, Window]]:
    """One application of each conv and each pool of rank ``n``, by the call that built it."""
    built: dict[str, dict[int, Window]] = {}
    for window in trace.windows:
        family = _family(window)
        if family is not None and _rank(window.layer) == n:
            built.setdefault(family, {}).setdefault(id(window.layer.node), window)
    return built


def _siblings(trace: Trace, window: Window) -> dict[int, Window]:
    """One application of each other conv (or pool) of the window's rank, by the call that built it."""
    found = _by_call(trace, _rank(window.layer)).get(_family(window) or "", {})
    return {key: other for key, other in found.items() if key != id(window.layer.node)}


def deviations(trace: Trace, window: Window) -> int:
    """How many of the window's arguments differ from what most other windows of its kind (two or more)
    have: one may be the slip (``padding=0`` where every conv pads by 1); several make a layer built for
    another purpose (a discriminator's last conv, stride 1 and no padding where the others have 2 and 1)."""
    siblings = list(_siblings(trace, window).values())
    if len(siblings) < 2:
        return 0
    count = 0
    # a conv's padding counts in its kernel's key (how much it shrinks the map): not twice
    for name in ("kernel_size", "stride") if _family(window) == "conv" else ARGUMENTS:
        current = effective(window, name)
        mine = _key(window, name, current) if current is not None else None
        others = [k for s in siblings if (v := effective(s, name)) is not None and (k := _key(s, name, v)) is not None]
        if mine is None or not others:
            continue
        common, times = Counter(others).most_common(1)[0]
        count += times * 2 > len(siblings) and mine != common
    return count


def _propagate(chain: list[Window], node: ast.AST, changes: dict, n: int,
               known: dict[tuple, tuple | None]) -> tuple | None:
    """The spatial size at the end of the chain with ``changes`` made to every application of ``node``;
    ``known``: what unchanged windows give for a size (filled as it goes)."""
    spatial: tuple | None = None
    for window in chain:
        changed = window.layer.node is node
        if spatial is None and not changed:
            continue  # before the first changed window nothing changes
        size = _spatial(window.shape_in, n) if spatial is None else spatial
        key = (id(window), size)
        if changed:
            result = _window_output(window, changes, size, n)
        elif key not in known:
            result = known[key] = _window_output(window, {}, size, n)
        else:
            result = known[key]
        if result is None:
            return None
        spatial = result
    return spatial


def _window_output(window: Window, changes: dict, size: tuple, n: int) -> tuple | None:
    """The spatial size a window gives for another input size, with ``changes`` to its arguments: a conv of
    whole-number arguments by the window formula the rules share (it ran with its channels and groups: only
    the sizes are new, and a kernel, stride or padding that is a whole number >= its least is valid); a pool
    (whose padding must be at most half its kernel) by its rule."""
    values = {**window.layer.args.values, **changes}
    if CONV.match(window.layer.rule.op) and values.get("padding_mode", "zeros") == "zeros":
        kernel, stride, padding, dilation = (_int(values.get(a, 1 if a in ("stride", "dilation") else 0))
                                             for a in ("kernel_size", "stride", "padding", "dilation"))
        if None not in (kernel, stride, padding, dilation) and all(isinstance(d, int) for d in size):
            out = tuple(window_size(d, kernel, stride, padding, dilation) for d in size)
            return out if all(isinstance(d, int) and d > 0 for d in out) else None
    batch_and_channels = window.shape_in[:len(window.shape_in) - n]
    out = _output(window.layer, changes, (*batch_and_channels, *size))
    return _spatial(out, n) if out is not None else None


def named(found: list[Candidate]) -> list[Candidate]:
    """The candidates worth naming: the best supported, one per window, where at most :data:`MAX_NAMED`
    windows tie; none where more do (a list of places each as likely is not a finding)."""
    found = [c for c in found if c.score > 0]  # an edit that breaks what the window agrees with is no cause
    if not found:
        return []
    best = max(c.score for c in found)
    top: dict[int, Candidate] = {}
    for candidate in sorted(found, key=lambda c: (-c.score, not c.slip, ARGUMENTS.index(c.name), c.value)):
        if candidate.score == best:
            top.setdefault(id(candidate.window.layer.node), candidate)
    return list(top.values()) if len(top) <= MAX_NAMED else []


def _size_text(spatial: tuple) -> str:
    return "x".join(str(d) for d in spatial)


def offer(trace: Trace, candidate: Candidate, title: str, message: str) -> Fix | None:
    """The fix that sets the argument, checked, with the argument's place shown as related information."""
    fix = set_argument(trace, candidate.window, candidate.name, candidate.value, title)
    if fix is None or len(fix.edits) != 1 or fix.elsewhere:
        return None
    fix.checked = True
    fix.shows = Related(None, fix.edits[0].span, message)
    return fix


# ------------------------------------------------------------------ a flattened map that does not fit
def map_fixes(trace: Trace, flat: tuple | None, want: object, consumer: str) -> tuple[list[Fix], bool]:
    """The window fixes that make a flattened map of ``flat`` (channels, then spatial sizes) give ``want``
    values per sample, as ``consumer`` (``fc1``, ``x.view(-1, 320)``) takes; and whether the first is the
    evident mistake (its value is the one every sibling window has: it goes before the consumer's fix)."""
    if not flat or len(flat) < 2 or not all(isinstance(d, int) and not isinstance(d, bool) for d in flat) \
            or not isinstance(want, int) or isinstance(want, bool) or want <= 0:
        return [], False
    channels, spatial = flat[0], tuple(flat[1:])
    n = len(spatial)
    end = next((i + 1 for i in range(len(trace.windows) - 1, -1, -1)
                if trace.windows[i].shape_out is not None and tuple(trace.windows[i].shape_out[1:]) == tuple(flat)),
               None)
    if end is None or n > 3:
        return [], False
    chain = chain_to(trace.windows, end, spatial, n, n + 2)

    def fits(new: tuple) -> bool:
        total = channels
        for d in new:
            total *= d
        return total == want

    chosen = named(candidates(trace, chain, fits))
    fixes = []
    for c in chosen:
        fix = offer(trace, c, f"Change {c.name} of {_name(c.window)} to {c.value} ({channels}x"
                              f"{_size_text(c.spatial)} = {want} features, as {consumer} takes)",
                    f"{c.name}={effective(c.window, c.name)} here makes the map {channels}x{_size_text(spatial)} for "
                    f"{consumer}; with {c.name}={c.value} it would be {channels}x{_size_text(c.spatial)} = {want}, "
                    "as it takes")
        if fix is not None:
            fixes.append(fix)
    evident = len(fixes) == 1 and len(chosen) == 1 and chosen[0].score == PATTERN
    return fixes, evident


# ------------------------------------------------------------------ a map shrunk too far for a window
def cause_fixes(trace: Trace, failing: Window) -> tuple[list[Fix], bool]:
    """The edits of one earlier window after which the failing window fits its input, where its value is
    well supported; and whether the first is the evident mistake (it goes first)."""
    n = _rank(failing.layer)
    end = max((i for i, w in enumerate(trace.windows) if w is failing), default=-1)
    if end < 0:
        return [], False
    chain = chain_to(trace.windows, end, _spatial(failing.shape_in, n), n, len(failing.shape_in))

    def fits(new: tuple) -> bool:
        shape_in = (*failing.shape_in[:len(failing.shape_in) - n], *new)
        return _output(failing.layer, {}, shape_in) is not None

    chosen = named(candidates(trace, chain, fits))
    given = _size_text(_spatial(failing.shape_in, n))
    fixes = []
    for c in chosen:
        fix = offer(trace, c, f"Change {c.name} of {_name(c.window)} to {c.value} ({_name(failing)} then gets "
                              f"{_size_text(c.spatial)})",
                    f"{c.name}={effective(c.window, c.name)} here shrinks the map to {given} for {_name(failing)}; "
                    f"with {c.name}={c.value} it would get {_size_text(c.spatial)} and fit")
        if fix is not None:
            fixes.append(fix)
    evident = len(fixes) == 1 and len(chosen) == 1 and chosen[0].score >= EVIDENT \
        and deviations(trace, failing) != 1  # the failing window may be the slip itself
    return fixes, evident


def show_edited_window(fix: Fix, window: Window, failing: Window) -> None:
    """A fix of an earlier window (a pool's kernel) shows that window's place, unless it already does."""
    if fix.shows is not None or window is failing or len(fix.edits) != 1 or fix.elsewhere:
        return
    n = _rank(failing.layer)
    fix.shows = Related(None, fix.edits[0].span, f"{_name(window)} shrinks the map on the way to "
                        f"{_size_text(_spatial(failing.shape_in, n))} for {_name(failing)}; a fix changes it")


# ------------------------------------------------------------------ related places of a finding's fixes
def show_places(finding: Finding) -> None:
    """Each fix's place (:attr:`Fix.shows`) as related information, once per place."""
    for fix in finding.fixes:
        shown = fix.shows
        if shown is not None and shown.span.line != finding.span.line \
                and not any(r.path is None and r.span.line == shown.span.line for r in finding.related):
            finding.related.append(shown)


def keep_shown(finding: Finding, kept: list[Fix], dropped: list[Fix]) -> None:
    """After the checks: a place shown for a fix they dropped goes, or says what a kept fix of it does."""
    gone = {id(f.shows) for f in dropped if f.shows is not None}
    if not gone:
        return
    by_line = {f.shows.span.line: f.shows for f in kept if f.shows is not None}
    related = []
    for place in finding.related:
        if id(place) in gone:
            place = by_line.get(place.span.line)
            if place is None or any(r is place for r in related):
                continue
        related.append(place)
    finding.related = related


# ------------------------------------------------------------------ output too small
def output_too_small(trace: Trace, layer: Layer) -> list[Fix]:
    """The fixes of a layer whose input is smaller than its window, written when the run ends."""
    failing = failing_window(trace, layer)
    if failing is None:
        return []
    return too_small_fixes(trace, failing)


def too_small_fixes(trace: Trace, failing: Window) -> list[Fix]:
    """In this order, each only where the shape rules say the failing layer then runs (:mod:`checking` then
    keeps those after which the whole model does): padding on the failing conv; a smaller kernel on the
    failing window itself; a smaller kernel, then stride, on the two nearest pools that shrank the map;
    removing a pool (the failing one, else the nearest before it)."""
    fixes: list[Fix] = []
    layer = failing.layer
    if failing.functional and getattr(layer.node, "_cnnshape_foreign", False):
        return fixes
    if CONV.match(layer.rule.op):
        fix = _padding_fix(trace, failing)
        if fix is not None:
            fixes.append(fix)
    chain = chain_before(trace.windows, failing)
    pools = [i for i, w in enumerate(chain) if POOL.match(w.layer.rule.op)]
    fixes += _own_kernel_fixes(trace, failing)
    for index in reversed(pools[-2:]):  # the nearest pools before it
        for fix in _pool_fixes(trace, chain, index, failing):
            show_edited_window(fix, chain[index], failing)
            fixes.append(fix)
    removable = [chain[i] for i in pools[-1:]]
    if POOL.match(layer.rule.op):
        removable.insert(0, failing)
    for window in removable:
        fix = remove_pool(trace, window, chain, failing)
        if fix is not None:
            show_edited_window(fix, window, failing)
            fixes.append(fix)
            break
    # an earlier window whose value its siblings' pattern or a slip undone supports (a conv's stride of 4
    # where the others stride by 2): first where it is the one window that breaks the pattern
    causes, evident = cause_fixes(trace, failing)
    fixes = [*causes, *fixes] if evident else [*fixes, *causes]
    seen: set[tuple] = set()
    unique = []
    for fix in fixes:
        key = tuple((e.span, e.new_text) for e in fix.edits)
        if key not in seen:
            seen.add(key)
            fix.checked = True
            unique.append(fix)
    return unique
