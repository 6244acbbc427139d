"""Shape rules of recurrent layers, attention, transformer layers and unpooling, checked against torch.

See torch_rules_harness for what is compared. Also: a rule's ``parts`` (the submodule
calls of a composite layer) are the leaf module calls torch makes, seen through hooks.
"""

from __future__ import annotations

import warnings

import pytest

pytest.importorskip("torch")

import torch  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from cnnshape_ls.analysis.layers import RULES  # noqa: E402

from torch_rules_harness import (  # noqa: E402
    Case,
    Module,
    _rule_value,
    _torch_value,
    check,
    check_message,
    near,
    positional_count,
)

pytestmark = pytest.mark.torch

SETTINGS = settings(max_examples=300, deadline=None)


def case(draw, op: str, kwargs: dict, inputs: list, **extra) -> Case:
    return Case(op, kwargs, inputs, positional_count(draw, op, kwargs), **extra)


# ---------------------------------------------------------------------------- recurrent


@st.composite
def recurrent_cases(draw) -> Case:
    op = draw(st.sampled_from(["RNN", "LSTM", "GRU"]))
    in_size, hidden = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    kwargs = {"input_size": in_size, "hidden_size": hidden}
    for name, values in (("num_layers", st.integers(1, 3)), ("bias", st.booleans()), ("batch_first", st.booleans()),
                         ("bidirectional", st.booleans()), ("dropout", st.sampled_from([0.0, 0.5]))):
        if draw(st.booleans()):
            kwargs[name] = draw(values)
    if op == "RNN" and draw(st.booleans()):
        kwargs["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    if op == "LSTM" and draw(st.booleans()):
        kwargs["proj_size"] = draw(st.integers(0, hidden))  # proj_size == hidden_size is refused
    rank = draw(st.sampled_from([1, 2, 3, 3, 3, 4]))
    x = (*(draw(st.integers(1, 3)) for _ in range(rank - 1)), near(draw, in_size))
    return case(draw, op, kwargs, [x])


@SETTINGS
@given(recurrent_cases())
def test_recurrent(case: Case) -> None:
    check(case)


# ---------------------------------------------------------------------------- attention


@st.composite
def attention_cases(draw) -> Case:
    heads = draw(st.integers(1, 3))
    embed = heads * draw(st.integers(1, 3))
    if draw(st.integers(0, 9)) == 0:
        embed += 1
    kwargs: dict = {"embed_dim": embed, "num_heads": heads}
    kdim = vdim = embed
    if draw(st.integers(0, 2)) == 0:
        kdim, vdim = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        kwargs.update(kdim=kdim, vdim=vdim)
    for name in ("bias", "add_bias_kv", "add_zero_attn", "batch_first"):
        if draw(st.booleans()):
            kwargs[name] = draw(st.booleans())
    batch_first = kwargs.get("batch_first", False)
    batched = draw(st.integers(0, 3)) > 0
    batch, target, source = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 4))

    def seq(length: int, features: int) -> tuple[int, ...]:
        if not batched:
            return (length, features)
        b = near(draw, batch)
        return (b, length, features) if batch_first else (length, b, features)

    query = seq(target, near(draw, embed))
    key = seq(source, near(draw, kdim))
    value = seq(near(draw, source), near(draw, vdim))
    if draw(st.integers(0, 19)) == 0:
        key = key[1:]
    if draw(st.integers(0, 19)) == 0:
        query = (1, *query)
    return case(draw, "MultiheadAttention", kwargs, [query, key, value])


@settings(max_examples=200, deadline=None)
@given(attention_cases())
def test_multihead_attention(case: Case) -> None:
    check(case)


# ---------------------------------------------------------------------------- transformer


@st.composite
def encoder_layer_kwargs(draw) -> dict:
    heads = draw(st.integers(1, 3))
    d_model = heads * draw(st.integers(1, 3))
    if draw(st.integers(0, 9)) == 0:
        d_model += 1
    kwargs: dict = {"d_model": d_model, "nhead": heads, "dim_feedforward": draw(st.integers(1, 8))}
    for name in ("batch_first", "norm_first", "bias"):
        if draw(st.booleans()):
            kwargs[name] = draw(st.booleans())
    if draw(st.booleans()):
        kwargs["activation"] = draw(st.sampled_from(["relu", "gelu"]))
    return kwargs


def sequence_input(draw, d_model: int) -> tuple[int, ...]:
    rank = draw(st.sampled_from([1, 2, 3, 3, 3, 4]))
    return (*(draw(st.integers(1, 3)) for _ in range(rank - 1)), near(draw, d_model))


@st.composite
def encoder_layer_cases(draw) -> Case:
    kwargs = draw(encoder_layer_kwargs())
    return case(draw, "TransformerEncoderLayer", kwargs, [sequence_input(draw, kwargs["d_model"])])


@SETTINGS
@given(encoder_layer_cases())
def test_transformer_encoder_layer(case: Case) -> None:
    check(case)


@st.composite
def encoder_cases(draw) -> Case:
    layer = draw(encoder_layer_kwargs())
    kwargs: dict = {"encoder_layer": Module("TransformerEncoderLayer", layer), "num_layers": draw(st.integers(1, 2))}
    if draw(st.booleans()):
        kwargs["norm"] = Module("LayerNorm", {"normalized_shape": layer["d_model"]})
    return case(draw, "TransformerEncoder", kwargs, [sequence_input(draw, layer["d_model"])])


@settings(max_examples=60, deadline=None)
@given(encoder_cases())
def test_transformer_encoder(case: Case) -> None:
    check(case)


def torch_leaf_calls(case: Case) -> list[tuple]:
    """(name, op, input shape, output shape) of each leaf module call torch makes, in order."""
    positional, keywords = case.split()
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = getattr(torch.nn, case.op)(*map(_torch_value, positional),
                                            **{k: _torch_value(v) for k, v in keywords.items()})
    calls = []
    for name, sub in module.named_modules():
        if name and not list(sub.children()):
            sub.register_forward_hook(lambda m, args, out, name=name: calls.append(
                (name, type(m).__name__, tuple(args[0].shape), tuple(out.shape))))
    module(*(torch.empty(shape, device="meta") for shape in case.inputs))
    return calls


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_transformer_parts(data) -> None:
    """What a composite rule says its submodules do is what torch's hooks see."""
    layer = data.draw(encoder_layer_kwargs().filter(lambda k: k["d_model"] % k["nhead"] == 0))
    if data.draw(st.booleans()):
        layer["activation"] = Module("GELU", {})
    if data.draw(st.booleans()):
        test_case = Case("TransformerEncoderLayer", layer, [])
    else:
        kwargs = {"encoder_layer": Module("TransformerEncoderLayer", layer), "num_layers": data.draw(st.integers(1, 2))}
        if data.draw(st.booleans()):
            kwargs["norm"] = Module("LayerNorm", {"normalized_shape": layer["d_model"]})
        test_case = Case("TransformerEncoder", kwargs, [])
    x = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)), layer["d_model"])
    test_case.inputs = [x]
    rule = RULES[test_case.op]
    args = rule.bind([], {k: _rule_value(v) for k, v in test_case.kwargs.items()})
    parts = rule.parts(args, x)
    seen = torch_leaf_calls(test_case)
    if parts and len(parts[0]) == 2:  # (name, output shape)
        seen = [(name, out) for name, _, _, out in seen]
    assert [tuple(p) for p in parts] == seen


# ---------------------------------------------------------------------------- unpooling


@st.composite
def unpool_cases(draw) -> Case:
    n = draw(st.sampled_from([1, 2, 3]))
    kwargs = {"kernel_size": draw(st.integers(1, 3))}
    if draw(st.booleans()):
        kwargs["stride"] = draw(st.integers(1, 3))
    if draw(st.booleans()):
        kwargs["padding"] = draw(st.integers(0, 2))
    rank = draw(st.sampled_from([n, n + 1, n + 2, n + 2]))
    x = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    # forward(input, indices): indices of the same shape (zeros are valid positions)
    return case(draw, f"MaxUnpool{n}d", kwargs, [x, x], dtype=(None, torch.long), device="cpu")


@SETTINGS
@given(unpool_cases())
def test_max_unpool(case: Case) -> None:
    check(case)


@SETTINGS
@given(n=st.sampled_from([1, 2, 3]), data=st.data())
def test_max_unpool_indices_of_another_shape(n: int, data) -> None:
    """Indices that are not of the input's shape (a channel count changed between the pool and the unpool):
    torch's words on cpu, a 1-D unpool showing both shapes with a trailing 1."""
    x = (2, *(data.draw(st.integers(1, 3)) for _ in range(n + 1)))
    axis = data.draw(st.integers(1, n + 1))
    indices = tuple(d + data.draw(st.integers(1, 2)) if i == axis else d for i, d in enumerate(x))
    kwargs = {"kernel_size": data.draw(st.integers(1, 3))}
    assert check_message(Case(f"MaxUnpool{n}d", kwargs, [x, indices], dtype=(None, torch.long), device="cpu"))


DRAWN = {"RNN", "LSTM", "GRU", "MultiheadAttention", "TransformerEncoderLayer", "TransformerEncoder",
         "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d"}
"""The ops the strategies of this file draw (see test_rules_torch.test_every_rule_is_drawn)."""
