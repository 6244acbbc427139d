"""Lines run by several instances of a block, against torch: every label is true for every instance.

For models that build a block class several times with different sizes, the model is run under torch on
the meta device with a forward hook on every module. Each module call torch makes is mapped to a line
through the analysis' records of the same module path (the n-th call of a path to our n-th record of it):
the line that calls it where it is the line's outermost call, and the line that defines it where the
layer is used once. For every labelled line, each shape torch produces there must fit the label
(:func:`fits`: numbers equal, a parameter name equal to that instance's argument, alternatives holding
it, ``*`` anything), so no line shows a concrete shape that one instance contradicts. Lines torch runs
with several shapes must have a label (the analysis knows every shape of these models).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from test_models_vs_torch import input_text, truth_module  # noqa: E402

import cnnshape_ls  # noqa: E402
from cnnshape_ls.analysis.labels import line_labels  # noqa: E402
from cnnshape_ls.analysis.result import ModelResult  # noqa: E402

pytestmark = pytest.mark.torch

MODELS = Path(__file__).resolve().parent / "models"
CASES = [
    ("m07_resnet_cifar.py", "ResNet18()", (2, 3, 32, 32)),
    ("m12_inception_block.py", "MiniGoogLeNet()", (2, 3, 32, 32)),
    ("m34_se_resnet.py", "SEResNet()", (2, 3, 32, 32)),
    ("m08_resnet_imagenet.py", "resnet18()", (2, 3, 64, 64)),
]


def torch_calls(file: str, expr: str, shape: tuple[int, ...]) -> dict[str, list[tuple[int, ...]]]:
    """Every module call torch makes: its output shapes by module path, in call order."""
    ns = truth_module().load(str(MODELS / file))
    with torch.device("meta"):
        model = eval(expr, ns)
    model = model.to("meta").eval()
    calls: dict[str, list[tuple[int, ...]]] = defaultdict(list)

    def hook_for(name: str):
        def hook(_module, _inputs, out):
            while isinstance(out, (tuple, list)) and out:
                out = out[0]
            if isinstance(out, torch.Tensor):
                calls[name].append(tuple(out.shape))
        return hook

    for name, module in model.named_modules():
        if name:
            module.register_forward_hook(hook_for(name))
    with torch.no_grad():
        model(torch.empty(*shape, device="meta"))
    return calls


@functools.cache
def analyzed(file: str, expr: str, shape: tuple[int, ...]) -> ModelResult:
    source = (MODELS / file).read_text()
    analysis = cnnshape_ls.analyze(source, path=file, input=input_text(list(shape)), model=expr)
    assert len(analysis.models) == 1, [m.name for m in analysis.models]
    return analysis.models[0]


def torch_shapes_by_line(model: ModelResult, calls: dict) -> dict[int, list[tuple[str, tuple]]]:
    """(owner instance path, torch's shape) of each module call that ends a line or is a line's layer."""
    uses: dict[str, int] = defaultdict(int)
    for record in model.records:
        if record.path:
            uses[record.path] += 1
    seen: dict[str, int] = defaultdict(int)
    by_line: dict[int, list[tuple[str, tuple]]] = defaultdict(list)
    for record in model.records:
        if not record.path:
            continue
        nth = seen[record.path]
        seen[record.path] += 1
        done = calls.get(record.path, [])
        if nth >= len(done):
            continue
        shape = done[nth]
        if outermost(model, record):
            by_line[record.line].append((record.owner or "", shape))
        if record.def_line and record.def_line != record.line and uses[record.path] == 1:
            by_line[record.def_line].append((holder(model, record.path), shape))
    return by_line


def outermost(model: ModelResult, record) -> bool:
    """The record's call spans the line's widest call: the line ends with what it gives."""
    on_line = [r for r in model.records if r.line == record.line]
    width = max((r.end_column - r.column for r in on_line if r.end_column), default=0)
    return bool(record.end_column) and record.end_column - record.column == width


def holder(model: ModelResult, path: str) -> str:
    head = path
    while head:
        head = head.rpartition(".")[0]
        if head in model.instances:
            return head
    return ""


def fits(label: str, shape: tuple, arguments: dict[str, int]) -> bool:
    """Whether a label's shape (``(2, planes, 16|32, *)``) says torch's ``shape`` for one instance."""
    tokens = [t.strip() for t in label.strip("()").split(",")]
    if len(tokens) != len(shape):
        return False
    for token, size in zip(tokens, shape):
        if token == "*":
            continue
        if token.isidentifier():
            if arguments.get(token) != size:
                return False
        elif str(size) not in token.split("|"):
            return False
    return True


@pytest.mark.parametrize("file,expr,shape", CASES, ids=[c[0] for c in CASES])
def test_every_label_is_true_for_every_instance(file: str, expr: str, shape: tuple[int, ...]) -> None:
    model = analyzed(file, expr, shape)
    calls = torch_calls(file, expr, shape)
    labels = line_labels([model])
    checked = shared = 0
    wrong = []
    for line, found in torch_shapes_by_line(model, calls).items():
        label = labels.get(line)
        text = label.text("BS") if label is not None else None
        if len({s for _, s in found}) > 1:
            assert text is not None, f"line {line}: torch runs it with {sorted({s for _, s in found})}, no label"
            assert f"×{len({owner for owner, _ in found})}" in text or "×" in text, text
            shared += 1
        if text is None:
            continue
        written = text.partition(" ×")[0]
        for owner, truth in found:
            instance = model.instances.get(owner)
            arguments = dict(instance.arguments) if instance is not None else {}
            checked += 1
            if not fits(written, truth, arguments):
                wrong.append(f"line {line}: label {text} is false for {owner or 'the model'} ({truth})")
    assert not wrong, "\n".join(wrong)
    assert shared >= 3, f"only {shared} lines run with several shapes were checked"
    assert checked >= 20


def test_shared_label_names_parameters_and_counts_instances() -> None:
    """In the small ResNet, the block's conv lines name the channels by the constructor's ``planes``."""
    model = analyzed("m07_resnet_cifar.py", "ResNet18()", (2, 3, 32, 32))
    source = (MODELS / "m07_resnet_cifar.py").read_text().splitlines()
    line = next(i for i, t in enumerate(source, 1) if "out = self.bn2(self.conv2(out))" in t)
    # 8 blocks of 64, 128, 256 and 512 channels on 32, 16, 8 and 4 pixels: four sizes are more than three
    assert line_labels([model])[line].text("BS") == "(2, planes, *, *) ×8"


def test_a_single_instance_keeps_its_concrete_shape() -> None:
    model = analyzed("m07_resnet_cifar.py", "ResNet18()", (2, 3, 32, 32))
    source = (MODELS / "m07_resnet_cifar.py").read_text().splitlines()
    line = next(i for i, t in enumerate(source, 1) if "out = self.layer2(out)" in t)
    assert line_labels([model])[line].text("BS") == "(2, 128, 16, 16)"


RESIDUAL = '''import torch
import torch.nn as nn
import torch.nn.functional as F


class ResBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        identity = x
        out = F.relu(self.conv1(x))
        out = self.conv2(out)
        out = out + identity
        return F.relu(out)


# in: (BS, 3, 32, 32)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 32, 3, padding=1)
        self.blocks = nn.Sequential(ResBlock(32), ResBlock(32))
        self.down = nn.Conv2d(32, 64, 3, stride=2, padding=1)
        self.block3 = ResBlock(64)
        self.fc1 = nn.Linear(128 * 16 * 16, 10)

    def forward(self, x):
        x = self.stem(x)
        x = self.blocks(x)
        x = self.block3(self.down(x))
        x = torch.cat([x, x], 1)
        x = x.reshape(x.size(0), -1)
        x = F.relu(self.fc1(x))
        return x
'''


def test_every_known_line_has_a_hint_and_torch_ticks_it(tmp_path: Path) -> None:
    """Binary ops, torch.cat, reshape and functional calls get hints; torch's run ticks every one of them
    (not only lines whose outermost call is a module); the block is run by torch inside Net, not on its own."""
    from cnnshape_ls.analysis import Options, analyze_source
    from cnnshape_ls.display import line_hints
    from cnnshape_ls.verify.merge import merge_answer, plan
    from cnnshape_ls.verify.worker import Worker

    path = tmp_path / "residual.py"
    path.write_text(RESIDUAL)
    analysis = analyze_source(RESIDUAL, str(path), Options())
    job = plan(analysis, RESIDUAL)
    assert job is not None and [m["name"] for m in job.models] == ["Net"] and job.skipped == {}
    worker = Worker()
    worker.torch, worker.nn = torch, torch.nn
    answer = worker.verify({"source": job.source, "path": str(path), "models": job.models}, import_path=False)
    merged, found = merge_answer(analysis, answer, RESIDUAL.split("\n"))
    assert found == []
    lines = RESIDUAL.split("\n")
    hints = {h.line: h for h in line_hints(merged, lines)}
    wanted = {"out = F.relu(self.conv1(x))": "# out: (BS, channels, 16|32, 16|32) ×3",
              "out = out + identity": "# out: (BS, channels, 16|32, 16|32) ×3",
              "return F.relu(out)": "# out: (BS, channels, 16|32, 16|32) ×3",
              "x = torch.cat([x, x], 1)": "# out: (BS, 128, 16, 16)",
              "x = x.reshape(x.size(0), -1)": "# out: (BS, 32768)",
              "x = F.relu(self.fc1(x))": "# out: (BS, 10)"}
    for code, label in wanted.items():
        line = next(i for i, text in enumerate(lines, 1) if code in text)
        assert hints[line].label == label, (code, hints[line].label)
        assert hints[line].verified, f"no ✓ on {code}"
    from cnnshape_ls.display import instances_hover
    shared = next(i for i, text in enumerate(lines, 1) if "out = out + identity" in text)
    hover = instances_hover(merged, shared)
    assert "✓ torch agrees in every instance" in hover and "block3    (BS, 64, 16, 16) -> (BS, 64, 16, 16)" in hover
    assert "✓" not in instances_hover(analysis, shared)
    # a shape torch never made on a line is not ticked
    wrong = merge_answer(analysis, {**answer, "models": [{**answer["models"][0], "lines": []}]},
                         RESIDUAL.split("\n"))[0]
    relu = next(i for i, text in enumerate(lines, 1) if "x = F.relu(self.fc1(x))" in text)
    assert not {h.line: h for h in line_hints(wrong, lines)}[relu].verified
