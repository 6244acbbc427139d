"""Normalisation: BatchNorm, InstanceNorm, LayerNorm, GroupNorm, RMSNorm, LocalResponseNorm."""

from __future__ import annotations

from .. import dims
from ..dims import Dim
from .base import Args, Call, CannotTell, LayerRule, Out, Shape, ShapeError, channels_first, features_last, fmt_shape
from .floats import check_scalar_allocation, float_error, is_float

BN_SIG = ("num_features", "eps", "momentum", "affine", "track_running_stats")
BN_DEFAULTS = {"eps": 1e-5, "momentum": 0.1, "affine": True, "track_running_stats": True}
IN_DEFAULTS = {"eps": 1e-5, "momentum": 0.1, "affine": False, "track_running_stats": False}
LAZY_IN_DEFAULTS = {"eps": 1e-5, "momentum": 0.1, "affine": True, "track_running_stats": True}
"""Unlike InstanceNorm, LazyInstanceNorm is affine and tracks running statistics by default."""


def _check_norm_allocation(a: Args) -> bool:
    """_NormBase allocates weight and bias (affine), then the running statistics: a float count fails there.
    Without either it allocates nothing, and the count is never read: True, the rule skips it."""
    count = a.get("num_features")
    if not is_float(count):
        return False
    if a.flag("affine"):
        check_scalar_allocation("empty", count, "num_features")
    if a.flag("track_running_stats"):
        check_scalar_allocation("zeros", count, "num_features")
    return True


def batch_norm(n: int | None, lazy: bool = False):
    """``n`` None is SyncBatchNorm, which takes any input of at least 2 dims."""
    ranks = {1: (2, 3), 2: (4,), 3: (5,), None: ()}[n]

    def infer(call: Call) -> Out:
        unread = not lazy and _check_norm_allocation(call.args)  # the constructor, before any input
        x = call.x
        if n is None and len(x) < 2:
            raise ShapeError("rank-mismatch", f"expected at least 2D input (got {len(x)}D input)")
        if n is not None and len(x) not in ranks:
            wanted = " or ".join(f"{r}D" for r in ranks)
            raise ShapeError("rank-mismatch", f"expected {wanted} input (got {len(x)}D input)")
        got = x[1]
        a = call.args
        if lazy:
            call.resolved["num_features"] = got
        want = got if lazy or unread else a.dim("num_features")
        track = a.flag("track_running_stats")
        if not track:  # without running statistics, batch statistics are used in eval mode too
            _check_values_per_channel(x, "value per channel", x[0], *x[2:])
        checked = "running_mean" if track else "weight" if a.flag("affine") else None
        if checked and isinstance(got, int) and isinstance(want, int) and got != want:
            raise ShapeError("norm-num-features", f"{checked} should contain {got} elements not {want}",
                             blame="num_features", expected=got, recover=x)
        call.explain.append(f"out = in: normalises each of the {dims.to_text(want)} channels")
        return x

    return infer


def _check_values_per_channel(x: Shape, what: str, *counted: Dim | None) -> None:
    """F.batch_norm / F.instance_norm refuse to normalise a single value (training, or no running stats)."""
    if all(isinstance(v, int) for v in counted) and dims.product(list(counted)) == 1:
        raise ShapeError("output-too-small", f"Expected more than 1 {what} when training, got input size "
                         f"torch.Size({list(x)})")


def instance_norm(n: int, lazy: bool = False):
    def infer(call: Call) -> Out:
        unread = not lazy and _check_norm_allocation(call.args)
        x = call.x
        a = call.args
        if len(x) not in (n + 1, n + 2):
            raise ShapeError("rank-mismatch", f"expected {n + 1}D or {n + 2}D input (got {len(x)}D input)")
        axis = len(x) - n - 1
        got = x[axis]
        if lazy:  # a lazy norm reads num_features from dim 1, even of an unbatched input
            call.resolved["num_features"] = x[1]
        want = x[1] if lazy else None if unread else a.dim("num_features")
        mismatch = isinstance(got, int) and isinstance(want, int) and got != want
        if mismatch and a.flag("affine"):
            raise ShapeError("norm-num-features",
                             f"expected input's size at dim={axis} to match num_features ({want}), "
                             f"but got: {got}.", blame=None if lazy else "num_features", expected=got, recover=x)
        batched = (1,) * (axis == 0) + tuple(x)  # an unbatched input is normalised as a batch of one
        if not a.flag("track_running_stats"):
            _check_values_per_channel(batched, "spatial element", *batched[2:])
        elif mismatch:
            batch = batched[0]
            raise ShapeError("norm-num-features", f"running_mean should contain {dims.to_text(dims.mul(batch, got))} "
                             f"elements not {dims.to_text(dims.mul(batch, want))}",
                             blame=None if lazy else "num_features", expected=got, recover=x)
        return x

    return infer


def layer_norm(call: Call) -> Out:
    shape = call.args.known("normalized_shape")
    if is_float(shape):  # torch makes a tuple of anything but an int
        raise float_error("'float' object is not iterable", "normalized_shape", shape)
    x = call.x
    shape = tuple(shape) if isinstance(shape, (list, tuple)) else (shape,)
    rms = call.args.op == "RMSNorm"
    if rms and len(x) < len(shape):
        raise ShapeError("rank-mismatch", f"Input tensor must have at least {len(shape)} dimensions, "
                         f"but got {len(x)}")
    tail = x[len(x) - len(shape):] if len(shape) <= len(x) else None
    if not all(isinstance(v, (int, dims.Expr)) and not isinstance(v, bool) for v in shape):
        raise CannotTell("normalized_shape")
    if not all(isinstance(v, int) for v in shape) or (tail is not None and not all(isinstance(v, int) for v in tail)):
        return x
    if tail is None or tuple(tail) != shape:
        expected = None if tail is None else tail[0] if len(shape) == 1 else tuple(tail)
        star = "*" if rms else "*, "
        raise ShapeError("norm-num-features",
                         f"Given normalized_shape={list(shape)}, expected input with shape "
                         f"[{star}{', '.join(str(v) for v in shape)}], but got input of size{fmt_shape(x)}",
                         blame="normalized_shape" if expected is not None else None, expected=expected, recover=x)
    return x


def group_norm(call: Call) -> Out:
    x = call.x
    groups = call.args.dim("num_groups")
    channels = call.args.known("num_channels")
    if isinstance(groups, int) and isinstance(channels, (int, float)) and not isinstance(channels, bool) \
            and channels % groups:
        got = x[1] if len(x) > 1 else None
        fits = isinstance(got, int) and got % groups == 0  # the input's channels: the value meant
        raise ShapeError("bad-argument", f"num_channels ({channels}) must be divisible by num_groups ({groups})",
                         blame="num_channels" if fits else None, expected=got if fits else None,
                         recover=x if fits else None)
    if is_float(channels) and call.args.flag("affine"):
        check_scalar_allocation("empty", channels, "num_channels")
    channels = None if is_float(channels) else call.args.dim("num_channels")  # without weights, never read
    if len(x) < 2:
        raise ShapeError("rank-mismatch", f"Expected at least 2 dimensions for input tensor but received {len(x)}")
    got = x[1]
    if isinstance(groups, int) and all(isinstance(v, int) for v in x) \
            and x[0] * got // groups * dims.product(list(x[2:])) == 1:
        raise ShapeError("output-too-small", f"Expected more than 1 value per channel when training, got input size "
                         f"{list(x)}")
    if isinstance(got, int) and isinstance(groups, int) and got % groups:
        raise ShapeError("norm-num-features", f"Expected number of channels in input to be divisible by num_groups, "
                         f"but got input of shape {fmt_shape(x)} and num_groups={groups}")
    if isinstance(got, int) and isinstance(channels, int) and got != channels and call.args.flag("affine"):
        raise ShapeError("norm-num-features",
                         f"Expected weight to be a vector of size equal to the number of channels in input, "
                         f"but got weight of shape [{channels}] and input of shape {fmt_shape(x)}",
                         blame="num_channels", expected=got, recover=x)
    return x


def local_response_norm(call: Call) -> Out:
    x = call.x
    if len(x) < 3:
        raise ShapeError("rank-mismatch", f"Expected 3D or higher dimensionality input (got {len(x)} dimensions)")
    return x


def cross_map_lrn(call: Call) -> Out:
    x = call.x
    if len(x) != 4:
        raise ShapeError("rank-mismatch", f"CrossMapLRN2d: Expected input to be 4D, got {len(x)}D instead.")
    return x


def bn_params(args: Args, resolved: dict):
    if not args.flag("affine"):
        return 0
    features = resolved["num_features"] if "num_features" in resolved else args.dim("num_features")
    if features is None:
        raise CannotTell("num_features")
    return dims.mul(2, features)


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
                               bn_params, "2*num_features (weight and bias, if affine)",
                               input_template=channels_first(n, "num_features") if n > 1
                               else features_last("num_features")))
        rules.append(LayerRule(f"LazyBatchNorm{n}d", "Normalization", BN_SIG[1:], BN_DEFAULTS,
                               batch_norm(n, lazy=True), "out = in; num_features taken from the input",
                               bn_params, "2*num_features (if affine)"))
        rules.append(LayerRule(f"InstanceNorm{n}d", "Normalization", BN_SIG, IN_DEFAULTS, instance_norm(n),
                               "out = in; num_features must equal the channels when affine",
                               bn_params, "2*num_features (if affine)",
                               input_template=channels_first(n, "num_features") if n > 1 else None))
        rules.append(LayerRule(f"LazyInstanceNorm{n}d", "Normalization", BN_SIG[1:], LAZY_IN_DEFAULTS,
                               instance_norm(n, lazy=True), "out = in", bn_params, "2*num_features (if affine)"))
    rules += [
        LayerRule("SyncBatchNorm", "Normalization", BN_SIG + ("process_group",), BN_DEFAULTS,
                  batch_norm(None), "out = in; num_features must equal dim 1", bn_params,
                  "2*num_features (if affine)"),
        LayerRule("LayerNorm", "Normalization", ("normalized_shape", "eps", "elementwise_affine", "bias"),
                  {"eps": 1e-5, "elementwise_affine": True, "bias": True}, layer_norm,
                  "out = in; the last dims must equal normalized_shape", ln_params,
                  "2*prod(normalized_shape) (if elementwise_affine)", sequence=True),
        LayerRule("RMSNorm", "Normalization", ("normalized_shape", "eps", "elementwise_affine"),
                  {"eps": None, "elementwise_affine": True}, layer_norm,
                  "out = in; the last dims must equal normalized_shape", rms_params, "prod(normalized_shape)"),
        LayerRule("GroupNorm", "Normalization", ("num_groups", "num_channels", "eps", "affine"),
                  {"eps": 1e-5, "affine": True}, group_norm,
                  "out = in; num_channels must equal dim 1 and be divisible by num_groups", gn_params,
                  "2*num_channels (if affine)"),
        LayerRule("LocalResponseNorm", "Normalization", ("size", "alpha", "beta", "k"),
                  {"alpha": 1e-4, "beta": 0.75, "k": 1.0}, local_response_norm, "out = in (3 or more dims)"),
        LayerRule("CrossMapLRN2d", "Normalization", ("size", "alpha", "beta", "k"),
                  {"alpha": 1e-4, "beta": 0.75, "k": 1}, cross_map_lrn, "out = in (4 dims)"),
    ]
    return tuple(rules)


RULES = _rules()
