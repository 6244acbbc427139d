"""Time ``analyze()`` against ``ast.parse()`` of the same buffer, side by side in one process.

    python tests/benchmarks/bench_analyze.py [--sizes 250,1000,4000,16000] [--repeat 5]

The buffer is made of realistic model files (the seed corpus and the test models)
repeated with renamed classes until it has the wanted number of lines. Prints, per
size, the median time of each and their ratio; the target is a ratio of at most 3
at every size (linear growth). It also prints the time per recorded layer
application, the unit a per-layer budget would be stated in.
"""

from __future__ import annotations

import argparse
import ast
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import cnnshape_ls  # noqa: E402


def model_sources() -> list[str]:
    folders = [ROOT / "tests" / "corpus", ROOT / "tests" / "models", ROOT / "docs" / "examples"]
    texts = [p.read_text() for folder in folders if folder.is_dir() for p in sorted(folder.glob("*.py"))]
    if not texts:
        raise SystemExit("no model files found under tests/corpus, tests/models or docs/examples")
    return texts


def make_buffer(lines: int, sources: list[str]) -> str:
    """Concatenate model files, renaming every class and top-level name so that copies do not collide."""
    out: list[str] = []
    count = 0
    copy = 0
    while count < lines:
        text = sources[copy % len(sources)]
        suffix = f"_{copy}"
        names = set(re.findall(r"^class (\w+)", text, re.M)) | set(re.findall(r"^(\w+) = ", text, re.M)) \
            | set(re.findall(r"^def (\w+)", text, re.M))
        for name in sorted(names, key=len, reverse=True):
            text = re.sub(rf"\b{name}\b", name + suffix, text)
        out.append(text)
        count += text.count("\n") + 1
        copy += 1
    return "\n".join(out)


def median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="250,1000,2000,4000,8000,16000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sources = model_sources()
    print(f"{'lines':>7} {'ast.parse ms':>13} {'analyze ms':>11} {'ratio':>6} {'models':>7} {'layers':>7} "
          f"{'us/layer':>9}")
    worst = 0.0
    for size in (int(s) for s in args.sizes.split(",")):
        buffer = make_buffer(size, sources)
        n_lines = buffer.count("\n") + 1
        parse = median_time(lambda text=buffer: ast.parse(text), args.repeat)
        result = cnnshape_ls.analyze(buffer)
        analyze = median_time(lambda text=buffer: cnnshape_ls.analyze(text), args.repeat)
        ratio = analyze / parse
        worst = max(worst, ratio)
        layers = sum(len(model.records) for model in result.models)
        print(f"{n_lines:>7} {parse * 1000:>13.1f} {analyze * 1000:>11.1f} {ratio:>6.2f} {len(result.models):>7} "
              f"{layers:>7} {analyze * 1e6 / max(layers, 1):>9.1f}")
    print(f"worst ratio: {worst:.2f} (target <= 3)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
