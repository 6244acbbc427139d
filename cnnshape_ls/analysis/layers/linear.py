"""Dense layers and reshaping layers: Linear, Bilinear, Identity, Flatten, Unflatten, Embedding."""

from __future__ import annotations

from .. import dims
from .. import dims as _dims
from .base import (
    Args,
    Call,
    CannotTell,
    Functional,
    LayerRule,
    Out,
    ShapeError,
    features_last,
    fmt_shape,
    size_arg,
)
from .floats import any_float, check_allocation


def _mat_text(d: dims.Dim | None) -> str:
    text = dims.to_text(d)
    return f"({text})" if " " in text else text


def linear(call: Call) -> Out:
    if call.args.op == "Linear":  # the constructor's weight, (out_features, in_features)
        check_allocation("empty", [(call.args.get("out_features"), "out_features"),
                                   (call.args.get("in_features"), "in_features")])
    x = call.x
    out_f = call.args.dim("out_features")
    if not x:
        raise ShapeError("rank-mismatch", "both arguments to linear need to be at least 1D, but they are 0D and 2D")
    got = x[-1]
    if call.args.op == "LazyLinear":
        call.resolved["in_features"] = got
    else:
        _check_in_features(call, x, call.args.dim("in_features"), out_f)
    return (*x[:-1], out_f)


def _check_in_features(call: Call, x: tuple, want: dims.Dim | None, out_f: dims.Dim | None) -> None:
    """torch's matmul error where the input's last dim and ``in_features`` are both known and differ."""
    got = x[-1]
    if isinstance(got, int) and isinstance(want, int) and got != want:
        rows = dims.product(x[:-1]) if len(x) > 1 and all(d is not None for d in x[:-1]) else 1 \
            if len(x) == 1 else None
        raise ShapeError(
            "linear-in-features",
            f"mat1 and mat2 shapes cannot be multiplied ({_mat_text(rows)}x{got} and {want}x{dims.to_text(out_f)})",
            blame="in_features", expected=got, recover=(*x[:-1], out_f))
    call.explain.append(f"out_features = {dims.to_text(out_f)}; in_features = {dims.to_text(want)}")


def linear_partial(call: Call) -> Out:
    """A Linear with an unknown argument: the width is ``out_features`` where that is known; the input's
    last dim is checked against ``in_features`` only where both are known."""
    x = call.x
    if not x or any_float(call.args.get("in_features"), call.args.get("out_features")):
        raise CannotTell("input")
    out_f = size_arg(call.args, "out_features")
    got = x[-1]
    if call.args.op == "LazyLinear":
        if got is not None:
            call.resolved["in_features"] = got
        return (*x[:-1], out_f)
    _check_in_features(call, x, size_arg(call.args, "in_features"), out_f)
    return (*x[:-1], out_f)


def embedding_partial(call: Call) -> Out:
    """An Embedding with an unknown argument: one vector per index, of ``embedding_dim`` where known."""
    if any_float(call.args.get("num_embeddings"), call.args.get("embedding_dim")):
        raise CannotTell("a float argument")
    return (*call.x, size_arg(call.args, "embedding_dim"))


def linear_params(args: Args, resolved: dict):
    in_f = resolved.get("in_features", args.values.get("in_features"))
    if not isinstance(in_f, (int, dims.Expr)) or isinstance(in_f, bool):
        raise CannotTell("in_features")
    out_f = args.dim("out_features")
    weights = dims.mul(in_f, out_f)
    return dims.add(weights, out_f) if args.flag("bias") else weights


def bilinear(call: Call) -> Out:
    names = ("out_features", "in1_features", "in2_features")
    check_allocation("empty", [(call.args.get(name), name) for name in names])
    if len(call.inputs) < 2 or not isinstance(call.inputs[1], tuple):
        raise CannotTell("input2")
    x1, x2 = call.x, call.inputs[1]
    if len(x1) != len(x2):
        raise ShapeError("rank-mismatch", f"bilinear(): input dimensions do not match: got {len(x1)} and {len(x2)}")
    for i, (a, b) in enumerate(zip(x1[:-1], x2[:-1])):
        if isinstance(a, int) and isinstance(b, int) and a != b:
            raise ShapeError("add-mismatch", f"bilinear(): input batch dimensions do not match at dim {i}: "
                             f"got {a} and {b}")
    for i, (x, name) in enumerate(((x1, "in1_features"), (x2, "in2_features")), start=1):
        want = call.args.dim(name)
        if x and isinstance(x[-1], int) and isinstance(want, int) and x[-1] != want:
            raise ShapeError("linear-in-features",
                             f"bilinear(): input{i} size does not match weight size: got {x[-1]} but expected {want}",
                             blame=name, expected=x[-1], recover=(*x[:-1], call.args.dim("out_features")))
    return (*x1[:-1], call.args.dim("out_features"))


def bilinear_params(args: Args, resolved: dict):
    out_f = args.dim("out_features")
    w = dims.mul(dims.mul(args.dim("in1_features"), args.dim("in2_features")), out_f)
    return dims.add(w, out_f) if args.flag("bias") else w


def identity(call: Call) -> Out:
    if not call.inputs:
        raise CannotTell("input")
    return call.inputs[0]


def normalize_dim(d: int, rank: int) -> int:
    """A possibly negative dim as an index, raising torch's IndexError text."""
    low, high = -max(rank, 1), max(rank, 1) - 1
    if not low <= d <= high:
        raise ShapeError("rank-mismatch",
                         f"Dimension out of range (expected to be in range of [{low}, {high}], but got {d})")
    return d % max(rank, 1)


def flatten_shape(x: tuple, start: int, end: int) -> tuple:
    s, e = normalize_dim(start, len(x)), normalize_dim(end, len(x))
    if not x:
        return (1,)
    if s > e:
        raise ShapeError("rank-mismatch", "flatten() has invalid args: start_dim cannot come after end_dim")
    middle = x[s:e + 1]
    merged = dims.product(middle) if all(d is not None for d in middle) else None
    return (*x[:s], merged, *x[e + 1:])


def flatten(call: Call) -> Out:
    x = call.x
    out = flatten_shape(x, call.args.int("start_dim"), call.args.int("end_dim"))
    call.explain.append(f"{fmt_shape(x)} -> {fmt_shape(out)}")
    return out


def unflatten(call: Call) -> Out:
    x = call.x
    d = normalize_dim(call.args.int("dim"), len(x))
    sizes = call.args.known("unflattened_size")
    if not isinstance(sizes, (list, tuple)) or not all(isinstance(s, int) for s in sizes):
        raise CannotTell("unflattened_size")
    sizes = list(sizes)
    total = x[d]
    if sizes.count(-1) > 1:
        raise ShapeError("view-invalid", "only one dimension can be inferred")
    rest = dims.product([s for s in sizes if s != -1])
    if isinstance(total, int) and (total % rest if -1 in sizes and rest else rest != total):
        raise ShapeError("view-invalid",
                         f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of dim {d} "
                         f"({total}) in the input tensor")
    if -1 in sizes:
        inferred = None if total is None else dims.exact_div(total, rest)
        if inferred is None:
            raise CannotTell("inferred size")
        sizes[sizes.index(-1)] = inferred
    return (*x[:d], *sizes, *x[d + 1:])


def embedding(call: Call) -> Out:
    check_allocation("empty", [(call.args.get(name), name) for name in ("num_embeddings", "embedding_dim")])
    num, index = call.args.dim("num_embeddings"), call.args.get("padding_idx")
    if isinstance(num, int) and isinstance(index, int) and not -num <= index < num:
        raise ShapeError("bad-argument", "Padding_idx must be within num_embeddings")
    return (*call.x, call.args.dim("embedding_dim"))


def embedding_params(args: Args, resolved: dict):
    return dims.mul(args.dim("num_embeddings"), args.dim("embedding_dim"))


def linear_weights(args: Args, name: str) -> tuple:
    """``weight`` (out_features, in_features), ``bias`` (out_features,)."""
    if name == "weight":
        return (args.get("out_features"), args.get("in_features"))
    return (args.get("out_features"),)


def embedding_weights(args: Args, name: str) -> tuple | None:
    return (args.get("num_embeddings"), args.get("embedding_dim")) if name == "weight" else None


RULES = (
    LayerRule("Linear", "Linear", ("in_features", "out_features", "bias"), {"bias": True}, linear,
              "out = (*, out_features); the input's last dim must equal in_features", linear_params,
              "in_features*out_features + out_features (bias)",
              functional=(Functional("linear", ("weight", "bias"), weighted=True),),
              input_template=features_last("in_features"), weights=linear_weights, producer_arg="out_features",
              partial=linear_partial),
    LayerRule("LazyLinear", "Linear", ("out_features", "bias"), {"bias": True}, linear,
              "out = (*, out_features); in_features taken from the input's last dim", linear_params,
              "in_features*out_features + out_features (bias)", producer_arg="out_features",
              partial=linear_partial),
    LayerRule("Bilinear", "Linear", ("in1_features", "in2_features", "out_features", "bias"), {"bias": True},
              bilinear, "out = (*, out_features) from inputs (*, in1_features) and (*, in2_features)",
              bilinear_params, "in1_features*in2_features*out_features + out_features"),
    LayerRule("Identity", "Utility", (), {}, identity, "out = in"),
    LayerRule("Flatten", "Utility", ("start_dim", "end_dim"), {"start_dim": 1, "end_dim": -1}, flatten,
              "out = in with dims start_dim..end_dim multiplied into one"),
    LayerRule("Unflatten", "Utility", ("dim", "unflattened_size"), {}, unflatten,
              "out = in with dim split into unflattened_size"),
    LayerRule("Embedding", "Sparse", ("num_embeddings", "embedding_dim", "padding_idx", "max_norm", "norm_type",
                                      "scale_grad_by_freq", "sparse"), {"padding_idx": None}, embedding,
              "out = (*in, embedding_dim)", embedding_params, "num_embeddings*embedding_dim",
              input_template=lambda args, batch: (batch, _dims.sym("L")), weights=embedding_weights, sequence=True,
              partial=embedding_partial),
)
