"""Layers that keep the shape: activations, dropout, softmax; and GLU, which halves a dim."""

from __future__ import annotations

from .. import dims
from .base import Args, Call, LayerRule, Out, ShapeError
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


def prelu_params(args: Args, resolved: dict):
    return args.dim("num_parameters")


def prelu(call: Call) -> Out:
    x = call.x
    n = call.args.dim("num_parameters")
    if isinstance(n, int) and n != 1 and len(x) >= 2 and isinstance(x[1], int) and x[1] != n:
        raise ShapeError("norm-num-features",
                         f"Mismatch of parameter numbers and input channel size. Found parameter numbers = {n} "
                         f"and channel size = {x[1]}.", blame="num_parameters", expected=x[1], recover=x)
    return x


def glu(call: Call) -> Out:
    x = call.x
    d = normalize_dim(call.args.int("dim"), len(x))
    size = x[d]
    if isinstance(size, int) and size % 2:
        raise ShapeError("bad-argument", f"Halving dimension must be even, but dimension {d} is size {size}")
    half = dims.exact_div(size, 2) if size is not None else None
    return (*x[:d], half, *x[d + 1:])


def _rules() -> tuple[LayerRule, ...]:
    rules = [LayerRule(op, "Activation", sig, defaults, same, "out = in (elementwise)")
             for op, (sig, defaults) in ACTIVATIONS.items()]
    rules += [LayerRule(op, "Dropout", ("p", "inplace"), {"p": 0.5, "inplace": False}, same, "out = in")
              for op in DROPOUTS]
    rules += [
        LayerRule("PReLU", "Activation", ("num_parameters", "init"), {"num_parameters": 1, "init": 0.25}, prelu,
                  "out = in (elementwise; one slope per channel)", prelu_params, "num_parameters"),
        LayerRule("GLU", "Activation", ("dim",), {"dim": -1}, glu, "out = in with size(dim) halved"),
    ]
    return tuple(rules)


RULES = _rules()
