"""Shared helpers: ground truth from torch (tests/truth.py, run in-process) and edit application."""

from __future__ import annotations

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
    analysis = cnnshape_ls.analyze(source, input="(" + ", ".join(map(str, shape)) + ")", model=model).to_json()
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
