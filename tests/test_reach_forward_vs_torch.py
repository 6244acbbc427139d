"""Forward and module constructs of issue 14, each compared with torch itself:

- ``self._modules['name'](x)`` and ``self._modules[k]`` over layers add_module'd from a plain dict (I3D);
- ``children()`` / ``named_children()`` / ``modules()`` / ``named_modules()`` walked in ``forward``, in
  registration order, a module registered twice listed once (DenseNet's ``layer(*features)``);
- ``torch.utils.checkpoint.checkpoint(fn, *args)`` with ``fn`` a closure from a factory, a module or a bound
  method, and ``checkpoint_sequential(functions, segments, x)``, over random Sequentials;
- ``torch.einsum`` over random equations and shapes: torch's shape, torch's error in its words, or unknown;
- subclasses of torch layers: the attributes torch stores (``self.stride`` of a conv is a tuple, of a pool
  what was given), ``super().forward(x)`` after an ``F.pad``, the EfficientNet static-same stem (225, never 224);
- ``F.pad`` with pads a helper computes (DeepLab's ``fixed_padding``).
"""

from __future__ import annotations

import textwrap

import pytest

pytest.importorskip("torch")

import torch  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import cnnshape_ls  # noqa: E402
from cnnshape_ls.analysis.layers import CannotTell, ShapeError, rules_in_use  # noqa: E402
from cnnshape_ls.analysis.ops.einsum import einsum_shape  # noqa: E402
from cnnshape_ls.analysis.ops.layer_attributes import layer_attribute  # noqa: E402
from cnnshape_ls.analysis.values import Layer  # noqa: E402

from support import input_text, torch_truth  # noqa: E402

pytestmark = pytest.mark.torch

SETTINGS = settings(max_examples=60, deadline=None)


def analyzed(source: str, model: str, shape: tuple[int, ...]) -> dict:
    return cnnshape_ls.analyze(textwrap.dedent(source), input=input_text(shape), model=model).to_json()


def assert_follows_torch(source: str, shape: tuple[int, ...], model: str = "Net()", complete: bool = True) -> dict:
    """Every leaf call torch makes has torch's shape here (``complete``), or at least none a wrong one; no
    error where torch runs; the output is torch's."""
    truth = torch_truth(source, model, list(shape))
    result = analyzed(source, model, shape)
    ours = [(layer["path"], layer["out"]) for m in result["models"] for layer in m["layers"] if layer["path"]]
    errors = [d for d in result["diagnostics"] if d["severity"] == "error"]
    output = result["models"][0]["output"]
    if not truth["ok"]:
        assert errors or output is None, f"torch fails ({truth.get('error')}), we say {output}\n{source}"
        return result
    assert not errors, f"torch runs it, we report {errors}\n{source}"
    remaining = list(ours)
    for name, out in truth["calls"]:
        match = next((i for i, (path, _) in enumerate(remaining) if path == name), None)
        if complete:
            assert match is not None, f"{name} not followed: ours {ours}\n{source}"
        if match is None:
            continue
        got = remaining[match][1]
        assert got == out or (not complete and got is None), f"{name}: ours {got}, torch {out}\n{source}"
        remaining = remaining[match + 1:]
    assert output == truth["output"] or (not complete and output is None), \
        f"output: ours {output}, torch {truth['output']}\n{source}"
    return result


# ---------------------------------------------------------------- self._modules


def test_modules_by_name_in_forward() -> None:
    assert_follows_torch('''
        import torch.nn as nn
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Conv2d(3, 8, 3)
                self.b = nn.Conv2d(8, 16, 3)
            def forward(self, x):
                x = self._modules['a'](x)
                return self._modules['b'](x)
    ''', (2, 3, 20, 20))


def test_plain_dict_add_moduled_then_called_through_modules_in_class_order() -> None:
    """I3D: layers kept in a plain dict, registered with add_module, applied over a class-level tuple."""
    assert_follows_torch('''
        import torch.nn as nn
        class Net(nn.Module):
            ORDER = ('b', 'a', 'c')
            def __init__(self):
                super().__init__()
                self.end_points = {}
                self.end_points['a'] = nn.Conv2d(8, 16, 3)
                self.end_points['b'] = nn.Conv2d(3, 8, 3)
                self.end_points['c'] = nn.MaxPool2d(2)
                for k in self.end_points.keys():
                    self.add_module(k, self.end_points[k])
            def forward(self, x):
                for name in self.ORDER:
                    if name in self.end_points:
                        x = self._modules[name](x)
                return x
    ''', (2, 3, 21, 21))


def test_hourglass_modules_by_computed_name() -> None:
    """FAN's hourglass: ``self._modules['b1_' + str(level)]`` in a recursive forward."""
    assert_follows_torch('''
        import torch.nn as nn
        import torch.nn.functional as F
        class HourGlass(nn.Module):
            def __init__(self, depth, ch):
                super().__init__()
                self.depth = depth
                for level in range(depth):
                    self.add_module('b1_' + str(level), nn.Conv2d(ch, ch, 3, padding=1))
                    self.add_module('b2_' + str(level), nn.Conv2d(ch, ch, 3, padding=1))
            def _forward(self, level, inp):
                up1 = self._modules['b1_' + str(level)](inp)
                low1 = F.avg_pool2d(inp, 2, stride=2)
                low1 = self._modules['b2_' + str(level)](low1)
                if level > 1:
                    low1 = self._forward(level - 1, low1)
                up2 = F.interpolate(low1, scale_factor=2, mode='nearest')
                return up1 + up2
            def forward(self, x):
                return self._forward(self.depth - 1, x)
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.hg = HourGlass(3, 4)
            def forward(self, x):
                return self.hg(x)
    ''', (2, 4, 16, 16))


# ---------------------------------------------------------------- children and friends

LAYERS = {
    "conv": lambda c: (f"nn.Conv2d({c}, {c + 1}, 3, padding=1)", c + 1),
    "pool": lambda c: ("nn.MaxPool2d(2)", c),
    "relu": lambda c: ("nn.ReLU()", c),
    "bn": lambda c: (f"nn.BatchNorm2d({c})", c),
    "down": lambda c: (f"nn.Conv2d({c}, {c * 2}, 3, stride=2, padding=1)", c * 2),
}


@st.composite
def registrations(draw) -> tuple[list[tuple[str, str, str]], int]:
    """A chain of layers, each registered as an attribute or with add_module (``how``), with its name."""
    channels = draw(st.integers(1, 3))
    made = []
    for i in range(draw(st.integers(1, 5))):
        text, channels = LAYERS[draw(st.sampled_from(sorted(LAYERS)))](channels)
        how = draw(st.sampled_from(["attr", "add_module", "setattr"]))
        made.append((f"l{i}_{draw(st.sampled_from('xyz'))}", text, how))
    return made, 0


@SETTINGS
@given(registrations(), st.sampled_from(["children", "named_children", "modules", "named_modules", "_modules"]),
       st.booleans())
def test_walking_submodules_in_forward(chain, listing: str, twice: bool) -> None:
    made, _ = chain
    lines = []
    for name, text, how in made:
        if how == "attr":
            lines.append(f"self.{name} = {text}")
        elif how == "add_module":
            lines.append(f"self.add_module('{name}', {text})")
        else:
            lines.append(f"setattr(self, '{name}', {text})")
    if twice:  # the first layer under a second name: torch lists it once
        lines.append(f"self.again = self.{made[0][0]}")
    loop = {
        "children": "for layer in self.children():\n            x = layer(x)",
        "named_children": "for name, layer in self.named_children():\n            x = layer(x)",
        "modules": "for layer in list(self.modules())[1:]:\n            x = layer(x)",
        "named_modules": "for name, layer in self.named_modules():\n"
                         "            if name:\n                x = layer(x)",
        "_modules": "for name in self._modules:\n            x = self._modules[name](x)",
    }[listing]
    body = "\n        ".join(lines)
    source = f'''
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        {body}
    def forward(self, x):
        {loop}
        return x
'''
    # torch's _modules holds the second name too: the loop applies the first layer again
    assert_follows_torch(source, (2, 1, 16, 16), complete=not (twice and listing == "_modules"))


def test_densenet_named_children_with_star_features() -> None:
    assert_follows_torch('''
        import torch
        import torch.nn as nn
        class DenseLayer(nn.Module):
            def __init__(self, cin, growth):
                super().__init__()
                self.norm = nn.BatchNorm2d(cin)
                self.conv = nn.Conv2d(cin, growth, 3, padding=1)
            def forward(self, *prev_features):
                return self.conv(self.norm(torch.cat(prev_features, 1)))
        class Block(nn.Module):
            def __init__(self, layers, cin, growth):
                super().__init__()
                for i in range(layers):
                    self.add_module('denselayer%d' % (i + 1), DenseLayer(cin + i * growth, growth))
            def forward(self, init_features):
                features = [init_features]
                for name, layer in self.named_children():
                    features.append(layer(*features))
                return torch.cat(features, 1)
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.block = Block(4, 6, 3)
                self.head = nn.Conv2d(18, 2, 1)
            def forward(self, x):
                return self.head(self.block(x))
    ''', (2, 6, 8, 8))


def test_sequential_children_and_modules() -> None:
    """``nn.Sequential``'s own ``children()`` and ``modules()`` (itself first, then depth first)."""
    assert_follows_torch('''
        import torch.nn as nn
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.seq = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sequential(nn.ReLU(), nn.Conv2d(4, 5, 3)))
            def forward(self, x):
                for m in self.seq.modules():
                    if isinstance(m, nn.Conv2d):
                        x = m(x)
                for m in self.seq.children():
                    pass
                return x
    ''', (2, 3, 12, 12))


def test_modules_listing_unknown_where_a_torch_layer_has_submodules() -> None:
    """``named_modules()`` through a MultiheadAttention would list its ``out_proj``: not guessed."""
    source = '''
        import torch.nn as nn
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.attn = nn.MultiheadAttention(8, 2)
                self.fc = nn.Linear(8, 4)
            def forward(self, x):
                n = len(list(self.modules()))
                return self.fc(x).view(n, -1)
    '''
    truth = torch_truth(source, "Net()", [3, 2, 8])
    result = analyzed(source, "Net()", (3, 2, 8))
    assert truth["ok"] and truth["output"] == [4, 6]  # Net, attn, attn.out_proj, fc
    assert result["models"][0]["output"] is None


# ---------------------------------------------------------------- checkpoint


@st.composite
def sequentials(draw) -> tuple[list[str], int]:
    channels = start = draw(st.integers(1, 3))
    texts = []
    for _ in range(draw(st.integers(1, 5))):
        text, channels = LAYERS[draw(st.sampled_from(sorted(LAYERS)))](channels)
        texts.append(text)
    return texts, start


@SETTINGS
@given(sequentials(), st.sampled_from(["module", "closure", "method", "sequential", "lambda"]),
       st.sampled_from(["", ", use_reentrant=False", ", use_reentrant=True"]), st.integers(1, 6))
def test_checkpoint_gives_what_the_function_gives(seq, how: str, reentrant: str, segments: int) -> None:
    texts, channels = seq
    call = {
        "module": f"cp.checkpoint(self.seq, x{reentrant})",
        "closure": f"cp.checkpoint(make_fn(self.seq, self.head), x{reentrant})",
        "method": f"cp.checkpoint(self.run, x{reentrant})",
        "lambda": f"cp.checkpoint(lambda t: self.seq(t), x{reentrant})",
        "sequential": f"cp.checkpoint_sequential(self.seq, {segments}, x{reentrant})",
    }[how]
    source = f'''
import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
def make_fn(body, head):
    def fn(*inputs):
        return head(body(torch.cat(inputs, 1)))
    return fn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.seq = nn.Sequential({", ".join(texts)})
        self.head = nn.Identity()
    def run(self, t):
        return self.seq(t)
    def forward(self, x):
        return {call}
'''
    assert_follows_torch(source, (2, channels, 16, 16))


def test_checkpoint_with_keywords_under_the_reentrant_form_is_not_guessed() -> None:
    source = '''
        import torch.nn as nn
        from torch.utils.checkpoint import checkpoint
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 4, 3)
            def step(self, x, scale=1):
                return self.conv(x) * scale
            def forward(self, x):
                return checkpoint(self.step, x, scale=2, use_reentrant=True)
    '''
    truth = torch_truth(source, "Net()", [2, 3, 8, 8])
    assert not truth["ok"]  # ValueError: Unexpected keyword arguments
    assert analyzed(source, "Net()", (2, 3, 8, 8))["models"][0]["output"] is None
    assert_follows_torch(source.replace("use_reentrant=True", "use_reentrant=False"), (2, 3, 8, 8))


# ---------------------------------------------------------------- einsum

LETTERS = "abcAB"


@st.composite
def einsums(draw) -> tuple[str, list[tuple[int, ...]]]:
    sizes = {letter: draw(st.integers(1, 4)) for letter in LETTERS}
    ellipsis_dims = [draw(st.integers(1, 3)) for _ in range(draw(st.integers(0, 2)))]
    terms, shapes = [], []
    for _ in range(draw(st.integers(1, 3))):
        labels = draw(st.lists(st.sampled_from(LETTERS), max_size=3))
        shape = []
        for label in labels:
            size = sizes[label]
            roll = draw(st.integers(0, 9))
            shape.append(1 if roll == 0 else size + 1 if roll == 1 else size)  # broadcast, or a mismatch
        term = "".join(labels)
        if draw(st.booleans()):
            at = draw(st.integers(0, len(labels)))
            kept = ellipsis_dims[draw(st.integers(0, len(ellipsis_dims))):]
            kept = [1 if draw(st.integers(0, 4)) == 0 else d for d in kept]
            term = term[:at] + "..." + term[at:]
            shape = shape[:at] + kept + shape[at:]
        if draw(st.integers(0, 9)) == 0 and shape:
            shape = shape[:-1]  # a rank that does not fit
        terms.append(term)
        shapes.append(tuple(shape))
    equation = ",".join(terms)
    if draw(st.booleans()):
        used = sorted({c for t in terms for c in t if c.isalpha()})
        out = draw(st.permutations(used))[:draw(st.integers(0, len(used)))]
        out_text = "".join(out)
        if draw(st.booleans()):
            at = draw(st.integers(0, len(out_text)))
            out_text = out_text[:at] + "..." + out_text[at:]
        if draw(st.integers(0, 9)) == 0:
            out_text += draw(st.sampled_from(LETTERS))  # maybe repeated or absent from the inputs
        equation += "->" + out_text
    if draw(st.integers(0, 4)) == 0:
        equation = equation.replace(",", " , ").replace("->", " -> ")
    if draw(st.integers(0, 9)) == 0:
        shapes = shapes[:-1] if len(shapes) > 1 else shapes + [(2,)]  # operands that do not fit the equation
    return equation, shapes


@settings(max_examples=400, deadline=None)
@given(einsums())
def test_einsum_shape_is_torchs(case) -> None:
    equation, shapes = case
    try:
        expected = tuple(torch.einsum(equation, *[torch.empty(s, device="meta") for s in shapes]).shape)
        message = None
    except RuntimeError as error:
        expected, message = None, str(error)
    try:
        got = einsum_shape(equation, list(shapes))
    except CannotTell:
        assert message is not None, f"{equation} {shapes}: torch gives {expected}, we cannot tell"
        return
    except ShapeError as error:
        assert error.message == message, f"{equation} {shapes}: torch {message!r}, ours {error.message!r}"
        return
    assert message is None, f"{equation} {shapes}: torch fails ({message}), we say {got}"
    assert got == expected, f"{equation} {shapes}: ours {got}, torch {expected}"


@pytest.mark.parametrize("call", ["torch.einsum('abc,ab->abc', out, se)", "torch.einsum('abc,ab->abc', [out, se])",
                                  "torch.einsum('abc,ab', out, se).unsqueeze(1)",
                                  "torch.einsum('...c,...->...c', out, se[..., :1].squeeze(-1))"])
def test_einsum_in_a_model(call: str) -> None:
    """Net1D's squeeze-excitation: ``torch.einsum('abc,ab->abc', out, se)``."""
    assert_follows_torch(f'''
import torch
import torch.nn as nn
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(1, 8, 3)
        self.fc = nn.Linear(8, 8)
        self.conv2 = nn.Conv1d(8, 4, 3)
    def forward(self, x):
        out = self.conv(x)
        se = self.fc(out.mean(-1))
        out = {call}
        return self.conv2(out)
''', (2, 1, 40), complete="unsqueeze" not in call)


def test_einsum_error_in_torchs_words() -> None:
    source = '''
        import torch
        import torch.nn as nn
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 6)
            def forward(self, x):
                return torch.einsum('bi,bj->bij', x, self.fc(x)).sum(1)
    '''
    assert_follows_torch(source, (2, 8))
    truth = torch_truth(source.replace("'bi,bj->bij'", "'bi,bi->bi'"), "Net()", [2, 8])
    result = analyzed(source.replace("'bi,bj->bij'", "'bi,bi->bi'"), "Net()", (2, 8))
    errors = [d["message"] for d in result["diagnostics"] if d["severity"] == "error"]
    assert not truth["ok"]
    assert errors == ["einsum(): subscript i has size 6 for operand 1 which does not broadcast with previously "
                      "seen size 8"]
    assert "subscript i has size 6" in truth["error"]


# ---------------------------------------------------------------- subclasses of torch layers

ATTRIBUTE_LAYERS = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose2d", "MaxPool1d", "MaxPool2d", "MaxPool3d",
                    "AvgPool1d", "AvgPool2d", "AvgPool3d"]


@st.composite
def layer_arguments(draw) -> tuple[str, list, dict]:
    op = draw(st.sampled_from(ATTRIBUTE_LAYERS))
    n = int(op[-2])

    def size(low: int, high: int):
        form = draw(st.sampled_from(["int", "tuple", "list"]))
        if form == "int":
            return draw(st.integers(low, high))
        values = [draw(st.integers(low, high)) for _ in range(n)]
        return tuple(values) if form == "tuple" else values

    kwargs: dict = {"kernel_size": size(1, 3)}
    if draw(st.booleans()):
        kwargs["stride"] = size(1, 2) if draw(st.integers(0, 3)) else None
    if draw(st.booleans()):
        kwargs["padding"] = size(0, 1)
    if "Avg" not in op and draw(st.booleans()):
        kwargs["dilation"] = size(1, 2)
    if "Conv" in op:
        if kwargs.get("stride", 1) is None:
            del kwargs["stride"]  # a conv's stride is never None
        if "Transpose" not in op and draw(st.booleans()) and kwargs.get("stride") in (None, 1):
            kwargs["padding"] = "same"
        return op, [2, 4], kwargs
    return op, [], kwargs


@SETTINGS
@given(layer_arguments())
def test_layer_attributes_as_torch_stores_them(case) -> None:
    op, args, kwargs = case
    module = getattr(torch.nn, op)(*args, **kwargs)
    layer = Layer(None, rule=rules_in_use().by_op[op], args=rules_in_use().by_op[op].bind(list(args), dict(kwargs)))
    for name in ("kernel_size", "stride", "padding", "dilation", "in_channels", "out_channels", "groups"):
        if hasattr(module, name) and name in layer.args.values:
            got, want = layer_attribute(layer, name), getattr(module, name)
            assert got == want and type(got) is type(want), f"{op}({kwargs}).{name}: ours {got!r}, torch {want!r}"


@SETTINGS
@given(st.sampled_from([1, 2, 3]), st.sampled_from(["Max", "Avg"]), st.integers(1, 3), st.integers(1, 3),
       st.sampled_from(["int", "list", "tuple", "none"]), st.integers(3, 9))
def test_same_padding_pool_subclass(n: int, kind: str, kernel: int, stride: int, form: str, size: int) -> None:
    """I3D's MaxPool3dSamePadding: pads from ``self.kernel_size[d]`` and ``self.stride[d]`` (as given, or
    made tuples by AvgPool1d), then ``super().forward(x)``."""
    k = kernel if form == "int" else [kernel] * n if form == "list" else tuple([kernel] * n)
    s = None if form == "none" else stride if form == "int" else [stride] * n if form == "list" else (stride,) * n
    source = f'''
import torch.nn as nn
import torch.nn.functional as F
def at(value, i):
    return value[i] if isinstance(value, (list, tuple)) else value
class SamePool(nn.{kind}Pool{n}d):
    def compute_pad(self, dim, s):
        if s % at(self.stride, dim) == 0:
            return max(at(self.kernel_size, dim) - at(self.stride, dim), 0)
        return max(at(self.kernel_size, dim) - (s % at(self.stride, dim)), 0)
    def forward(self, x):
        pads = []
        for dim in reversed(range({n})):
            pad = self.compute_pad(dim, x.shape[2 + dim])
            pads += [pad // 2, pad - pad // 2]
        x = F.pad(x, tuple(pads))
        return super(SamePool, self).forward(x)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.pool = SamePool(kernel_size={k!r}, stride={s!r})
        self.conv = nn.Conv{n}d(2, 3, 1)
    def forward(self, x):
        return self.conv(self.pool(x))
'''
    assert_follows_torch(source, (2, 2, *([size] * n)))


def test_conv_subclass_pads_from_weight_size_then_super_forward() -> None:
    assert_follows_torch('''
        import torch.nn as nn
        class SameConv(nn.Conv2d):
            def __init__(self, cin, cout, k, stride):
                super().__init__(cin, cout, k, stride)
                kh, kw = self.weight.size()[-2:]
                pad = max((112 - 1) * 2 + kh - 224, 0)
                self.pad = nn.ZeroPad2d((pad // 2, pad - pad // 2, pad // 2, pad - pad // 2))
            def forward(self, x):
                return super().forward(self.pad(x))
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = SameConv(3, 32, 3, 2)
                self.bn = nn.BatchNorm2d(32)
            def forward(self, x):
                return self.bn(self.conv(x))
    ''', (2, 3, 224, 224))


STATIC_SAME = '''
import math
from functools import partial
import torch.nn as nn

class Conv2dStaticSamePadding(nn.Conv2d):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, image_size=None, **kwargs):
        super().__init__(in_channels, out_channels, kernel_size, stride, **kwargs)
        self.stride = self.stride if len(self.stride) == 2 else [self.stride[0]] * 2
        ih, iw = (image_size, image_size) if isinstance(image_size, int) else image_size
        kh, kw = self.weight.size()[-2:]
        sh, sw = self.stride
        oh, ow = math.ceil(ih / sh), math.ceil(iw / sw)
        pad_h = max((oh - 1) * self.stride[0] + (kh - 1) * self.dilation[0] + 1 - ih, 0)
        pad_w = max((ow - 1) * self.stride[1] + (kw - 1) * self.dilation[1] + 1 - iw, 0)
        if pad_h > 0 or pad_w > 0:
            self.static_padding = nn.ZeroPad2d((pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        else:
            self.static_padding = nn.Identity()

    def forward(self, x):
        x = self.static_padding(x)
        x = super().forward(x)
        return x

def get_same_padding_conv2d(image_size=None):
    return partial(Conv2dStaticSamePadding, image_size=image_size)

class Stem(nn.Module):
    def __init__(self, image_size=IMAGE):
        super().__init__()
        Conv2d = get_same_padding_conv2d(image_size=image_size)
        self.conv_stem = Conv2d(3, 32, kernel_size=KERNEL, stride=STRIDE, bias=False)
        self.bn = nn.BatchNorm2d(32)

    def forward(self, x):
        return self.bn(self.conv_stem(x))
'''


@SETTINGS
@given(st.sampled_from([1, 2, 3, 5, (3, 1), "(1, 3)"]), st.sampled_from([1, 2, "(2, 1)"]),
       st.sampled_from([224, 225, 32, 33]))
def test_efficientnet_static_same_stem(kernel, stride, image: int) -> None:
    """Issue 14's wrong shape: torch's 225x225 after the pad, never 224."""
    source = STATIC_SAME.replace("KERNEL", str(kernel)).replace("STRIDE", str(stride)).replace("IMAGE", str(image))
    assert_follows_torch(source, (2, 3, image, image), model="Stem()")


def test_static_same_stem_of_an_unknown_image_size_is_unknown_never_224() -> None:
    source = STATIC_SAME.replace("KERNEL", "3").replace("STRIDE", "2").replace("image_size=IMAGE", "image_size")
    result = analyzed(source, "Stem(size)", (2, 3, 224, 224))
    pads = [layer["out"] for m in result["models"] for layer in m["layers"]
            if layer["path"] == "conv_stem.static_padding"]
    assert all(out is None for out in pads), pads


# ---------------------------------------------------------------- F.pad with helper-computed pads


@SETTINGS
@given(st.integers(1, 7), st.integers(1, 3), st.integers(5, 12), st.integers(1, 2))
def test_deeplab_fixed_padding(kernel: int, rate: int, size: int, stride: int) -> None:
    assert_follows_torch(f'''
import torch.nn as nn
import torch.nn.functional as F
def fixed_padding(inputs, kernel_size, dilation):
    kernel_size_effective = kernel_size + (kernel_size - 1) * (dilation - 1)
    pad_total = kernel_size_effective - 1
    pad_beg = pad_total // 2
    pad_end = pad_total - pad_beg
    padded_inputs = F.pad(inputs, (pad_beg, pad_end, pad_beg, pad_end))
    return padded_inputs
class SeparableConv2d(nn.Module):
    def __init__(self, inplanes, planes, kernel_size=3, stride=1, dilation=1, bias=False):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, inplanes, kernel_size, stride, 0, dilation, groups=inplanes, bias=bias)
        self.bn = nn.BatchNorm2d(inplanes)
        self.pointwise = nn.Conv2d(inplanes, planes, 1, 1, 0, 1, 1, bias=bias)
    def forward(self, x):
        x = fixed_padding(x, self.conv1.kernel_size[0], dilation=self.conv1.dilation[0])
        x = self.conv1(x)
        x = self.bn(x)
        return self.pointwise(x)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = SeparableConv2d(4, 8, {kernel}, {stride}, {rate})
    def forward(self, x):
        return self.block(x)
''', (2, 4, size, size))


def test_every_torch_layer_with_submodules_is_known_as_one() -> None:
    """``modules()`` is only followed where no torch layer in the tree holds modules the analysis does not
    model: each rule's layer that torch builds with children must be known to have them."""
    from cnnshape_ls.analysis.ops.containers import has_submodules

    tries = [(), (4,), (4, 4), (4, 2), (4, 4, 3), (2, 4, 4), (4, 2, 4)]
    for op, rule in rules_in_use().by_op.items():
        cls = getattr(torch.nn, op, None)
        if cls is None:
            continue
        for args in tries:
            try:
                module = cls(*args)
            except Exception:
                continue
            if list(module.children()):
                layer = Layer(None, rule=rule, args=rule.bind(list(args), {}))
                assert has_submodules(layer), f"torch's {op} has submodules"
            break


@pytest.mark.parametrize("write", ["self.padding = (1, 1)", "self.stride = [2, 2]", "self.in_channels = 5",
                                   "self.kernel_size = (5, 5)", "self.out_channels = 7", "self.dilation = 2",
                                   "self.padding = 'same'"])
def test_attribute_written_in_a_conv_subclass(write: str) -> None:
    """torch's conv forward reads stride/padding/dilation from the attributes, its sizes from ``weight``."""
    assert_follows_torch(f'''
import torch.nn as nn
class MyConv(nn.Conv2d):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        {write}
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = MyConv(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)
    def forward(self, x):
        return self.bn(self.conv(x))
''', (2, 3, 16, 16), complete=False)


@pytest.mark.parametrize("write", ["self.kernel_size = 3", "self.stride = 1", "self.ceil_mode = True",
                                   "self.padding = 1"])
def test_attribute_written_in_a_pool_subclass(write: str) -> None:
    assert_follows_torch(f'''
import torch.nn as nn
class Pool(nn.MaxPool2d):
    def __init__(self, k):
        super().__init__(k)
        {write}
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.pool = Pool(2)
        self.conv = nn.Conv2d(3, 4, 1)
    def forward(self, x):
        return self.conv(self.pool(x))
''', (2, 3, 15, 15))


def test_modules_registry_holding_none_does_not_break_the_run() -> None:
    source = '''
        import torch.nn as nn
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Conv2d(3, 4, 3)
                self._modules['skip'] = None
            def forward(self, x):
                for m in self.modules():
                    pass
                for name, m in self.named_children():
                    x = m(x)
                return x
    '''
    assert_follows_torch(source, (2, 3, 8, 8), complete=False)


@SETTINGS
@given(channels=st.integers(1, 12), size=st.integers(4, 20), stride=st.integers(1, 3),
       decorator=st.sampled_from(["staticmethod", "classmethod"]))
def test_a_forward_written_as_a_static_or_class_method(channels: int, size: int, stride: int,
                                                        decorator: str) -> None:
    """YOLOv5's ``SiLU``: ``@staticmethod def forward(x)`` (no ``self``); torch calls it like any forward."""
    first = "cls, x" if decorator == "classmethod" else "x"
    source = f"""
        import torch
        import torch.nn as nn


        class SiLU(nn.Module):
            @{decorator}
            def forward({first}):
                return x * torch.sigmoid(x)


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, {channels}, 3, padding=1)
                self.act = SiLU()
                self.conv2 = nn.Conv2d({channels}, 4, 3, stride={stride}, padding=1)

            def forward(self, x):
                return self.conv2(self.act(self.conv(x)))
    """
    assert_follows_torch(source, (2, 3, size, size))


@SETTINGS
@given(channels=st.integers(1, 12), size=st.integers(6, 20), keywords=st.booleans(), letters=st.booleans())
def test_add_module_by_keywords_and_computed_names(channels: int, size: int, keywords: bool, letters: bool) -> None:
    """``block.add_module(name="conv", module=...)`` (MobileViT; was ignored: a wrong shape) and stage names
    built with ``chr(ord('a') + i)`` (megvii's ShuffleNet)."""
    name = "chr(ord('a') + i)" if letters else "str(i)"
    add = f"name={name}, module=layer" if keywords else f"{name}, layer"
    source = f"""
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.seq = nn.Sequential()
                for i in range(2):
                    layer = nn.Conv2d(3 if i == 0 else {channels}, {channels}, 3, stride=2, padding=1)
                    self.seq.add_module({add})
                self.add_module(name="head", module=nn.Conv2d({channels}, 4, 1))

            def forward(self, x):
                return self.head(self.seq(x))
    """
    assert_follows_torch(source, (2, 3, size, size))


def test_an_add_module_call_of_another_form_is_never_ignored() -> None:
    """A keyword ``add_module`` does not take: what it adds cannot be told, so the container is unknown
    (ignoring it showed the input passing through an empty Sequential: a wrong shape)."""
    source = textwrap.dedent("""
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.seq = nn.Sequential()
                self.seq.add_module(label="conv", block=nn.Conv2d(3, 8, 3))

            def forward(self, x):
                return self.seq(x)
    """)
    result = analyzed(source, "Net()", (2, 3, 16, 16))
    assert result["models"][0]["output"] is None
    assert not [d for d in result["diagnostics"] if d["severity"] == "error"]


@SETTINGS
@given(channels=st.integers(1, 12), size=st.integers(4, 16), branches=st.integers(2, 4))
def test_none_entries_of_a_module_list(channels: int, size: int, branches: int) -> None:
    """HRNet's fuse layers: ``ModuleList`` entries that are ``None`` (appended or listed), skipped in forward."""
    source = f"""
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                fuse = []
                for j in range({branches}):
                    if j == 0:
                        fuse.append(None)
                    else:
                        fuse.append(nn.Sequential(nn.Conv2d({channels}, {channels}, 3, padding=1),
                                                  nn.BatchNorm2d({channels})))
                self.fuse = nn.ModuleList(fuse)
                self.extra = nn.ModuleList()
                self.extra.append(None)
                self.relu = nn.ReLU()

            def forward(self, x):
                y = x
                for f in self.fuse:
                    if f is not None:
                        y = y + f(x)
                return self.relu(y)
    """
    assert_follows_torch(source, (2, channels, size, size))


@SETTINGS
@given(channels=st.integers(1, 12), size=st.integers(4, 16))
def test_an_autograd_function_applied(channels: int, size: int) -> None:
    """EfficientNet's ``MemoryEfficientSwish``: ``SwishImplementation.apply(x)`` runs its ``forward(ctx, x)``."""
    source = f"""
        import torch
        import torch.nn as nn


        class SwishImplementation(torch.autograd.Function):
            @staticmethod
            def forward(ctx, i):
                result = i * torch.sigmoid(i)
                ctx.save_for_backward(i)
                return result

            @staticmethod
            def backward(ctx, grad_output):
                i = ctx.saved_tensors[0]
                return grad_output * torch.sigmoid(i)


        class Swish(nn.Module):
            def forward(self, x):
                return SwishImplementation.apply(x)


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, {channels}, 3, padding=1)
                self.act = Swish()
                self.conv2 = nn.Conv2d({channels}, 4, 3, stride=2, padding=1)

            def forward(self, x):
                return self.conv2(self.act(self.conv(x)))
    """
    assert_follows_torch(source, (2, 3, size, size))


def test_a_default_module_is_one_module_and_del_unregisters() -> None:
    """``act=nn.SiLU()`` as a default is made once, where the function is defined (torch names every call of
    it under its first owner); ``del model.classifier`` takes it out of the parameter count."""
    source = """
        import torch.nn as nn


        class Conv(nn.Module):
            def __init__(self, cin, cout, stride=1, act=nn.SiLU()):
                super().__init__()
                self.conv = nn.Conv2d(cin, cout, 3, stride, 1)
                self.act = act

            def forward(self, x):
                return self.act(self.conv(x))


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.stem = Conv(3, 8)
                self.down = Conv(8, 16, 2)
                self.classifier = nn.Linear(16, 10)
                del self.classifier

            def forward(self, x):
                return self.down(self.stem(x))
    """
    assert_follows_torch(source, (2, 3, 16, 16))
