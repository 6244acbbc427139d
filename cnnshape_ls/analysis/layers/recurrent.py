"""Sequence layers: RNN, LSTM, GRU, MultiheadAttention, TransformerEncoderLayer."""

from __future__ import annotations

from .. import dims
from .base import Args, Call, CannotTell, LayerRule, Out, ShapeError

RNN_SIG = ("input_size", "hidden_size", "num_layers", "nonlinearity", "bias", "batch_first", "dropout",
           "bidirectional")
LSTM_SIG = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional",
            "proj_size")
RNN_DEFAULTS = {"num_layers": 1, "nonlinearity": "tanh", "bias": True, "batch_first": False, "dropout": 0.0,
                "bidirectional": False, "proj_size": 0}
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def recurrent(call: Call) -> Out:
    a = call.args
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


def recurrent_params(args: Args, resolved: dict):
    gates = GATES[args.op]
    inp = args.dim("input_size")
    hidden = args.dim("hidden_size")
    layers = args.int("num_layers")
    directions = 2 if args.flag("bidirectional") else 1
    total: dims.Dim = 0
    for layer in range(layers):
        layer_in = inp if layer == 0 else dims.mul(directions, hidden)
        per = dims.mul(gates, dims.add(dims.mul(hidden, layer_in), dims.mul(hidden, hidden)))
        if args.flag("bias"):
            per = dims.add(per, dims.mul(2 * gates, hidden))
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
    got = query[-1]
    if isinstance(got, int) and isinstance(embed, int) and got != embed:
        raise ShapeError("linear-in-features", f"was expecting embedding dimension of {embed}, but got {got}",
                         blame="embed_dim", expected=got)
    key = call.inputs[1] if len(call.inputs) > 1 and isinstance(call.inputs[1], tuple) else None
    if len(query) == 3:
        batch_first = a.flag("batch_first")
        batch = query[0] if batch_first else query[1]
        target = query[1] if batch_first else query[0]
        source = None if key is None or len(key) != 3 else (key[1] if batch_first else key[0])
        weights = (batch, target, source)
    else:
        source = None if key is None or len(key) != 2 else key[0]
        weights = (query[0], source)
    return (query, weights if None not in weights else None)


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
    got = x[-1] if x else None
    if isinstance(got, int) and isinstance(d_model, int) and got != d_model:
        raise ShapeError("linear-in-features", f"was expecting embedding dimension of {d_model}, but got {got}",
                         blame="d_model", expected=got)
    return x


def encoder_layer_params(args: Args, resolved: dict):
    e = args.dim("d_model")
    ff = args.dim("dim_feedforward")
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
    return layer.rule.infer(Call(layer.args, call.inputs))


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
    return dims.mul(args.int("num_layers"), encoder_layer_params(layer.args, resolved))


RULES = (
    LayerRule("RNN", "Recurrent", RNN_SIG, RNN_DEFAULTS, recurrent,
              "output = (L, N, D*hidden_size) (batch_first: (N, L, D*hidden_size)); h_n = (D*num_layers, N, "
              "hidden_size)", recurrent_params, "per layer and direction: hidden*(in + hidden) + 2*hidden"),
    LayerRule("LSTM", "Recurrent", LSTM_SIG, RNN_DEFAULTS, recurrent,
              "output = (L, N, D*hidden_size); (h_n, c_n) = (D*num_layers, N, hidden_size) each",
              recurrent_params, "per layer and direction: 4*(hidden*(in + hidden) + 2*hidden)"),
    LayerRule("GRU", "Recurrent", LSTM_SIG[:-1], RNN_DEFAULTS, recurrent,
              "output = (L, N, D*hidden_size); h_n = (D*num_layers, N, hidden_size)",
              recurrent_params, "per layer and direction: 3*(hidden*(in + hidden) + 2*hidden)"),
    LayerRule("MultiheadAttention", "Transformer",
              ("embed_dim", "num_heads", "dropout", "bias", "add_bias_kv", "add_zero_attn", "kdim", "vdim",
               "batch_first"),
              {"dropout": 0.0, "bias": True, "add_bias_kv": False, "add_zero_attn": False, "kdim": None,
               "vdim": None, "batch_first": False},
              attention, "attn_output = query's shape (L, N, E); attn_weights = (N, L, S)", attention_params,
              "4*embed_dim*embed_dim + 4*embed_dim"),
    LayerRule("TransformerEncoderLayer", "Transformer",
              ("d_model", "nhead", "dim_feedforward", "dropout", "activation", "layer_norm_eps", "batch_first",
               "norm_first", "bias"),
              {"dim_feedforward": 2048, "dropout": 0.1, "activation": "relu", "layer_norm_eps": 1e-5,
               "batch_first": False, "norm_first": False, "bias": True},
              encoder_layer, "out = in; the last dim must equal d_model", encoder_layer_params,
              "attention 4*d*d + 4*d, feed-forward 2*d*ff + ff + d, norms 4*d", parts=encoder_layer_parts),
    LayerRule("TransformerEncoder", "Transformer", ("encoder_layer", "num_layers", "norm", "enable_nested_tensor"),
              {"norm": None, "enable_nested_tensor": True}, encoder,
              "out = in; num_layers copies of encoder_layer", encoder_params,
              "num_layers * the encoder layer's parameters", parts=encoder_parts),
)
