"""Shape rules of normalisation, dense/utility, elementwise and resizing layers, checked against torch.

See torch_rules_harness for what is compared. Messages of the key errors (Linear's
in_features, BatchNorm's num_features) are compared with torch's CPU wording.
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

import torch  # noqa: E402
from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from cnnshape_ls.analysis.layers import elementwise  # noqa: E402

from torch_rules_harness import Case, check, check_message, near, positional_count  # noqa: E402

pytestmark = pytest.mark.torch

SETTINGS = settings(max_examples=300, deadline=None)


def case(draw, op: str, kwargs: dict, inputs: list, **extra) -> Case:
    return Case(op, kwargs, inputs, positional_count(draw, op, kwargs), **extra)


def sizes(draw, rank: int, high: int = 4) -> tuple[int, ...]:
    return tuple(draw(st.integers(1, high)) for _ in range(rank))


# ---------------------------------------------------------------------------- normalisation

BATCH_NORMS = [f"{lazy}{kind}{n}d" for lazy in ("", "Lazy") for kind in ("BatchNorm", "InstanceNorm")
               for n in (1, 2, 3)] + ["SyncBatchNorm"]


@st.composite
def batch_norm_cases(draw) -> Case:
    op = draw(st.sampled_from(BATCH_NORMS))
    n = int(op[-2]) if op[-2].isdigit() else 2
    c = draw(st.integers(1, 4))
    kwargs = {} if op.startswith("Lazy") else {"num_features": c}
    if draw(st.booleans()):
        kwargs["affine"] = draw(st.booleans())
    if draw(st.booleans()):
        kwargs["track_running_stats"] = draw(st.booleans())
    rank = draw(st.sampled_from([n + 1, n + 2, n + 2]))
    if draw(st.integers(0, 9)) == 0:
        rank = draw(st.integers(1, 6))
    channel_axis = 1 if rank > n + 1 or op.startswith(("BatchNorm", "LazyBatchNorm", "Sync")) else 0
    shape = list(sizes(draw, rank, 3))
    if channel_axis < rank:
        shape[channel_axis] = near(draw, c)
    return case(draw, op, kwargs, [tuple(shape)])


@SETTINGS
@given(batch_norm_cases())
def test_batch_and_instance_norm(case: Case) -> None:
    check(case)


@st.composite
def layer_norm_cases(draw) -> Case:
    op = draw(st.sampled_from(["LayerNorm", "RMSNorm"]))
    tail = sizes(draw, draw(st.integers(1, 3)))
    shape = tail[0] if len(tail) == 1 and draw(st.booleans()) else tail
    kwargs = {"normalized_shape": shape}
    if draw(st.booleans()):
        kwargs["elementwise_affine"] = draw(st.booleans())
    if op == "LayerNorm" and draw(st.booleans()):
        kwargs["bias"] = draw(st.booleans())
    x = (*sizes(draw, draw(st.integers(0, 2))), *(near(draw, v) for v in tail))
    if draw(st.integers(0, 9)) == 0:
        x = x[1:]
    return case(draw, op, kwargs, [x])


@SETTINGS
@given(layer_norm_cases())
def test_layer_norm(case: Case) -> None:
    check(case)


@st.composite
def group_norm_cases(draw) -> Case:
    groups = draw(st.integers(1, 3))
    channels = groups * draw(st.integers(1, 3))
    if draw(st.integers(0, 7)) == 0:
        channels += 1
    kwargs = {"num_groups": groups, "num_channels": channels}
    if draw(st.booleans()):
        kwargs["affine"] = draw(st.booleans())
    rank = draw(st.integers(1, 5))
    x = list(sizes(draw, rank, 3))
    if rank > 1:
        x[1] = near(draw, channels)
    return case(draw, "GroupNorm", kwargs, [tuple(x)])


@SETTINGS
@given(group_norm_cases())
def test_group_norm(case: Case) -> None:
    check(case)


@st.composite
def response_norm_cases(draw) -> Case:
    op = draw(st.sampled_from(["LocalResponseNorm", "CrossMapLRN2d"]))
    kwargs = {"size": draw(st.integers(1, 3))}
    x = sizes(draw, draw(st.sampled_from([1, 2, 3, 4, 4, 5])), 3)
    # CrossMapLRN2d's forward reads its input's values: not on the meta device
    return case(draw, op, kwargs, [x], device="cpu" if op == "CrossMapLRN2d" else "meta")


@settings(max_examples=60, deadline=None)
@given(response_norm_cases())
def test_response_norm(case: Case) -> None:
    check(case)


# ---------------------------------------------------------------------------- dense and utility


@st.composite
def linear_cases(draw) -> Case:
    op = draw(st.sampled_from(["Linear", "LazyLinear"]))
    in_f, out_f = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    kwargs = {"in_features": in_f, "out_features": out_f} if op == "Linear" else {"out_features": out_f}
    if draw(st.booleans()):
        kwargs["bias"] = draw(st.booleans())
    rank = draw(st.sampled_from([0, 1, 2, 2, 3, 4]))
    x = (*sizes(draw, rank - 1), near(draw, in_f)) if rank else ()
    return case(draw, op, kwargs, [x])


@SETTINGS
@given(linear_cases())
def test_linear(case: Case) -> None:
    check(case)


@st.composite
def bilinear_cases(draw) -> Case:
    in1, in2, out = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    kwargs = {"in1_features": in1, "in2_features": in2, "out_features": out}
    if draw(st.booleans()):
        kwargs["bias"] = draw(st.booleans())
    lead = sizes(draw, draw(st.integers(0, 2)), 3)
    lead2 = lead if draw(st.integers(0, 4)) else sizes(draw, draw(st.integers(0, 2)), 3)
    return case(draw, "Bilinear", kwargs, [(*lead, near(draw, in1)), (*lead2, near(draw, in2))])


@SETTINGS
@given(bilinear_cases())
def test_bilinear(case: Case) -> None:
    check(case)


@st.composite
def reshape_cases(draw) -> Case:
    op = draw(st.sampled_from(["Identity", "Flatten", "Unflatten"]))
    x = sizes(draw, draw(st.integers(0 if op != "Unflatten" else 1, 4)), 6)
    kwargs: dict = {}
    if op == "Flatten":
        for name in ("start_dim", "end_dim"):
            if draw(st.booleans()):
                kwargs[name] = draw(st.integers(-4, 3))
    elif op == "Unflatten":
        dim = draw(st.integers(-len(x) - 1, len(x)))
        total = x[dim] if -len(x) <= dim < len(x) else 6
        factors = [f for f in range(1, total + 1) if total % f == 0]
        first = draw(st.sampled_from(factors))
        split = [first, total // first]
        choice = draw(st.sampled_from(["exact", "infer", "wrong", "two-infer", "infer-wrong"]))
        if choice == "infer":
            split[draw(st.integers(0, 1))] = -1
        elif choice == "wrong":
            split[1] += 1
        elif choice == "two-infer":
            split = [-1, -1]
        elif choice == "infer-wrong":
            split = [-1, total + 1]
        kwargs = {"dim": dim, "unflattened_size": tuple(split)}
    return case(draw, op, kwargs, [x])


@SETTINGS
@given(reshape_cases())
def test_identity_flatten_unflatten(case: Case) -> None:
    check(case)


@st.composite
def embedding_cases(draw) -> Case:
    num, dim = draw(st.integers(1, 8)), draw(st.integers(1, 4))
    kwargs = {"num_embeddings": num, "embedding_dim": dim}
    if draw(st.booleans()):
        kwargs["padding_idx"] = draw(st.integers(-num - 1, num))
    x = sizes(draw, draw(st.integers(0, 3)))
    return case(draw, "Embedding", kwargs, [x], dtype=torch.long)


@SETTINGS
@given(embedding_cases())
def test_embedding(case: Case) -> None:
    check(case)


# ---------------------------------------------------------------------------- elementwise

ACTIVATION_ARGS = {"Threshold": {"threshold": 0.1, "value": 0.0}}
SOFTMAXES = ("Softmax", "LogSoftmax", "Softmin")
ACTIVATION_OPS = sorted(elementwise.ACTIVATIONS) + ["PReLU", "GLU", *elementwise.DROPOUTS]


@st.composite
def activation_cases(draw) -> Case:
    op = draw(st.sampled_from(ACTIVATION_OPS))
    kwargs = dict(ACTIVATION_ARGS.get(op, {}))
    x = sizes(draw, draw(st.integers(0, 5)), 4)
    if op in SOFTMAXES and draw(st.booleans()):
        kwargs["dim"] = draw(st.integers(-3, 3))
    elif op == "GLU" and draw(st.booleans()):
        kwargs["dim"] = draw(st.integers(-3, 3))
    elif op == "PReLU" and draw(st.booleans()):
        kwargs["num_parameters"] = draw(st.integers(1, 4))
        if len(x) > 1:
            x = (x[0], near(draw, kwargs["num_parameters"]), *x[2:])
    elif op in elementwise.DROPOUTS and draw(st.booleans()):
        kwargs["p"] = draw(st.sampled_from([0.0, 0.25, 1.0, 1.5, -0.5]))
    # meta's softmax skips the check that dim is in range
    return case(draw, op, kwargs, [x], device="cpu" if op in SOFTMAXES else "meta")


@settings(max_examples=600, deadline=None)
@given(activation_cases())
def test_activation_and_dropout(case: Case) -> None:
    check(case)


# ---------------------------------------------------------------------------- padding and resizing

PADS = [f"{kind}Pad{n}d" for kind in ("Zero", "Constant", "Reflection", "Replication", "Circular") for n in (1, 2, 3)]
UPSAMPLES = ["Upsample", "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d"]
SHUFFLES = ["PixelShuffle", "PixelUnshuffle", "ChannelShuffle"]


@st.composite
def pad_cases(draw) -> Case:
    op = draw(st.sampled_from(PADS))
    n = int(op[-2])
    values = st.integers(-1, 3)
    padding = draw(values) if draw(st.booleans()) else tuple(draw(values) for _ in range(2 * n))
    kwargs = {"padding": padding}
    if op.startswith("Constant"):
        kwargs["value"] = 0.5
    rank = draw(st.sampled_from([n, n + 1, n + 2, n + 2, n + 3]))
    return case(draw, op, kwargs, [sizes(draw, rank, 4)])


@settings(max_examples=400, deadline=None)
@given(pad_cases())
def test_padding_layers(case: Case) -> None:
    check(case)


MODES = ["nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact"]


@st.composite
def upsample_cases(draw) -> Case:
    op = draw(st.sampled_from(UPSAMPLES))
    rank = draw(st.sampled_from([2, 3, 3, 4, 4, 5, 5, 6]))
    n = max(rank - 2, 1)
    kwargs: dict = {}
    if draw(st.booleans()):
        size = st.integers(1, 5)
        kwargs["size"] = draw(size) if draw(st.booleans()) else tuple(draw(size) for _ in range(n))
    else:
        factor = st.sampled_from([1, 2, 3, 0.5, 1.5, 2.0, 0.34])
        kwargs["scale_factor"] = draw(factor) if draw(st.booleans()) else tuple(draw(factor) for _ in range(n))
    if op == "Upsample" and draw(st.booleans()):
        kwargs["mode"] = draw(st.sampled_from(MODES))
        if draw(st.booleans()):
            kwargs["align_corners"] = draw(st.booleans())
    # meta lets the interpolating modes make an empty output, which the cpu kernels refuse
    return case(draw, op, kwargs, [sizes(draw, rank, 4)], device="cpu")


@settings(max_examples=300, deadline=None)
@given(upsample_cases())
def test_upsample(case: Case) -> None:
    check(case)


@st.composite
def shuffle_cases(draw) -> Case:
    op = draw(st.sampled_from(SHUFFLES))
    factor = draw(st.integers(1, 3))
    arg = {"PixelShuffle": "upscale_factor", "PixelUnshuffle": "downscale_factor", "ChannelShuffle": "groups"}[op]
    rank = draw(st.sampled_from([2, 3, 4, 4, 5]))
    x = list(sizes(draw, rank, 4))
    if rank >= 3 and draw(st.booleans()):
        x[-3] = factor * factor if op == "PixelShuffle" else factor
    if op == "ChannelShuffle":  # channel_shuffle reads dim 1
        x = [*x[:1], factor * draw(st.integers(1, 2)), *x[2:]] if rank > 1 and draw(st.booleans()) else x
    return case(draw, op, {arg: factor}, [tuple(x)])


@SETTINGS
@given(shuffle_cases())
def test_shuffles(case: Case) -> None:
    check(case)


# ---------------------------------------------------------------------------- messages (torch on cpu)


@settings(max_examples=40, deadline=None)
@given(rank=st.integers(1, 4), data=st.data())
def test_linear_message(rank: int, data) -> None:
    in_f, out_f = data.draw(st.integers(1, 600)), data.draw(st.integers(1, 200))
    got = data.draw(st.integers(1, 599))
    got += got >= in_f
    x = (*(data.draw(st.integers(1, 3)) for _ in range(rank - 1)), got)
    assert check_message(Case("Linear", {"in_features": in_f, "out_features": out_f}, [x]))


def test_linear_message_lenet() -> None:
    assert check_message(Case("Linear", {"in_features": 400, "out_features": 120}, [(2, 576)]))


@settings(max_examples=40, deadline=None)
@given(n=st.sampled_from([1, 2, 3]), data=st.data())
def test_batch_norm_message(n: int, data) -> None:
    c = data.draw(st.integers(1, 6))
    got = data.draw(st.integers(1, 5))
    got += got >= c
    rank = 2 if n == 1 and data.draw(st.booleans()) else n + 2
    x = (2, got, *([2] * (rank - 2)))
    kwargs = {"num_features": c, "affine": data.draw(st.booleans()), "track_running_stats": data.draw(st.booleans())}
    assume(check_message(Case(f"BatchNorm{n}d", kwargs, [x])))


DRAWN = {*BATCH_NORMS, "LayerNorm", "RMSNorm", "GroupNorm", "LocalResponseNorm", "CrossMapLRN2d",
         "Linear", "LazyLinear", "Bilinear", "Identity", "Flatten", "Unflatten", "Embedding",
         *ACTIVATION_OPS, *PADS, *UPSAMPLES, *SHUFFLES}
"""The ops the strategies of this file draw (see test_rules_torch.test_every_rule_is_drawn)."""
