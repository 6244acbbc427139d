"""Hostile buffers through the command line and the language server: no input stalls or crashes either.

    python tests/benchmarks/fuzz_hostile.py [--count 500] [--seed 0] [--only cli|server]

Generates ``count`` buffers from families of inputs made to hurt an analysis (symbolic sizes that square
at each step, long inheritance chains, giant strings and lists, values nesting exponentially, deep
nesting, huge literals, long statement and layer chains, many models, long loops), then

- runs ``cnnshape check --no-verify --format json`` on each in its own process: its exit code (0 or 1),
  its JSON, its time and its peak memory;
- opens each in one language server over stdio (a raw client, as ``bench_lsp.py``) and asks for its
  diagnostics, a hover, the inlay hints, the code actions and the code lenses of the whole buffer: the
  time of each answer, the server's memory (``VmRSS``, ``VmHWM``), errors in its log, and that it lives.

Targets (issue 13): 0 crashes, every answer within 5 s, server RSS under 1 GB.
Prints one line per family and the totals; exits 1 when a target is missed.
``tests/lsp/test_fuzz_hostile.py`` runs a small version of this as a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parents[2]
SERVER = [sys.executable, "-m", "cnnshape_ls"]
CLI = [sys.executable, "-m", "cnnshape_ls.cli", "check", "--no-verify", "--format", "json"]
ANSWER_SECONDS = 5.0
RSS_LIMIT_MB = 1024
CLI_TIMEOUT = 120.0

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n"


# --------------------------------------------------------------------------- the buffers
def _model(init: str, forward: str = "        return self.fc(x)", name: str = "Net", params: str = "",
           comment: str = "# in: (BS, 3)") -> str:
    return (f"{comment}\nclass {name}(nn.Module):\n    def __init__(self{params}):\n        super().__init__()\n"
            f"{init}\n        self.fc = nn.Linear(3, 3)\n\n    def forward(self, x):\n{forward}\n")


def squaring(rng: random.Random) -> str:
    """``m = m * m + m`` repeated: the symbolic size doubles at each line."""
    step = rng.choice(["m * m + m", "m * m", "(m + 1) * (m - 1)", "m * m * m", "m // 2 + m * m", "m * 1000003 + m",
                       "m // 3 + m // 2 + m"])
    lines = "".join(f"        m = {step}\n" for _ in range(rng.randint(3, 14)))
    init = f"        m = a + b + 1\n{lines}        self.out = nn.Linear(m, 3)"
    return HEADER + _model(init, "        return self.out(self.fc(x))", params=", a, b")


def inheritance(rng: random.Random) -> str:
    n = rng.randint(50, 1500)
    diamond = rng.random() < 0.3
    out = [HEADER, _model("", name="C0"), "class C1(C0):\n    pass\n"]
    for i in range(2, n):
        bases = f"C{i - 1}, C{i - 2}" if diamond else f"C{i - 1}"
        out.append(f"class C{i}({bases}):\n    pass\n")
    out.append(f"model = C{n - 1}()\n")
    return "".join(out)


def giant_strings(rng: random.Random) -> str:
    size = 10 ** rng.randint(5, 10)
    line = rng.choice([
        f"s = '{{:>{size}}}'.format(1)",
        f"s = '{{:.{size}f}}'.format(1.5)",
        f"s = '%{size}d' % 1",
        f"s = '%*d' % ({size}, 1)",
        f"s = 'x' * {size}",
        "s = '{0}' * 5000\ns = s.format('y' * 90000)",
        "s = 'ab' * 40000\nfor i in range(30):\n    s = s + s",
        "s = 'ab' * 40000\nt = f'{s}{s}{s}{s}{s}{s}{s}{s}{s}{s}{s}{s}'",
        f"w = {size}\ns = '{{:>{{}}}}'.format(w)",
        "parts = []\nfor i in range(90000):\n    parts.append('layer_{}'.format(i))",
    ])
    placement = rng.choice(["top", "init"])
    if placement == "top":
        return HEADER + line + "\n\n" + _model("        self.w = len(s)")
    body = "\n".join("        " + part for part in line.split("\n"))
    return HEADER + _model(body + "\n        self.w = nn.Linear(len(s), 3)")


def growing_values(rng: random.Random) -> str:
    k = rng.randint(20, 64)
    line = rng.choice([
        "l = [1]\n" + "l = l + l\n" * k,
        f"l = [1]\nfor i in range({k}):\n    l.extend(l)",
        f"l = [1]\nfor i in range({k}):\n    l += l",
        f"l = [1]\nfor i in range({k}):\n    l = l * 2",
        "t = (1,)\nu = (1,)\n" + "t = (t, t)\nu = (u, u)\n" * k + "same = t == u\nd = {t: 1}\nx = d.get(u)",
        "t = [1]\n" + "t = [t, t]\n" * k + "same = t == [t[0], t[1]]\ns = sorted([t, t])",
        f"d = {{}}\nfor i in range({k * 1000}):\n    d[i] = [i] * 100",
        "t = (1,)\n" + "t = (t, t)\n" * k + "if len(t) > 1:\n    v = t\nelse:\n    v = (t, 1)",
    ])
    placement = rng.choice(["top", "init"])
    if placement == "top":
        return HEADER + line + "\n\n" + _model("        self.size = 3")
    body = "\n".join("        " + part for part in line.split("\n"))
    return HEADER + _model(body)


def deep_nesting(rng: random.Random) -> str:
    depth = rng.randint(20, 260)
    kind = rng.choice(["parens", "lists", "ifs", "sequential", "calls", "binop", "recursion", "lambdas", "defs"])
    if kind == "parens":
        return HEADER + "x = " + "(" * depth + "1" + ")" * depth + "\n" + _model("        self.k = x")
    if kind == "lists":
        return HEADER + "x = " + "[" * depth + "1" + "]" * depth + "\n" + _model("        self.k = x")
    if kind == "ifs":
        depth = min(depth, 98)
        body = "".join("    " * (i + 2) + f"if a > {i}:\n" for i in range(depth)) + "    " * (depth + 2) + "a = 1\n"
        return HEADER + _model("        a = 5\n" + body.rstrip("\n"))
    if kind == "sequential":
        inner = "nn.Linear(3, 3)"
        for _ in range(depth):
            inner = f"nn.Sequential({inner}, nn.ReLU())"
        return HEADER + f"# in: (BS, 3)\nmodel = {inner}\n"
    if kind == "calls":
        return HEADER + "x = " + "abs(" * depth + "1" + ")" * depth + "\n" + _model("        self.k = x")
    if kind == "binop":
        n = rng.randint(1000, 120_000)
        return HEADER + "x = " + " + ".join(["1"] * n) + "\n" + _model("        self.k = x")
    if kind == "recursion":
        return HEADER + "def f(n):\n    return f(n + 1) + f(n + 2)\n\n" + _model("        self.k = f(0)")
    if kind == "lambdas":
        return HEADER + "f = " + "lambda: " * depth + "1\n" + _model("        self.k = f")
    body = "".join("    " * (i + 2) + f"def f{i}(x):\n" for i in range(min(depth, 98)))
    return HEADER + _model("        " + body.strip() + "\n" + "    " * (min(depth, 98) + 2) + "return x")


def huge_literals(rng: random.Random) -> str:
    n = rng.randint(5_000, 200_000)
    line = rng.choice([
        f"x = {'9' * rng.randint(100, 6000)}",
        f"x = '{'a' * rng.randint(100_000, 3_000_000)}'",
        f"x = [{', '.join(str(i) for i in range(n))}]",
        f"x = {{{', '.join(f'{i}: {i}' for i in range(n // 4))}}}",
        f"x = 1e308 * 10\ny = 10 ** {rng.randint(20, 10_000)}",
        f"x = 2 ** {rng.randint(64, 100_000)}",
        f"x = {'9' * 18}\ny = x * x * x * x",
    ])
    size = rng.choice(["10 ** 12", "2 ** 40", "10 ** 9", "x", "len(x)"])
    return HEADER + line + "\n\n" + _model(f"        self.big = nn.Linear({size}, {size})\n"
                                           f"        self.conv = nn.Conv2d(3, {size}, 3)")


def long_chains(rng: random.Random) -> str:
    kind = rng.choice(["statements", "attributes", "views", "sequential", "models", "adds"])
    n = rng.randint(1000, 10_000)
    if kind == "statements":
        return HEADER + _model("        x = 1\n" + "        x = x + 1\n" * n + "        self.k = x")
    if kind == "attributes":
        return HEADER + "y = x" + ".a" * n + "\n" + _model("        self.k = 1")
    if kind == "views":
        return HEADER + _model("", "        x = self.fc(x)\n" + "        x = x.view(-1, 3)\n" * n + "        return x")
    if kind == "sequential":
        return HEADER + "# in: (BS, 4)\nmodel = nn.Sequential(\n" + "    nn.Linear(4, 4),\n" * n + ")\n"
    if kind == "models":
        count = rng.randint(100, 2500)
        return HEADER + "".join(_model("        self.a = nn.Linear(3, 4)", "        return self.fc(self.a(x))",
                                       name=f"Net{i}") for i in range(count))
    return HEADER + _model("", "        y = x\n" + "        y = y + x\n" * n + "        return self.fc(y)")


def long_loops(rng: random.Random) -> str:
    models = rng.randint(1, 60)
    loop = rng.choice([
        "        for i in range(1000):\n            for j in range(1000):\n                k = i + j",
        "        n = 0\n        while True:\n            n = n + 1",
        "        layers = []\n        for i in range(99999):\n            layers.append(nn.Linear(3, 3))\n"
        "        self.body = nn.Sequential(*layers)",
        "        x = [i for i in range(99999) for j in range(99999)]",
    ])
    return HEADER + "".join(_model(loop, name=f"Loop{i}") for i in range(models))


def symbolic_growth(rng: random.Random) -> str:
    n = rng.randint(50, 400)
    convs = "".join(f"            nn.Conv2d(8, 8, {rng.choice([1, 2, 3])}, stride={rng.choice([1, 2])}, "
                    f"padding={rng.choice([0, 1])}),\n" for _ in range(n))
    ups = rng.random() < 0.5
    tail = "            nn.Upsample(scale_factor=2),\n" * (n // 4) if ups else ""
    return HEADER + ("class Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                     f"        self.body = nn.Sequential(\n            nn.Conv2d(3, 8, 3),\n{convs}{tail}        )\n"
                     "        self.fc = nn.Linear(12345, 10)\n\n    def forward(self, x):\n"
                     "        return self.fc(self.body(x).flatten(1))\n")


FAMILIES: dict[str, Callable[[random.Random], str]] = {
    "squaring": squaring, "inheritance": inheritance, "giant strings": giant_strings,
    "growing values": growing_values, "deep nesting": deep_nesting, "huge literals": huge_literals,
    "long chains": long_chains, "long loops": long_loops, "symbolic growth": symbolic_growth,
}


def mixed(rng: random.Random) -> str:
    """Pieces of two or three families in one buffer."""
    picks = rng.sample(sorted(FAMILIES), rng.randint(2, 3))
    return "\n\n".join(FAMILIES[p](rng) for p in picks)


def hostile_buffers(count: int, seed: int = 0) -> list[tuple[str, str]]:
    """``count`` buffers, (family, text), the families taken in turn, ``mixed`` among them."""
    rng = random.Random(seed)
    families = [*FAMILIES.items(), ("mixed", mixed)]
    return [(families[i % len(families)][0], families[i % len(families)][1](rng)) for i in range(count)]


# --------------------------------------------------------------------------- results
@dataclass
class Outcome:
    family: str
    seconds: float
    """The slowest answer for this buffer."""
    crashed: str | None = None
    rss_mb: float = 0.0
    slowest_answer: str = ""
    """Which answer took ``seconds`` (diagnostics, or a request's method)."""


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    peak_rss_mb: float = 0.0

    def crashes(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.crashed]

    def slowest(self) -> float:
        return max((o.seconds for o in self.outcomes), default=0.0)

    def print(self, title: str) -> None:
        print(f"{title}: {len(self.outcomes)} buffers, max answer {self.slowest():.2f} s, "
              f"peak RSS {self.peak_rss_mb:.0f} MB, crashes {len(self.crashes())}")
        families = sorted({o.family for o in self.outcomes})
        for family in families:
            mine = [o for o in self.outcomes if o.family == family]
            print(f"  {family:<16} {len(mine):>4} buffers  max {max(o.seconds for o in mine):6.2f} s  "
                  f"peak {max(o.rss_mb for o in mine):6.0f} MB  crashes {sum(bool(o.crashed) for o in mine)}")
        for o in self.crashes()[:10]:
            print(f"  CRASH {o.family}: {o.crashed}")
        for o in sorted(self.outcomes, key=lambda o: -o.seconds)[:5]:
            print(f"  slowest: {o.seconds:.2f} s, {o.family}, {o.slowest_answer or 'the whole check'}")


# --------------------------------------------------------------------------- the command line
def run_cli(buffers: list[tuple[str, str]], folder: Path) -> Report:
    report = Report()
    for i, (family, text) in enumerate(buffers):
        path = folder / f"hostile_{i}.py"
        path.write_text(text)
        out_path = folder / f"hostile_{i}.json"
        with open(out_path, "w") as out, open(folder / f"hostile_{i}.err", "w") as err:
            start = time.perf_counter()
            proc = subprocess.Popen([*CLI, str(path)], stdout=out, stderr=err, cwd=folder)
            timer = threading.Timer(CLI_TIMEOUT, proc.kill)
            timer.start()
            _, status, usage = os.wait4(proc.pid, 0)
            timer.cancel()
            elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        crashed = None
        if proc.returncode not in (0, 1):
            crashed = f"exit {proc.returncode}: {(folder / f'hostile_{i}.err').read_text()[-300:]}"
        else:
            try:
                data = json.loads(out_path.read_text())
                assert data["files"][0]["path"]
            except Exception as err:  # noqa: BLE001 - reported as a crash
                crashed = f"bad JSON: {err!r}"
        rss = usage.ru_maxrss / 1024
        report.outcomes.append(Outcome(family, elapsed, crashed, rss))
        report.peak_rss_mb = max(report.peak_rss_mb, rss)
        for suffix in (".py", ".json", ".err"):
            (folder / f"hostile_{i}{suffix}").unlink()
    return report


# --------------------------------------------------------------------------- the language server
def memory_mb(pid: int) -> tuple[float, float]:
    """The process's resident memory now and at its peak (``VmRSS``, ``VmHWM``), in MB."""
    now = peak = 0.0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                now = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    except OSError:
        pass
    return now, peak


async def run_server(buffers: list[tuple[str, str]], folder: Path) -> Report:
    report = Report()
    client = LanguageClient("fuzz", "1")
    landed: dict[str, float] = {}
    errors: list[str] = []

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: types.PublishDiagnosticsParams) -> None:
        landed.setdefault(params.uri, time.perf_counter())

    @client.feature(types.WINDOW_LOG_MESSAGE)
    def on_log(params: types.LogMessageParams) -> None:
        if params.type == types.MessageType.Error:
            errors.append(params.message)

    @client.feature(types.WORKSPACE_CONFIGURATION)
    def on_configuration(params: types.ConfigurationParams):
        return [{"verify": {"enabled": False}} for _ in params.items]

    for method in (types.WORKSPACE_INLAY_HINT_REFRESH, types.WORKSPACE_CODE_LENS_REFRESH):
        client.feature(method)(lambda params: None)

    await client.start_io(*SERVER, cwd=str(folder))
    pid = client._server.pid  # the server process, for its memory
    await client.initialize_async(types.InitializeParams(
        capabilities=types.ClientCapabilities(
            workspace=types.WorkspaceClientCapabilities(configuration=True),
            text_document=types.TextDocumentClientCapabilities(
                inlay_hint=types.InlayHintClientCapabilities(),
                publish_diagnostics=types.PublishDiagnosticsClientCapabilities(version_support=True))),
        root_uri=folder.as_uri(),
        initialization_options={"cnnshape": {"verify": {"enabled": False}}}))
    client.initialized(types.InitializedParams())
    try:
        for i, (family, text) in enumerate(buffers):
            report.outcomes.append(await _one_buffer(client, folder / f"hostile_{i}.py", family, text, landed,
                                                     errors, pid))
            report.peak_rss_mb = max(report.peak_rss_mb, memory_mb(pid)[1])
            if client._server.returncode is not None:
                report.outcomes[-1].crashed = f"server exited {client._server.returncode}"
                break
    finally:
        if client._server.returncode is None:
            await asyncio.wait_for(client.shutdown_async(None), 30)
            client.exit(None)
        await client.stop()
    return report


async def _one_buffer(client: LanguageClient, path: Path, family: str, text: str, landed: dict[str, float],
                      errors: list[str], pid: int) -> Outcome:
    uri = path.as_uri()
    lines = text.count("\n") + 1
    whole = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=lines, character=0))
    doc = types.TextDocumentIdentifier(uri=uri)
    seen_errors = len(errors)
    start = time.perf_counter()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))
    slowest, crashed, which = 0.0, None, "diagnostics"
    while uri not in landed and time.perf_counter() - start < 60:
        await asyncio.sleep(0.005)
    if uri not in landed:
        crashed = "no diagnostics within 60 s"
        slowest = 60.0
    else:
        slowest = landed[uri] - start
    requests = {
        "hover": lambda: client.text_document_hover_async(types.HoverParams(
            text_document=doc, position=types.Position(line=min(lines - 1, 8), character=12))),
        "inlay hints": lambda: client.text_document_inlay_hint_async(types.InlayHintParams(text_document=doc,
                                                                                           range=whole)),
        "code actions": lambda: client.text_document_code_action_async(types.CodeActionParams(
            text_document=doc, range=whole, context=types.CodeActionContext(diagnostics=[]))),
        "code lenses": lambda: client.text_document_code_lens_async(types.CodeLensParams(text_document=doc)),
    }
    for name, request in requests.items():
        sent = time.perf_counter()
        try:
            await asyncio.wait_for(request(), 60)
        except Exception as err:  # noqa: BLE001 - an error answer or no answer is a crash here
            crashed = crashed or f"request failed: {err!r}"[:300]
        took = time.perf_counter() - sent
        if took > slowest:
            slowest, which = took, name
    client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=doc))
    if len(errors) > seen_errors:
        crashed = crashed or f"server logged an error: {errors[seen_errors][-300:]}"
    return Outcome(family, slowest, crashed, memory_mb(pid)[0], which)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", choices=("cli", "server"))
    args = parser.parse_args()
    buffers = hostile_buffers(args.count, args.seed)
    print(f"{len(buffers)} buffers, {sum(len(t) for _, t in buffers) / 1e6:.1f} MB of text, seed {args.seed}")
    ok = True
    with tempfile.TemporaryDirectory(prefix="cnnshape-fuzz-") as tmp:
        folder = Path(tmp)
        for name in ("cli", "server"):
            if args.only not in (None, name):
                continue
            start = time.perf_counter()
            if name == "cli":
                report = run_cli(buffers, folder)
            else:
                report = asyncio.run(run_server(buffers, folder))
            report.print(f"{name} ({time.perf_counter() - start:.0f} s)")
            limit_rss = name == "server"
            ok = ok and not report.crashes() and report.slowest() <= ANSWER_SECONDS \
                and (not limit_rss or report.peak_rss_mb < RSS_LIMIT_MB)
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
