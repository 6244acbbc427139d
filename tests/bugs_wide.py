"""A wider generated-bug measurement: realistic single-edit shape bugs in correct models.

Extends tests/test_generated_bugs.py (which only changes the first argument of
Linear / Conv2d / BatchNorm2d). The correct models are the same: tests/models
(manifest.json) and the seed corpus entries without ``expect_error``. Every
mutation is ONE textual edit, of one constructor argument or one forward
expression, in a correct model file; mutations torch accepts are dropped
(tests/truth.py, in this process).

Kinds (``KINDS``):

 1  Linear in_features off (v+1, v*2, a plausible wrong product such as
    16 * 6 * 6 for 16 * 5 * 5), positional or keyword (a keyword variant of
    each file is made by rewriting ``Linear(a, b)`` as
    ``Linear(in_features=a, out_features=b)``, which torch accepts, then mutated);
 2  in_channels of Conv1d/2d/3d and ConvTranspose1d/2d/3d off;
 3  num_features of BatchNorm1d/2d/3d, num_channels of GroupNorm, normalized_shape of LayerNorm;
 4  out_channels of a conv off (the next layer no longer fits; the line to change is the conv's);
 5  out_features of a Linear whose output reaches another Linear;
 6  in/out channels swapped in one conv;
 7  torch.cat channel counts: out_channels of a conv feeding a channel cat ("branch"),
    in_channels / num_features of a layer after a cat ("consumer"), or an integer argument
    of a block constructor (``Inception(64, 32, ...)``) whose subtree holds such a layer ("block-arg");
 8  view/reshape flatten sizes: ``x.view(-1, N)`` / ``x.view(x.size(0), N)`` with a wrong N;
 9  kernel_size / stride / padding of a conv or pool changed so that a later Linear no longer
    fits (kept only when torch's error is a Linear size mismatch, or a hard-coded
    ``view(-1, N)`` right before it that no longer fits: sub-kinds ``/linear`` and ``/view``);
10  BatchNorm2d where BatchNorm1d is needed and vice versa (and BatchNorm3d -> BatchNorm2d);
11  output too small: kernel_size / stride of a conv or pool made larger, or its padding 0, kept only when
    torch's error is a window larger than its input (``Kernel size can't be greater than actual input
    size``, ``Output size is too small``). The line to change is the mutated one; torch fails there or at
    a later window, where the diagnostic stays (so ``on-line`` counts only the first case);
12  residual adds whose branches differ (issue 15, kind 2; kept only when torch's error is a broadcast
    mismatch): the condition that makes a shortcut's projection loses its channel test
    (``if stride != 1 or in_planes != planes:`` -> ``if stride != 1:``, sub-kind ``condition``), or the
    projection's stride is 1 (``stride``);
13  a block built with the wrong channel count after a torch.cat (issue 15, kind 3): an integer argument of
    a block constructor (a class or a helper function) that is the channel count of a cat its layers are
    fed, set to one part of that cat (the U-Net decoder that forgot the skip's channels).

Which layer feeds a cat, which Linear feeds a Linear and what a view receives is
found by one instrumented torch run of each correct model (module construction
sites from the call stack, data flow through forward hooks and a TorchFunctionMode).

For every kept mutation: ``detected`` = an error-severity finding of
``cnnshape_ls.analyze`` whose line range, or one of its related places in the same file (issue 15: the
error stays where torch fails, the producer's line is related information), covers the mutated line(s);
``detected_strict`` counts the finding's own range only (``fixed_strict`` likewise); ``fixed`` =
that finding's ``fixes[0]`` gives a file torch runs for every manifest entry of
the file; ``anywhere`` = any error-severity finding. Also measured: ``any_fixed``
(the on-line finding's first fix, or else the first fix of the first error finding
that offers one, makes torch run) and ``same_output`` (after that fix every entry's output shape
equals the correct model's).

usage: python tests/bugs_wide.py [--cap N] [--kinds 1,2,3] [--json PATH]
"""

from __future__ import annotations

import argparse
import ast
import functools
import json
import math
import random
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from support import apply_edits, code_point_col, correct_models, input_text, replace_span  # noqa: E402

SEED = 20240607
CAP = 60  # kept mutations per kind
FAILURES_JSON = "/tmp/bugs_wide_failures.json"

KINDS = {
    1: "Linear in_features",
    2: "Conv/ConvT in_channels",
    3: "BN/GN/LN features",
    4: "conv out_channels",
    5: "Linear out_features -> Linear",
    6: "conv in/out swapped",
    7: "torch.cat channels",
    8: "view/reshape size",
    9: "kernel/stride/padding -> Linear",
    10: "BatchNorm 1d<->2d",
    11: "output too small",
    12: "residual add branches",
    13: "block arg after a cat",
}

CONVS = {"Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"}
PLAIN_CONVS = {"Conv1d", "Conv2d", "Conv3d"}
BATCHNORMS = {"BatchNorm1d", "BatchNorm2d", "BatchNorm3d"}
POOLS = {"MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d"}
F_POOLS = {"max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d"}
GEOMETRY_KW = {"kernel_size", "stride", "padding", "dilation", "output_padding", "groups", "scale_factor"}
# torch's error when a Linear gets the wrong number of features (CPU wording, meta-device wording),
# or when a hard-coded flatten right before the Linear no longer fits: "|" separates alternatives
LINEAR_MISFIT = "mat1 and mat2|same reduction dim|is invalid for input of size"
TOO_SMALL = "Kernel size can't be greater|Output size is too small|Invalid computed output size|smaller than kernel"
SPATIAL_CAT = "Sizes of tensors must match except in dimension"  # a cat that fails on H/W, not channels
# torch's broadcast error (CPU wording, meta-device wording)
BROADCAST = "must match the size of tensor|Attempting to broadcast"
SHORTCUT_NAMES = ("shortcut", "downsample", "skip", "proj", "residual")
BN_SWAP = {"BatchNorm1d": "BatchNorm2d", "BatchNorm2d": "BatchNorm1d", "BatchNorm3d": "BatchNorm2d"}
# leaf modules that keep the channel / feature identity of their input (data flow passes through)
PASS_THROUGH_PKGS = (
    "torch.nn.modules.activation",
    "torch.nn.modules.batchnorm",
    "torch.nn.modules.normalization",
    "torch.nn.modules.instancenorm",
    "torch.nn.modules.dropout",
    "torch.nn.modules.pooling",
    "torch.nn.modules.flatten",
    "torch.nn.modules.upsampling",
    "torch.nn.modules.padding",
)


@functools.lru_cache(maxsize=1)
def truth_module():
    import truth  # tests/truth.py

    return truth


# --------------------------------------------------------------------------------------------
# base sources: the file as it is, and a variant with Linear(a, b) written with keywords


def _keywordize_linear(source: str) -> str | None:
    tree = ast.parse(source)
    lines = source.splitlines()
    edits = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or call_name(node) != "Linear":
            continue
        if len(node.args) != 2 or any(isinstance(a, ast.Starred) for a in node.args):
            continue
        if any(kw.arg in ("in_features", "out_features") for kw in node.keywords):
            continue
        for arg, kw in zip(node.args, ("in_features", "out_features")):
            edits.append((span_of(lines, arg), kw + "=" + ast.get_source_segment(source, arg)))
    if not edits:
        return None
    for (line, col, end_line, end_col), text in sorted(edits, reverse=True):
        source = replace_span(source, line, col, end_line, end_col, text)
    return source


@functools.cache
def base_source(rel: str, variant: str) -> str | None:
    source = (HERE / rel).read_text()
    if variant == "":
        return source
    if variant == "kw":
        return _keywordize_linear(source)
    raise ValueError(variant)


# --------------------------------------------------------------------------------------------
# ast helpers


def call_name(call: ast.Call) -> str | None:
    fn = call.func
    if isinstance(fn, ast.Attribute):
        return fn.attr
    if isinstance(fn, ast.Name):
        return fn.id
    return None


def span_of(lines: list[str], node: ast.AST) -> tuple[int, int, int, int]:
    return (
        node.lineno,
        code_point_col(lines, node.lineno, node.col_offset),
        node.end_lineno,
        code_point_col(lines, node.end_lineno, node.end_col_offset),
    )


def byte_key(node: ast.AST) -> tuple[int, int, int, int]:
    return (node.lineno, node.col_offset, node.end_lineno, node.end_col_offset)


def get_arg(call: ast.Call, pos: int | None, kw: str) -> tuple[ast.expr | None, str]:
    if pos is not None and len(call.args) > pos and not any(isinstance(a, ast.Starred) for a in call.args[: pos + 1]):
        return call.args[pos], "pos"
    for k in call.keywords:
        if k.arg == kw:
            return k.value, "kw"
    return None, ""


def int_const(node: ast.expr | None) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    return None


def int_tuple(node: ast.expr | None) -> list[int] | None:
    if isinstance(node, (ast.Tuple, ast.List)) and node.elts and all(int_const(e) is not None for e in node.elts):
        return [e.value for e in node.elts]
    return None


def product_factors(node: ast.expr) -> list[int] | None:
    if int_const(node) is not None:
        return [node.value]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        a, b = product_factors(node.left), product_factors(node.right)
        if a is not None and b is not None:
            return a + b
    return None


def off_values(node: ast.expr, text: str) -> list[str]:
    """v + 1 and v * 2, as the existing generated-bug test does."""
    v = int_const(node)
    if v is not None:
        return list(dict.fromkeys([str(v + 1), str(v * 2)]))
    return [f"{text} + 1", f"({text}) * 2"]


def wrong_products(node: ast.expr, channel_values: set[int]) -> list[str]:
    """A flattened size computed with the wrong spatial size: 16 * 5 * 5 -> 16 * 6 * 6, 16 * 4 * 4."""
    factors = product_factors(node)
    if factors is None:
        return []
    out = []
    if len(factors) >= 2:
        head, spatial = factors[:1], factors[1:]
        for d in (1, -1):
            new = [s + d for s in spatial]
            if min(new) >= 1:
                out.append(" * ".join(str(f) for f in head + new))
        return out
    v = factors[0]
    for s in range(math.isqrt(v), 0, -1):
        if v % (s * s) == 0 and v // (s * s) in channel_values:
            c = v // (s * s)
            out.append(f"{c} * {s + 1} * {s + 1}")
            if s >= 2:
                out.append(f"{c} * {s - 1} * {s - 1}")
            break
    return out


def flat_products(shape: tuple[int, ...]) -> list[str]:
    """Wrong flattened sizes for a view of a (B, C, *spatial) tensor, written as a user would."""
    if len(shape) < 3:
        n = math.prod(shape[1:])
        return [str(n + 1)]
    c, spatial = shape[1], list(shape[2:])
    out = []
    for d in (1, -1):
        new = [s + d for s in spatial]
        if min(new) >= 1:
            out.append(" * ".join(str(f) for f in [c, *new]))
    return out


# --------------------------------------------------------------------------------------------
# one instrumented torch run of a correct model: construction sites and data flow


@dataclass
class Profile:
    ok: bool = True
    error: str = ""
    # byte-offset span of the innermost constructor call in the file -> module class names
    site_types: dict = field(default_factory=dict)
    feeds_cat: set = field(default_factory=set)  # sites of convs whose output is a channel-cat input
    after_cat: set = field(default_factory=set)  # sites of convs / norms whose input is a cat output
    block_sites: set = field(default_factory=set)  # outer constructor sites above such layers
    block_cat: dict = field(default_factory=dict)  # outer constructor site -> {(cat total, parts)} fed inside
    linear_to_linear: set = field(default_factory=set)  # sites of Linears whose output reaches a Linear
    views: dict = field(default_factory=dict)  # call span -> (input shape, output shape)
    instances: dict = field(default_factory=dict)  # constructor call span -> modules it made (max over entries)
    outputs: dict = field(default_factory=dict)  # model expr -> output shape


def _file_frames(path: str):
    fr = sys._getframe(2)
    while fr is not None:
        if fr.f_code.co_filename == path:
            pos = list(fr.f_code.co_positions())[fr.f_lasti // 2]
            # co_positions: (line, end_line, col, end_col)
            yield (pos[0], pos[2], pos[1], pos[3])
        fr = fr.f_back


def _profile_one(path: str, source: str, expr: str, shape, prof: Profile):
    import torch
    import torch.nn as nn
    from torch.overrides import TorchFunctionMode

    truth = truth_module()
    created = {}  # id(module) -> (module, [sites innermost first])
    orig_init = nn.Module.__init__

    def init(self, *a, **k):
        orig_init(self, *a, **k)
        if id(self) not in created:
            created[id(self)] = (self, list(_file_frames(path)))

    nn.Module.__init__ = init
    try:
        ns = truth.load(path, source)
        with torch.device("meta"):
            model = eval(expr, ns)
    finally:
        nn.Module.__init__ = orig_init
    model = model.to("meta")
    nn.Module.train(model, False)
    counts: dict = {}
    for _n, mod in model.named_modules():
        s = created.get(id(mod), (None, []))[1]
        if s:
            counts[s[0]] = counts.get(s[0], 0) + 1
    for s, n in counts.items():
        prof.instances[s] = max(prof.instances.get(s, 0), n)

    keep = []  # keep tensors alive so that ids are not reused
    prov = {}  # id(tensor) -> module (channel-defining producer) or "cat"

    def sites_of(mod):
        return created.get(id(mod), (None, []))[1]

    def site(mod):
        s = sites_of(mod)
        return s[0] if s else None

    def first_prov(args):
        stack = list(args)
        while stack:
            a = stack.pop(0)
            if isinstance(a, torch.Tensor) and id(a) in prov:
                return prov[id(a)]
            if isinstance(a, (list, tuple)):
                stack[:0] = list(a)
        return None

    def set_prov(out, p):
        if isinstance(out, torch.Tensor):
            keep.append(out)
            prov[id(out)] = p
        elif isinstance(out, (list, tuple)):
            for o in out:
                set_prov(o, p)

    def pass_through(mod):
        return type(mod).__module__ in PASS_THROUGH_PKGS or type(mod).__name__ == "Identity"

    cat_parts = {}  # channel total of a recent cat -> its parts' channels

    def pre_hook(mod, args):
        p = first_prov(args)
        name = type(mod).__name__
        s = site(mod)
        if s is None:
            return
        prof.site_types.setdefault(s, set()).add(name)
        if p == "cat" and (name in CONVS or name in BATCHNORMS):
            prof.after_cat.add(s)
            prof.block_sites.update(sites_of(mod)[1:])
            x = args[0] if args and isinstance(args[0], torch.Tensor) else None
            if x is not None and x.dim() >= 2 and int(x.shape[1]) in cat_parts:
                for outer in sites_of(mod)[1:]:
                    prof.block_cat.setdefault(outer, set()).add((int(x.shape[1]), cat_parts[int(x.shape[1])]))
        if name == "Linear" and isinstance(p, nn.Linear) and site(p) is not None:
            prof.linear_to_linear.add(site(p))

    def hook(mod, args, out):
        set_prov(out, first_prov(args) if pass_through(mod) else mod)

    AXIS_MOVERS = {
        torch.transpose,
        torch.Tensor.transpose,
        torch.permute,
        torch.Tensor.permute,
        torch.movedim,
        torch.Tensor.movedim,
        torch.swapaxes,
        torch.Tensor.swapaxes,
        torch.t,
        torch.Tensor.t,
    }

    class Flow(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            if func in (torch.cat, torch.concat, torch.concatenate):
                tensors = args[0] if args else kwargs.get("tensors", ())
                dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
                if isinstance(out, torch.Tensor) and dim < 0:
                    dim += out.dim()
                if dim == 1 and len(tensors) >= 2 and all(t.dim() >= 2 for t in tensors):
                    cat_parts[sum(int(t.shape[1]) for t in tensors)] = tuple(int(t.shape[1]) for t in tensors)
                for t in tensors:
                    p = prov.get(id(t))
                    if (
                        dim == 1
                        and isinstance(p, nn.Module)
                        and type(p).__name__ in CONVS
                        and t.shape[1] == p.out_channels
                        and site(p) is not None
                    ):
                        prof.feeds_cat.add(site(p))
                        prof.block_sites.update(sites_of(p)[1:])
                set_prov(out, "cat")
                return out
            if func in (torch.Tensor.view, torch.Tensor.reshape, torch.reshape) and isinstance(out, torch.Tensor):
                frames = list(_file_frames(path))
                if frames:
                    src = args[0]
                    prof.views.setdefault(frames[0], (tuple(src.shape), tuple(out.shape)))
            if func in AXIS_MOVERS:  # the channel axis no longer sits at dim 1
                set_prov(out, "moved")
                return out
            if isinstance(out, (torch.Tensor, list, tuple)):
                p = first_prov(args)
                if p is not None and not (isinstance(out, torch.Tensor) and id(out) in prov):
                    set_prov(out, p)
            return out

    for _name, mod in model.named_modules():
        if not any(True for _ in mod.children()):
            mod.register_forward_pre_hook(pre_hook)
            mod.register_forward_hook(hook)
    x = torch.empty(*shape, device="meta")
    with torch.no_grad(), Flow():
        out = model(x)
    while isinstance(out, (tuple, list)):
        out = out[0]
    prof.outputs[expr] = tuple(out.shape)


@functools.cache
def profile(rel: str, variant: str) -> Profile:
    import contextlib

    prof = Profile()
    source = base_source(rel, variant)
    if source is None:
        return Profile(ok=False, error="no variant")
    path = str(HERE / rel)
    for expr, shape in correct_models()[rel]:
        try:
            with contextlib.redirect_stdout(sys.stderr):
                _profile_one(path, source, expr, list(shape), prof)
        except Exception as e:  # noqa: BLE001 - a model we cannot profile contributes no data flow
            prof.ok = False
            prof.error = f"{expr}: {type(e).__name__}: {e}".splitlines()[0]
    return prof


# --------------------------------------------------------------------------------------------
# mutations


@dataclass(frozen=True)
class Mutation:
    kind: int
    sub: str
    file: str  # path relative to tests/
    variant: str  # "" = the file as it is, "kw" = Linear arguments as keywords
    line: int  # 1-based, first line of the edited span
    col: int  # 0-based code-point column
    end_line: int
    end_col: int
    what: str  # e.g. "Conv2d.in_channels"
    old: str
    new: str
    entries: tuple
    require: str = ""  # a substring torch's error must contain to keep the mutation
    forbid: str = ""  # a substring torch's error must not contain to keep the mutation

    @property
    def id(self) -> str:
        v = "[kw]" if self.variant else ""
        return f"k{self.kind}/{self.sub}:{self.file}{v}:{self.line}:{self.what}({self.old} -> {self.new})"


def _candidates_for_file(rel: str, variant: str, entries: tuple) -> list[Mutation]:
    source = base_source(rel, variant)
    if source is None:
        return []
    prof = profile(rel, variant)
    tree = ast.parse(source)
    lines = source.splitlines()
    out: list[Mutation] = []

    def add(kind, sub, node_or_span, what, old, new, require="", forbid=""):
        sp = node_or_span if isinstance(node_or_span, tuple) else span_of(lines, node_or_span)
        if old == new:
            return
        out.append(Mutation(kind, sub, rel, variant, *sp, what, old, new, entries, require, forbid))

    seg = functools.partial(ast.get_source_segment, source)

    def off_by(kind, sub, arg, what, cat=None):
        """The usual wrong values of a size argument, also as a cat mutation (kind 7, sub-kind ``cat``)."""
        text = seg(arg)
        for new in off_values(arg, text):
            add(kind, sub, arg, what, text, new)
            if cat is not None:
                add(7, cat, arg, what, text, new)

    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    channel_values = set()
    for c in calls:
        if call_name(c) in CONVS:
            v = int_const(get_arg(c, 1, "out_channels")[0])
            if v is not None:
                channel_values.add(v)

    for c in calls:
        name = call_name(c)
        key = byte_key(c)
        if variant == "kw":  # the keyword variant only feeds kind 1 (Linear in_features as keyword)
            if name == "Linear":
                arg, how = get_arg(c, 0, "in_features")
                if arg is not None and how == "kw":
                    text = seg(arg)
                    for new in off_values(arg, text) + wrong_products(arg, channel_values):
                        add(1, "kw", arg, "Linear.in_features", text, new)
            continue
        # 1: Linear in_features
        if name == "Linear":
            arg, how = get_arg(c, 0, "in_features")
            if arg is not None:
                off_by(1, how, arg, "Linear.in_features")
                for new in wrong_products(arg, channel_values):
                    add(1, "product", arg, "Linear.in_features", seg(arg), new)
            # 5: out_features of a Linear feeding a Linear
            if key in prof.linear_to_linear:
                arg, how = get_arg(c, 1, "out_features")
                if arg is not None:
                    off_by(5, how, arg, "Linear.out_features")
        if name in CONVS:
            a_in, how_in = get_arg(c, 0, "in_channels")
            a_out, how_out = get_arg(c, 1, "out_channels")
            # 2: in_channels
            if a_in is not None:
                off_by(2, name, a_in, f"{name}.in_channels", "consumer" if key in prof.after_cat else None)
            # 4: out_channels
            if a_out is not None:
                off_by(4, name, a_out, f"{name}.out_channels", "branch" if key in prof.feeds_cat else None)
            # 6: in/out swapped
            if a_in is not None and a_out is not None and seg(a_in) != seg(a_out):
                s0, s1 = span_of(lines, a_in), span_of(lines, a_out)
                if (s0[0], s0[1]) < (s1[0], s1[1]):
                    between = _text_between(source, s0, s1)
                    old = seg(a_in) + between + seg(a_out)
                    new = seg(a_out) + between + seg(a_in)
                    add(6, name, (s0[0], s0[1], s1[2], s1[3]), f"{name}.in/out", old, new)
        # 3: norms
        if name in BATCHNORMS:
            arg, how = get_arg(c, 0, "num_features")
            if arg is not None:
                off_by(3, name, arg, f"{name}.num_features", "consumer" if key in prof.after_cat else None)
        if name == "GroupNorm":
            arg, how = get_arg(c, 1, "num_channels")
            if arg is not None:
                off_by(3, name, arg, "GroupNorm.num_channels")
        if name == "LayerNorm":
            arg, how = get_arg(c, 0, "normalized_shape")
            if arg is not None:
                if isinstance(arg, (ast.Tuple, ast.List)) and arg.elts:
                    arg = arg.elts[-1]
                off_by(3, name, arg, "LayerNorm.normalized_shape")
        # 9: kernel_size / stride / padding of a conv or pool
        params = []
        if name in PLAIN_CONVS:
            params = [(2, "kernel_size"), (3, "stride"), (4, "padding")]
        elif name in POOLS:
            params = [(0, "kernel_size"), (1, "stride"), (2, "padding")]
        elif name in F_POOLS and isinstance(c.func, ast.Attribute):
            params = [(1, "kernel_size"), (2, "stride"), (3, "padding")]
        for pos, kw in params:
            arg, how = get_arg(c, pos, kw)
            if arg is None:
                continue
            text = seg(arg)
            for new in _geometry_values(arg, kw):
                add(9, kw, arg, f"{name}.{kw}", text, new, require=LINEAR_MISFIT)
            for new in _shrinking_values(arg, kw):
                add(11, kw, arg, f"{name}.{kw}", text, new, require=TOO_SMALL)
        # 10: BatchNorm rank swap
        if name in BN_SWAP:
            fn = c.func
            sp = span_of(lines, fn)
            if isinstance(fn, ast.Attribute):
                sp = (sp[2], sp[3] - len(fn.attr), sp[2], sp[3])
            add(10, name, sp, name, name, BN_SWAP[name])
        # 7: integer arguments of a block constructor above a cat branch / consumer
        if key in prof.block_sites and name not in CONVS and name not in BATCHNORMS:
            for i, a in enumerate(c.args):
                v = int_const(a)
                if v is not None and v > 1:
                    for new in (str(v + 1), str(v * 2)):
                        add(7, "block-arg", a, f"{name}(arg {i})", str(v), new, forbid=SPATIAL_CAT)
            for k in c.keywords:
                v = int_const(k.value)
                if v is not None and v > 1 and k.arg not in GEOMETRY_KW:
                    for new in (str(v + 1), str(v * 2)):
                        add(7, "block-arg", k.value, f"{name}({k.arg}=)", str(v), new, forbid=SPATIAL_CAT)

    # 13: a block built after a cat with the channels of one part of it (the skip forgotten)
    for c in calls if variant == "" else ():
        name = call_name(c)
        if byte_key(c) not in prof.block_cat or name in CONVS or name in BATCHNORMS:
            continue
        takes = _input_params(tree, name)
        given = [*((p, a) for p, a in zip(takes[1], c.args)), *((k.arg, k.value) for k in c.keywords)]
        for total, parts in sorted(prof.block_cat[byte_key(c)]):
            for i, (param, a) in enumerate(given):
                if int_const(a) != total or param not in takes[0]:
                    continue  # another size that happens to equal the cat's (Fire's expand planes)
                for part in sorted(set(parts)):
                    if part != total:
                        add(13, "forgot-part", a, f"{name}(arg {i})", str(total), str(part))

    # 12: residual adds whose branches differ
    for node in ast.walk(tree) if variant == "" else ():
        # the condition that makes the projection (or allows the identity) loses its channel test
        test = node.test if isinstance(node, ast.If) else node.value if isinstance(node, ast.Assign) else None
        if isinstance(test, ast.BoolOp) and len(test.values) >= 2 and _about_shortcut(source, node):
            add(12, "condition", test, "condition", seg(test), seg(test.values[0]), require=BROADCAST)
        # the projection's stride
        if isinstance(node, (ast.If, ast.Assign)) and _about_shortcut(source, node):
            for c in ast.walk(node):
                if isinstance(c, ast.Call) and call_name(c) in PLAIN_CONVS:
                    arg, _how = get_arg(c, 3, "stride")
                    if arg is not None and int_const(arg) != 1:
                        add(12, "stride", arg, f"{call_name(c)}.stride", seg(arg), "1", require=BROADCAST)

    # 8: view / reshape flatten sizes
    for c in calls if variant == "" else ():
        if call_name(c) not in ("view", "reshape") or not isinstance(c.func, ast.Attribute):
            continue
        if byte_key(c) not in prof.views or len(c.args) != 2 or c.keywords:
            continue
        in_shape, out_shape = prof.views[byte_key(c)]
        if len(out_shape) != 2 or len(in_shape) < 2 or out_shape[0] != in_shape[0]:
            continue  # only flattening views (B, ...) -> (B, N)
        n = out_shape[1]
        a0, a1 = c.args
        t0, t1 = seg(a0), seg(a1)
        wrong = list(dict.fromkeys(flat_products(in_shape) + [str(n * 2)]))
        recv = c.func.value
        first_is_minus_one = isinstance(a0, ast.UnaryOp) and int_const(a0.operand) == 1
        for w in wrong:
            add(8, "same-first", a1, f"{c.func.attr}.size", t1, w)
        s0, s1 = span_of(lines, a0), span_of(lines, a1)
        old = t0 + _text_between(source, s0, s1) + t1
        alt_first = None
        if first_is_minus_one and isinstance(recv, ast.Name):
            alt_first = f"{recv.id}.size(0)"
        elif not first_is_minus_one:
            alt_first = "-1"
        if alt_first:
            for w in wrong:
                add(8, "alt-first", (s0[0], s0[1], s1[2], s1[3]), f"{c.func.attr}.args", old, f"{alt_first}, {w}")
    return out


def _input_params(tree: ast.Module, name: str | None) -> tuple[set[str], list[str]]:
    """For the class or function ``name`` of the file: the parameters it passes as the first argument of a
    call (the input channels of a layer or block it builds), and its positional parameters in order."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == name:
            init = next((s for s in node.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"), None)
            if init is None:
                return set(), []
            params, body = [a.arg for a in init.args.args[1:]], init
            break
        if isinstance(node, ast.FunctionDef) and node.name == name:
            params, body = [a.arg for a in node.args.args], node
            break
    else:
        return set(), []
    first = {c.args[0].id for c in ast.walk(body) if isinstance(c, ast.Call) and c.args
             and isinstance(c.args[0], ast.Name)}
    return first & set(params), params


def _about_shortcut(source: str, node: ast.AST) -> bool:
    """An ``if`` whose body assigns a shortcut (``self.shortcut = ...``, ``downsample = ...``), or an
    assignment to one or to a flag about one (``self.use_res_connect = ...``, ``self.convShortcut = ...``)."""
    if isinstance(node, ast.If):
        targets = [t for s in node.body if isinstance(s, ast.Assign) for t in s.targets]
    elif isinstance(node, ast.Assign):
        targets = node.targets
    else:
        return False
    names = [ast.get_source_segment(source, t) or "" for t in targets]
    return any(any(k in n.lower() for k in (*SHORTCUT_NAMES, "res_connect")) for n in names)


def _text_between(source: str, s0, s1) -> str:
    lines = source.splitlines(keepends=True)
    a = sum(len(s) for s in lines[: s0[2] - 1]) + s0[3]
    b = sum(len(s) for s in lines[: s1[0] - 1]) + s1[1]
    return source[a:b]


def _geometry_values(node: ast.expr, param: str) -> list[str]:
    v = int_const(node)
    tup = int_tuple(node)
    if v is None and tup is None:
        return []
    vals = [v] if v is not None else tup
    out = []
    deltas = [lambda x: x + 1, lambda x: x * 2, lambda x: x - 1]
    for f in deltas:
        new = [f(x) for x in vals]
        low = 0 if param == "padding" else 1
        if min(new) < low or new == vals:
            continue
        out.append(str(new[0]) if v is not None else "(" + ", ".join(map(str, new)) + ")")
    return list(dict.fromkeys(out))


def _shrinking_values(node: ast.expr, param: str) -> list[str]:
    """Kind 11: values that shrink a map more than the written one (a larger kernel or stride, no padding),
    some of which leave a later window larger than its input."""
    v = int_const(node)
    tup = int_tuple(node)
    if v is None and tup is None:
        return []
    vals = [v] if v is not None else tup
    changes = [lambda x: 0] if param == "padding" else [lambda x: x + 1, lambda x: x * 2, lambda x: x * 4]
    out = []
    for f in changes:
        new = [f(x) for x in vals]
        if new == vals:
            continue
        out.append(str(new[0]) if v is not None else "(" + ", ".join(map(str, new)) + ")")
    return list(dict.fromkeys(out))


@functools.cache
def all_candidates() -> dict[int, list[Mutation]]:
    by_kind: dict[int, list[Mutation]] = {k: [] for k in KINDS}
    seen = set()
    for rel, entries in sorted(correct_models().items()):
        for variant in ("", "kw"):
            for m in _candidates_for_file(rel, variant, tuple(entries)):
                key = (m.kind, m.sub, m.file, m.variant, m.line, m.col, m.end_line, m.end_col, m.new)
                if key not in seen:
                    seen.add(key)
                    by_kind[m.kind].append(m)
    return by_kind


def generate(kinds=tuple(KINDS), cap: int = CAP, seed: int = SEED):
    """Yield (kind, shuffled candidate list) with a fixed seed; the runner keeps the first `cap` torch rejects."""
    cands = all_candidates()
    for k in kinds:
        rng = random.Random(f"{seed}-{k}")
        pool = sorted(cands[k], key=lambda m: m.id)
        rng.shuffle(pool)
        yield k, pool


# --------------------------------------------------------------------------------------------
# evaluation


def mutate(m: Mutation) -> str:
    return replace_span(base_source(m.file, m.variant), m.line, m.col, m.end_line, m.end_col, m.new)


def torch_rejects(m: Mutation, mutated: str):
    """The first (model, shape, error) that torch rejects, or None."""
    truth = truth_module()
    path = str(HERE / m.file)
    for model, shape in m.entries:
        r = truth.guarded(path, model, list(shape), mutated)
        if not r.get("ok"):
            return model, shape, r.get("error") or ""
    return None


def torch_runs_all(m: Mutation, source: str):
    """(all entries run, error of the first failing entry, outputs equal the correct model's)."""
    truth = truth_module()
    path = str(HERE / m.file)
    prof = profile(m.file, m.variant)
    same = True
    for model, shape in m.entries:
        r = truth.guarded(path, model, list(shape), source)
        if not r.get("ok"):
            return False, f"{model}: {r.get('error')}", False
        if prof.outputs.get(model) is not None and tuple(r.get("output", ())) != prof.outputs[model]:
            same = False
    return True, "", same


def _instances(m: Mutation) -> int:
    """How many modules of the model the constructor call holding the mutated span makes (0: not a constructor)."""
    prof = profile(m.file, m.variant)
    layer = m.what.split(".")[0].split("(")[0]
    best = None
    for (line, _c, end_line, _e), n in prof.instances.items():
        if (
            line <= m.line
            and m.end_line <= end_line
            and layer in prof.site_types.get((line, _c, end_line, _e), {layer})
        ):
            if best is None or (end_line - line) < best[0]:
                best = (end_line - line, n)
    return best[1] if best else 0


def failure_mode(r: dict) -> str:
    """A short label of what went wrong for a record that is not on-line-and-fixed."""
    if r["finding"] is None:
        return "no error finding"
    if r["finding"].startswith("analyze() raised"):
        return "analyze() crashed"
    where = "finding on the mutated line" if r["detected"] else "finding only on another line"
    if not r["fix_changes"]:
        return f"{where}, no fix offered"
    target = "fix edits the mutated line" if r["fix_on_mutated_line"] else "fix edits another line"
    if r["any_fixed"]:
        return f"{where}, {target}, torch runs" + ("" if r["same_output"] else " but output shape changes")
    return f"{where}, {target}, torch still fails"


def _diag_brief(d: dict) -> dict:
    fixes = d.get("fixes") or []
    return {
        "line": d.get("line"),
        "end_line": d.get("end_line", d.get("line")),
        "code": d.get("code"),
        "message": d.get("message"),
        "fixes": [f.get("title") for f in fixes],
    }


def _changed_lines(a: str, b: str) -> list[str]:
    al, bl = a.splitlines(), b.splitlines()
    out = [f"{x.strip()}  ->  {y.strip()}" for x, y in zip(al, bl) if x != y]
    if len(al) != len(bl):
        out.append(f"(line count {len(al)} -> {len(bl)})")
    return out


def evaluate(m: Mutation) -> dict | None:
    """None when torch accepts the mutation (or its error is not the required one)."""
    mutated = mutate(m)
    broken = torch_rejects(m, mutated)
    if broken is None:
        return None
    model, shape, torch_error = broken
    if m.require and not any(alt in torch_error for alt in m.require.split("|")):
        return None
    if m.forbid and m.forbid in torch_error:
        return None
    sub = m.sub
    if m.kind == 9:  # which layer no longer fits: the Linear itself, or a hard-coded view before it
        sub += "/view" if "is invalid for input of size" in torch_error else "/linear"
    rec = {
        "id": m.id,
        "kind": m.kind,
        "sub": sub,
        "file": m.file,
        "variant": m.variant,
        "line": m.line,
        "end_line": m.end_line,
        "old": m.old,
        "new": m.new,
        "mutated_line": mutated.splitlines()[m.line - 1].strip(),
        "model": model,
        "input": list(shape),
        "torch_error": torch_error,
        "instances": _instances(m),
        "detected": False,
        "detected_strict": False,
        "fixed_strict": False,
        "fixed": False,
        "anywhere": False,
        "any_fixed": False,
        "same_output": False,
        "repairable": False,
        "repair": None,
        "finding": None,
        "fix_title": None,
        "fix_changes": [],
        "fix_lines": [],
        "fix_on_mutated_line": False,
        "after_fix": "",
        "diagnostics": [],
    }
    try:
        import cnnshape_ls

        analysis = cnnshape_ls.analyze(mutated, path=m.file, input=input_text(shape), model=model).to_json()
    except Exception as e:  # noqa: BLE001 - an engine crash counts as a miss
        rec["finding"] = f"analyze() raised {type(e).__name__}: {e}"
        rec["trace"] = traceback.format_exc(limit=-4)
        return rec
    diags = analysis.get("diagnostics", [])
    errors = [d for d in diags if d.get("severity") == "error"]
    rec["diagnostics"] = [dict(_diag_brief(d), severity=d.get("severity")) for d in diags]
    def covers(d: dict) -> bool:
        return d["line"] <= m.end_line and m.line <= d.get("end_line", d["line"])

    def points_at(d: dict) -> bool:
        return any(r.get("path") in (None, m.file) and r["line"] <= m.end_line and m.line <= r["end_line"]
                   for r in d.get("related", ()))

    on_line = [d for d in errors if covers(d) or points_at(d)]
    rec["detected"] = bool(on_line)
    rec["detected_strict"] = any(covers(d) for d in errors)
    rec["anywhere"] = bool(errors)
    if on_line:
        diag = next((d for d in on_line if d.get("fixes")), on_line[0])
    else:
        diag = next((d for d in errors if d.get("fixes")), errors[0] if errors else None)
    if diag is None:
        return rec
    rec["finding"] = f"line {diag['line']} [{diag.get('code')}] {diag.get('message')}"
    fixes = diag.get("fixes") or []
    if not fixes:
        rec["fix_title"] = "(no fix offered)"
        return rec
    rec["fix_title"] = fixes[0].get("title")
    fixed_source = apply_edits(mutated, fixes[0]["edits"])
    rec["fix_changes"] = _changed_lines(mutated, fixed_source)
    rec["fix_lines"] = sorted({ln for e in fixes[0].get("edits", []) for ln in range(e["line"], e["end_line"] + 1)})
    rec["fix_on_mutated_line"] = any(m.line <= ln <= m.end_line for ln in rec["fix_lines"])
    runs, err, same = torch_runs_all(m, fixed_source)
    rec["after_fix"] = err
    rec["any_fixed"] = runs
    rec["fixed"] = runs and rec["detected"]
    rec["fixed_strict"] = rec["fixed"] and covers(diag)
    rec["same_output"] = runs and same
    if not rec["fixed"]:
        _find_repair(m, mutated, errors, rec)
    return rec


def _find_repair(m: Mutation, mutated: str, errors: list[dict], rec: dict):
    """Is there ANY fix, of any error finding, that edits the mutated line(s) and makes torch run?"""
    for d in errors:
        for f in d.get("fixes") or []:
            if not any(e["line"] <= m.end_line and m.line <= e["end_line"] for e in f.get("edits", [])):
                continue
            runs, _err, _same = torch_runs_all(m, apply_edits(mutated, f["edits"]))
            if runs:
                rec["repairable"] = True
                rec["repair"] = f"finding on line {d['line']}: {f.get('title')}"
                return


def run(kinds=tuple(KINDS), cap: int = CAP, seed: int = SEED, progress=None) -> dict[int, dict]:
    """kind -> {"tried": n, "records": [record of each kept mutation]}"""
    results = {}
    for k, pool in generate(kinds, cap, seed):
        records, tried = [], 0
        for m in pool:
            if len(records) >= cap:
                break
            tried += 1
            rec = evaluate(m)
            if rec is not None:
                records.append(rec)
        results[k] = {"tried": tried, "pool": len(pool), "records": records}
        if progress:
            progress(k, results[k])
    return results


def rate(records: list[dict], key: str) -> float:
    return sum(1 for r in records if r[key]) / len(records) if records else float("nan")


def overall(results: dict[int, dict], kinds) -> tuple[int, int]:
    recs = [r for k in kinds if k in results for r in results[k]["records"]]
    return sum(1 for r in recs if r["fixed"]), len(recs)


def report(results: dict[int, dict], max_examples: int = 8) -> str:
    out = []
    cols = ("on-line", "1st-fix", "anywhere", "any-fix", "same-out")
    head = f"{'kind':<38} {'pool':>5} {'tried':>5} {'kept':>5} " + " ".join(f"{c:>8}" for c in cols)
    out.append(head)
    out.append("-" * len(head))
    for k, res in results.items():
        recs = res["records"]
        out.append(
            f"{k:>2} {KINDS[k]:<35} {res['pool']:>5} {res['tried']:>5} {len(recs):>5} "
            f"{rate(recs, 'detected'):>8.1%} {rate(recs, 'fixed'):>8.1%} {rate(recs, 'anywhere'):>8.1%} "
            f"{rate(recs, 'any_fixed'):>8.1%} {rate(recs, 'same_output'):>8.1%}"
        )
        subs = sorted({r["sub"] for r in recs})
        if len(subs) > 1:
            for s in subs:
                rs = [r for r in recs if r["sub"] == s]
                out.append(
                    f"     {s:<33} {'':>5} {'':>5} {len(rs):>5} {rate(rs, 'detected'):>8.1%} {rate(rs, 'fixed'):>8.1%} "
                    f"{rate(rs, 'anywhere'):>8.1%} {rate(rs, 'any_fixed'):>8.1%} {rate(rs, 'same_output'):>8.1%}"
                )
    asserted = [k for k in results if k != 9]
    n_ok, n = overall(results, asserted)
    out.append("")
    out.append(
        f"overall on-line + first-fix (kinds {','.join(map(str, asserted))}): {n_ok}/{n} = {n_ok / n:.1%}"
        if n
        else "overall: nothing kept"
    )
    strict = [r for k in asserted for r in results[k]["records"]]
    if strict:
        n_strict = sum(1 for r in strict if r["fixed_strict"])
        out.append(f"  strict (the error's own range on the mutated line, related places not counted): "
                   f"{n_strict}/{len(strict)} = {n_strict / len(strict):.1%}")
    out.append(
        "columns: on-line = error finding on the mutated line (its range, or a related place in the file);\n"
        "  1st-fix = on-line AND its fixes[0] makes torch run\n"
        "  every entry; anywhere = any error finding; any-fix = fixes[0] of the on-line finding, else of the first\n"
        "  error finding that offers a fix (the finding shown for a miss), makes torch run; same-out = after that fix\n"
        "  every output shape equals the correct model's"
    )
    out.append("")
    out.append("failure modes (records that are not on-line + first-fix):")
    for k, res in results.items():
        fails = [r for r in res["records"] if not r["fixed"]]
        if not fails:
            continue
        modes: dict = {}
        for r in fails:
            modes[failure_mode(r)] = modes.get(failure_mode(r), 0) + 1
        out.append(f"  kind {k} ({KINDS[k]}):")
        for mode, n in sorted(modes.items(), key=lambda kv: -kv[1]):
            these = [r for r in fails if failure_mode(r) == mode]
            shared = sum(1 for r in these if r["instances"] > 1)
            repairable = sum(1 for r in these if r["repairable"])
            notes = [f"{shared} at a call site that builds several modules"] if shared else []
            if repairable:
                notes.append(f"{repairable} offer another fix that edits the mutated line and works")
            out.append(f"    {n:>3}  {mode}" + (f"   ({'; '.join(notes)})" if notes else ""))
    for k, res in results.items():
        fails = [r for r in res["records"] if not r["fixed"]]
        if not fails:
            continue
        out.append("")
        out.append(f"== kind {k} ({KINDS[k]}): {len(fails)} failing, first {min(len(fails), max_examples)}")
        for r in fails[:max_examples]:
            out.append(
                f"  {r['id']}" + (f"   [call site builds {r['instances']} modules]" if r["instances"] > 1 else "")
            )
            out.append(f"      mutated: {r['mutated_line']}")
            out.append(f"      torch:   {r['torch_error'][:160]}")
            out.append(f"      finding: {r['finding'] or 'none'}")
            out.append(f"      fix:     {r['fix_title'] or 'none'}  {'; '.join(r['fix_changes'])[:200]}")
            if r["fix_changes"] and not r["any_fixed"]:
                out.append(f"      after fix torch: {r['after_fix'][:160]}")
            others = [t for d in r["diagnostics"] if d["severity"] == "error" for t in d["fixes"]]
            if r["fix_title"] in others:
                others.remove(r["fix_title"])
            if others:
                out.append(f"      other fixes offered: {' | '.join(others)[:200]}")
            if r["repair"]:
                out.append(f"      a fix on the mutated line that works: {r['repair']}")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cap", type=int, default=CAP)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--kinds", default=",".join(map(str, KINDS)))
    ap.add_argument("--json", default=FAILURES_JSON)
    ap.add_argument("--examples", type=int, default=8)
    a = ap.parse_args(argv)
    kinds = tuple(int(k) for k in a.kinds.split(","))
    t0 = time.time()

    def progress(k, res):
        print(
            f"kind {k}: kept {len(res['records'])} of {res['tried']} tried ({time.time() - t0:.0f}s)", file=sys.stderr
        )

    results = run(kinds, a.cap, a.seed, progress)
    print(report(results, a.examples))
    fails = [r for k in results for r in results[k]["records"] if not r["fixed"]]
    Path(a.json).write_text(json.dumps(fails, indent=1))
    bad_profiles = {f"{rel}{'[kw]' if v else ''}": p.error for (rel, v), p in _profile_cache_items() if not p.ok}
    if bad_profiles:
        print(f"\nprofiles that failed (no data flow for kinds 5/7/8): {bad_profiles}")
    print(f"\n{len(fails)} failures written to {a.json}; runtime {time.time() - t0:.1f}s")


def _profile_cache_items():
    """(file, variant) -> Profile for every base source (cached by profile())."""
    for rel in sorted(correct_models()):
        for v in ("", "kw"):
            if base_source(rel, v) is not None:
                yield (rel, v), profile(rel, v)


if __name__ == "__main__":
    main()
