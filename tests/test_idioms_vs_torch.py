"""Idioms that build layers without a layer call, drawn at random and compared with torch itself.

- ``F.convNd`` / ``F.conv_transposeNd`` / ``F.linear`` with an ``nn.Parameter`` weight: the output shape,
  torch's rejections, and the parameter count;
- ``weight_norm`` / ``spectral_norm``: shapes unchanged, the parameter count as ``parameters()`` gives it;
- ``torch.arange`` / ``torch.linspace`` of numbers, whose ``.item()`` values pick layers;
- ``F.max_poolNd(..., return_indices=True)`` then ``F.max_unpoolNd`` (SegNet's decoder);
- ``sum()`` of branch outputs and ``Tensor.repeat(repeats=...)`` (HRNet's fusion, a ViT's class token);
- ``.values`` / ``.indices`` of ``max``, ``topk`` and ``sort``, ``torch.eye``, ``torch.Tensor(out, in)``.
"""

from __future__ import annotations

import math

import pytest

pytest.importorskip("torch")

import torch  # noqa: E402
from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import cnnshape_ls  # noqa: E402
from cnnshape_ls.analysis.ops.creation import arange as _arange  # noqa: E402
from cnnshape_ls.analysis.ops.creation import linspace as _linspace  # noqa: E402

from support import torch_truth  # noqa: E402

pytestmark = pytest.mark.torch

SETTINGS = settings(max_examples=120, deadline=None)


def analyzed(source: str, shape: tuple[int, ...]) -> tuple[dict, list[dict]]:
    result = cnnshape_ls.analyze(source, input=str(tuple(shape)), model="Net()").to_json()
    errors = [d for d in result["diagnostics"] if d["severity"] == "error"]
    return result["models"][0], errors


def cpu_truth(source: str, shape: tuple[int, ...]) -> dict:
    """torch on cpu with its native kernels: the meta device skips ConvTranspose's channel check, and
    oneDNN returns an empty tensor where the native kernel reports "Output size is too small"."""
    namespace: dict = {}
    exec(compile(source, "model.py", "exec"), namespace)
    net = namespace["Net"]()
    params = sum(p.numel() for p in net.parameters())
    calls: list = []
    for name, module in net.named_modules():
        if name and not list(module.children()):
            module.register_forward_hook(lambda _m, _i, out, name=name: calls.append([name, list(out.shape)]))
    try:
        with torch.no_grad(), torch.backends.mkldnn.flags(enabled=False):
            out = net(torch.zeros(shape))
    except RuntimeError as error:
        return {"ok": False, "error": f"RuntimeError: {error}", "params": params}
    return {"ok": True, "output": list(out.shape), "params": params, "calls": calls}


def assert_same_as_torch(source: str, shape: tuple[int, ...]) -> None:
    model, errors = analyzed(source, shape)
    truth = cpu_truth(source, shape)
    if truth["ok"]:
        assert not errors, f"torch runs it, we report {errors}\n{source}"
        assert model["output"] in (None, truth["output"]), f"ours {model['output']}, torch {truth['output']}\n{source}"
    else:
        assert "error" in truth and truth["error"].startswith("RuntimeError"), truth
        assert errors or model["output"] is None, f"torch fails ({truth['error']}), we say {model['output']}\n{source}"
    if "params" in truth:
        assert model["params"] in (None, truth["params"]), f"ours {model['params']}, torch {truth['params']}"


@st.composite
def functional_convs(draw) -> tuple[str, tuple[int, ...]]:
    n = draw(st.integers(1, 3))
    transposed = draw(st.booleans())
    groups = draw(st.sampled_from([1, 1, 2]))
    cin = groups * draw(st.integers(1, 3))
    cout = groups * draw(st.integers(1, 3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(n))
    stride, padding, dilation = (draw(st.integers(1, 2)), draw(st.integers(0, 2)), draw(st.integers(1, 2)))
    weight = (cin, cout // groups, *kernel) if transposed else (cout, cin // groups, *kernel)
    got = cin if draw(st.integers(0, 4)) else cin + groups  # now and then the wrong channels
    shape = (2, got, *(draw(st.integers(1, 7)) for _ in range(n)))
    bias = draw(st.booleans())
    if transposed:
        output_padding = draw(st.integers(0, 1))
        assume(output_padding < max(stride, dilation))
        call = (f"F.conv_transpose{n}d(x, self.weight, {'self.bias' if bias else 'None'}, {stride}, {padding}, "
                f"{output_padding}, {groups}, {dilation})")
        out_channels = cout
    else:
        keyword = draw(st.booleans())
        rest = (f"stride={stride}, padding={padding}, dilation={dilation}, groups={groups}" if keyword
                else f"{stride}, {padding}, {dilation}, {groups}")
        call = f"F.conv{n}d(x, self.weight, {'self.bias' if bias else 'None'}, {rest})"
        out_channels = cout
    source = f'''
import torch
import torch.nn as nn
import torch.nn.functional as F
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros{weight})
        self.bias = nn.Parameter(torch.zeros({out_channels})) if {bias} else None
    def forward(self, x):
        return {call}
'''
    return source, shape


@SETTINGS
@given(functional_convs())
def test_functional_conv(drawn: tuple[str, tuple[int, ...]]) -> None:
    assert_same_as_torch(*drawn)


@SETTINGS
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 6), st.integers(0, 2), st.booleans())
def test_functional_linear(fin: int, fout: int, got: int, extra_dims: int, bias: bool) -> None:
    shape = (2, *([3] * extra_dims), got)
    source = f'''
import torch
import torch.nn as nn
import torch.nn.functional as F
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn({fout}, {fin}))
        self.bias = nn.Parameter(torch.zeros({fout})) if {bias} else None
    def forward(self, x):
        return F.linear(x, self.weight, self.bias)
'''
    assert_same_as_torch(source, shape)


@st.composite
def reparametrised(draw) -> tuple[str, tuple[int, ...]]:
    kind = draw(st.sampled_from(["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d", "Linear"]))
    wrapper = draw(st.sampled_from(["weight_norm", "spectral_norm", "nn.utils.weight_norm",
                                    "torch.nn.utils.parametrizations.weight_norm",
                                    "torch.nn.utils.parametrizations.spectral_norm"]))
    cin, cout = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    bias = draw(st.booleans())
    if kind == "Linear":
        layer, shape = f"nn.Linear({cin}, {cout}, bias={bias})", (2, cin)
    else:
        n = int(kind[-2])
        layer, shape = f"nn.{kind}({cin}, {cout}, {draw(st.integers(1, 3))}, bias={bias})", (2, cin, *([5] * n))
    dim = "" if "spectral" in wrapper else draw(st.sampled_from(["", ", dim=0", ", dim=None"]))
    source = f'''
import torch
import torch.nn as nn
from torch.nn.utils import weight_norm, spectral_norm
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = {wrapper}({layer}{dim})
    def forward(self, x):
        return self.layer(x)
'''
    return source, shape


@st.composite
def functional_unpools(draw) -> tuple[str, tuple[int, ...]]:
    """Indices that fit the unpooled size (the pool's input size given back, or windows that tile it):
    elsewhere torch's refusal depends on the values (which index won), as the harness notes."""
    n = draw(st.integers(1, 3))
    k = draw(st.integers(1, 3))
    sized = draw(st.booleans())  # output_size=x.size(), as SegNet-style decoders ask for it
    s = draw(st.integers(1, 3)) if sized else k
    p = draw(st.integers(0, k // 2)) if sized else 0
    # without output_size, the indices (into the input) fit the unpooled size when the windows tile the input
    shape = (2, 2, *(draw(st.integers(1, 9)) if sized else k * draw(st.integers(1, 4)) for _ in range(n)))
    source = (
        "import torch.nn as nn\nimport torch.nn.functional as F\n\n\n"
        "class Net(nn.Module):\n"
        "    def forward(self, x):\n"
        f"        y, where = F.max_pool{n}d(x, {k}, stride={s}, padding={p}, return_indices=True)\n"
        f"        return F.max_unpool{n}d(y, where, {k}, {s}, {p}"
        + (", output_size=x.size()" if sized else "") + ")\n"
    )
    return source, shape


@SETTINGS
@given(drawn=functional_unpools())
def test_functional_unpool(drawn: tuple[str, tuple[int, ...]]) -> None:
    """The indices of a functional max pool undo it: the size torch computes, or its output_size."""
    source, shape = drawn
    assert_same_as_torch(source, shape)
    model, _ = analyzed(source, shape)
    truth = cpu_truth(source, shape)
    if truth["ok"]:
        assert model["output"] == truth["output"], f"ours {model['output']}, torch {truth['output']}\n{source}"


@SETTINGS
@given(channels=st.lists(st.integers(1, 4), min_size=1, max_size=3), generator=st.booleans(),
       start=st.sampled_from(["", ", 0", ", 1.5"]), tokens=st.integers(1, 3), keyword=st.booleans())
def test_sum_of_branches_and_keyword_repeat(channels: list[int], generator: bool, start: str, tokens: int,
                                            keyword: bool) -> None:
    """``sum(branch(x) for branch in ...)`` adds feature maps (HRNet's fuse layers), torch's add error where
    they differ; ``cls_token.repeat(repeats=(B, 1, 1))`` as the positional form."""
    comprehension = "(m(x) for m in self.branches)" if generator else "[m(x) for m in self.branches]"
    repeat = "repeats=(x.size(0), 1, 1)" if keyword else "x.size(0), 1, 1"
    source = (
        "import torch\nimport torch.nn as nn\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        f"        self.branches = nn.ModuleList([{', '.join(f'nn.Conv2d(2, {c}, 1)' for c in channels)}])\n"
        f"        self.token = nn.Parameter(torch.zeros(1, {tokens}, {channels[0]}))\n"
        "    def forward(self, x):\n"
        f"        y = sum({comprehension}{start}).flatten(2).transpose(1, 2)\n"
        f"        return torch.cat([self.token.repeat({repeat}), y], dim=1)\n"
    )
    shape = (2, 2, 2, 2)
    assert_same_as_torch(source, shape)
    model, errors = analyzed(source, shape)
    truth = cpu_truth(source, shape)
    if truth["ok"]:
        assert model["output"] == truth["output"], f"ours {model['output']}, torch {truth['output']}\n{source}"
    else:
        wanted = "cat-mismatch" if "Sizes of tensors must match" in truth["error"] else "add-mismatch"
        assert errors and errors[0]["code"] == wanted, (truth["error"], errors)


@SETTINGS
@given(rank=st.integers(1, 3), data=st.data())
def test_values_indices_topk_eye_and_legacy_tensor(rank: int, data) -> None:
    """``x.max(dim=d).values``, ``topk(k, dim)``, ``sort``, ``torch.eye`` (PointNet's T-Net) and a weight made
    by ``torch.Tensor(out, in)`` (a noisy linear layer), against torch."""
    shape = (2, *(data.draw(st.integers(1, 4)) for _ in range(rank)))
    dim = data.draw(st.integers(-rank - 1, rank))
    k = data.draw(st.integers(0, 5))
    pick = data.draw(st.sampled_from(["values", "indices", "[0]", "[1]"]))
    op = data.draw(st.sampled_from([f"x.max(dim={dim})", f"torch.min(x, {dim})", f"x.topk({k}, dim={dim})",
                                    f"torch.topk(x, k={k}, dim={dim})", f"x.sort(dim={dim})"]))
    got = f"{op}{pick}" if pick.startswith("[") else f"{op}.{pick}"
    n = data.draw(st.integers(1, 3))
    source = (
        "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        f"        self.weight = nn.Parameter(torch.Tensor({n}, {shape[-1]}))\n"
        "    def forward(self, x):\n"
        f"        y = {got}.float()\n"
        f"        eye = torch.eye({n}, device=x.device).flatten().unsqueeze(0).repeat(x.size(0), 1)\n"
        "        return torch.cat([y.flatten(), F.linear(x, self.weight).flatten(), eye.flatten()])\n"
    )
    model, errors = analyzed(source, shape)
    truth = cpu_truth(source, shape)
    if truth["ok"]:
        assert not errors, errors
        assert model["output"] in (None, truth["output"]), f"ours {model['output']}, torch {truth['output']}\n{source}"
        if -rank - 1 <= dim <= rank and ("topk" not in op or k <= shape[dim]):
            assert model["output"] == truth["output"], f"ours {model['output']}, torch {truth['output']}\n{source}"


@SETTINGS
@given(reparametrised())
def test_reparametrised_layer(drawn: tuple[str, tuple[int, ...]]) -> None:
    source, shape = drawn
    model, _errors = analyzed(source, shape)
    truth = torch_truth(source, "Net()", list(shape))
    assert truth["ok"], truth
    assert model["output"] == truth["output"]
    assert model["params"] == truth["params"], source


numbers = st.one_of(st.integers(-6, 6), st.floats(-6, 6, allow_nan=False, width=32))


@SETTINGS
@given(numbers, numbers, st.integers(0, 40))
def test_linspace_values(start: float, end: float, steps: int) -> None:
    ours = _linspace([start, end, steps], {})
    theirs = torch.linspace(start, end, steps).tolist()
    assert ours is not None and len(ours) == len(theirs)
    if theirs:  # the ends exactly; an inner element may round differently in its last bit (see _linspace)
        assert (ours[0], ours[-1]) == (theirs[0], theirs[-1])
        assert all(math.isclose(a, b, rel_tol=2 ** -22, abs_tol=1e-6) for a, b in zip(ours, theirs))


@SETTINGS
@given(st.lists(st.integers(-12, 12), min_size=1, max_size=3))
def test_arange_values(bounds: list[int]) -> None:
    assume(len(bounds) < 3 or bounds[2] != 0)
    try:
        theirs = torch.arange(*bounds).tolist()
    except RuntimeError:  # torch rejects a step that goes the wrong way: so do we, by saying nothing
        assert not _arange(bounds, {})
        return
    assert list(_arange(bounds, {})) == theirs
    named = dict(zip(("start", "end", "step"), bounds)) if len(bounds) > 1 else {"end": bounds[0]}
    assert list(_arange([], named)) == theirs


def test_item_values_choose_layers() -> None:
    """Drop-path rates from ``torch.linspace(...).item()``: a rate of 0 gives ``nn.Identity``, as in torch."""
    source = '''
import torch
import torch.nn as nn
class Net(nn.Module):
    def __init__(self, depth=4, rate=0.0):
        super().__init__()
        rates = [r.item() for r in torch.linspace(0, rate, depth)]
        steps = torch.arange(depth).tolist()
        self.blocks = nn.Sequential(*[nn.Dropout(rates[i]) if rates[i] > 0 else nn.Identity() for i in steps])
        self.head = nn.Linear(8, 2)
    def forward(self, x):
        return self.head(self.blocks(x))
'''
    model, _errors = analyzed(source, (2, 8))
    truth = cpu_truth(source, (2, 8))  # .item() cannot run on the meta device
    ours = [(layer["path"], layer["op"], layer["out"]) for layer in model["layers"] if layer["path"]]
    assert [(p, s) for p, _t, s in ours] == [tuple(c) for c in truth["calls"]]
    assert {t for p, t, _s in ours if p.startswith("blocks.")} == {"Identity"}
