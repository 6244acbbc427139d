"""The shared seed corpus end to end: shapes per qualified name against torch, the expected errors on the
manifest's fix lines, and every preferred fix applied and run under torch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import cnnshape_ls

from support import apply_edits, torch_truth

pytestmark = pytest.mark.torch
CORPUS = Path(__file__).resolve().parent / "corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())


def _input(entry: dict) -> str:
    return "(" + ", ".join(map(str, entry["input"])) + ")"


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["id"] for e in MANIFEST])
def test_shapes_match_torch(entry: dict) -> None:
    source = (CORPUS / entry["file"]).read_text()
    truth = torch_truth(source, entry["model"], entry["input"])
    data = cnnshape_ls.analyze(source, input=_input(entry), model=entry["model"]).to_json()
    ours = [(layer["path"], layer["out"]) for m in data["models"] for layer in m["layers"] if layer["path"]]
    assert ours[:len(truth["calls"])] == [tuple(call) for call in truth["calls"]]


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["id"] for e in MANIFEST])
def test_errors_where_torch_fails_and_fixes_that_run(entry: dict) -> None:
    source = (CORPUS / entry["file"]).read_text()
    data = cnnshape_ls.analyze(source, input=_input(entry), model=entry["model"]).to_json()
    errors = [d for d in data["diagnostics"] if d["severity"] == "error"]
    if not entry["expect_error"]:
        assert not errors
        return
    assert len(errors) == 1, errors
    if entry["fix_line"] is None:
        return
    error = errors[0]
    assert error["line"] == entry["fix_line"]
    fixed = apply_edits(source, error["fixes"][0]["edits"])
    changed = fixed.split("\n")[entry["fix_line"] - 1]
    new_text = error["fixes"][0]["edits"][0]["new_text"]
    assert eval(new_text, {}) == entry["fix_value"] and new_text in changed  # a product or a number
    after = torch_truth(fixed, entry["model"], entry["input"])
    assert after["ok"], after.get("error")
