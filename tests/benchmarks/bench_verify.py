"""Torch verification as an editor feels it, against building the model on the CPU and summarising it.

    python tests/benchmarks/bench_verify.py [--edits 10] [--repeats 3] [--debounce-edits 3]

One run, for a LeNet and a VGG-16 (224 x 224), both in tests/benchmarks/models/:

- over LSP, a real client over stdio and a warm worker: open the file, wait for the first verified result
  (a hint ending in " ✓"), then edit a layer width back and forth and time each edit until the hints of that
  version carry torch's ✓ with the new shape. ``cnnshape.verify.delayMs`` is 0 so the
  figure is the work, not the wait; a few edits with the default debounce (500 ms) are timed separately;
- the worker alone (WorkerClient.verify of the same slice: build on the meta device and one forward);
- ``torchinfo.summary`` on the CPU, as one would check shapes without cnnshape: build the model (real weights)
  and run the same input through it, in a fresh process; its per-layer output shapes are compared with the
  shapes the worker verified;
- the worker's memory: VmRSS (and PSS) of its processes, found under the server in /proc.

Target (from the issue): verified results at least 50x faster than the runtime summary, with the same shapes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODELS_DIR = Path(__file__).resolve().parent / "models"
sys.path.insert(0, str(ROOT))

TARGET_RATIO = 50.0
DEFAULT_DELAY_MS = 500
NO_DELAY_MS = 0


@dataclass
class Case:
    label: str
    file: str
    cls: str
    input: tuple[int, ...]
    width: str
    """A layer width the edits change (everywhere it occurs, so the model stays valid) ..."""
    other: str
    """... to this, and back."""
    hint: str
    """How a hint shows a layer of that width (``(BS, {})``)."""

    @property
    def path(self) -> Path:
        return MODELS_DIR / self.file

    def text(self, edited: bool) -> str:
        text = self.path.read_text()
        return text.replace(self.width, self.other) if edited else text

    def expect(self, edited: bool) -> str:
        return self.hint.format(self.other if edited else self.width)


CASES = [
    Case("LeNet", "lenet.py", "LeNet", (2, 3, 32, 32), "120", "121", "(BS, {})"),
    Case("VGG-16", "vgg16.py", "VGG16", (2, 3, 224, 224), "4096", "4095", "(BS, {})"),
]


@dataclass
class Figures:
    first: float = 0.0
    static: list[float] = field(default_factory=list)
    verified: list[float] = field(default_factory=list)
    debounced: list[float] = field(default_factory=list)
    worker: list[float] = field(default_factory=list)
    calls: list = field(default_factory=list)
    params: int = 0
    torchinfo: dict = field(default_factory=dict)


def p50(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))] if ordered else float("nan")


# ---------------------------------------------------------------------------------------------- /proc
def proc_status(pid: int) -> dict[str, str]:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def kb(status: dict[str, str], key: str) -> int:
    value = status.get(key, "0 kB").split()
    return int(value[0]) if value else 0


def pss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def worker_processes() -> list[dict]:
    """The verification worker's processes under this one (benchmark -> server -> worker -> serving)."""
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "verify/worker.py" not in cmdline:
            continue
        chain, ancestor = [], pid
        for _ in range(5):
            ancestor = int(proc_status(ancestor).get("PPid", "0").strip() or 0)
            chain.append(ancestor)
            if ancestor in (0, 1, me):
                break
        if me not in chain:
            continue
        status = proc_status(pid)
        parent_cmd = Path(f"/proc/{chain[0]}/cmdline").read_bytes().decode(errors="replace")
        role = "serving (forked)" if "verify/worker.py" in parent_cmd else "worker (torch warm)"
        found.append({"pid": pid, "role": role, "rss": kb(status, "VmRSS"), "hwm": kb(status, "VmHWM"),
                      "pss": pss_kb(pid)})
    return sorted(found, key=lambda p: p["role"], reverse=True)


# ---------------------------------------------------------------------------------------------- over LSP
async def lsp_phase(cases: list[Case], edits: int, debounce_edits: int, figures: dict[str, Figures]) -> list[dict]:
    from lsprotocol import types
    from pygls.lsp.client import LanguageClient

    client = LanguageClient("bench-verify", "1")
    # delayMs 0: no debounce, to measure the work itself
    config = {"verify": {"enabled": True, "delayMs": NO_DELAY_MS, "timeoutSeconds": 120}}
    landed: dict[tuple[str, int], float] = {}
    refreshed = asyncio.Event()

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: types.PublishDiagnosticsParams) -> None:
        if params.version is not None:
            landed.setdefault((params.uri, params.version), time.perf_counter())

    @client.feature(types.WORKSPACE_INLAY_HINT_REFRESH)
    def on_refresh(params) -> None:
        refreshed.set()

    @client.feature(types.WINDOW_LOG_MESSAGE)
    def on_log(params: types.LogMessageParams) -> None:
        if params.type in (types.MessageType.Error, types.MessageType.Warning):
            print(f"server: {params.message}", file=sys.stderr)

    @client.feature(types.WINDOW_SHOW_MESSAGE)
    def on_message(params: types.ShowMessageParams) -> None:
        print(f"server: {params.message}", file=sys.stderr)

    @client.feature(types.WORKSPACE_CONFIGURATION)
    def on_configuration(params: types.ConfigurationParams):
        return [config for _ in params.items]

    await client.start_io(sys.executable, "-m", "cnnshape_ls")
    await client.initialize_async(types.InitializeParams(
        capabilities=types.ClientCapabilities(
            workspace=types.WorkspaceClientCapabilities(
                configuration=True, inlay_hint=types.InlayHintWorkspaceClientCapabilities(refresh_support=True)),
            text_document=types.TextDocumentClientCapabilities(
                inlay_hint=types.InlayHintClientCapabilities(),
                publish_diagnostics=types.PublishDiagnosticsClientCapabilities(version_support=True))),
        root_uri=MODELS_DIR.as_uri(),
        # the benchmark's own models: trusted, as an editor says it (only initializationOptions can)
        initialization_options={"cnnshape": {**config, "workspaceTrusted": True}}))
    client.initialized(types.InitializedParams())

    async def wait_verified(uri: str, version: int, expect: str, timeout: float = 300.0) -> float:
        """When the hints of ``version`` carry torch's ✓ on a layer shown as ``expect``."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            refreshed.clear()
            hints = await client.text_document_inlay_hint_async(types.InlayHintParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=types.Range(start=types.Position(line=0, character=0),
                                  end=types.Position(line=10_000, character=0))))
            now = time.perf_counter()
            for hint in hints or []:
                label = hint.label if isinstance(hint.label, str) else ""
                data = hint.data or {}
                if label.endswith(" ✓") and expect in label and data.get("version") == version:
                    return now
            try:
                await asyncio.wait_for(refreshed.wait(), 0.05)
            except asyncio.TimeoutError:
                pass
        raise TimeoutError(f"{uri} version {version} was never verified")

    versions: dict[str, int] = {}

    async def edit(case: Case, uri: str, edited: bool) -> tuple[float, float]:
        versions[uri] += 1
        version = versions[uri]
        sent = time.perf_counter()
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=case.text(edited))]))
        done = await wait_verified(uri, version, case.expect(edited))
        static = landed.get((uri, version), done) - sent
        return static, done - sent

    uris = {}
    for case in cases:
        uri = case.path.as_uri()
        uris[case.label] = uri
        versions[uri] = 1
        opened = time.perf_counter()
        client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
            uri=uri, language_id="python", version=1, text=case.text(False))))
        figures[case.label].first = await wait_verified(uri, 1, case.expect(False)) - opened
        for n in range(edits):
            await asyncio.sleep(0.2)
            static, verified = await edit(case, uri, edited=n % 2 == 0)
            figures[case.label].static.append(static)
            figures[case.label].verified.append(verified)
        if versions[uri] % 2 == 0:  # back to the file as written
            await asyncio.sleep(0.2)
            await edit(case, uri, edited=False)
    memory = worker_processes()

    # the default debounce, timed apart: the same edits, waiting delayMs of quiet first
    if debounce_edits:
        config["verify"]["delayMs"] = DEFAULT_DELAY_MS
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        await asyncio.sleep(2.0 + DEFAULT_DELAY_MS / 1000)
        for case in cases:
            uri = uris[case.label]
            for n in range(debounce_edits):
                await asyncio.sleep(0.2)
                _, verified = await edit(case, uri, edited=n % 2 == 0)
                figures[case.label].debounced.append(verified)

    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return memory


# ---------------------------------------------------------------------------------------------- worker alone
def worker_phase(cases: list[Case], repeats: int, figures: dict[str, Figures]) -> None:
    from cnnshape_ls.analysis import Options, analyze_source
    from cnnshape_ls.verify.client import WorkerClient
    from cnnshape_ls.verify.merge import plan

    client = WorkerClient()
    client.start()
    try:
        for case in cases:
            text = case.text(False)
            analysis = analyze_source(text, str(case.path), Options())
            model = next(m for m in analysis.models if m.name == case.cls)
            figures[case.label].params = model.params if isinstance(model.params, int) else 0
            job = plan(analysis, text)
            specs = [m for m in job.models if m["name"] == case.cls]
            assert specs and specs[0]["input"] == list(case.input), (specs, case.input)
            for _ in range(repeats + 1):
                start = time.perf_counter()
                answer = client.verify(job.source, str(case.path), specs, 120)
                figures[case.label].worker.append(time.perf_counter() - start)
            figures[case.label].worker.pop(0)  # the first run of a model pays its own first-time costs
            result = answer["models"][0]
            assert result["ok"], result
            figures[case.label].calls = [(path, list(shape)) for path, shape in result["calls"]]
    finally:
        client.shutdown()


# ---------------------------------------------------------------------------------------------- torchinfo
TORCHINFO = r'''
import importlib.util, json, resource, statistics, sys, time
import torch
import torchinfo

path, cls, shape, repeats = sys.argv[1], sys.argv[2], [int(v) for v in sys.argv[3].split(",")], int(sys.argv[4])
spec = importlib.util.spec_from_file_location("bench_model", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
builds, summaries = [], []
for _ in range(repeats + 1):
    start = time.perf_counter()
    model = getattr(module, cls)()
    built = time.perf_counter()
    stats = torchinfo.summary(model, input_size=tuple(shape), device="cpu", verbose=0)
    done = time.perf_counter()
    builds.append(built - start)
    summaries.append(done - built)
names = {}
for name, sub in model.named_modules(remove_duplicate=False):
    names.setdefault(id(sub), name)
layers = [[names.get(id(layer.module), layer.var_name), list(layer.output_size)]
          for layer in stats.summary_list if layer.is_leaf_layer and layer.depth > 0]
print(json.dumps({"build": builds[1:], "summary": summaries[1:], "first": builds[0] + summaries[0],
                  "layers": layers, "params": stats.total_params, "threads": torch.get_num_threads(),
                  "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
'''


def torchinfo_phase(cases: list[Case], repeats: int, figures: dict[str, Figures]) -> None:
    for case in cases:
        out = subprocess.run([sys.executable, "-c", TORCHINFO, str(case.path), case.cls,
                              ",".join(map(str, case.input)), str(repeats)],
                             capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise SystemExit(f"torchinfo failed on {case.file}:\n{out.stderr[-3000:]}")
        figures[case.label].torchinfo = json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------- report
def ms(value: float) -> str:
    return f"{value * 1000:,.1f} ms" if value < 10 else f"{value:,.2f} s"


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths)), line]
    out += ["  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
            for r in rows]
    return "\n".join(out)


def report(cases: list[Case], figures: dict[str, Figures], memory: list[dict], edits: int) -> bool:
    print()
    print(f"Torch verification vs torchinfo.summary on the CPU (python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, torch {__import__('torch').__version__})")
    print()
    rows, speedups = [], {}
    for case in cases:
        f = figures[case.label]
        info = f.torchinfo
        cpu = [b + s for b, s in zip(info["build"], info["summary"])]
        ratio = speedups[case.label] = p50(cpu) / p50(f.verified)
        rows.append([case.label, f"{f.params:,}", "x".join(map(str, case.input)), ms(p50(f.static)),
                     f"{ms(p50(f.verified))} / {ms(p90(f.verified))}", ms(p50(f.worker)),
                     f"{ms(p50(info['build']))} + {ms(p50(info['summary']))} = {ms(p50(cpu))}",
                     f"{ratio:,.1f}x" if ratio < 10 else f"{ratio:,.0f}x", "yes" if ratio >= TARGET_RATIO else "NO"])
    print(table(rows, ["model", "params", "input", "edit->static p50", "edit->verified ✓ p50 / p90",
                       "worker alone p50", "torchinfo: build + summary p50", "speed-up", f">= {TARGET_RATIO:.0f}x"]))
    threads = figures[cases[0].label].torchinfo["threads"]
    print(f"  (over LSP, warm worker, cnnshape.verify.delayMs = {NO_DELAY_MS}; {edits} edits per model; "
          f"torchinfo in a fresh process with torch's {threads} threads, median of warm runs)")
    print()
    rows = []
    for case in cases:
        f = figures[case.label]
        rows.append([case.label, ms(f.first), ms(p50(f.debounced)) if f.debounced else "-", f"{DEFAULT_DELAY_MS} ms",
                     ms(f.torchinfo["first"]), f"{f.torchinfo['peak_rss_kb'] / 1024:,.0f} MB"])
    print(table(rows, ["model", "open->first ✓", "edit->✓ with default debounce p50", "of which debounce",
                       "torchinfo first run", "torchinfo peak RSS"]))
    print()
    rows = []
    agree_all = True
    for case in cases:
        f = figures[case.label]
        verified = [(p, s) for p, s in f.calls]
        cpu = [(p, s) for p, s in f.torchinfo["layers"]]
        agree = verified == cpu
        agree_all &= agree
        first_diff = next((f"{a} vs {b}" for a, b in zip(verified, cpu) if a != b), "")
        rows.append([case.label, str(len(verified)), str(len(cpu)), "yes" if agree else f"NO {first_diff}",
                     f"{f.torchinfo['params']:,}", "yes" if f.torchinfo["params"] == f.params else "NO"])
    print(table(rows, ["model", "layers verified", "layers in torchinfo", "same output shapes, layer by layer",
                       "torchinfo params", "same params as static"]))
    print()
    rows = [[p["role"], str(p["pid"]), f"{p['rss'] / 1024:,.0f} MB", f"{p['hwm'] / 1024:,.0f} MB",
             f"{p['pss'] / 1024:,.0f} MB"] for p in memory]
    if rows:
        total = sum(p["pss"] for p in memory)
        rows.append(["total (PSS counts shared pages once)", "", "", "", f"{total / 1024:,.0f} MB"])
    print(table(rows, ["worker process", "pid", "VmRSS", "VmHWM", "PSS"]) if rows else "worker: not found in /proc")
    print()
    verdicts = ", ".join(f"{label} {ratio:,.1f}x ({'met' if ratio >= TARGET_RATIO else 'not met'})"
                         for label, ratio in speedups.items())
    print(f"target: verified >= {TARGET_RATIO:.0f}x faster than torchinfo on the CPU: {verdicts}; "
          f"same shapes layer by layer: {'yes' if agree_all else 'NO'}")
    return agree_all


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=10, help="timed edits per model with delayMs 0")
    parser.add_argument("--debounce-edits", type=int, default=3, help="timed edits per model with the default delay")
    parser.add_argument("--repeats", type=int, default=5, help="warm runs of the worker alone and of torchinfo")
    args = parser.parse_args()
    try:
        import torchinfo  # noqa: F401
    except ImportError as err:  # torchinfo itself, or numpy, which torchinfo imports without declaring it
        raise SystemExit(f"needs torchinfo and numpy ({err}): pip install -e '.[test]'")
    figures = {case.label: Figures() for case in CASES}
    memory = asyncio.run(lsp_phase(CASES, args.edits, args.debounce_edits, figures))
    worker_phase(CASES, args.repeats, figures)
    torchinfo_phase(CASES, args.repeats, figures)
    return 0 if report(CASES, figures, memory, args.edits) else 1


if __name__ == "__main__":
    raise SystemExit(main())
