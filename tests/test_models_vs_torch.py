"""Realistic model files (tests/models) checked against torch, layer by layer.

For every entry of tests/models/manifest.json the file is analyzed with a concrete
input of batch 2 and run under torch on the meta device (tests/truth.py, in this
process, so torch is imported once). The checks:

(a) no wrong shape: every leaf-module call torch makes is matched, in execution
    order, with our next layer record of the same ``path``; our ``out`` must be
    ``null`` or equal to torch's shape (and the model's output, when we give one);
(b) no error-severity diagnostic on these files, which are all correct;
(c) coverage, the share of torch's leaf calls that we match with the right shape,
    is at least 0.97 over the whole suite (printed per file);
(d) the model's parameter count is ``null`` or ``sum(p.numel() for p in
    model.parameters())``, and known for at least 95% of the models.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

import cnnshape_ls  # noqa: E402

pytestmark = pytest.mark.torch

HERE = Path(__file__).resolve().parent
MODELS = HERE / "models"
MANIFEST = json.loads((MODELS / "manifest.json").read_text())
MIN_COVERAGE = 0.97


def entry_id(entry: dict) -> str:
    return f"{Path(entry['file']).stem}:{entry['model']}"


@functools.lru_cache(maxsize=1)
def truth_module():
    spec = importlib.util.spec_from_file_location("cnnshape_tests_truth", HERE / "truth.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def input_text(shape: list[int]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


@functools.cache
def truth_for(file: str, model: str, shape: tuple[int, ...]) -> dict:
    path = MODELS / file
    return truth_module().guarded(str(path), model, list(shape))


@functools.cache
def analysis_for(file: str, model: str, shape: tuple[int, ...]) -> dict:
    source = (MODELS / file).read_text()
    return cnnshape_ls.analyze(source, path=file, input=input_text(list(shape)), model=model).to_json()


def our_model(analysis: dict, entry: dict) -> dict | None:
    models = analysis.get("models") or []
    if len(models) == 1:
        return models[0]
    expr = entry["model"].split("(")[0].strip()
    for m in models:
        if m.get("name") == expr:
            return m
    return models[0] if models else None


def match(truth_calls: list, layers: list[dict]) -> list[tuple[str, list, object, str]]:
    """Pair each torch leaf call with our next layer record of the same path.

    Returns rows (path, torch shape, our out, status) with status one of
    ``ok`` (equal), ``null`` (we say unknown), ``missing`` (no record of that
    path after the previous match) or ``WRONG``.
    """
    ours = [rec for rec in layers if rec.get("path") is not None]
    rows = []
    pos = 0
    for name, shape in truth_calls:
        found = None
        for k in range(pos, len(ours)):
            if ours[k]["path"] == name:
                found = k
                break
        if found is None:
            rows.append((name, shape, None, "missing"))
            continue
        pos = found + 1
        out = ours[found].get("out")
        if out is None:
            rows.append((name, shape, None, "null"))
        elif list(out) == list(shape):
            rows.append((name, shape, out, "ok"))
        else:
            rows.append((name, shape, out, "WRONG"))
    return rows


def render(rows) -> str:
    lines = [f"{'#':>4}  {'status':7}  {'path':40}  {'torch':24}  ours"]
    for i, (name, shape, out, status) in enumerate(rows):
        lines.append(f"{i:>4}  {status:7}  {name:40}  {str(shape):24}  {out}")
    return "\n".join(lines)


def compare(entry: dict):
    shape = tuple(entry["input"])
    truth = truth_for(entry["file"], entry["model"], shape)
    assert truth.get("ok"), f"torch cannot run {entry_id(entry)}: {truth.get('error')}\n{truth.get('trace', '')}"
    analysis = analysis_for(entry["file"], entry["model"], shape)
    model = our_model(analysis, entry)
    assert model is not None, f"no model found in the analysis of {entry_id(entry)}: {json.dumps(analysis)[:2000]}"
    rows = match(truth["calls"], model.get("layers") or [])
    return truth, analysis, model, rows


@pytest.mark.parametrize("entry", MANIFEST, ids=entry_id)
def test_no_wrong_shape(entry):
    truth, _analysis, model, rows = compare(entry)
    wrong = [r for r in rows if r[3] == "WRONG"]
    problems = []
    if wrong:
        problems.append(f"{len(wrong)} leaf call(s) with a wrong shape:\n" + render(rows))
    if model.get("output") is not None and list(model["output"]) != truth["output"]:
        problems.append(f"model output: ours {model['output']}, torch {truth['output']}")
    assert not problems, f"{entry_id(entry)}\n" + "\n".join(problems)


@pytest.mark.parametrize("entry", MANIFEST, ids=entry_id)
def test_no_error_on_correct_model(entry):
    analysis = analysis_for(entry["file"], entry["model"], tuple(entry["input"]))
    errors = [d for d in analysis.get("diagnostics", []) if d.get("severity") == "error"]
    source = (MODELS / entry["file"]).read_text().splitlines()
    detail = "\n".join(
        f"  line {d['line']}: [{d.get('code')}] {d.get('message')}\n"
        f"    | {source[d['line'] - 1] if 0 < d['line'] <= len(source) else ''}"
        for d in errors
    )
    assert not errors, f"{entry_id(entry)} runs under torch, yet we report errors:\n{detail}"


MIN_PARAMS_KNOWN = 0.95


@pytest.mark.parametrize("entry", MANIFEST, ids=entry_id)
def test_parameter_count(entry):
    _truth, _analysis, model, _rows = compare(entry)
    ours, theirs = model.get("params"), _truth["params"]
    assert ours is None or ours == theirs, f"{entry_id(entry)}: {ours} parameters, torch counts {theirs}"


def test_parameter_counts_known():
    known = [entry_id(e) for e in MANIFEST if compare(e)[2].get("params") is not None]
    unknown = sorted(set(map(entry_id, MANIFEST)) - set(known))
    assert len(known) >= MIN_PARAMS_KNOWN * len(MANIFEST), f"parameter count unknown for {unknown}"


def test_suite_coverage(capsys):
    total = 0
    good = 0
    report = []
    for entry in MANIFEST:
        truth = truth_for(entry["file"], entry["model"], tuple(entry["input"]))
        if not truth.get("ok"):
            report.append(f"{entry_id(entry):55}  torch failed: {truth.get('error')}")
            total += 1
            continue
        try:
            _truth, _analysis, _model, rows = compare(entry)
        except Exception as e:  # AssertionError from compare(), or a crash of the engine
            report.append(f"{entry_id(entry):55}  {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            total += len(truth["calls"])
            continue
        n_ok = sum(1 for r in rows if r[3] == "ok")
        counts = {s: sum(1 for r in rows if r[3] == s) for s in ("null", "missing", "WRONG")}
        total += len(rows)
        good += n_ok
        cov = n_ok / len(rows) if rows else 1.0
        extra = "  ".join(f"{k}={v}" for k, v in counts.items() if v)
        report.append(f"{entry_id(entry):55}  {n_ok:4}/{len(rows):<4} {cov:6.1%}  {extra}")
    coverage = good / total if total else 1.0
    text = "\n".join(report) + f"\nsuite coverage: {good}/{total} = {coverage:.2%}"
    with capsys.disabled():
        print("\n" + text)
    assert coverage >= MIN_COVERAGE, f"coverage {coverage:.2%} < {MIN_COVERAGE:.0%}\n{text}"
