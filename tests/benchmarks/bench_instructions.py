"""Instructions ``analyze()`` executes, for checkouts side by side: the speed figure load does not change.

    python tests/benchmarks/bench_instructions.py OLD_CHECKOUT [NEW_CHECKOUT] [--lines 1000] [--working]

Wall-clock times on a shared machine move with its load; the number of instructions does not. Each checkout
(a folder holding ``cnnshape_ls/``, e.g. ``git worktree add /tmp/old <commit>``; the second defaults to this
one) analyzes the same buffer under valgrind's callgrind, once and three times after a warm-up run; half the
difference is one analysis, without start-up and imports. The buffer is made by ``bench_analyze.make_buffer``
from this checkout's model files (``--working``: only ``tests/models``, models without bugs, so no fix is
made or checked), so both sides analyze the same text. Needs valgrind (``apt-get install valgrind``).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from bench_analyze import make_buffer, model_sources  # noqa: E402

RUNNER = """\
import sys
sys.path.insert(0, sys.argv[1])
import cnnshape_ls
text = open(sys.argv[2]).read()
cnnshape_ls.analyze(text)  # warm-up: imports and first-use caches
for _ in range(int(sys.argv[3])):
    cnnshape_ls.analyze(text)
"""


def instructions(checkout: Path, buffer: Path, runs: int, runner: Path) -> int:
    done = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
                           str(runner), str(checkout), str(buffer), str(runs)], capture_output=True, text=True)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"valgrind failed for {checkout}:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def per_analysis(checkout: Path, buffer: Path, runner: Path) -> int:
    return (instructions(checkout, buffer, 3, runner) - instructions(checkout, buffer, 1, runner)) // 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path, nargs="?", default=ROOT)
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--working", action="store_true", help="only tests/models (no bugs, no fixes)")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    sources = [p.read_text() for p in sorted((ROOT / "tests" / "models").glob("*.py"))] if args.working \
        else model_sources()
    text = make_buffer(args.lines, sources)
    with tempfile.TemporaryDirectory() as folder:
        buffer, runner = Path(folder) / "buffer.py", Path(folder) / "runner.py"
        buffer.write_text(text)
        runner.write_text(RUNNER)
        old, new = per_analysis(args.old, buffer, runner), per_analysis(args.new, buffer, runner)
    print(f"{text.count(chr(10)) + 1} lines ({'working models' if args.working else 'default mix'}): "
          f"{old / 1e6:.0f}M instructions ({args.old}) against {new / 1e6:.0f}M ({args.new}): "
          f"{(new - old) / old:+.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
