"""Sequence layers: RNN, LSTM, GRU, MultiheadAttention, TransformerEncoderLayer."""

from __future__ import annotations

from .. import dims
from .base import Args, Call, CannotTell, LayerRule, Out, Shape, ShapeError, sequence_of

RNN_SIG = ("input_size", "hidden_size", "num_layers", "nonlinearity", "bias", "batch_first", "dropout",
           "bidirectional")
LSTM_SIG = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional",
            "proj_size")
RNN_DEFAULTS = {"num_layers": 1, "nonlinearity": "tanh", "bias": True, "batch_first": False, "dropout": 0.0,
                "bidirectional": False, "proj_size": 0}
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def recurrent(call: Call) -> Out:
    a = call.args
    _check_recurrent_args(a)
    x = call.x
    name = a.op
    if len(x) not in (2, 3):
        raise ShapeError("rank-mismatch", f"{name}: Expected input to be 2D or 3D, got {len(x)}D instead")
    want = a.dim("input_size")
    got = x[-1]
    if isinstance(got, int) and isinstance(want, int) and got != want:
        raise ShapeError("linear-in-features",
                         f"input.size(-1) must be equal to input_size. Expected {want}, got {got}",
                         blame="input_size", expected=got)
    hidden = a.dim("hidden_size")
    layers = a.dim("num_layers")
    directions = 2 if a.flag("bidirectional") else 1
    proj = a.get("proj_size") or 0
    out_size = proj if isinstance(proj, int) and proj > 0 else hidden
    out = (*x[:-1], dims.mul(directions, out_size))
    if len(x) == 3:
        batch = x[0] if a.flag("batch_first") else x[1]
        h = (dims.mul(directions, layers), batch, out_size)
        c = (dims.mul(directions, layers), batch, hidden)
    else:
        h = (dims.mul(directions, layers), out_size)
        c = (dims.mul(directions, layers), hidden)
    call.explain.append(f"out = (*, {directions}*{dims.to_text(out_size)}); h_n = {h}")
    return (out, (h, c)) if name == "LSTM" else (out, h)


def _check_recurrent_args(a: Args) -> None:
    """The constructor's checks on the arguments that shape the layer."""
    dropout, proj, hidden = a.get("dropout"), a.get("proj_size"), a.get("hidden_size")
    if isinstance(dropout, (int, float)) and not 0 <= dropout <= 1:
        raise ShapeError("bad-argument", "dropout should be a number in range [0, 1] representing the probability "
                         "of an element being zeroed")
    if a.op == "RNN" and a.get("nonlinearity") not in ("tanh", "relu") and isinstance(a.get("nonlinearity"), str):
        raise ShapeError("bad-argument", f"Unknown nonlinearity '{a.get('nonlinearity')}'. Select from 'tanh' or "
                         "'relu'.")
    if a.op == "LSTM" and isinstance(proj, int) and isinstance(hidden, int):
        if proj < 0:
            raise ShapeError("bad-argument", "proj_size should be a positive integer or zero to disable projections")
        if proj >= hidden:
            raise ShapeError("bad-argument", "proj_size has to be smaller than hidden_size")


def recurrent_params(args: Args, resolved: dict):
    gates = GATES[args.op]
    inp = args.dim("input_size")
    hidden = args.dim("hidden_size")
    layers = args.int("num_layers")
    directions = 2 if args.flag("bidirectional") else 1
    proj = args.get("proj_size") or 0 if args.op == "LSTM" else 0
    if not isinstance(proj, int):
        raise CannotTell("proj_size")
    out_size = proj or hidden  # an LSTM with proj_size projects h (weight_hr) to proj_size
    total: dims.Dim = 0
    for layer in range(layers):
        layer_in = inp if layer == 0 else dims.mul(directions, out_size)
        per = dims.mul(gates, dims.add(dims.mul(hidden, layer_in), dims.mul(hidden, out_size)))
        if args.flag("bias"):
            per = dims.add(per, dims.mul(2 * gates, hidden))
        if proj:
            per = dims.add(per, dims.mul(proj, hidden))
        total = dims.add(total, dims.mul(directions, per))
    return total


def attention(call: Call) -> Out:
    a = call.args
    query = call.x
    embed = a.dim("embed_dim")
    heads = a.dim("num_heads")
    if isinstance(embed, int) and isinstance(heads, int) and embed % heads:
        raise ShapeError("bad-argument", "embed_dim must be divisible by num_heads")
    if len(query) not in (2, 3):
        raise ShapeError("rank-mismatch", f"query should be unbatched 2D or batched 3D tensor but received "
                         f"{len(query)}-D query tensor")
    key = call.inputs[1] if len(call.inputs) > 1 and isinstance(call.inputs[1], tuple) else None
    value = call.inputs[2] if len(call.inputs) > 2 and isinstance(call.inputs[2], tuple) else key
    if key is not None and value is not None and (len(key), len(value)) != (len(query),) * 2:
        kind = "batched (3-D)" if len(query) == 3 else "unbatched (2-D)"
        raise ShapeError("rank-mismatch", f"For {kind} `query`, expected `key` and `value` to be {len(query)}-D but "
                         f"found {len(key)}-D and {len(value)}-D tensors respectively")
    got = query[-1]
    if isinstance(got, int) and isinstance(embed, int) and got != embed:
        raise ShapeError("linear-in-features", f"was expecting embedding dimension of {embed}, but got {got}",
                         blame="embed_dim", expected=got)
    batch_first = a.flag("batch_first") and len(query) == 3
    q, k, v = (None if t is None else _sequence_first(t, batch_first) for t in (query, key, value))
    if k is not None and v is not None:
        _check_key_value(a, q, k, v, embed, heads)
    source = None if k is None else k[0]
    extra = int(a.flag("add_bias_kv")) + int(a.flag("add_zero_attn"))  # a learnt and a zero position
    source = None if source is None else dims.add(source, extra)
    weights = (q[1], q[0], source) if len(query) == 3 else (q[0], source)
    return (query, weights if None not in weights else None)


def _sequence_first(x: tuple, batch_first: bool) -> tuple:
    """(L, N, E) as F.multi_head_attention_forward sees it: batch_first swapped, unbatched with N = 1."""
    if len(x) == 2:
        return (x[0], 1, x[1])
    return (x[1], x[0], x[2]) if batch_first else x


def _size_text(x: tuple) -> str:
    return f"torch.Size([{', '.join(dims.to_text(d) for d in x)}])"


def _check_key_value(a: Args, q: tuple, k: tuple, v: tuple, embed, heads) -> None:
    """Key and value agree with each other, with kdim and vdim, and with the query's batch."""
    kdim, vdim = a.get("kdim") or embed, a.get("vdim") or embed
    separate = kdim != embed or vdim != embed
    known = all(isinstance(d, int) for d in (*q, *k, *v, kdim, vdim, embed, heads))
    if not known:
        return
    if separate and k[:2] != v[:2]:
        raise ShapeError("add-mismatch", f"key's sequence and batch dims {_size_text(k[:2])} do not match value's "
                         f"{_size_text(v[:2])}")
    if not separate and k != v:
        raise ShapeError("add-mismatch", f"key shape {_size_text(k)} does not match value shape {_size_text(v)}")
    for name, x, want in (("key", k, kdim), ("value", v, vdim)):
        if x[2] == want:
            continue
        if separate:
            message = f"expecting {name} weights shape of ({embed}, {x[2]}), but got torch.Size([{embed}, {want}])"
        else:
            message = f"mat1 and mat2 shapes cannot be multiplied ({x[0] * x[1]}x{x[2]} and {embed}x{embed})"
        raise ShapeError("linear-in-features", message, blame=name[0] + "dim", expected=x[2])
    if k[1] != q[1]:
        raise ShapeError("add-mismatch", f"shape '[{k[0]}, {q[1] * heads}, {embed // heads}]' is invalid for input "
                         f"of size {k[0] * k[1] * embed}")


def attention_params(args: Args, resolved: dict):
    e = args.dim("embed_dim")
    kdim = args.get("kdim") or e
    vdim = args.get("vdim") or e
    if not all(isinstance(v, (int, dims.Expr)) for v in (kdim, vdim)):
        raise CannotTell("kdim")
    weights = dims.add(dims.mul(e, e), dims.add(dims.mul(e, kdim), dims.mul(e, vdim)))
    total = dims.add(weights, dims.mul(e, e))  # out_proj
    if args.flag("bias"):
        total = dims.add(total, dims.mul(4, e))
    if args.flag("add_bias_kv"):
        total = dims.add(total, dims.mul(2, e))
    return total


def encoder_layer(call: Call) -> Out:
    a = call.args
    x = call.x
    d_model = a.dim("d_model")
    heads = a.dim("nhead")
    if isinstance(d_model, int) and isinstance(heads, int) and d_model % heads:
        raise ShapeError("bad-argument", "embed_dim must be divisible by num_heads")
    if len(x) not in (2, 3):
        raise ShapeError("rank-mismatch", f"query should be unbatched 2D or batched 3D tensor but received "
                         f"{len(x)}-D query tensor")
    got = x[-1] if x else None
    if isinstance(got, int) and isinstance(d_model, int) and got != d_model:
        raise ShapeError("linear-in-features", f"was expecting embedding dimension of {d_model}, but got {got}",
                         blame="d_model", expected=got)
    return x


def encoder_layer_params(args: Args, resolved: dict):
    e = args.dim("d_model")
    ff = args.dim("dim_feedforward")
    if not args.flag("bias"):  # no biases anywhere, and the norms have a weight only
        return dims.add(dims.mul(4, dims.mul(e, e)), dims.add(dims.mul(2, dims.mul(e, ff)), dims.mul(2, e)))
    attn = dims.add(dims.mul(4, dims.mul(e, e)), dims.mul(4, e))
    feed = dims.add(dims.add(dims.mul(2, dims.mul(e, ff)), ff), e)
    return dims.add(dims.add(attn, feed), dims.mul(4, e))


def encoder_layer_parts(args: Args, x: Shape) -> list[tuple[str, str, Shape, Shape]]:
    """The submodule calls of ``TransformerEncoderLayer.forward`` in torch's order: (name, op, in, out)."""
    ff = args.dim("dim_feedforward")
    hidden = (*x[:-1], ff)
    act = args.get("activation")
    activation = [("activation", getattr(getattr(act, "rule", None), "op", "activation"), hidden, hidden)] \
        if _is_module(act) else []
    feed = [("linear1", "Linear", x, hidden), *activation, ("dropout", "Dropout", hidden, hidden),
            ("linear2", "Linear", hidden, x), ("dropout2", "Dropout", x, x)]
    if args.flag("norm_first"):
        return [("norm1", "LayerNorm", x, x), ("dropout1", "Dropout", x, x), ("norm2", "LayerNorm", x, x), *feed]
    return [("dropout1", "Dropout", x, x), ("norm1", "LayerNorm", x, x), *feed, ("norm2", "LayerNorm", x, x)]


def _is_module(value) -> bool:
    return hasattr(value, "rule") or type(value).__name__ in ("OpaqueModule", "Instance")


def encoder(call: Call) -> Out:
    layer = call.args.known("encoder_layer")
    if not hasattr(layer, "rule"):
        raise CannotTell("encoder_layer")
    try:
        return layer.rule.infer(Call(layer.args, call.inputs))
    except ShapeError as error:  # the argument to change is the encoder layer's, not one of ours
        raise ShapeError(error.code, error.message, recover=error.recover)


def encoder_parts(args: Args, x: Shape) -> list[tuple[str, str, Shape, Shape]]:
    layer = args.known("encoder_layer")
    count = args.int("num_layers")
    parts = []
    for i in range(count):
        parts += [(f"layers.{i}.{name}", op, shape_in, shape_out)
                  for name, op, shape_in, shape_out in encoder_layer_parts(layer.args, x)]
    norm = args.get("norm")
    if _is_module(norm):
        parts.append(("norm", getattr(getattr(norm, "rule", None), "op", "norm"), x, x))
    return parts


def encoder_params(args: Args, resolved: dict):
    layer = args.known("encoder_layer")
    if not hasattr(layer, "rule"):
        raise CannotTell("encoder_layer")
    total = dims.mul(args.int("num_layers"), encoder_layer_params(layer.args, resolved))
    norm = args.get("norm")
    if norm is not None and hasattr(norm, "rule"):
        norm_params = norm.rule.count_params(norm.args, {})
        if norm_params is None:
            raise CannotTell("norm")
        total = dims.add(total, norm_params)
    return total


RULES = (
    LayerRule("RNN", "Recurrent", RNN_SIG, RNN_DEFAULTS, recurrent,
              "output = (L, N, D*hidden_size) (batch_first: (N, L, D*hidden_size)); h_n = (D*num_layers, N, "
              "hidden_size)", recurrent_params, "per layer and direction: hidden*(in + hidden) + 2*hidden",
              input_template=sequence_of("input_size"), sequence=True),
    LayerRule("LSTM", "Recurrent", LSTM_SIG, RNN_DEFAULTS, recurrent,
              "output = (L, N, D*H_out); h_n = (D*num_layers, N, H_out); c_n = (D*num_layers, N, hidden_size); "
              "H_out = proj_size if proj_size > 0 else hidden_size",
              recurrent_params, "per layer and direction: 4*(hidden*(in + H_out) + 2*hidden) + proj_size*hidden",
              input_template=sequence_of("input_size"), sequence=True),
    LayerRule("GRU", "Recurrent", LSTM_SIG[:-1], RNN_DEFAULTS, recurrent,
              "output = (L, N, D*hidden_size); h_n = (D*num_layers, N, hidden_size)",
              recurrent_params, "per layer and direction: 3*(hidden*(in + hidden) + 2*hidden)",
              input_template=sequence_of("input_size"), sequence=True),
    LayerRule("MultiheadAttention", "Transformer",
              ("embed_dim", "num_heads", "dropout", "bias", "add_bias_kv", "add_zero_attn", "kdim", "vdim",
               "batch_first"),
              {"dropout": 0.0, "bias": True, "add_bias_kv": False, "add_zero_attn": False, "kdim": None,
               "vdim": None, "batch_first": False},
              attention, "attn_output = query's shape (L, N, E); attn_weights = (N, L, S), S one longer with "
              "add_bias_kv and one longer with add_zero_attn", attention_params,
              "embed_dim*(2*embed_dim + kdim + vdim) + 4*embed_dim (bias) + 2*embed_dim (add_bias_kv)",
              input_template=sequence_of("embed_dim"), sequence=True),
    LayerRule("TransformerEncoderLayer", "Transformer",
              ("d_model", "nhead", "dim_feedforward", "dropout", "activation", "layer_norm_eps", "batch_first",
               "norm_first", "bias"),
              {"dim_feedforward": 2048, "dropout": 0.1, "activation": "relu", "layer_norm_eps": 1e-5,
               "batch_first": False, "norm_first": False, "bias": True},
              encoder_layer, "out = in; the last dim must equal d_model", encoder_layer_params,
              "attention 4*d*d + 4*d, feed-forward 2*d*ff + ff + d, norms 4*d (bias=False: 4*d*d + 2*d*ff + 2*d)",
              parts=encoder_layer_parts, input_template=sequence_of("d_model"), sequence=True),
    LayerRule("TransformerEncoder", "Transformer", ("encoder_layer", "num_layers", "norm", "enable_nested_tensor"),
              {"norm": None, "enable_nested_tensor": True}, encoder,
              "out = in; num_layers copies of encoder_layer", encoder_params,
              "num_layers * the encoder layer's parameters + the norm's", parts=encoder_parts, sequence=True),
)
