"""Symbolic tensor dimensions.

A dimension is an ``int`` or an :class:`Expr`: a polynomial with integer
coefficients over atoms (named symbols such as ``BS`` or ``H``, and floor
divisions of polynomials by a positive integer). This is exactly what the shape
formulas of convolution, pooling and flattening produce, and it prints the way a
person writes it: ``(H - 3)//2 + 1``, ``16*H*W``.

Two expressions that print differently may still be equal for every input; the
engine therefore only ever reports a mismatch between *concrete* integers, so
symbolic arithmetic can be incomplete without being wrong.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import repeat
from typing import Union

from .limits import LIMITS, TooLarge

Monomial = tuple["Atom", ...]


def _without_hash(state: dict) -> dict:
    """What is pickled (``cnnshape check`` analyzes folders in parallel): a string's hash differs
    from one process to the next, so a cached hash must not travel."""
    return {k: v for k, v in state.items() if k != "_hash"}


@dataclass(frozen=True)
class Atom:
    """A named symbol (``num`` is None) or ``num // den``."""

    name: str
    num: Expr | None = None
    den: int = 1

    def __str__(self) -> str:
        return self.text

    @cached_property
    def text(self) -> str:
        """Printed once: terms are sorted by their atoms' text at every operation."""
        if self.num is None:
            return self.name
        inner = str(self.num)
        if len(self.num.terms) > 1 or self.num.terms[0][1] != 1 or len(self.num.terms[0][0]) > 1:
            inner = f"({inner})"
        return f"{inner}//{self.den}"

    def __hash__(self) -> int:  # computed once: atoms nest, and dictionaries of terms hash them often
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = hash((self.name, self.num, self.den))
            object.__setattr__(self, "_hash", cached)
        return cached

    def __getstate__(self) -> dict:
        return _without_hash(self.__dict__)

    @property
    def size(self) -> int:
        return 1 if self.num is None else 1 + self.num.size

    def evaluate(self, env: dict[str, int]) -> int | None:
        if self.num is None:
            return env.get(self.name)
        value = self.num.evaluate(env)
        return None if value is None else value // self.den


@dataclass(frozen=True)
class Expr:
    """A polynomial: ``terms`` is a sorted tuple of (monomial, coefficient)."""

    terms: tuple[tuple[Monomial, int], ...]

    def __str__(self) -> str:
        return self.text

    def __hash__(self) -> int:
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = hash(self.terms)
            object.__setattr__(self, "_hash", cached)
        return cached

    def __getstate__(self) -> dict:
        return _without_hash(self.__dict__)

    @cached_property
    def text(self) -> str:
        """Printed once: hints and hovers print the same expressions many times."""
        out = ""
        for i, (mono, coef) in enumerate(self.terms):
            negative = coef < 0
            mag = -coef if negative else coef
            if mono:
                wrap = len(mono) > 1 or mag != 1
                body = "*".join(f"({a})" if wrap and a.num is not None else str(a) for a in mono)
                body = body if mag == 1 else f"{mag}*{body}"
            else:
                body = str(mag)
            if i == 0:
                out = f"-{body}" if negative else body
            else:
                out += f" - {body}" if negative else f" + {body}"
        return out

    def __repr__(self) -> str:
        return f"Expr({self})"

    @property
    def size(self) -> int:
        """Terms and atoms, nested ones included: what the expression costs to build, compare and print."""
        cached = self.__dict__.get("_size")
        if cached is None:
            cached = _size_of(self.terms)
            object.__setattr__(self, "_size", cached)
        return cached

    def symbols(self) -> set[str]:
        names: set[str] = set()
        for mono, _ in self.terms:
            for atom in mono:
                if atom.num is None:
                    names.add(atom.name)
                else:
                    names |= atom.num.symbols()
        return names

    def evaluate(self, env: dict[str, int]) -> int | None:
        total = 0
        for mono, coef in self.terms:
            value = coef
            for atom in mono:
                v = atom.evaluate(env)
                if v is None:
                    return None
                value *= v
            total += value
        return total


Dim = Union[int, Expr]


def sym(name: str) -> Expr:
    return Expr((((Atom(name),), 1),))


def _poly(value: Dim) -> dict[Monomial, int]:
    if isinstance(value, int):
        return {(): value} if value else {}
    return dict(value.terms)


def _make(terms: dict[Monomial, int]) -> Dim:
    items = tuple(sorted(((m, c) for m, c in terms.items() if c), key=_term_key))
    if not items:
        return 0
    if len(items) == 1 and items[0][0] == ():
        return items[0][1]
    return _bounded(Expr(items))


MAX_SIZE = LIMITS.expression_size
MAX_COEFFICIENT = LIMITS.int_magnitude


def _size_of(terms: tuple[tuple[Monomial, int], ...]) -> int:
    size = 0
    for mono, coef in terms:
        if coef > MAX_COEFFICIENT or coef < -MAX_COEFFICIENT:
            raise TooLarge(f"a symbolic size with a coefficient beyond {MAX_COEFFICIENT:.0e}")
        size += 1
        for atom in mono:
            size += 1 if atom.num is None else 1 + atom.num.size
    return size


def _bounded(e: Expr) -> Expr:
    """``e``, or :class:`TooLarge` past the expression budget (``m = m * m + m`` doubles its size each time,
    ``m = m * 1000`` its coefficients)."""
    if e.size > MAX_SIZE:
        raise TooLarge(f"a symbolic size of more than {MAX_SIZE} terms and atoms")
    return e


def _term_key(item: tuple[Monomial, int]) -> tuple:
    mono, _ = item
    # Highest degree first, constants last: "16*H*W + 3*H + 1".
    return (-len(mono), [str(a) for a in mono]) if mono else (1, [])


def _shift(e: Expr, k: int) -> Dim:
    """``e + k``: only the constant term changes, and it sorts last (the common case of window sizes)."""
    terms = e.terms
    if terms[-1][0] == ():
        constant = terms[-1][1] + k
        if constant > MAX_COEFFICIENT or constant < -MAX_COEFFICIENT:
            raise TooLarge(f"a symbolic size with a constant beyond {MAX_COEFFICIENT:.0e}")
        return Expr(terms[:-1] + (((), constant),)) if constant else Expr(terms[:-1])
    return _bounded(Expr(terms + (((), k),)))


def add(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int):
        if isinstance(b, int):
            return a + b
        return _shift(b, a) if a else b
    if isinstance(b, int):
        return _shift(a, b) if b else a
    terms = _poly(a)
    for mono, coef in _poly(b).items():
        terms[mono] = terms.get(mono, 0) + coef
    return _make(terms)


def neg(a: Dim) -> Dim:
    if isinstance(a, int):
        return -a
    return _make({m: -c for m, c in a.terms})


def sub(a: Dim, b: Dim) -> Dim:
    return add(a, neg(b))


def mul(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    if isinstance(b, int) or isinstance(a, int):  # a scale: the terms keep their order
        expr, k = (a, b) if isinstance(b, int) else (b, a)
        if k == 0:
            return 0
        return expr if k == 1 else _bounded(Expr(tuple((m, c * k) for m, c in expr.terms)))
    if len(a.terms) * len(b.terms) > MAX_SIZE:  # before multiplying out, not after
        raise TooLarge(f"a symbolic size of more than {MAX_SIZE} terms and atoms")
    terms: dict[Monomial, int] = {}
    for ma, ca in _poly(a).items():
        for mb, cb in _poly(b).items():
            mono = tuple(sorted(ma + mb, key=str))
            terms[mono] = terms.get(mono, 0) + ca * cb
    return _make(terms)


def floordiv(a: Dim, d: int) -> Dim:
    """``a // d`` for a positive integer ``d``."""
    if d <= 0:
        raise ValueError("floordiv needs a positive divisor")
    if isinstance(a, int):
        return a // d
    if d == 1:
        return a
    exact: dict[Monomial, int] = {}
    rest: dict[Monomial, int] = {}
    for mono, coef in a.terms:
        if mono and coef % d == 0:
            exact[mono] = coef // d
        else:
            rest[mono] = coef
    constant = rest.get((), 0)
    if () in rest and constant % d == 0 and len(rest) > 1:  # (H - 2)//2 + 1 reads better as H//2
        exact[()] = constant // d
        rest.pop(())
    remainder = _make(rest)
    if isinstance(remainder, int):
        tail: Dim = remainder // d
    elif len(remainder.terms) == 1 and remainder.terms[0][1] == 1 and len(remainder.terms[0][0]) == 1 \
            and remainder.terms[0][0][0].num is not None:
        inner = remainder.terms[0][0][0]  # (x // a) // b == x // (a*b)
        tail = _make({(Atom("", inner.num, inner.den * d),): 1})
    else:
        tail = _make({(Atom("", remainder, d),): 1})
    return add(_make(exact), tail)


def ceildiv(a: Dim, d: int) -> Dim:
    return neg(floordiv(neg(a), d))


def exact_div(a: Dim, b: Dim) -> Dim | None:
    """``a / b`` when it is an integer polynomial for every input, else None."""
    if isinstance(b, int):
        if b == 0:
            return None
        if isinstance(a, int):
            return a // b if a % b == 0 else None
        if all(c % b == 0 for _, c in a.terms):
            return _make({m: c // b for m, c in a.terms})
        return None
    if len(b.terms) != 1:
        return a if a == b else None
    (bmono, bcoef), = b.terms
    out: dict[Monomial, int] = {}
    for mono, coef in _poly(a).items():
        remaining = list(mono)
        for atom in bmono:
            if atom not in remaining:
                return None
            remaining.remove(atom)
        if coef % bcoef:
            return None
        out[tuple(remaining)] = coef // bcoef
    return _make(out)


def product(dims: list[Dim] | tuple[Dim, ...]) -> Dim:
    total: Dim = 1
    for d in dims:
        total = mul(total, d)
    return total


def evaluate(d: Dim, env: dict[str, int]) -> int | None:
    return d if isinstance(d, int) else d.evaluate(env)


def is_known(d: object) -> bool:
    return isinstance(d, int)


def symbols(d: Dim) -> set[str]:
    return set() if isinstance(d, int) else d.symbols()


def compile_function(d: Dim, names: tuple[str, ...]):
    """``d`` as a fast one-argument function, every symbol in ``names`` bound to the argument.

    Solving for input sizes evaluates one expression a thousand times; a closure tree
    built once is several times faster than :func:`evaluate` with a dict each time.
    """
    if isinstance(d, int):
        return lambda s: d
    bound = set(names)

    def atom_fn(atom: Atom):
        if atom.num is None:
            if atom.name in bound:
                return lambda s: s
            return lambda s: None
        inner, den = poly_fn(atom.num), atom.den

        def floor_of(s):
            value = inner(s)
            return None if value is None else value // den
        return floor_of

    def poly_fn(expr: Expr):
        terms = [(coef, [atom_fn(a) for a in mono]) for mono, coef in expr.terms]

        def total(s):
            acc = 0
            for coef, factors in terms:
                value = coef
                for factor in factors:
                    f = factor(s)
                    if f is None:
                        return None
                    value *= f
                acc += value
            return acc
        return total

    return poly_fn(d)


def values_at(d: Dim, names: tuple[str, ...], points: Sequence[int]) -> list[int | None]:
    """``d`` at each of ``points``, every symbol in ``names`` bound to the point: what
    :func:`compile_function` gives at each, computed one term and one atom at a time over all the points
    (looking through every input size for one that fits calls that function a thousand times; ``map``
    over the points does the arithmetic without a Python call per point). None at every point where a
    symbol outside ``names`` occurs."""
    count = len(points)
    if isinstance(d, int):
        return [d] * count
    bound = set(names)

    def atom_values(atom: Atom) -> list[int] | None:
        if atom.num is None:
            return list(points) if atom.name in bound else None
        inner = poly_values(atom.num)
        return None if inner is None else list(map(operator.floordiv, inner, repeat(atom.den, count)))

    def poly_values(expr: Expr) -> list[int] | None:
        acc = [0] * count
        for mono, coef in expr.terms:
            term = [coef] * count
            for atom in mono:
                factor = atom_values(atom)
                if factor is None:
                    return None
                term = list(map(operator.mul, term, factor))
            acc = list(map(operator.add, acc, term))
        return acc

    found = poly_values(d)
    if found is None:
        return [None] * count
    return [*found]


def to_text(d: Dim | None) -> str:
    if d is None:
        return "?"
    return str(d)


def to_json(d: Dim | None) -> int | str | None:
    if d is None:
        return None
    return d if isinstance(d, int) else str(d)
