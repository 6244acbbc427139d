"""Shared helpers: ground truth from torch (tests/truth.py, run in-process) and edit application."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS))


def torch_truth(source: str, model: str, shape: list[int]) -> dict:
    """What torch gives for every leaf-module call, on the meta device (see tests/truth.py)."""
    pytest.importorskip("torch")
    import truth  # tests/truth.py, a copy of the project's ground-truth tool

    return truth.guarded("model.py", model, shape, textwrap.dedent(source))


def torch_truth_of_files(files: dict[str, str], main: str, model: str, shape: list[int]) -> dict:
    """What torch gives for ``model`` of the file ``main`` that imports the other ``files`` (name -> text),
    all written to one fresh folder that is put first on ``sys.path`` while it runs."""
    import importlib
    import tempfile

    pytest.importorskip("torch")
    import truth

    names = {Path(name).stem for name in files}
    with tempfile.TemporaryDirectory() as folder:
        for name, text in files.items():
            (Path(folder) / name).write_text(textwrap.dedent(text))
        sys.path.insert(0, folder)
        for name in names:
            sys.modules.pop(name, None)  # a module of that name imported from another folder before
        importlib.invalidate_caches()
        try:
            return truth.guarded(str(Path(folder) / main), model, shape, textwrap.dedent(files[main]))
        finally:
            sys.path.remove(folder)
            for name in names:
                sys.modules.pop(name, None)


def import_torchvision():
    """torchvision for torch's side of a comparison. Its C++ operators do not load with the CPU-only torch
    wheel, and the meta registrations it makes for them at import then fail: those (of detection ops no
    model here uses) are left out."""
    import importlib.util
    import types
    import warnings

    if importlib.util.find_spec("torchvision") is None:
        pytest.skip("torchvision is not installed (pip install -e '.[test]')")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import torchvision
        except RuntimeError as err:
            if "does not exist" not in str(err):
                raise
            for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
                del sys.modules[name]
            sys.modules["torchvision._meta_registrations"] = types.ModuleType("torchvision._meta_registrations")
            import torchvision
    return torchvision


def correct_models() -> dict[str, list[tuple[str, tuple[int, ...]]]]:
    """file (relative to tests/) -> [(model expression, input shape), ...] for correct models."""
    out: dict[str, list] = {}
    models = TESTS / "models" / "manifest.json"
    if models.is_file():
        for e in json.loads(models.read_text()):
            out.setdefault(f"models/{e['file']}", []).append((e["model"], tuple(e["input"])))
    corpus = TESTS / "corpus" / "manifest.json"
    if corpus.is_file():
        for e in json.loads(corpus.read_text()):
            if not e.get("expect_error"):
                out.setdefault(f"corpus/{e['file']}", []).append((e["model"], tuple(e["input"])))
    return out


def code_point_col(lines: list[str], lineno: int, byte_col: int) -> int:
    """ast gives UTF-8 byte offsets; edits and our positions count code points."""
    return len(lines[lineno - 1].encode("utf-8")[:byte_col].decode("utf-8"))


def replace_span(source: str, line: int, col: int, end_line: int, end_col: int, new_text: str) -> str:
    """Replace a span given as 1-based lines and 0-based code-point columns (end exclusive)."""
    lines = source.splitlines(keepends=True)
    start = sum(len(s) for s in lines[: line - 1]) + col
    end = sum(len(s) for s in lines[: end_line - 1]) + end_col
    return source[:start] + new_text + source[end:]


def input_text(shape) -> str:
    """``(2, 3, 32, 32)``, as ``analyze(input=...)`` takes it."""
    return "(" + ", ".join(str(d) for d in shape) + ")"


def apply_edits(source: str, edits: list[dict]) -> str:
    """Apply contract-style edits (1-based lines and columns, end exclusive) bottom-up."""
    lines = source.split("\n")
    for e in sorted(edits, key=lambda e: (e["line"], e["column"]), reverse=True):
        start = lines[e["line"] - 1][: e["column"] - 1]
        end = lines[e["end_line"] - 1][e["end_column"] - 1:]
        lines[e["line"] - 1: e["end_line"]] = (start + e["new_text"] + end).split("\n")
    return "\n".join(lines)


def compare_with_torch(source: str, model: str, shape: list[int]) -> tuple[int, int, list]:
    """(matched, total, wrong): our leaf layers against torch's calls, in execution order by path."""
    import cnnshape_ls

    source = textwrap.dedent(source)
    truth = torch_truth(source, model, shape)
    analysis = cnnshape_ls.analyze(source, input=input_text(shape), model=model).to_json()
    ours = [(layer["path"], layer["out"]) for m in analysis["models"] for layer in m["layers"] if layer["path"]]
    matched, wrong, i = 0, [], 0
    for path, torch_shape in truth["calls"]:
        j = i
        while j < len(ours) and ours[j][0] != path:
            j += 1
        if j == len(ours):
            continue  # not found: unknown, not wrong
        i = j + 1
        if ours[j][1] == torch_shape:
            matched += 1
        elif ours[j][1] is not None:
            wrong.append((path, ours[j][1], torch_shape))
    return matched, len(truth["calls"]), wrong


def assert_follows_torch_whole(source: str, shape: tuple[int, ...], model: str = "Net()") -> dict:
    """Every leaf call torch makes has torch's shape here, in torch's order; the output and the parameter
    count are torch's; no error where torch runs. The analysis's JSON is returned."""
    import cnnshape_ls

    truth = torch_truth(source, model, list(shape))
    assert truth["ok"], truth
    result = cnnshape_ls.analyze(textwrap.dedent(source), input=input_text(shape), model=model).to_json()
    assert not [d for d in result["diagnostics"] if d["severity"] == "error"], result["diagnostics"]
    ours = [(layer["path"], layer["out"]) for m in result["models"] for layer in m["layers"] if layer["path"]]
    remaining = list(ours)
    for name, out in truth["calls"]:
        match = next((i for i, (path, _) in enumerate(remaining) if path == name), None)
        assert match is not None, f"{name} not followed: ours {ours[:8]}...\n{source}"
        assert remaining[match][1] == out, f"{name}: ours {remaining[match][1]}, torch {out}\n{source}"
        remaining = remaining[match + 1:]
    found = result["models"][0]
    assert found["output"] == truth["output"], f"output: ours {found['output']}, torch {truth['output']}"
    assert found["params"] == truth["params"], f"params: ours {found['params']}, torch {truth['params']}"
    return result


def errors_and_first_fix(source: str, model: str, shape: list[int]) -> tuple[list[dict], str]:
    """The analysis's errors for ``source`` and the text after the first error's first fix."""
    import cnnshape_ls

    result = cnnshape_ls.analyze(source, input=str(tuple(shape)), model=model).to_json()
    errors = [d for d in result["diagnostics"] if d["severity"] == "error"]
    assert errors and errors[0]["fixes"], result["diagnostics"]
    return errors, apply_edits(source, errors[0]["fixes"][0]["edits"])


def assert_one_error_fixed(source: str, right: str, line: int, model: str = "Net()",
                           shape: tuple[int, ...] = (2, 3, 32, 32)) -> None:
    """torch runs ``right`` and rejects ``source``; the analysis gives one error, on ``line``, whose first fix
    torch runs and turns ``source`` into ``right``."""
    assert torch_truth(right, model, list(shape))["ok"]
    assert not torch_truth(source, model, list(shape))["ok"]
    errors, fixed = errors_and_first_fix(source, model, list(shape))
    assert [d["line"] for d in errors] == [line], errors
    assert torch_truth(fixed, model, list(shape))["ok"], textwrap.indent(fixed, "  ")
    assert fixed == right


# The cross-file reproducers of issue 13 (an imported block given 16 channels where it takes 3), shared by the
# command line's and the language server's tests so that both check the same files.
CROSS_FILE_BLOCK = """\
import torch.nn as nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.conv(x))
"""
CROSS_FILE_USES_BLOCK = """\
import torch.nn as nn

from blocks import Block


# in: (BS, 3, 32, 32)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.block = Block()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = self.stem(x)
        x = self.block(x)
        return self.fc(self.pool(x).flatten(1))
"""
