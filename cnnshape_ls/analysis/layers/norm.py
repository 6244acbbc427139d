"""Normalisation: BatchNorm, InstanceNorm, LayerNorm, GroupNorm, RMSNorm, LocalResponseNorm."""

from __future__ import annotations

from .. import dims
from .base import Args, Call, CannotTell, LayerRule, Out, ShapeError, fmt_shape

BN_SIG = ("num_features", "eps", "momentum", "affine", "track_running_stats")
BN_DEFAULTS = {"eps": 1e-5, "momentum": 0.1, "affine": True, "track_running_stats": True}
IN_DEFAULTS = {"eps": 1e-5, "momentum": 0.1, "affine": False, "track_running_stats": False}


def batch_norm(n: int, lazy: bool = False):
    ranks = {1: (2, 3), 2: (4,), 3: (5,)}[n]

    def infer(call: Call) -> Out:
        x = call.x
        if len(x) not in ranks:
            wanted = " or ".join(f"{r}D" for r in ranks)
            raise ShapeError("rank-mismatch", f"expected {wanted} input (got {len(x)}D input)")
        got = x[1]
        if lazy:
            call.resolved["num_features"] = got
            return x
        want = call.args.dim("num_features")
        if isinstance(got, int) and isinstance(want, int) and got != want:
            raise ShapeError("norm-num-features", f"running_mean should contain {got} elements not {want}",
                             blame="num_features", expected=got, recover=x)
        call.explain.append(f"out = in: normalises each of the {dims.to_text(want)} channels")
        return x

    return infer


def instance_norm(n: int, lazy: bool = False):
    def infer(call: Call) -> Out:
        x = call.x
        if len(x) not in (n + 1, n + 2):
            raise ShapeError("rank-mismatch", f"expected {n + 1}D or {n + 2}D input (got {len(x)}D input)")
        got = x[len(x) - n - 1]
        if lazy:
            call.resolved["num_features"] = got
            return x
        want = call.args.dim("num_features")
        affine = call.args.get("affine") is True
        if isinstance(got, int) and isinstance(want, int) and got != want and affine:
            raise ShapeError("norm-num-features",
                             f"expected input's size at dim={len(x) - n - 1} to match num_features ({want}), "
                             f"but got: {got}.", blame="num_features", expected=got, recover=x)
        return x

    return infer


def layer_norm(call: Call) -> Out:
    x = call.x
    shape = call.args.known("normalized_shape")
    shape = tuple(shape) if isinstance(shape, (list, tuple)) else (shape,)
    tail = x[len(x) - len(shape):] if len(shape) <= len(x) else None
    if tail is not None and all(isinstance(v, int) for v in shape) and all(isinstance(v, int) for v in tail) \
            and tuple(tail) != shape:
        expected = tail[0] if len(shape) == 1 else tuple(tail)
        raise ShapeError("norm-num-features",
                         f"Given normalized_shape={list(shape)}, expected input with shape "
                         f"[*, {', '.join(str(v) for v in shape)}], but got input of size{fmt_shape(x)}",
                         blame="normalized_shape", expected=expected, recover=x)
    return x


def group_norm(call: Call) -> Out:
    x = call.x
    groups = call.args.dim("num_groups")
    channels = call.args.dim("num_channels")
    if isinstance(groups, int) and isinstance(channels, int) and channels % groups:
        raise ShapeError("bad-argument", "num_channels must be divisible by num_groups")
    if len(x) < 2:
        raise ShapeError("rank-mismatch", f"Expected at least 2 dimensions for input tensor but received {len(x)}")
    got = x[1]
    if isinstance(got, int) and isinstance(channels, int) and got != channels:
        raise ShapeError("norm-num-features",
                         f"Expected weight to be a vector of size equal to the number of channels in input, "
                         f"but got weight of shape [{channels}] and input of shape {fmt_shape(x)}",
                         blame="num_channels", expected=got, recover=x)
    return x


def same(call: Call) -> Out:
    return call.x


def bn_params(args: Args, resolved: dict):
    if not args.flag("affine"):
        return 0
    return dims.mul(2, resolved.get("num_features", args.dim("num_features")))


def ln_params(args: Args, resolved: dict):
    shape = args.known("normalized_shape")
    shape = tuple(shape) if isinstance(shape, (list, tuple)) else (shape,)
    if not args.flag("elementwise_affine"):
        return 0
    size = dims.product([v if isinstance(v, (int, dims.Expr)) else _unknown() for v in shape])
    return dims.mul(2 if args.flag("bias") else 1, size)


def rms_params(args: Args, resolved: dict):
    shape = args.known("normalized_shape")
    shape = tuple(shape) if isinstance(shape, (list, tuple)) else (shape,)
    if not args.flag("elementwise_affine"):
        return 0
    return dims.product([v if isinstance(v, (int, dims.Expr)) else _unknown() for v in shape])


def gn_params(args: Args, resolved: dict):
    return dims.mul(2, args.dim("num_channels")) if args.flag("affine") else 0


def _unknown():
    raise CannotTell("normalized_shape")


def _rules() -> tuple[LayerRule, ...]:
    rules = []
    for n in (1, 2, 3):
        rules.append(LayerRule(f"BatchNorm{n}d", "Normalization", BN_SIG, BN_DEFAULTS, batch_norm(n),
                               "out = in; num_features must equal the input's channels (dim 1)",
                               bn_params, "2*num_features (weight and bias, if affine)"))
        rules.append(LayerRule(f"LazyBatchNorm{n}d", "Normalization", BN_SIG[1:], BN_DEFAULTS,
                               batch_norm(n, lazy=True), "out = in; num_features taken from the input",
                               bn_params, "2*num_features (if affine)"))
        rules.append(LayerRule(f"InstanceNorm{n}d", "Normalization", BN_SIG, IN_DEFAULTS, instance_norm(n),
                               "out = in; num_features must equal the channels when affine",
                               bn_params, "2*num_features (if affine)"))
        rules.append(LayerRule(f"LazyInstanceNorm{n}d", "Normalization", BN_SIG[1:], IN_DEFAULTS,
                               instance_norm(n, lazy=True), "out = in", bn_params, "2*num_features (if affine)"))
    rules += [
        LayerRule("SyncBatchNorm", "Normalization", BN_SIG + ("process_group",), BN_DEFAULTS,
                  batch_norm(2), "out = in", bn_params, "2*num_features (if affine)"),
        LayerRule("LayerNorm", "Normalization", ("normalized_shape", "eps", "elementwise_affine", "bias"),
                  {"eps": 1e-5, "elementwise_affine": True, "bias": True}, layer_norm,
                  "out = in; the last dims must equal normalized_shape", ln_params,
                  "2*prod(normalized_shape) (if elementwise_affine)"),
        LayerRule("RMSNorm", "Normalization", ("normalized_shape", "eps", "elementwise_affine"),
                  {"eps": None, "elementwise_affine": True}, layer_norm,
                  "out = in; the last dims must equal normalized_shape", rms_params, "prod(normalized_shape)"),
        LayerRule("GroupNorm", "Normalization", ("num_groups", "num_channels", "eps", "affine"),
                  {"eps": 1e-5, "affine": True}, group_norm,
                  "out = in; num_channels must equal dim 1 and be divisible by num_groups", gn_params,
                  "2*num_channels (if affine)"),
        LayerRule("LocalResponseNorm", "Normalization", ("size", "alpha", "beta", "k"),
                  {"alpha": 1e-4, "beta": 0.75, "k": 1.0}, same, "out = in"),
        LayerRule("CrossMapLRN2d", "Normalization", ("size", "alpha", "beta", "k"),
                  {"alpha": 1e-4, "beta": 0.75, "k": 1}, same, "out = in"),
    ]
    return tuple(rules)


RULES = _rules()
