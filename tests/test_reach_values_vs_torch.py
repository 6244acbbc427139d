"""Value-level constructs that used to blank whole models (issue 14), compared with Python, numpy and torch.

- torch's own ``_single/_pair/_triple/_quadruple/_ntuple`` in every import style, and the copies people
  write (timm's ``_ntuple`` with ``collections.abc.Iterable`` and ``itertools.repeat``, ``make_divisible``);
- ``math`` with all its arguments (``math.log(x, base)``, SRGAN's ``int(math.log(scale, 2))``);
- numpy's scalar functions on numbers (StarGAN's ``int(image_size / np.power(2, n))``), and what torch
  does with an ``np.int64`` or an ``np.float64`` layer argument;
- hyper-parameters in ``SimpleNamespace``, ``argparse`` (defaults only), ``namedtuple``, ``NamedTuple``,
  dataclasses, ``enum`` and dicts, holding layer classes called later (``self.hparams.act_fn()``);
- an attribute of a module named like an ``nn.Module`` method.

Values are compared with what Python itself computes for the same source (``RESULT = ...`` evaluated by the
analysis and by ``exec``); models with torch on cpu, the whole file executed (argparse calls included).
"""

from __future__ import annotations

import math
import textwrap
import warnings
from fractions import Fraction

import pytest

pytest.importorskip("torch")
np = pytest.importorskip("numpy")

import torch  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import cnnshape_ls  # noqa: E402
from cnnshape_ls.analysis.engine import evaluate_module  # noqa: E402
from cnnshape_ls.analysis.layers import UNKNOWN  # noqa: E402
from cnnshape_ls.analysis.source import parse_tolerant  # noqa: E402

from support import torch_truth  # noqa: E402

pytestmark = pytest.mark.torch

SETTINGS = settings(max_examples=150, deadline=None)
FAILED = object()


# ---------------------------------------------------------------------- helpers
def ours(source: str, name: str = "RESULT") -> object:
    """What the analysis computes for the module-level name ``name`` of ``source``."""
    env = evaluate_module(parse_tolerant(textwrap.dedent(source)))
    return env.vars.get(name, UNKNOWN)


def python(source: str, name: str = "RESULT") -> object:
    """What Python computes for it (``FAILED`` when Python raises)."""
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "invalid value" and overflow warnings: a failure here
        try:
            exec(compile(textwrap.dedent(source), "values.py", "exec"), namespace)
        except (Exception, SystemExit):  # argparse exits on a missing argument
            return FAILED
    return namespace[name]


def plain(value: object) -> object:
    """numpy's scalars as the analysis holds them: an np.int64 is an int, an np.float64 a float."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value) if isinstance(value, np.float64) else FAILED
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def same_value(got: object, want: object) -> bool:
    """Equal, and of the same Python type all the way down (3 is not 3.0: a layer takes only one)."""
    if type(got) is not type(want):
        return False
    if isinstance(got, (tuple, list)):
        return len(got) == len(want) and all(same_value(g, w) for g, w in zip(got, want))
    if isinstance(got, float) and math.isnan(got):
        return math.isnan(want)
    return got == want


def assert_value_like_python(source: str, must_know: bool = True) -> None:
    want = python(source)
    got = ours(source)
    if want is FAILED or plain(want) is FAILED:
        assert got is UNKNOWN, f"Python fails, we say {got!r}\n{source}"
        return
    want = plain(want)
    if got is UNKNOWN:
        assert not must_know, f"unknown, Python gives {want!r}\n{source}"
        return
    assert same_value(got, want), f"ours {got!r}, Python {want!r}\n{source}"


def analyzed(source: str, shape: tuple[int, ...]) -> tuple[dict, list[dict]]:
    result = cnnshape_ls.analyze(textwrap.dedent(source), input=str(tuple(shape)), model="Net()").to_json()
    errors = [d for d in result["diagnostics"] if d["severity"] == "error"]
    return result["models"][0], errors


def torch_run(source: str, shape: tuple[int, ...]) -> dict:
    """torch on cpu, the whole file executed (module-level ``parser.add_argument`` calls included)."""
    namespace: dict = {}
    try:
        exec(compile(textwrap.dedent(source), "model.py", "exec"), namespace)
        net = namespace["Net"]()
    except Exception as error:
        return {"ok": False, "error": f"{type(error).__name__}: {error}"}
    calls: list = []
    for name, module in net.named_modules():
        if name and not list(module.children()):
            module.register_forward_hook(lambda _m, _i, out, name=name: calls.append([name, list(out.shape)]))
    try:
        with torch.no_grad():
            out = net(torch.zeros(shape))
    except Exception as error:
        return {"ok": False, "error": f"{type(error).__name__}: {error}"}
    return {"ok": True, "output": list(out.shape), "calls": calls}


def assert_model_like_torch(source: str, shape: tuple[int, ...], must_know: bool = True) -> dict:
    model, errors = analyzed(source, shape)
    truth = torch_run(source, shape)
    if truth["ok"]:
        assert not errors, f"torch runs it, we report {errors}\n{source}"
        if must_know:
            assert model["output"] == truth["output"], f"ours {model['output']}, torch {truth['output']}\n{source}"
        else:
            assert model["output"] in (None, truth["output"]), f"ours {model['output']}, torch {truth['output']}"
        layers = {layer["path"]: layer["out"] for layer in model["layers"]}
        for name, out in truth["calls"]:
            assert layers.get(name) in ((out,) if must_know else (None, out)), \
                f"{name}: ours {layers.get(name)}, torch {out}\n{source}"
    else:
        assert errors or model["output"] is None, f"torch fails ({truth['error']}), we say {model['output']}\n{source}"
    return truth


# ---------------------------------------------------------------------- torch's _ntuple helpers
HELPER_IMPORTS = {
    "from": ("from torch.nn.modules.utils import _single, _pair, _triple, _quadruple, _ntuple", ""),
    "module alias": ("import torch.nn.modules.utils as U", "U."),
    "dotted": ("import torch", "torch.nn.modules.utils."),
    "from module": ("from torch.nn.modules import utils", "utils."),
}
ntuple_arguments = st.one_of(
    st.integers(-3, 9), st.floats(0.5, 4.0, allow_nan=False), st.none(),
    st.tuples(st.integers(1, 5), st.integers(1, 5)), st.lists(st.integers(1, 5), max_size=4), st.just("ab"),
)


@SETTINGS
@given(style=st.sampled_from(sorted(HELPER_IMPORTS)), helper=st.sampled_from(
    ["_single", "_pair", "_triple", "_quadruple", "_ntuple(0)", "_ntuple(1)", "_ntuple(5)"]),
    value=ntuple_arguments, bound=st.booleans())
def test_torch_ntuple_helpers_give_torchs_tuples(style: str, helper: str, value: object, bound: bool) -> None:
    importing, prefix = HELPER_IMPORTS[style]
    if bound:  # ``_quad = _ntuple(4)`` once, called later
        source = f"{importing}\nhelper = {prefix}{helper}\nRESULT = helper({value!r})\n"
    else:
        source = f"{importing}\nRESULT = {prefix}{helper}({value!r})\n"
    assert_value_like_python(source)


TIMM_NTUPLE = """
    import collections.abc
    from itertools import repeat

    def _ntuple(n):
        def parse(x):
            if isinstance(x, collections.abc.Iterable) and not isinstance(x, str):
                return tuple(x)
            return tuple(repeat(x, n))
        return parse

    to_1tuple = _ntuple(1)
    to_2tuple = _ntuple(2)
    to_3tuple = _ntuple(3)
"""


@SETTINGS
@given(n=st.integers(1, 3), value=ntuple_arguments)
def test_timm_style_ntuple_copies_give_pythons_tuples(n: int, value: object) -> None:
    assert_value_like_python(TIMM_NTUPLE + f"RESULT = to_{n}tuple({value!r})\n")


MAKE_DIVISIBLE = """
    def make_divisible(v, divisor, min_value=None):
        if min_value is None:
            min_value = divisor
        new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
        if new_v < 0.9 * v:
            new_v += divisor
        return new_v

    def make_divisible_timm(v, divisor=8, min_value=None, round_limit=.9):
        min_value = min_value or divisor
        new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
        if new_v < round_limit * v:
            new_v += divisor
        return new_v
"""


@SETTINGS
@given(v=st.one_of(st.integers(1, 2000), st.floats(1.0, 2000.0)), divisor=st.sampled_from([1, 4, 8, 16]),
       min_value=st.one_of(st.none(), st.integers(1, 64)), which=st.sampled_from(["make_divisible",
                                                                                   "make_divisible_timm"]),
       multiplier=st.sampled_from([1, 0.25, 0.5, 0.75, 1.4]))
def test_make_divisible_copies_give_pythons_widths(v: float, divisor: int, min_value: int | None, which: str,
                                                   multiplier: float) -> None:
    assert_value_like_python(MAKE_DIVISIBLE + f"RESULT = {which}({v!r} * {multiplier!r}, {divisor}, {min_value})\n")


@SETTINGS
@given(k=st.integers(1, 3), t=st.integers(1, 3), style=st.sampled_from(sorted(HELPER_IMPORTS)),
       depth=st.integers(4, 6))
def test_triple_kernel_in_a_conv3d_block_as_torch(k: int, t: int, style: str, depth: int) -> None:
    importing, prefix = HELPER_IMPORTS[style]
    source = f"""
import torch.nn as nn
{importing}

class Net(nn.Module):
    def __init__(self, k={k}, t={t}):
        super().__init__()
        kernel = {prefix}_triple(k)
        self.spatial = nn.Conv3d(3, 8, (1, kernel[1], kernel[2]), padding=(0, kernel[1] // 2, kernel[2] // 2))
        self.temporal = nn.Conv3d(8, 8, ({prefix}_single(t)[0], 1, 1), stride={prefix}_pair(1) + (1,))

    def forward(self, x):
        return self.temporal(self.spatial(x))
"""
    assert_model_like_torch(source, (1, 3, depth, 9, 9))


# ---------------------------------------------------------------------- math
small_numbers = st.one_of(st.integers(-5, 300), st.floats(-50.0, 300.0, allow_nan=False, allow_infinity=False))
MATH_CALLS = {
    "log": 1, "log2": 1, "log10": 1, "sqrt": 1, "exp": 1, "ceil": 1, "floor": 1, "trunc": 1, "fabs": 1,
    "isqrt": 1, "factorial": 1, "pow": 2, "gcd": 2, "lcm": 2, "hypot": 2, "atan2": 2, "fmod": 2, "comb": 2,
    "copysign": 2,
}


@SETTINGS
@given(name=st.sampled_from(sorted(MATH_CALLS)), args=st.lists(small_numbers, min_size=2, max_size=2),
       style=st.sampled_from(["import math\nRESULT = math.{call}", "from math import {name}\nRESULT = {call}"]))
def test_math_functions_as_python_computes_them(name: str, args: list, style: str) -> None:
    arguments = ", ".join(repr(a) for a in args[:MATH_CALLS[name]])
    call = f"{name}({arguments})"
    source = style.format(call=call, name=name) + "\n"
    want = python(source)
    # a result Python gives that is not a usable size (infinite, huge) may be unknown; all others are known
    usable = want is not FAILED and (not isinstance(want, float) or math.isfinite(want)) \
        and (not isinstance(want, int) or abs(want) < 10 ** 15)
    assert_value_like_python(source, must_know=usable)


@SETTINGS
@given(x=st.one_of(st.integers(-2, 10 ** 6), st.floats(-1.0, 1e6, allow_nan=False)),
       base=st.one_of(st.integers(-1, 20), st.floats(0.0, 20.0, allow_nan=False)))
def test_math_log_with_a_base(x: float, base: float) -> None:
    assert_value_like_python(f"import math\nRESULT = math.log({x!r}, {base!r})\n",
                             must_know=python(f"import math\nRESULT = math.log({x!r}, {base!r})\n") is not FAILED)


@SETTINGS
@given(items=st.lists(st.one_of(st.integers(-9, 9), st.floats(-9.0, 9.0, allow_nan=False)), max_size=6),
       start=st.one_of(st.none(), st.integers(-3, 3), st.floats(-3.0, 3.0, allow_nan=False)))
def test_math_prod_with_start(items: list, start: float | None) -> None:
    extra = "" if start is None else f", start={start!r}"
    assert_value_like_python(f"import math\nRESULT = math.prod({items!r}{extra})\n")


def test_math_constants_are_their_values() -> None:
    for name in ("pi", "e", "tau"):
        assert_value_like_python(f"import math\nRESULT = math.{name} * 2\n")
        assert_value_like_python(f"from math import {name}\nRESULT = int({name} * 100)\n")


SRGAN = """
import math
import torch.nn as nn

class Upsample(nn.Sequential):
    def __init__(self, channels):
        layers = []
        for _ in range(int(math.log({scale}, 2))):
            layers += [nn.Conv2d(channels, channels * 4, 3, padding=1), nn.PixelShuffle(2), nn.PReLU()]
        super().__init__(*layers)

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.head = nn.Conv2d(3, 8, 9, padding=4)
        self.up = Upsample(8)
        self.tail = nn.Conv2d(8, 3, 9, padding=4)

    def forward(self, x):
        return self.tail(self.up(self.head(x)))
"""


@pytest.mark.parametrize("scale", [1, 2, 4, 8, 3])
def test_srgan_upsampling_blocks_from_math_log_as_torch(scale: int) -> None:
    assert_model_like_torch(SRGAN.format(scale=scale), (1, 3, 6, 7))


# ---------------------------------------------------------------------- numpy
NUMPY_CALLS = {"power": 2, "sqrt": 1, "log2": 1, "log": 1, "log10": 1, "exp": 1, "ceil": 1, "floor": 1,
               "int64": 1, "int32": 1, "float64": 1, "float32": 1, "round": 1, "maximum": 2, "minimum": 2,
               "abs": 1}


TRANSCENDENTAL = {"exp": None, "log": None, "log2": 2, "log10": 10}


def exact_in_numpy(name: str, value: float) -> bool:
    """numpy's exp and logs are its own (vectorised) code, not always Python's to the last bit: the analysis
    promises only the exact results (``np.log2(64) == 6.0``, ``np.log(1) == 0.0``, ``np.exp(0) == 1.0``)."""
    if name == "exp":
        return value == 0
    if value == 1:
        return True
    base = TRANSCENDENTAL[name]
    return base is not None and value > 0 and any(Fraction(base) ** k == Fraction(value) for k in range(-70, 71))


@SETTINGS
@given(name=st.sampled_from(sorted(NUMPY_CALLS)), args=st.lists(
    st.one_of(st.integers(-3, 70), st.floats(-3.0, 300.0, allow_nan=False)), min_size=2, max_size=2))
def test_numpy_functions_as_numpy_computes_them(name: str, args: list) -> None:
    arguments = ", ".join(repr(a) for a in args[:NUMPY_CALLS[name]])
    source = f"import numpy as np\nRESULT = np.{name}({arguments})\n"
    want = python(source)
    # what the analysis leaves unknown on purpose: numpy's warnings and failures (those give FAILED here),
    # np.float32's rounding, an int overflow, and np.ceil/np.floor of an int (their type depends on the version)
    knowable = want is not FAILED and plain(want) is not FAILED \
        and not (name in ("ceil", "floor") and isinstance(args[0], int)) \
        and (name not in TRANSCENDENTAL or exact_in_numpy(name, args[0])) \
        and not (name == "power" and all(isinstance(a, int) for a in args) and abs(args[0]) ** args[1] >= 2 ** 63) \
        and not (name == "power" and any(isinstance(a, float) for a in args) and not exact_power(*args))
    assert_value_like_python(source, must_know=knowable)


def exact_power(base: float, exponent: float) -> bool:
    """A float power the analysis promises: a whole exponent whose exact result is a float (numpy's pow and
    Python's may differ in the last bit elsewhere: np.power(54.2734375, 23))."""
    if not float(exponent).is_integer() or abs(exponent) > 64 or (base == 0 and exponent < 0):
        return False
    exact = Fraction(base) ** int(exponent)
    try:
        return Fraction(float(exact)) == exact
    except OverflowError:
        return False


@SETTINGS
@given(items=st.lists(st.one_of(st.integers(-9, 9), st.floats(-9.0, 9.0, allow_nan=False)), max_size=10),
       how=st.sampled_from(["np.prod({})", "np.array({}).prod()", "np.sum({})", "np.array({}).sum()",
                            "np.max({})", "np.array({}).min()"]))
def test_numpy_reductions_of_numbers(items: list, how: str) -> None:
    source = f"import numpy as np\nRESULT = {how.format(repr(items))}\n"
    knowable = len(items) < 8 or all(isinstance(i, int) for i in items)
    assert_value_like_python(source, must_know=knowable and python(source) is not FAILED)


STARGAN = """
import numpy as np
import torch.nn as nn

class Net(nn.Module):
    def __init__(self, image_size={image_size}, repeat_num={n}):
        super().__init__()
        layers = [nn.Conv2d(3, 8, 4, 2, 1), nn.LeakyReLU(0.01)]
        curr_dim = 8
        for _ in range(1, repeat_num):
            layers += [nn.Conv2d(curr_dim, curr_dim * 2, 4, 2, 1), nn.LeakyReLU(0.01)]
            curr_dim = curr_dim * 2
        kernel_size = int(image_size / np.power(2, repeat_num))
        self.main = nn.Sequential(*layers)
        self.conv1 = nn.Conv2d(curr_dim, 1, kernel_size=3, stride=1, padding=1, bias=False)
        self.conv2 = nn.Conv2d(curr_dim, 5, kernel_size=kernel_size, bias=False)

    def forward(self, x):
        h = self.main(x)
        return self.conv1(h), self.conv2(h).view(h.size(0), -1)
"""


@settings(max_examples=25, deadline=None)
@given(image_size=st.sampled_from([16, 32, 24]), n=st.integers(1, 3))
def test_stargan_kernel_from_np_power_as_torch(image_size: int, n: int) -> None:
    source = STARGAN.format(image_size=image_size, n=n)
    model, errors = analyzed(source, (2, 3, image_size, image_size))
    namespace: dict = {}
    exec(compile(source, "model.py", "exec"), namespace)
    net = namespace["Net"]()
    with torch.no_grad():
        first, out = net(torch.zeros(2, 3, image_size, image_size))
    layers = {layer["path"]: layer["out"] for layer in model["layers"]}
    kernel = int(image_size / np.power(2, n))
    side = image_size // 2 ** n - kernel + 1
    assert not errors
    assert layers["conv2"] == [2, 5, side, side]
    assert out.shape == (2, 5 * side * side)
    assert model["output"] == list(first.shape)  # a tuple's first tensor is the model's output shown


@pytest.mark.parametrize("argument", ["np.int64(4)", "np.int32(4)", "np.float64(4)", "np.sqrt(16)",
                                      "np.power(2, 2)", "np.prod([2, 2])", "np.array([2, 2]).prod()",
                                      "int(np.log2(16))", "np.log2(16)"])
@pytest.mark.parametrize("where", ["kernel_size={}", "padding={}", "out_channels={}"])
def test_numpy_scalars_given_to_a_layer_as_torch(argument: str, where: str) -> None:
    """An np.int64 is an int to torch; an np.float64 is a float (a TypeError where torch wants an int)."""
    arguments = {"kernel_size": "kernel_size=3", "padding": "padding=0", "out_channels": "out_channels=5"}
    name = where.split("=")[0]
    arguments[name] = where.format(argument)
    source = f"""
import numpy as np
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, {arguments['out_channels']}, {arguments['kernel_size']}, {arguments['padding']})

    def forward(self, x):
        return self.conv(x)
"""
    truth = assert_model_like_torch(source, (1, 3, 12, 12))
    if "float64" in argument or "sqrt" in argument or argument == "np.log2(16)":
        assert not truth["ok"]  # the float is torch's TypeError, in the constructor or in forward
    else:
        assert truth["ok"]


# ---------------------------------------------------------------------- hyper-parameter objects
HPARAMS = """
import argparse
import types
from collections import namedtuple
from dataclasses import dataclass, field
from enum import Enum
from typing import NamedTuple
import torch.nn as nn

parser = argparse.ArgumentParser()
parser.add_argument('--hidden-size', type=int, default={hidden!r})
parser.add_argument('--depth', type=int, default={depth})
parser.add_argument('--no-bias', action='store_true')
parser.add_argument('--act', default='relu', choices=['relu', 'gelu'])
args = parser.parse_args([])

class Width(Enum):
    SMALL = {small}
    BIG = {big}

Spec = namedtuple('Spec', 'cin cout', defaults=[{cout}])

class Pair(NamedTuple):
    k: int = {k}
    s: int = 1

@dataclass
class Cfg:
    width: int = {width}
    kernels: list = field(default_factory=lambda: [{k}, 1])
    act: type = nn.{act}

    def __post_init__(self):
        self.double = self.width * 2

ACTS = {{'relu': nn.ReLU, 'gelu': nn.GELU}}

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        hp = types.SimpleNamespace(act_fn=nn.{act}, c={c})
        cfg = Cfg()
        spec = Spec(3)
        self.hparams = argparse.Namespace(out=Width.BIG.value, act_fn=nn.{act})
        self.a = nn.Conv2d(spec.cin, args.hidden_size, Pair().k, stride=Pair(s={stride}).s, bias=not args.no_bias)
        self.b = nn.Conv2d(args.hidden_size, cfg.double, cfg.kernels[0], padding=cfg.kernels[1])
        self.c = nn.Conv2d(cfg.double, hp.c + spec.cout + Width['SMALL'].value + Width({big}).value, 1)
        self.acts = nn.Sequential(hp.act_fn(), cfg.act(), self.hparams.act_fn(), ACTS[args.act]())
        wide = hp.c + spec.cout + {small} + {big}
        self.blocks = nn.Sequential(*[nn.Conv2d(wide, wide, 1) for _ in range(args.depth)])
        self.d = nn.Conv2d(hp.c + spec.cout + {small} + {big}, self.hparams.out, 1)

    def forward(self, x):
        return self.d(self.blocks(self.acts(self.c(self.b(self.a(x))))))
"""


@settings(max_examples=30, deadline=None)
@given(hidden=st.one_of(st.integers(1, 9), st.integers(1, 9).map(str)), depth=st.integers(0, 3),
       small=st.integers(1, 4), big=st.integers(5, 9), cout=st.integers(1, 4), k=st.sampled_from([1, 3]),
       width=st.integers(1, 4), act=st.sampled_from(["ReLU", "GELU", "Tanh"]), c=st.integers(1, 4),
       stride=st.integers(1, 2))
def test_hyper_parameter_objects_as_torch(hidden: int | str, depth: int, small: int, big: int, cout: int, k: int,
                                          width: int, act: str, c: int, stride: int) -> None:
    source = HPARAMS.format(hidden=hidden, depth=depth, small=small, big=big, cout=cout, k=k, width=width, act=act,
                            c=c, stride=stride)
    assert_model_like_torch(source, (1, 3, 11, 11))


def test_parse_args_from_the_command_line_is_never_guessed() -> None:
    """``parser.parse_args()`` reads sys.argv: its values may be anything, so the layer's width is unknown."""
    source = """
import argparse
import torch.nn as nn

parser = argparse.ArgumentParser()
parser.add_argument('--width', type=int, default=8)
args = parser.parse_args()

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, args.width, 3)
        self.b = nn.Conv2d(args.width, 4, 1)

    def forward(self, x):
        return self.b(self.a(x))
"""
    assert ours(source, "args") is not UNKNOWN  # a namespace: which names exist is known ...
    model, errors = analyzed(source, (1, 3, 8, 8))
    layers = {layer["path"]: layer["out"] for layer in model["layers"]}
    assert not errors
    assert layers["a"] is None or layers["a"][1] != 8  # ... their values are not (never the default)
    assert model["output"] in (None, [1, 4, 6, 6])  # b pins its own width (once a layer gives what it can)


@pytest.mark.parametrize("source, want", [
    ("import argparse\np = argparse.ArgumentParser()\np.add_argument('--lr', type=float, default='0.1')\n"
     "RESULT = p.parse_args([]).lr", 0.1),
    ("import argparse\np = argparse.ArgumentParser()\np.add_argument('n', type=int)\nRESULT = p.parse_args([])",
     UNKNOWN),  # a required positional: argparse exits
    ("import argparse\np = argparse.ArgumentParser()\np.add_argument('--n', type=int, required=True)\n"
     "RESULT = p.parse_args([])", UNKNOWN),
    ("import argparse\np = argparse.ArgumentParser()\np.add_argument('--n', type=int, default=3)\n"
     "RESULT = p.parse_args(['--n', '5'])", UNKNOWN),  # parsing given arguments: not followed
    ("import argparse\np = argparse.ArgumentParser()\ng = p.add_argument_group('model')\n"
     "g.add_argument('--n-layers', dest='layers', type=int, default=3)\np.set_defaults(width=7)\n"
     "a, rest = p.parse_known_args([])\nRESULT = (a.layers, a.width, rest)", (3, 7, [])),
    ("import types\nns = types.SimpleNamespace(a=1)\nns.b = ns.a + 1\nvars(ns)['c'] = 5\nRESULT = (ns.b, ns.c)",
     (2, 5)),
    ("from collections import namedtuple\nP = namedtuple('P', ['x', 'y'])\np = P(1, y=2)\na, b = p\n"
     "RESULT = (p.x + p[1], a, b)", (3, 1, 2)),
    ("from collections import namedtuple\nP = namedtuple('P', 'x y')\nRESULT = P(1)", UNKNOWN),
    ("from typing import NamedTuple\nP = NamedTuple('P', [('k', int), ('s', int)])\np = P(3, s=2)\n"
     "RESULT = (p.k * p.s, tuple(p))", (6, (3, 2))),
    ("import collections\nG = collections.namedtuple('G', ['width', 'depth', 'divisor'])\n"
     "G.__new__.__defaults__ = (None,) * len(G._fields)\nB = collections.namedtuple('B', 'k s cin cout')\n"
     "b = B(3, 1, 16, 24)._replace(cin=32)\ng = G(width=1.2)\n"
     "RESULT = (g.depth, g.width, b.cin, b.cout, b._asdict()['k'], len(b))", (None, 1.2, 32, 24, 3, 4)),
    ("import collections\nG = collections.namedtuple('G', ['width'])\nRESULT = G(1)._replace(depth=2)", UNKNOWN),
    ("from enum import Enum\nclass A(Enum):\n    R = 'relu'\n    G = 'gelu'\n    S = 'relu'\n"
     "RESULT = (A.S is A.R, A('gelu').name, A['R'].value, A.G == A.G)", (True, "G", "relu", True)),
    ("from enum import Enum\nclass A(Enum):\n    R = 1\n    f = lambda self: 2\n    def g(self):\n        return 3\n"
     "RESULT = (A.R.value, A.R.g() + 1)", (1, 4)),
    ("from enum import Enum\nclass A(str, Enum):\n    R = 'relu'\nRESULT = (A.R == 'relu', A.R in ('relu', 'gelu'))",
     (True, True)),
    ("import argparse\np = argparse.ArgumentParser()\np.add_argument('files', nargs='*')\n"
     "p.add_argument('--x', default=argparse.SUPPRESS)\na = p.parse_args([])\n"
     "RESULT = (a.files, hasattr(a, 'x'), getattr(a, 'x', 4), getattr(a, 'files', 5))", ([], False, 4, [])),
    ("from dataclasses import dataclass, field\n@dataclass\nclass B:\n    x: int\n"
     "    y: list = field(default_factory=list)\n"
     "    z: int = field(default=4)\n"
     "b = B(1)\nc = B(2)\nb.y.append(9)\nRESULT = (b.x, b.y, c.y, b.z)", (1, [9], [], 4)),
])
def test_hyper_parameter_values_as_python(source: str, want: object) -> None:
    got = ours(source)
    if want is UNKNOWN:
        assert got is UNKNOWN
        assert python(source) is FAILED or "parse_args(['--n'" in source
    else:
        assert python(source) == want  # the expectation is Python's own
        assert same_value(got, want), got


# ---------------------------------------------------------------------- attributes named like Module methods
SHADOWING = """
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.modules = [nn.Conv2d(3, {a}, 3)]
        self.train = [nn.ReLU()]
        self.forward_features = nn.Sequential(nn.Conv2d({a}, {b}, 1))
        self.head = nn.Conv2d({b}, 7, 1)
        {extra}

    def head(self, x):
        return x * 2

    def forward(self, x):
        x = self.train[0](self.modules[0](x))
        x = {call}(self.forward_features(x))
        return x
"""


@pytest.mark.parametrize("extra, call", [
    ("", "self.head"),  # the class's method wins over a submodule of that name: torch keeps it in _modules
    ("self.eval = nn.Identity()", "self.eval"),  # nn.Module.eval(x): torch's TypeError
    ("self.state_dict = {}", "self.train[0]"),
])
@pytest.mark.parametrize("a, b", [(4, 5), (2, 6)])
def test_attributes_named_like_module_methods_as_torch(extra: str, call: str, a: int, b: int) -> None:
    source = SHADOWING.format(a=a, b=b, extra=extra, call=call)
    truth = assert_model_like_torch(source, (1, 3, 8, 8), must_know=False)
    model, _ = analyzed(source, (1, 3, 8, 8))
    if truth["ok"]:
        assert model["output"] == truth["output"]


@settings(max_examples=20, deadline=None)
@given(channels=st.integers(1, 4), side=st.integers(2, 6), width=st.integers(1, 9))
def test_np_prod_of_a_shape_in_forward_as_torch(channels: int, side: int, width: int) -> None:
    source = f"""
import numpy as np
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, {channels}, 1)
        self.fc = nn.Linear({channels * side * side}, {width})

    def forward(self, x):
        x = self.conv(x)
        return self.fc(x.view(-1, np.prod(x.shape[1:])))
"""
    assert_model_like_torch(source, (2, 3, side, side))


EFFICIENTNET_PARAMS = """
import collections
import math
import torch.nn as nn

GlobalParams = collections.namedtuple('GlobalParams', ['width_coefficient', 'depth_coefficient', 'depth_divisor',
                                                       'min_depth'])
GlobalParams.__new__.__defaults__ = (None,) * len(GlobalParams._fields)
BlockArgs = collections.namedtuple('BlockArgs', ['num_repeat', 'kernel_size', 'stride', 'input_filters',
                                                 'output_filters'])


def round_filters(filters, global_params):
    multiplier = global_params.width_coefficient
    if not multiplier:
        return filters
    divisor = global_params.depth_divisor
    min_depth = global_params.min_depth
    filters *= multiplier
    min_depth = min_depth or divisor
    new_filters = max(min_depth, int(filters + divisor / 2) // divisor * divisor)
    if new_filters < 0.9 * filters:
        new_filters += divisor
    return int(new_filters)


def round_repeats(repeats, global_params):
    return int(math.ceil(global_params.depth_coefficient * repeats))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        gp = GlobalParams(width_coefficient={width}, depth_coefficient={depth}, depth_divisor=8)
        blocks = [BlockArgs(1, 3, 1, 32, 16), BlockArgs(2, 3, 2, 16, 24), BlockArgs(2, 5, 2, 24, 40)]
        self.stem = nn.Conv2d(3, round_filters(32, gp), 3, 2, 1, bias=False)
        layers = []
        for b in blocks:
            b = b._replace(input_filters=round_filters(b.input_filters, gp),
                           output_filters=round_filters(b.output_filters, gp),
                           num_repeat=round_repeats(b.num_repeat, gp))
            layers.append(nn.Conv2d(b.input_filters, b.output_filters, b.kernel_size, b.stride, b.kernel_size // 2))
            if b.num_repeat > 1:
                b = b._replace(input_filters=b.output_filters, stride=1)
            for _ in range(b.num_repeat - 1):
                layers.append(nn.Conv2d(b.input_filters, b.output_filters, b.kernel_size, b.stride,
                                        b.kernel_size // 2))
        self.blocks = nn.Sequential(*layers)

    def forward(self, x):
        return self.blocks(self.stem(x))
"""


@settings(max_examples=20, deadline=None)
@given(width=st.sampled_from([1.0, 1.1, 1.2, 1.4, 1.6, 1.8, 2.0, None]),
       depth=st.sampled_from([1.0, 1.1, 1.2, 1.4, 1.8, 2.2, 3.1]))
def test_efficientnet_namedtuple_params_as_torch(width: float | None, depth: float) -> None:
    """EfficientNet-PyTorch's block arguments: namedtuples with ``__new__.__defaults__``, ``_replace``,
    ``round_filters`` (make_divisible) and ``round_repeats`` (``math.ceil``)."""
    assert_model_like_torch(EFFICIENTNET_PARAMS.format(width=width, depth=depth), (1, 3, 16, 16))


@SETTINGS
@given(start=st.one_of(st.integers(-3, 3), st.floats(-2.0, 2.0, allow_nan=False)),
       stop=st.one_of(st.integers(-3, 3), st.floats(-2.0, 2.0, allow_nan=False)), num=st.integers(0, 30),
       how=st.sampled_from(["np.linspace({}).tolist()", "[x for x in np.linspace({})]", "np.linspace({})[-1]",
                            "len(np.linspace({}))", "list(np.linspace({})[1:3])"]))
def test_np_linspace_as_numpy(start: float, stop: float, num: int, how: str) -> None:
    source = f"import numpy as np\nRESULT = {how.format(f'{start!r}, {stop!r}, {num}')}\n"
    assert_value_like_python(source)


DROP_PATH = """
import numpy as np
import torch.nn as nn

class Net(nn.Module):
    def __init__(self, depth={depth}, rate={rate}):
        super().__init__()
        dpr = [x for x in np.linspace(0, rate, depth)]
        widths = [4 + int(r * 10) for r in dpr]
        layers, cin = [], 3
        for i in range(depth):
            layers += [nn.Conv2d(cin, widths[i], 1), nn.Dropout(dpr[i]) if dpr[i] > 0 else nn.Identity()]
            cin = widths[i]
        self.blocks = nn.Sequential(*layers)

    def forward(self, x):
        return self.blocks(x)
"""


@settings(max_examples=20, deadline=None)
@given(depth=st.integers(1, 6), rate=st.sampled_from([0.0, 0.1, 0.2, 0.3, 0.5]))
def test_np_linspace_drop_path_rates_as_torch(depth: int, rate: float) -> None:
    assert_model_like_torch(DROP_PATH.format(depth=depth, rate=rate), (1, 3, 5, 5))


CLASS_ATTRIBUTE = """
import torch.nn as nn

class Net(nn.Module):
    {body}

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Conv2d(4, 6, 1)

    def forward(self, x):
        return self.fc(self.conv(x))
"""


@pytest.mark.parametrize("body", ["fc = None", "fc = nn.Identity()", "fc: nn.Module", "head = None"])
def test_a_class_attribute_hides_a_submodule_of_its_name_as_torch(body: str) -> None:
    """torch keeps submodules in ``_modules``: a class attribute of the same name is found first
    (``fc = None`` in the class body makes ``self.fc`` None); an annotation alone is no attribute."""
    source = CLASS_ATTRIBUTE.format(body=body)
    truth = assert_model_like_torch(source, (1, 3, 8, 8), must_know=False)
    model, _ = analyzed(source, (1, 3, 8, 8))
    if truth["ok"]:
        assert model["output"] == truth["output"]


# ---------------------------------------------------------------------- str methods
STR_CALLS = ["startswith", "endswith", "isdigit", "isalpha", "find", "rfind", "count", "lower", "upper", "strip",
             "split", "rsplit", "replace", "title", "removeprefix", "removesuffix", "partition", "join", "index"]


@SETTINGS
@given(name=st.sampled_from(STR_CALLS), text=st.text("ab1_-, ", max_size=12),
       args=st.lists(st.text("ab1_-, ", max_size=3), max_size=2))
def test_str_methods_as_python(name: str, text: str, args: list) -> None:
    """Config strings pick layers (CutMix's ``if dataset.startswith('cifar')``): Python's own results."""
    if name == "join":
        call = f"{text!r}.join({args!r})"
    else:
        call = f"{text!r}.{name}({', '.join(repr(a) for a in args)})"
    assert_value_like_python(f"RESULT = {call}\n", must_know=True)


def test_a_config_string_chooses_the_layers() -> None:
    source = """
import torch.nn as nn

class Net(nn.Module):
    def __init__(self, dataset):
        super().__init__()
        self.dataset = dataset
        if self.dataset.startswith('cifar'):
            self.conv = nn.Conv2d(3, 16, 3, padding=1)
        else:
            self.conv = nn.Conv2d(3, 64, 7, stride=2, padding=3)
        self.fc = nn.Linear(16 if dataset.endswith('10') else 64, 10)

    def forward(self, x):
        return self.fc(self.conv(x).mean((2, 3)))
"""
    for dataset, shape in (("cifar10", (2, 3, 32, 32)), ("imagenet", (2, 3, 64, 64))):
        expr = f"Net({dataset!r})"
        truth = torch_truth(source, expr, list(shape))
        result = cnnshape_ls.analyze(textwrap.dedent(source), input=str(shape), model=expr).to_json()
        model = result["models"][0]
        errors = [d for d in result["diagnostics"] if d["severity"] == "error"]
        if truth["ok"]:
            assert not errors and model["output"] == truth["output"], (dataset, model["output"], truth)
        else:
            assert errors, (dataset, truth)


def test_every_helper_lives_under_a_root_the_fast_path_lets_through() -> None:
    from cnnshape_ls.analysis.ops import stdlib

    assert all(key.startswith(stdlib._HANDLED_ROOTS) for key in stdlib.STDLIB.handlers)
    assert all(key.startswith(("math.", "numpy.")) for key in stdlib._CONSTANTS)
