"""Constructs the fifth first-contact batch of real model files showed unknown or wrong, each compared with
torch itself (snippets written for these tests, never copied files):

- ``q, k, v = qkv.unbind(0)`` and ``torch.unbind(x, dim=...)`` (CvT's attention): one tensor per index along
  the dim, that dim removed;
- in-place reshaping methods (``conv(x).unsqueeze_(dim=1)``, ``gap(u).squeeze_()``, ``z.transpose_(0, 1)``,
  SKNet): the tensor itself takes the new shape, for every name that holds it (the first-contact engine kept
  the old shape: wrong shapes and false errors);
- ``sum(list_of_lists, [])`` (ReXNet's strides) and ``sum(items, start)`` as Python adds them;
- ``F.one_hot(ids, num_classes)`` and ``F.embedding(ids, weight)`` (VQ-VAE's quantizer);
- ``nn.Parameter(torch.tensor([v]))`` (FCOS's ``ScaleExp``): a (1,) parameter, counted and broadcast;
- ``type(m)`` / ``m.__class__`` of a torch layer and their ``__name__`` (MUNIT's AdaIN parameter count over
  ``model.modules()``);
- a subclass of torch's private ``nn.modules.batchnorm._BatchNorm`` (Models Genesis' ``ContBatchNorm3d``):
  the batch norm's weights are counted (the first-contact total missed them) and its forward followed.
"""

from __future__ import annotations

import textwrap

import pytest

pytest.importorskip("torch")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import cnnshape_ls  # noqa: E402

from support import assert_follows_torch_whole, input_text, torch_truth  # noqa: E402

pytestmark = pytest.mark.torch

SETTINGS = settings(max_examples=25, deadline=None)


def analyzed(source: str, model: str, shape: tuple[int, ...]) -> dict:
    return cnnshape_ls.analyze(textwrap.dedent(source), input=input_text(shape), model=model).to_json()


# ---------------------------------------------------------------- unbind


def test_unbind_qkv_attention() -> None:
    assert_follows_torch_whole('''
        import torch
        import torch.nn as nn
        class Attention(nn.Module):
            def __init__(self, dim, heads):
                super().__init__()
                self.heads = heads
                self.qkv = nn.Conv2d(dim, 3 * dim, 1)
                self.drop = nn.Dropout(0.1)
                self.proj = nn.Conv2d(dim, dim, 1)
            def forward(self, x):
                B, C, H, W = x.shape
                qkv = self.qkv(x).reshape(B, 3, self.heads, C // self.heads, H, W)
                qkv = qkv.flatten(4).permute(1, 0, 2, 4, 3)
                q, k, v = qkv.unbind(0)
                attn = self.drop((q @ k.transpose(-1, -2)).softmax(dim=-1))
                x = (attn @ v).transpose(-1, -2).reshape(B, C, H, W)
                return self.proj(x)
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.attn = Attention(16, 4)
            def forward(self, x):
                return self.attn(x)
    ''', (2, 16, 6, 5))


@SETTINGS
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), dim=st.integers(-5, 4),
       as_function=st.booleans(), keyword=st.booleans())
def test_unbind_any_dim(shape: list[int], dim: int, as_function: bool, keyword: bool) -> None:
    """Every slice has torch's shape; a dim out of range is torch's error, never a shape."""
    dim_text = f"dim={dim}" if keyword else str(dim)
    call = f"torch.unbind(x, {dim_text})" if as_function else f"x.unbind({dim_text})"
    source = f'''
        import torch
        import torch.nn as nn
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.first = nn.Identity()
                self.last = nn.Identity()
            def forward(self, x):
                parts = {call}
                return self.first(parts[0]), self.last(parts[-1]), len(parts)
    '''
    truth = torch_truth(source, "Net()", shape)
    result = analyzed(source, "Net()", tuple(shape))
    ours = {layer["path"]: layer["out"] for m in result["models"] for layer in m["layers"] if layer["path"]}
    errors = [d for d in result["diagnostics"] if d["severity"] == "error"]
    if truth["ok"]:
        assert not errors, errors
        assert [[name, ours.get(name)] for name, _ in truth["calls"]] == truth["calls"], (source, shape, ours)
    else:
        assert errors or all(v is None for v in ours.values()), (truth["error"], ours)


# ---------------------------------------------------------------- in-place reshaping


def test_inplace_unsqueeze_sknet_attention() -> None:
    assert_follows_torch_whole('''
        import torch
        import torch.nn as nn
        class SK(nn.Module):
            def __init__(self, c, branches):
                super().__init__()
                self.convs = nn.ModuleList([nn.Conv2d(c, c, 1 + 2 * i, padding=i) for i in range(branches)])
                self.gap = nn.AdaptiveAvgPool2d(1)
                self.fc = nn.Linear(c, 4)
                self.fcs = nn.ModuleList([nn.Linear(4, c) for _ in range(branches)])
                self.softmax = nn.Softmax(dim=1)
            def forward(self, x):
                for i, conv in enumerate(self.convs):
                    fea = conv(x).unsqueeze_(dim=1)
                    feas = fea if i == 0 else torch.cat([feas, fea], dim=1)
                u = torch.sum(feas, dim=1)
                s = self.gap(u).squeeze_()
                z = self.fc(s)
                for i, fc in enumerate(self.fcs):
                    v = fc(z).unsqueeze_(1)
                    att = v if i == 0 else torch.cat([att, v], dim=1)
                att = self.softmax(att).unsqueeze(-1).unsqueeze(-1)
                return (feas * att).sum(dim=1)
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.sk = SK(8, 3)
                self.head = nn.Conv2d(8, 2, 1)
            def forward(self, x):
                return self.head(self.sk(x))
    ''', (2, 8, 5, 5))


@SETTINGS
@given(shape=st.lists(st.integers(1, 3), min_size=1, max_size=4),
       method=st.sampled_from(["unsqueeze_(DIM)", "squeeze_()", "squeeze_(DIM)", "transpose_(0, DIM)", "t_()",
                               "swapaxes_(DIM, 0)", "unsqueeze_(dim=DIM)", "resize_(2, 3)", "resize_((DIM + 5,))"]),
       dim=st.integers(-4, 3), use_result=st.booleans())
def test_inplace_reshaping_changes_the_tensor(shape: list[int], method: str, dim: int, use_result: bool) -> None:
    """The result and the tensor itself (and a second name for it) have torch's shape after the call."""
    call = method.replace("DIM", str(dim))
    body = f"y = x.{call}" if use_result else f"x.{call}\n                y = x"
    source = f'''
        import torch.nn as nn
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.after = nn.Identity()
                self.alias = nn.Identity()
            def forward(self, x):
                x = x * 1
                same = x
                {body}
                return self.after(y), self.alias(same)
    '''
    truth = torch_truth(source, "Net()", shape)
    result = analyzed(source, "Net()", tuple(shape))
    ours = {layer["path"]: layer["out"] for m in result["models"] for layer in m["layers"] if layer["path"]}
    errors = [d for d in result["diagnostics"] if d["severity"] == "error"]
    if truth["ok"]:
        assert not errors, (call, shape, errors)
        assert [[name, ours.get(name)] for name, _ in truth["calls"]] == truth["calls"], (call, shape, ours)
    else:
        assert errors or all(v is None for v in ours.values()), (call, shape, truth["error"], ours)


def test_inplace_methods_return_the_tensor_itself() -> None:
    """``y = x.relu_()`` is ``x``: reshaping ``y`` in place reshapes ``x`` too, as in torch."""
    assert_follows_torch_whole('''
        import torch.nn as nn
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 4, 1)
                self.a = nn.Identity()
                self.b = nn.Identity()
                self.c = nn.Identity()
            def forward(self, x):
                x = self.conv(x)
                y = x.relu_()
                y.unsqueeze_(1)
                z = x.mul_(2).add_(x)
                z.squeeze_(1)
                w = x.clamp_(0, 1)
                w.transpose_(1, 2)
                return self.a(x), self.b(y), self.c(w)
    ''', (2, 3, 5, 6))


# ---------------------------------------------------------------- sum(items, start)


def test_sum_of_lists_flattens_strides() -> None:
    assert_follows_torch_whole('''
        import torch.nn as nn
        class Net(nn.Module):
            def __init__(self, layers=(1, 2, 3), strides=(1, 2, 2)):
                super().__init__()
                strides = sum([[s] + [1] * (layers[i] - 1) for i, s in enumerate(strides)], [])
                widths = sum(([8 * (i + 1)] for i in range(len(strides))), start=[])
                blocks, c = [], 3
                for w, s in zip(widths, strides):
                    blocks.append(nn.Conv2d(c, w, 3, s, 1))
                    c = w
                self.features = nn.Sequential(*blocks)
                self.extra = nn.Conv2d(c, sum([1, 2, 3], 10), 1)
            def forward(self, x):
                return self.extra(self.features(x))
    ''', (2, 3, 32, 32))


def test_sum_with_a_start_python_refuses_is_unknown() -> None:
    result = analyzed('''
        import torch.nn as nn
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, len(sum([[1], [2]], "")))
            def forward(self, x):
                return self.fc(x)
    ''', "Net()", (2, 4))
    assert [layer["out"] for m in result["models"] for layer in m["layers"] if layer["path"] == "fc"] == [None]


# ---------------------------------------------------------------- one_hot, embedding


def test_vq_quantizer_one_hot_and_embedding() -> None:
    assert_follows_torch_whole('''
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        class Quantize(nn.Module):
            def __init__(self, dim, n_embed):
                super().__init__()
                self.dim, self.n_embed = dim, n_embed
                self.register_buffer("embed", torch.randn(dim, n_embed))
            def forward(self, x):
                flat = x.reshape(-1, self.dim)
                dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.embed \\
                    + self.embed.pow(2).sum(0, keepdim=True)
                _, ind = (-dist).max(1)
                onehot = F.one_hot(ind, self.n_embed).type(flat.dtype)
                ind = ind.view(*x.shape[:-1])
                q = F.embedding(ind, self.embed.transpose(0, 1))
                return x + (q - x).detach(), onehot
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 4, 1)
                self.q = Quantize(4, 10)
                self.up = nn.Conv2d(4, 3, 1)
                self.codes = nn.Linear(10, 2)
            def forward(self, x):
                z = self.conv(x).permute(0, 2, 3, 1)
                q, onehot = self.q(z)
                return self.up(q.permute(0, 3, 1, 2)), self.codes(onehot)
    ''', (2, 3, 5, 4))


@SETTINGS
@given(ids=st.lists(st.integers(1, 3), min_size=1, max_size=3), width=st.integers(1, 5),
       weight_rank=st.sampled_from([1, 2, 2, 3]), classes=st.sampled_from([-1, 4, 7]))
def test_one_hot_and_embedding_shapes(ids: list[int], width: int, weight_rank: int, classes: int) -> None:
    weight = ", ".join(["6", str(width), "2"][:weight_rank])
    source = f'''
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.register_buffer("table", torch.zeros({weight}))
                self.a = nn.Identity()
                self.b = nn.Identity()
            def forward(self, x):
                ids = x.long().clamp(0, 3)
                return self.a(F.embedding(ids, self.table)), self.b(F.one_hot(ids, {classes}))
    '''
    truth = torch_truth(source, "Net()", ids)
    result = analyzed(source, "Net()", tuple(ids))
    ours = {layer["path"]: layer["out"] for m in result["models"] for layer in m["layers"] if layer["path"]}
    errors = [d for d in result["diagnostics"] if d["severity"] == "error"]
    for name, out in truth["calls"]:
        assert ours.get(name) in (out, None), (name, ours, truth)
    if not truth["ok"] and weight_rank != 2:
        assert errors, (truth["error"], ours)
    if truth["ok"]:
        assert not errors
        assert ours.get("a") == truth["calls"][0][1]
        if classes > 0:
            assert ours.get("b") == truth["calls"][1][1]


# ---------------------------------------------------------------- nn.Parameter(torch.tensor([v]))


def test_scale_exp_parameter_of_a_one_item_tensor() -> None:
    assert_follows_torch_whole('''
        import torch
        import torch.nn as nn
        class ScaleExp(nn.Module):
            def __init__(self, init_value=1.0):
                super().__init__()
                self.scale = nn.Parameter(torch.tensor([init_value], dtype=torch.float32))
            def forward(self, x):
                return torch.exp(x * self.scale)
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.scales = nn.ModuleList([ScaleExp(1.0) for _ in range(3)])
                self.bias = nn.Parameter(torch.tensor(0.5))
                self.conv = nn.Conv2d(4, 4, 3, padding=1)
            def forward(self, x):
                x = self.conv(x) + self.bias
                return [s(x) for s in self.scales][1] * self.scales[0].scale
    ''', (2, 4, 6, 6))


def test_one_item_tensor_still_pads_as_a_number() -> None:
    assert_follows_torch_whole('''
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.up = nn.ConvTranspose2d(4, 4, 2, stride=2)
                self.conv = nn.Conv2d(8, 4, 3, padding=1)
            def forward(self, x):
                skip = x
                y = self.up(x[:, :, :3, :3])
                dy = torch.tensor([skip.size()[2] - y.size()[2]])
                dx = torch.tensor([skip.size()[3] - y.size()[3]])
                y = F.pad(y, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
                return self.conv(torch.cat([skip, y], dim=1))
    ''', (2, 4, 7, 7))


# ---------------------------------------------------------------- type(m).__name__


def test_class_name_of_torch_layers_while_walking_modules() -> None:
    assert_follows_torch_whole('''
        import torch.nn as nn
        class AdaIN(nn.Module):
            def __init__(self, n):
                super().__init__()
                self.num_features = n
            def forward(self, x):
                return x
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.dec = nn.Sequential(nn.Conv2d(3, 8, 1), AdaIN(8), nn.ReLU(), AdaIN(4), nn.Conv2d(8, 3, 1))
                n = sum(2 * m.num_features for m in self.dec.modules() if m.__class__.__name__ == "AdaIN")
                convs = sum(1 for m in self.dec.modules() if type(m).__name__ == "Conv2d")
                seqs = sum(1 for m in self.modules() if type(m) == nn.Sequential)
                relus = sum(1 for m in self.modules() if m.__class__ is nn.ReLU)
                self.fc = nn.Linear(3, n + 10 * convs + 100 * seqs + 1000 * relus)
            def forward(self, x):
                return self.fc(self.dec(x).mean((2, 3)))
    ''', (2, 3, 4, 4))


# ---------------------------------------------------------------- _BatchNorm subclasses


def test_subclass_of_private_batchnorm_base() -> None:
    assert_follows_torch_whole('''
        import torch.nn as nn
        import torch.nn.functional as F
        class ContBatchNorm3d(nn.modules.batchnorm._BatchNorm):
            def _check_input_dim(self, input):
                if input.dim() != 5:
                    raise ValueError("expected 5D input")
            def forward(self, input):
                self._check_input_dim(input)
                return F.batch_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                                    True, self.momentum, self.eps)
        class AnyRank(nn.modules.batchnorm._BatchNorm):
            def _check_input_dim(self, input):
                pass
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv3d(1, 4, 3, padding=1)
                self.bn = ContBatchNorm3d(4)
                self.plain = AnyRank(4, affine=False)
                self.affine = AnyRank(4, eps=1e-3)
            def forward(self, x):
                return self.affine(self.plain(self.bn(self.conv(x))))
    ''', (2, 1, 4, 5, 3))
