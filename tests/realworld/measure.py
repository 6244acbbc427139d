"""Measure the analysis on real model files from public repositories, against torch.

    python tests/realworld/measure.py [DIR] [MANIFEST]

``manifest.json`` lists each file by repository and path, with the model expression and the input it is
meant for; the files themselves are not redistributed here. Put them in DIR (default
``tests/realworld/files``) under the names the manifest gives, each with a first line
``# source: owner/repo/path``. For every file torch runs (``tests/truth.py``, meta device), this prints the
leaf-module calls whose shape the analysis gives right, unknown and wrong, the errors it reports on a file
torch runs, whether its parameter total is torch's, and how long the analysis took.

The set was collected at stop 12 from repositories the rules were never developed on; its figures are in
docs/architecture.md. ``manifest_2026_12_batch1.json`` to ``manifest_2026_12_batch5.json`` are five later
first-contact batches (73 files from 50 repositories, 44 from 24, 56 from 27, 56 from 35, 52 from 33), each
measured before the engine was changed for it: pass one as MANIFEST (their files are named ``b_*.py``,
``c_*.py``, ``d_*.py``, ``e_*.py`` and ``f_*.py``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

import cnnshape_ls  # noqa: E402


def torch_truth(path: Path, model: str, shape: str) -> dict:
    run = subprocess.run([sys.executable, str(ROOT / "tests" / "truth.py"), str(path), "--model", model,
                          "--input", shape], capture_output=True, text=True, timeout=300)
    return json.loads(run.stdout.strip().splitlines()[-1])


def compare(calls: list, layers: list) -> tuple[int, int, list]:
    """Torch's leaf calls against ours, matched by qualified name in execution order."""
    right, unknown, wrong, i = 0, 0, [], 0
    for name, shape in calls:
        j = i
        while j < len(layers) and layers[j][0] != name:
            j += 1
        if j == len(layers):
            unknown += 1
            continue
        i = j + 1
        if layers[j][1] == shape:
            right += 1
        elif layers[j][1] is None:
            unknown += 1
        else:
            wrong.append((name, layers[j][1], shape))
    return right, unknown, wrong


def main() -> int:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "files"
    manifest = Path(sys.argv[2]) if len(sys.argv) > 2 else HERE / "manifest.json"
    entries = json.loads(manifest.read_text())
    totals = {"calls": 0, "right": 0, "unknown": 0, "wrong": 0, "false_errors": 0, "params_right": 0,
              "params_unknown": 0, "params_wrong": 0, "files": 0, "missing": 0}
    for entry in entries:
        path = folder / entry["file"]
        if not path.is_file():
            totals["missing"] += 1
            continue
        shape = "(" + ", ".join(map(str, entry["input"])) + ")"
        truth = torch_truth(path, entry["model"], shape)
        if not truth.get("ok"):
            print(f"{entry['file']}: torch does not run it ({truth.get('error')}); skipped")
            continue
        start = time.perf_counter()
        result = cnnshape_ls.analyze(path.read_text(), path=str(path), input=shape, model=entry["model"]).to_json()
        took = time.perf_counter() - start
        layers = [(layer["path"], layer["out"]) for m in result["models"] for layer in m["layers"] if layer["path"]]
        right, unknown, wrong = compare(truth["calls"], layers)
        errors = [d for d in result["diagnostics"] if d["severity"] == "error"]
        params = result["models"][0]["params"] if result["models"] else None
        totals["files"] += 1
        totals["calls"] += len(truth["calls"])
        totals["right"] += right
        totals["unknown"] += unknown
        totals["wrong"] += len(wrong)
        totals["false_errors"] += bool(errors)
        key = "params_unknown" if params is None else "params_right" if params == truth["params"] else "params_wrong"
        totals[key] += 1
        notes = (f" WRONG {wrong[:3]}" if wrong else "") + (
            f" ERRORS {[(d['line'], d['code']) for d in errors[:3]]}" if errors else "") + (
            f" params {params} (torch {truth['params']})" if key == "params_wrong" else "")
        print(f"{entry['file']:40} {right:4}/{len(truth['calls']):<4} unknown {unknown:3} {took * 1000:7.1f} ms{notes}")
    t = totals
    print(f"\n{t['files']} files ({t['missing']} missing): {t['right']}/{t['calls']} leaf calls right "
          f"({100 * t['right'] / max(t['calls'], 1):.1f}%), {t['unknown']} unknown, {t['wrong']} wrong; "
          f"errors on {t['false_errors']} files torch runs; parameter totals {t['params_right']} right, "
          f"{t['params_unknown']} unknown, {t['params_wrong']} wrong")
    return 1 if t["wrong"] or t["false_errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
