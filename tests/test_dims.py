"""Symbolic dimensions are exact: any expression of +, -, * and // by a positive integer, built over the
symbols and then evaluated at some sizes, equals the same arithmetic done on the sizes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cnnshape_ls.analysis import dims

LEAVES = st.one_of(st.sampled_from(["H", "W", "BS"]), st.integers(-40, 40))


def expressions(depth: int = 4):
    return st.recursive(LEAVES, lambda inner: st.one_of(
        st.tuples(st.sampled_from(["+", "-", "*"]), inner, inner),
        st.tuples(st.just("//"), inner, st.integers(1, 7))), max_leaves=12)


def symbolic(tree) -> dims.Dim:
    if isinstance(tree, str):
        return dims.sym(tree)
    if isinstance(tree, int):
        return tree
    op, a, b = tree
    if op == "//":
        return dims.floordiv(symbolic(a), b)
    left, right = symbolic(a), symbolic(b)
    return {"+": dims.add, "-": dims.sub, "*": dims.mul}[op](left, right)


def concrete(tree, env: dict[str, int]) -> int:
    if isinstance(tree, str):
        return env[tree]
    if isinstance(tree, int):
        return tree
    op, a, b = tree
    if op == "//":
        return concrete(a, env) // b
    left, right = concrete(a, env), concrete(b, env)
    return {"+": left + right, "-": left - right, "*": left * right}[op]


@settings(max_examples=2000, deadline=None)
@given(expressions(), st.integers(1, 300), st.integers(1, 300), st.integers(1, 64))
def test_symbolic_arithmetic_evaluates_as_integer_arithmetic(tree, h: int, w: int, bs: int) -> None:
    env = {"H": h, "W": w, "BS": bs}
    value = symbolic(tree)
    assert dims.evaluate(value, env) == concrete(tree, env)
    square = {"H": h, "W": h, "BS": h}  # the solver binds every symbol to one size
    assert dims.compile_function(value, ("BS", "H", "W"))(h) == concrete(tree, square)


@settings(max_examples=500, deadline=None)
@given(expressions(), st.lists(st.integers(-50, 300), max_size=20), st.sampled_from([("BS", "H", "W"), ("H", "W")]))
def test_values_at_many_points_are_the_compiled_function_at_each(tree, points: list[int], names) -> None:
    """The solver's scan of every input size computes all points at once: the same values, None where a
    symbol is not bound (BS when only H and W are)."""
    value = symbolic(tree)
    one = dims.compile_function(value, names)
    assert dims.values_at(value, names, points) == [one(s) for s in points]


@settings(max_examples=500, deadline=None)
@given(expressions(), expressions())
def test_equal_sums_are_equal_and_hash_alike(a, b) -> None:
    """a + b and b + a are one expression: caches and sets of shapes rely on it."""
    x, y = symbolic(a), symbolic(b)
    assert dims.add(x, y) == dims.add(y, x)
    assert hash(dims.add(x, y)) == hash(dims.add(y, x))
    assert str(dims.add(x, y)) == str(dims.add(y, x))
