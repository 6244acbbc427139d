"""``torch.einsum(equation, *operands)``: the output's shape from the equation, as torch computes it.

Subscripts are letters; ``...`` stands for the dims no letter names, broadcast across operands as numpy
does. A subscript seen with two sizes broadcasts when one of them is 1. Without ``->`` the output is the
ellipsis dims, then every subscript that appears once, in ASCII order (``A`` before ``a``). torch's errors
are raised in its words where every size they depend on is known; anything else the analysis cannot tell
(a symbolic size against another) is :class:`CannotTell`."""

from __future__ import annotations

from typing import Any

from .. import dims
from ..layers import CannotTell, Shape, ShapeError

ELLIPSIS = "..."


def einsum_shape(equation: str, shapes: list[Shape]) -> Shape:
    equation = equation.replace(" ", "")
    inputs_text, arrow, output_text = equation.partition("->")
    terms = [parse_term(term) for term in inputs_text.split(",")]
    if len(terms) > len(shapes):
        raise ShapeError("bad-argument", "einsum(): fewer operands were provided than specified in the equation")
    if len(terms) < len(shapes):
        raise ShapeError("bad-argument", "einsum(): more operands were provided than specified in the equation")
    sizes: dict[str, Any] = {}
    ellipsis: list[Any] = []
    for index, ((labels, has_ellipsis), shape) in enumerate(zip(terms, shapes)):  # torch checks every rank first
        if has_ellipsis:
            if len(labels) > len(shape):
                raise ShapeError("rank-mismatch", f"einsum(): the number of subscripts in the equation "
                                 f"({len(labels)}) is more than the number of dimensions ({len(shape)}) "
                                 f"for operand {index}")
        elif len(labels) != len(shape):
            raise ShapeError("rank-mismatch", f"einsum(): the number of subscripts in the equation ({len(labels)}) "
                             f"does not match the number of dimensions ({len(shape)}) for operand {index} and "
                             "no ellipsis was given")
    out_labels, out_ellipsis = parse_term(output_text) if arrow else ([], False)
    given = {label for labels, _ in terms for label in labels}
    for i, label in enumerate(out_labels):  # then the output's subscripts, before any size
        if label in out_labels[:i]:
            raise ShapeError("bad-argument", f"einsum(): output subscript {label} appears more than once in "
                             "the output")
        if label not in given:
            raise ShapeError("bad-argument", f"einsum(): output subscript {label} does not appear in the "
                             "equation for any input operand")
    for index, ((labels, has_ellipsis), shape) in enumerate(zip(terms, shapes)):
        covered = len(shape) - len(labels)
        position = term_ellipsis_position(inputs_text.split(",")[index])
        named = list(shape[:position]) + list(shape[position + covered:]) if has_ellipsis else list(shape)
        seen_here: dict[str, Any] = {}
        for label, size in zip(labels, named):
            if label in seen_here:  # a diagonal (``ii->i``): the sizes must be equal
                if not same(seen_here[label], size):
                    raise_if_known(seen_here[label], size, f"einsum(): subscript {label} is repeated for operand "
                                   f"{index} but the sizes don't match, {size} != {seen_here[label]}")
                continue
            seen_here[label] = size
            if label in sizes:
                sizes[label] = broadcast(sizes[label], size, f"einsum(): subscript {label} has size {size} for "
                                         f"operand {index} which does not broadcast with previously seen size "
                                         f"{sizes[label]}")
            else:
                sizes[label] = size
        if has_ellipsis:
            ellipsis = broadcast_ellipsis(ellipsis, list(shape[position:position + covered]))
    if arrow:
        if out_ellipsis:
            position = term_ellipsis_position(output_text)
            before = [sizes[label] for label in out_labels[:position]]
            return tuple([*before, *ellipsis, *(sizes[label] for label in out_labels[position:])])
        return tuple(sizes[label] for label in out_labels)
    counts: dict[str, int] = {}
    for labels, _ in terms:
        for label in labels:
            counts[label] = counts.get(label, 0) + 1
    return tuple([*ellipsis, *(sizes[label] for label in sorted(counts) if counts[label] == 1)])


def parse_term(term: str) -> tuple[list[str], bool]:
    """The letters of one operand's (or the output's) subscripts, and whether it has an ellipsis."""
    has_ellipsis = ELLIPSIS in term
    letters = term.replace(ELLIPSIS, "", 1) if has_ellipsis else term
    if not all(c.isascii() and c.isalpha() for c in letters):
        raise CannotTell("einsum subscripts")  # a second ellipsis or a stray character: torch's own error
    return list(letters), has_ellipsis


def term_ellipsis_position(term: str) -> int:
    """How many letters come before the ellipsis."""
    return term.replace(" ", "").find(ELLIPSIS)


def same(a: Any, b: Any) -> bool:
    return a is b or (isinstance(a, (int, dims.Expr)) and isinstance(b, (int, dims.Expr)) and a == b)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def raise_if_known(a: Any, b: Any, message: str) -> None:
    """Sizes that differ: torch's error where both are numbers, else the analysis cannot tell."""
    if is_int(a) and is_int(b):
        raise ShapeError("bad-argument", message)
    raise CannotTell("einsum sizes")


def broadcast(a: Any, b: Any, message: str) -> Any:
    if same(a, b):
        return a
    if is_int(a) and a == 1:
        return b
    if is_int(b) and b == 1:
        return a
    raise_if_known(a, b, message)
    return None  # not reached


def broadcast_ellipsis(seen: list[Any], covered: list[Any]) -> list[Any]:
    """The dims under ``...`` across operands, right-aligned as numpy broadcasts them."""
    if len(covered) > len(seen):
        seen, covered = covered, seen
    out = list(seen)
    offset = len(seen) - len(covered)
    for i, size in enumerate(covered):
        a = out[offset + i]
        if same(a, size) or (is_int(size) and size == 1):
            continue
        if is_int(a) and a == 1:
            out[offset + i] = size
            continue
        raise CannotTell("einsum ellipsis")  # torch's message here has no space: not worth copying
    return out
