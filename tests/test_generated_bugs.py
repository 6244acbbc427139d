"""Generated shape bugs: break one layer of a correct model, expect a diagnostic and a working fix.

The correct models are tests/models (manifest.json) and the seed corpus in
tests/corpus (entries without ``expect_error``). A small source rewriter changes
the first argument (in_features / in_channels / num_features) of one
``Linear`` / ``Conv2d`` / ``BatchNorm2d`` constructor call at a time, to ``v + 1``
or ``v * 2``. Mutations that torch still accepts are skipped (tests/truth.py
decides, in this process). For every mutation torch rejects:

- the analysis must report an error-severity diagnostic on the mutated line;
- applying that diagnostic's ``fixes[0]`` edits must give a file torch runs.

The detection and fix rates over all kept mutations must both be at least 0.95.
Mutation sites are sampled with a fixed seed to keep the run short.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import random
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("torch")

import cnnshape_ls  # noqa: E402

from support import apply_edits, code_point_col, correct_models, input_text, replace_span  # noqa: E402

pytestmark = pytest.mark.torch

HERE = Path(__file__).resolve().parent
TARGETS = {"Linear", "Conv2d", "BatchNorm2d"}
FIRST_KEYWORD = {"Linear": "in_features", "Conv2d": "in_channels", "BatchNorm2d": "num_features"}
SEED = 20240607
MAX_MUTATIONS = 400
MIN_RATE = 0.95
MAX_SHOWN = 25  # failure details printed by the rate test


@dataclass(frozen=True)
class Mutation:
    file: str  # path relative to tests/
    line: int  # 1-based line of the mutated argument
    col: int  # 0-based code-point column of the argument start
    end_line: int
    end_col: int
    layer: str  # Linear / Conv2d / BatchNorm2d
    old: str
    new: str
    entries: tuple  # ((model, input), ...) from the manifest

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}:{self.layer}({self.old}->{self.new})"


@functools.lru_cache(maxsize=1)
def truth_module():
    spec = importlib.util.spec_from_file_location("cnnshape_tests_truth", HERE / "truth.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def layer_name(call: ast.Call) -> str | None:
    fn = call.func
    if isinstance(fn, ast.Attribute):
        return fn.attr if fn.attr in TARGETS else None
    if isinstance(fn, ast.Name):
        return fn.id if fn.id in TARGETS else None
    return None


def first_argument(call: ast.Call, layer: str) -> ast.expr | None:
    if call.args and not isinstance(call.args[0], ast.Starred):
        return call.args[0]
    for kw in call.keywords:
        if kw.arg == FIRST_KEYWORD[layer]:
            return kw.value
    return None



def wrong_values(node: ast.expr, text: str) -> list[str]:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return [str(node.value + 1), str(node.value * 2)]
    return [f"{text} + 1", f"({text}) * 2"]


def enumerate_mutations() -> list[Mutation]:
    rng = random.Random(SEED)
    sites = []
    for rel, entries in sorted(correct_models().items()):
        source = (HERE / rel).read_text()
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.Call):
                continue
            layer = layer_name(node)
            if layer is None:
                continue
            arg = first_argument(node, layer)
            if arg is None:
                continue
            text = ast.get_source_segment(source, arg)
            col = code_point_col(lines, arg.lineno, arg.col_offset)
            end_col = code_point_col(lines, arg.end_lineno, arg.end_col_offset)
            for new in dict.fromkeys(wrong_values(arg, text)):  # 1 + 1 == 1 * 2
                sites.append(Mutation(rel, arg.lineno, col, arg.end_lineno, end_col, layer, text, new, tuple(entries)))
    sites.sort(key=lambda m: (m.file, m.line, m.col, m.new))
    if len(sites) > MAX_MUTATIONS:
        sites = sorted(rng.sample(sites, MAX_MUTATIONS), key=lambda m: (m.file, m.line, m.col, m.new))
    return sites



def mutate(m: Mutation) -> str:
    source = (HERE / m.file).read_text()
    return replace_span(source, m.line, m.col, m.end_line, m.end_col, m.new)




@dataclass
class Outcome:
    kept: bool
    detected: bool = False
    fixed: bool = False
    detail: str = ""


@functools.cache
def evaluate(m: Mutation) -> Outcome:
    truth = truth_module()
    mutated = mutate(m)
    path = str(HERE / m.file)
    broken = None
    for model, shape in m.entries:
        result = truth.guarded(path, model, list(shape), mutated)
        if not result.get("ok"):
            broken = (model, shape, result.get("error"))
            break
    if broken is None:
        return Outcome(kept=False, detail="torch accepts this mutation")
    model, shape, torch_error = broken
    try:
        analysis = cnnshape_ls.analyze(mutated, path=m.file, input=input_text(shape), model=model).to_json()
    except Exception as e:  # a crash of the engine counts as a miss, with its traceback
        trace = traceback.format_exc(limit=-4)
        return Outcome(kept=True, detail=f"{m.id}\n  analyze() raised {type(e).__name__}: {e}\n{trace}")
    diags = analysis.get("diagnostics", [])
    errors = [d for d in diags if d.get("severity") == "error"]
    on_line = [d for d in errors if d["line"] <= m.line <= d.get("end_line", d["line"])]
    src_line = mutated.splitlines()[m.line - 1]
    head = (
        f"{m.id}\n  model {model} input {input_text(shape)}\n  mutated line {m.line}: {src_line.strip()}\n"
        f"  torch: {torch_error}\n"
        + "".join(f"  ours: {d['severity']} line {d['line']} [{d.get('code')}] {d.get('message')}\n" for d in diags)
    )
    if not on_line:
        return Outcome(kept=True, detail=head + "  => no error-severity diagnostic on the mutated line")
    diag = next((d for d in on_line if d.get("fixes")), on_line[0])
    fixes = diag.get("fixes") or []
    if not fixes:
        return Outcome(kept=True, detected=True, detail=head + "  => the diagnostic offers no fix")
    fixed_source = apply_edits(mutated, fixes[0]["edits"])
    changed = [
        f"    {a.rstrip()}  ->  {b.rstrip()}" for a, b in zip(mutated.splitlines(), fixed_source.splitlines()) if a != b
    ]
    after = truth.guarded(path, model, list(shape), fixed_source)
    if after.get("ok"):
        others = [
            truth.guarded(path, other_model, list(other_shape), fixed_source)
            for other_model, other_shape in m.entries
            if (other_model, other_shape) != (model, shape)
        ]
        failing = [r.get("error") for r in others if not r.get("ok")]
        if not failing:
            return Outcome(kept=True, detected=True, fixed=True)
        after = {"error": f"other model of the file fails: {failing[0]}"}
    detail = (
        head
        + f"  fix: {fixes[0].get('title')}\n"
        + "\n".join(changed)
        + f"\n  => torch still fails after the fix: {after.get('error')}"
    )
    return Outcome(kept=True, detected=True, fixed=False, detail=detail)


MUTATIONS = enumerate_mutations()


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.id)
def test_mutation_detected_and_fixed(mutation):
    outcome = evaluate(mutation)
    if not outcome.kept:
        pytest.skip(outcome.detail)
    assert outcome.detected, outcome.detail
    assert outcome.fixed, outcome.detail


def test_detection_and_fix_rates(capsys):
    outcomes = [(m, evaluate(m)) for m in MUTATIONS]
    kept = [(m, o) for m, o in outcomes if o.kept]
    detected = [(m, o) for m, o in kept if o.detected]
    fixed = [(m, o) for m, o in kept if o.fixed]
    n = len(kept)
    detection = len(detected) / n if n else 1.0
    fix_rate = len(fixed) / n if n else 1.0
    lines = [
        f"mutations tried {len(outcomes)}, rejected by torch (kept) {n}",
        f"detection rate {len(detected)}/{n} = {detection:.2%}",
        f"fix rate       {len(fixed)}/{n} = {fix_rate:.2%}",
    ]
    misses = [o.detail for _m, o in kept if not o.fixed]
    shown = "\n\n".join(misses[:MAX_SHOWN])
    more = f"\n\n... and {len(misses) - MAX_SHOWN} more (see the per-mutation tests)" if len(misses) > MAX_SHOWN else ""
    text = "\n".join(lines) + (f"\n\nfailures ({len(misses)}):\n{shown}{more}" if misses else "")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert n > 0, "no mutation was rejected by torch"
    assert detection >= MIN_RATE and fix_rate >= MIN_RATE, text
