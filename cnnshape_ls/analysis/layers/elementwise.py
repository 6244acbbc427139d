"""Layers that keep the shape: activations, dropout, softmax; and GLU, which halves a dim."""

from __future__ import annotations

from .. import dims
from .base import Args, Call, Functional, LayerRule, Out, ShapeError
from .linear import normalize_dim

ACTIVATIONS = {
    # op: (signature, defaults)
    "ReLU": (("inplace",), {"inplace": False}),
    "ReLU6": (("inplace",), {"inplace": False}),
    "LeakyReLU": (("negative_slope", "inplace"), {"negative_slope": 0.01, "inplace": False}),
    "ELU": (("alpha", "inplace"), {"alpha": 1.0, "inplace": False}),
    "CELU": (("alpha", "inplace"), {"alpha": 1.0, "inplace": False}),
    "SELU": (("inplace",), {"inplace": False}),
    "GELU": (("approximate",), {"approximate": "none"}),
    "SiLU": (("inplace",), {"inplace": False}),
    "Mish": (("inplace",), {"inplace": False}),
    "Sigmoid": ((), {}),
    "Tanh": ((), {}),
    "Hardtanh": (("min_val", "max_val", "inplace"), {"min_val": -1.0, "max_val": 1.0, "inplace": False}),
    "Hardswish": (("inplace",), {"inplace": False}),
    "Hardsigmoid": (("inplace",), {"inplace": False}),
    "Hardshrink": (("lambd",), {"lambd": 0.5}),
    "Softshrink": (("lambd",), {"lambd": 0.5}),
    "Softplus": (("beta", "threshold"), {"beta": 1.0, "threshold": 20.0}),
    "Softsign": ((), {}),
    "Tanhshrink": ((), {}),
    "LogSigmoid": ((), {}),
    "RReLU": (("lower", "upper", "inplace"), {"lower": 1 / 8, "upper": 1 / 3, "inplace": False}),
    "Threshold": (("threshold", "value", "inplace"), {"inplace": False}),
    "Softmax": (("dim",), {"dim": None}),
    "LogSoftmax": (("dim",), {"dim": None}),
    "Softmin": (("dim",), {"dim": None}),
    "Softmax2d": ((), {}),
}

DROPOUTS = ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout")


def same(call: Call) -> Out:
    return call.x


def softmax(call: Call) -> Out:
    x = call.x
    d = call.args.get("dim")
    if isinstance(d, int) and not isinstance(d, bool):
        normalize_dim(d, len(x))
    return x


def softmax2d(call: Call) -> Out:
    x = call.x
    if len(x) not in (3, 4):
        raise ShapeError("rank-mismatch", f"Softmax2d: expected input to be 3D or 4D, got {len(x)}D instead")
    return x


def dropout(call: Call) -> Out:
    x = call.x
    p, op = call.args.get("p"), call.args.op
    if isinstance(p, (int, float)) and not 0 <= p <= 1:
        raise ShapeError("bad-argument", f"dropout probability has to be between 0 and 1, but got {p}")
    if op == "Dropout1d" and len(x) not in (2, 3):
        raise ShapeError("rank-mismatch", f"dropout1d: Expected 2D or 3D input, but received a {len(x)}D input. "
                         "Note that dropout1d exists to provide channel-wise dropout on inputs with 1 spatial "
                         "dimension, a channel dimension, and an optional batch dimension (i.e. 2D or 3D inputs).")
    # training mode with 0 < p < 1 only: otherwise torch returns the input (or zeros) before looking at it
    feature = op in ("Dropout2d", "Dropout3d", "FeatureAlphaDropout") and p not in (0, 1)
    if feature and len(x) + (op == "Dropout3d") < 2:  # dropout3d adds a batch dim to any input but a 5-D one
        raise ShapeError("rank-mismatch", "Feature dropout requires at least 2 dimensions in the input")
    return x


def prelu_params(args: Args, resolved: dict):
    return args.dim("num_parameters")


def prelu(call: Call) -> Out:
    x = call.x
    n = call.args.dim("num_parameters")
    if not x and n != 1:
        raise ShapeError("rank-mismatch", "Not allow zero-dim input tensor.")
    channels = x[1] if len(x) >= 2 else 1  # torch counts one channel in a 1-D input
    if isinstance(n, int) and n != 1 and isinstance(channels, int) and channels != n:
        raise ShapeError("norm-num-features",
                         f"Mismatch of parameter numbers and input channel size. Found parameter numbers = {n} "
                         f"and channel size = {channels}.", blame="num_parameters", expected=channels, recover=x)
    return x


def glu(call: Call) -> Out:
    x = call.x
    if not x:
        raise ShapeError("rank-mismatch", "glu does not support scalars because halving size must be even")
    d = normalize_dim(call.args.int("dim"), len(x))
    size = x[d]
    if isinstance(size, int) and size % 2:
        raise ShapeError("bad-argument", f"Halving dimension must be even, but dimension {d} is size {size}")
    half = dims.exact_div(size, 2) if size is not None else None
    return (*x[:d], half, *x[d + 1:])


SPECIAL = {"Softmax": softmax, "LogSoftmax": softmax, "Softmin": softmax, "Softmax2d": softmax2d}
FORMULAS = {"Softmax": "out = in (dim must be in range)", "LogSoftmax": "out = in (dim must be in range)",
            "Softmin": "out = in (dim must be in range)", "Softmax2d": "out = in (3 or 4 dims)",
            "Dropout1d": "out = in (2 or 3 dims)", "Dropout2d": "out = in (at least 2 dims)",
            "Dropout3d": "out = in (at least 1 dim)", "FeatureAlphaDropout": "out = in (at least 2 dims)"}


def _rules() -> tuple[LayerRule, ...]:
    rules = [LayerRule(op, "Activation", sig, defaults, SPECIAL.get(op, same),
                       FORMULAS.get(op, "out = in (elementwise)"))
             for op, (sig, defaults) in ACTIVATIONS.items()]
    rules += [LayerRule(op, "Dropout", ("p", "inplace"), {"p": 0.5, "inplace": False}, dropout,
                        FORMULAS.get(op, "out = in"))
              for op in DROPOUTS]
    rules += [
        LayerRule("PReLU", "Activation", ("num_parameters", "init"), {"num_parameters": 1, "init": 0.25}, prelu,
                  "out = in (elementwise; one slope per channel)", prelu_params, "num_parameters"),
        LayerRule("GLU", "Activation", ("dim",), {"dim": -1}, glu, "out = in with size(dim) halved",
                  functional=(Functional("glu"),)),
    ]
    return tuple(rules)


RULES = _rules()
