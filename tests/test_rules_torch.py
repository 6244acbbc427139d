"""Shape rules of convolutions and pooling, checked against torch (see torch_rules_harness).

Also: every rule in the table is drawn by some strategy here or in the other
``test_rules_torch_*.py`` files, and the key error messages match torch's CPU wording.
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from hypothesis import assume, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from torch_rules_harness import Case, check, check_message, near, per_axis, positional_count  # noqa: E402

pytestmark = pytest.mark.torch

SETTINGS = settings(max_examples=300, deadline=None)
SPATIAL_MAX = {1: 9, 2: 7, 3: 5}
DRAWN = {f"{lazy}Conv{transpose}{n}d" for lazy in ("", "Lazy") for transpose in ("", "Transpose") for n in (1, 2, 3)} \
    | {f"{kind}Pool{n}d" for kind in ("Max", "Avg", "LP", "AdaptiveMax", "AdaptiveAvg") for n in (1, 2, 3)}
"""The ops the strategies of this file draw (see test_every_rule_is_drawn)."""


def spatial(draw, n: int, low: int = 1) -> tuple[int, ...]:
    return tuple(draw(st.integers(low, SPATIAL_MAX[n])) for _ in range(n))


def input_shape(draw, channels: int, n: int, low: int = 1) -> tuple[int, ...]:
    """(N, C, *spatial) or unbatched (C, *spatial); now and then one dim short."""
    shape = (channels, *spatial(draw, n, low))
    if draw(st.integers(0, 3)):
        shape = (draw(st.integers(1, 2)), *shape)
    if draw(st.integers(0, 19)) == 0:
        shape = shape[1:]
    return shape


# ---------------------------------------------------------------------------- convolution


@st.composite
def conv_cases(draw, transposed: bool) -> Case:
    n = draw(st.sampled_from([1, 2, 3]))
    lazy = draw(st.integers(0, 3)) == 0
    groups = draw(st.sampled_from([1, 1, 1, 2, 3]))
    in_c = groups * draw(st.integers(1, 3))
    out_c = groups * draw(st.integers(1, 3))
    if draw(st.integers(0, 9)) == 0:
        in_c += 1
    if draw(st.integers(0, 9)) == 0:
        out_c += 1
    kwargs = {"in_channels": in_c, "out_channels": out_c, "kernel_size": per_axis(draw, n, st.integers(1, 4))}
    if draw(st.booleans()):
        kwargs["stride"] = per_axis(draw, n, st.integers(1, 3))
    if transposed:
        if draw(st.booleans()):
            kwargs["padding"] = per_axis(draw, n, st.integers(0, 2))
        if draw(st.booleans()):
            kwargs["output_padding"] = per_axis(draw, n, st.integers(0, 2))
        if draw(st.integers(0, 19)) == 0:  # both refused
            kwargs[draw(st.sampled_from(["padding", "padding_mode"]))] = draw(st.sampled_from(["same", "reflect"]))
    else:
        choice = draw(st.sampled_from(["none", "int", "same", "valid", "int", "same", "valid", "full"]))
        if choice == "int":
            kwargs["padding"] = per_axis(draw, n, st.integers(0, 3))
        elif choice != "none":
            kwargs["padding"] = choice
        if draw(st.integers(0, 3)) == 0:
            kwargs["padding_mode"] = draw(st.sampled_from(["reflect", "replicate", "circular", "zeros", "mirror"]))
    if draw(st.booleans()):
        kwargs["dilation"] = per_axis(draw, n, st.integers(1, 2))
    if groups > 1 or draw(st.integers(0, 4)) == 0:
        kwargs["groups"] = groups
    if draw(st.booleans()):
        kwargs["bias"] = draw(st.booleans())
    op = f"{'Lazy' if lazy else ''}Conv{'Transpose' if transposed else ''}{n}d"
    if lazy:
        kwargs.pop("in_channels")
    x = input_shape(draw, near(draw, in_c), n)
    if draw(st.integers(0, 7)) == 0:  # one value per axis, but for the wrong number of axes: cpu refuses
        name, value = wrong_length(draw, n, transposed)
        kwargs[name] = value
        if name == "padding":  # other modes pad with F.pad, whose checks differ
            kwargs.pop("padding_mode", None)
        return Case(op, kwargs, [x], positional_count(draw, op, kwargs), "cpu", native=True)
    # meta skips ConvTranspose's channel and output_padding checks: run those on cpu
    if transposed:
        return Case(op, kwargs, [x], positional_count(draw, op, kwargs), "cpu", native=True)
    # meta skips the check that a lazy layer's out_channels split into the groups
    return Case(op, kwargs, [x], positional_count(draw, op, kwargs), "cpu" if out_c % groups else "meta")


def wrong_length(draw, n: int, transposed: bool) -> tuple[str, tuple[int, ...]]:
    names = ["stride", "padding", "dilation"] + (["output_padding"] if transposed else [])
    name = draw(st.sampled_from(names))
    length = draw(st.sampled_from([k for k in (0, 2, 3, 4) if k != n]))
    low = 1 if name in ("stride", "dilation") else 0
    return name, tuple(draw(st.integers(low, low + 1)) for _ in range(length))


@SETTINGS
@given(conv_cases(transposed=False))
def test_conv(case: Case) -> None:
    check(case)


@SETTINGS
@given(conv_cases(transposed=True))
def test_conv_transpose(case: Case) -> None:
    check(case)


# ---------------------------------------------------------------------------- pooling


@st.composite
def pool_cases(draw) -> Case:
    n = draw(st.sampled_from([1, 2, 3]))
    kind = draw(st.sampled_from(["Max", "Avg", "LP"]))
    kwargs = {"kernel_size": per_axis(draw, n, st.integers(1, 4))}
    if kind == "LP":
        kwargs = {"norm_type": draw(st.sampled_from([1, 2, 3.0])), **kwargs}
    if draw(st.booleans()):
        kwargs["stride"] = draw(st.none()) if draw(st.integers(0, 3)) == 0 else per_axis(draw, n, st.integers(1, 3))
    if kind != "LP" and draw(st.booleans()):
        kwargs["padding"] = per_axis(draw, n, st.integers(0, 2))
    if kind == "Max" and draw(st.booleans()):
        kwargs["dilation"] = per_axis(draw, n, st.integers(1, 3))
    if kind == "Max" and draw(st.integers(0, 3)) == 0:
        kwargs["return_indices"] = True
    if draw(st.booleans()):
        kwargs["ceil_mode"] = draw(st.booleans())
    if kind == "Avg" and draw(st.integers(0, 3)) == 0:
        kwargs["count_include_pad"] = False
    if n > 1 and kind != "LP" and draw(st.integers(0, 7)) == 0:  # an argument for the wrong number of axes
        name = draw(st.sampled_from(["kernel_size", "stride", "padding"] + (["dilation"] if kind == "Max" else [])))
        low = 0 if name == "padding" else 1
        kwargs[name] = tuple(draw(st.integers(low, low + 1)) for _ in range(draw(st.sampled_from([0, 4, 5 - n]))))
    op = f"{kind}Pool{n}d"
    x = input_shape(draw, draw(st.integers(1, 3)), n)
    return Case(op, kwargs, [x], positional_count(draw, op, kwargs))


@SETTINGS
@given(pool_cases())
def test_pool(case: Case) -> None:
    check(case)


@st.composite
def adaptive_cases(draw) -> Case:
    n = draw(st.sampled_from([1, 2, 3]))
    kind = draw(st.sampled_from(["Max", "Avg"]))
    sizes = st.integers(1, 5)
    if n > 1 and draw(st.booleans()):
        size = tuple(draw(st.none() | sizes) for _ in range(n))
    else:
        size = draw(sizes)
    kwargs = {"output_size": size}
    if kind == "Max" and draw(st.booleans()):
        kwargs["return_indices"] = draw(st.booleans())
    op = f"Adaptive{kind}Pool{n}d"
    x = input_shape(draw, draw(st.integers(1, 3)), n)
    if draw(st.integers(0, 19)) == 0:
        x = (1, *x)
    return Case(op, kwargs, [x], positional_count(draw, op, kwargs))


@SETTINGS
@given(adaptive_cases())
# a mean over (1, 1) whatever the rank: with a symbolic size that may be 1 the rule cannot tell
@example(case=Case(op="AdaptiveAvgPool2d", kwargs={"output_size": (None, None)}, inputs=[(1, 1, 1, 1, 1)]))
def test_adaptive_pool(case: Case) -> None:
    check(case)


# ---------------------------------------------------------------------------- messages (torch on cpu)


def other_than(data, value: int, high: int = 6) -> int:
    got = data.draw(st.integers(1, high - 1))
    return got + 1 if got >= value else got


@settings(max_examples=60, deadline=None)
@given(n=st.sampled_from([1, 2, 3]), groups=st.sampled_from([1, 2]), batch=st.integers(1, 2),
       mode=st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"]), padding=st.integers(0, 2),
       data=st.data())
def test_conv_channel_message(n: int, groups: int, batch: int, mode: str, padding: int, data) -> None:
    """Other padding modes pad with F.pad before the convolution: torch's message names the padded input."""
    in_c = groups * data.draw(st.integers(1, 3))
    got = other_than(data, in_c)
    case = Case(f"Conv{n}d", {"in_channels": in_c, "out_channels": 2 * groups, "kernel_size": 1, "groups": groups,
                              "padding": padding, "padding_mode": mode}, [(batch, got, *([3] * n))])
    assume(check_message(case))


@settings(max_examples=40, deadline=None)
@given(n=st.sampled_from([1, 2, 3]), batch=st.integers(1, 2), data=st.data())
def test_conv_transpose_channel_message(n: int, batch: int, data) -> None:
    in_c = data.draw(st.integers(1, 4))
    got = other_than(data, in_c)
    case = Case(f"ConvTranspose{n}d", {"in_channels": in_c, "out_channels": 2, "kernel_size": 2},
                [(batch, got, *([2] * n))])
    assume(check_message(case))


@settings(max_examples=40, deadline=None)
@given(n=st.sampled_from([1, 2, 3]), data=st.data())
def test_conv_too_small_message(n: int, data) -> None:
    size = tuple(data.draw(st.integers(1, 4)) for _ in range(n))
    kernel = tuple(data.draw(st.integers(1, 6)) for _ in range(n))
    padding = data.draw(st.integers(0, 1))
    if all(s + 2 * padding >= k for s, k in zip(size, kernel)):
        kernel = tuple(s + 2 * padding + 1 for s in size)
    case = Case(f"Conv{n}d", {"in_channels": 2, "out_channels": 2, "kernel_size": kernel, "padding": padding},
                [(2, 2, *size)])
    assume(check_message(case))


@settings(max_examples=60, deadline=None)
@given(n=st.sampled_from([1, 2, 3]), kind=st.sampled_from(["Max", "Avg", "LP"]), ceil_mode=st.booleans(),
       data=st.data())
def test_pool_too_small_message(n: int, kind: str, ceil_mode: bool, data) -> None:
    size = tuple(data.draw(st.integers(1, 4)) for _ in range(n))
    kernel = tuple(data.draw(st.integers(1, 6)) for _ in range(n))
    if all(s >= k for s, k in zip(size, kernel)):
        kernel = tuple(s + 1 for s in size)
    kwargs = {"kernel_size": kernel if n > 1 else kernel[0], "ceil_mode": ceil_mode}
    if kind == "LP":
        kwargs["norm_type"] = 2
    case = Case(f"{kind}Pool{n}d", kwargs, [(2, 3, *size)])
    assume(check_message(case))


@settings(max_examples=40, deadline=None)
@given(n=st.sampled_from([1, 2, 3]), data=st.data())
def test_conv_transpose_too_small_message(n: int, data) -> None:
    """The native cpu kernel's wording (oneDNN returns an empty tensor for a zero size)."""
    size = tuple(data.draw(st.integers(1, 3)) for _ in range(n))
    padding = data.draw(st.integers(1, 3))
    case = Case(f"ConvTranspose{n}d", {"in_channels": 2, "out_channels": 2, "kernel_size": 1, "padding": padding},
                [(2, 2, *size)], native=True)
    assume(check_message(case))


@settings(max_examples=40, deadline=None)
@given(n=st.sampled_from([1, 2, 3]), transposed=st.booleans(), data=st.data())
def test_conv_argument_length_message(n: int, transposed: bool, data) -> None:
    """A stride, padding or dilation for the wrong number of axes: cpu's words (the meta device runs it)."""
    name, value = wrong_length(data.draw, n, transposed)
    case = Case(f"Conv{'Transpose' if transposed else ''}{n}d",
                {"in_channels": 2, "out_channels": 2, "kernel_size": 1, name: value}, [(2, 2, *([4] * n))],
                native=True)
    assert check_message(case)


@settings(max_examples=40, deadline=None)
@given(n=st.sampled_from([2, 3]), kind=st.sampled_from(["Max", "Avg"]), data=st.data())
def test_pool_argument_length_message(n: int, kind: str, data) -> None:
    """max_pool2d/3d and avg_pool2d/3d word each argument's length check their own way."""
    name = data.draw(st.sampled_from(["kernel_size", "stride", "padding"] + (["dilation"] if kind == "Max" else [])))
    length = data.draw(st.sampled_from([k for k in (0, 2, 3, 4) if k != n and (k or name != "stride")]))
    kwargs = {"kernel_size": 1, name: (0 if name == "padding" else 1,) * length}
    assert check_message(Case(f"{kind}Pool{n}d", kwargs, [(2, 2, *([4] * n))]))


def test_every_rule_is_drawn() -> None:
    """Every rule of the table is compared with torch by some strategy."""
    import test_rules_torch_layers
    import test_rules_torch_sequence

    from cnnshape_ls.analysis.layers import RULES

    drawn = DRAWN | test_rules_torch_layers.DRAWN | test_rules_torch_sequence.DRAWN
    assert sorted(set(RULES) - drawn) == []
    assert sorted(drawn - set(RULES)) == []
