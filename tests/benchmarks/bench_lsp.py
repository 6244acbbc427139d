"""The language server as an editor feels it: a real client over stdio, a 2,000-line buffer.

    python tests/benchmarks/bench_lsp.py [--lines 2000] [--edits 40]

Measures, in one run: start to ``initialized`` (targets <= 0.5 s; torch is never imported
by the server), ``didChange`` to the diagnostics of that version (target p50 <= 50 ms), and
the inlay-hint round trip (target p50 <= 5 ms). ``didChange`` is measured twice: one-character
edits that type a digit into a kernel size and take it back, plus a line added now and then
(versions the server has seen before), and typing a comment into a model one character at a
time (every version new: that model is analyzed again each time).
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import statistics
import sys
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parents[2]
SERVER = [sys.executable, "-m", "cnnshape_ls"]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_analyze import make_buffer, model_sources  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def initialize_params() -> types.InitializeParams:
    return types.InitializeParams(
        capabilities=types.ClientCapabilities(
            workspace=types.WorkspaceClientCapabilities(configuration=True,
                                                         inlay_hint=types.InlayHintWorkspaceClientCapabilities(
                                                             refresh_support=True)),
            text_document=types.TextDocumentClientCapabilities(
                inlay_hint=types.InlayHintClientCapabilities(),
                publish_diagnostics=types.PublishDiagnosticsClientCapabilities(version_support=True))),
        root_uri=ROOT.as_uri())


async def start_times(count: int) -> list[float]:
    """Start to ``initialized`` of ``count`` fresh servers, one after the other."""
    times = []
    for _ in range(count):
        client = LanguageClient("bench", "1")
        client.feature(types.WORKSPACE_CONFIGURATION)(lambda params: [{} for _ in params.items])
        start = time.perf_counter()
        await client.start_io(*SERVER)
        await client.initialize_async(initialize_params())
        client.initialized(types.InitializedParams())
        times.append(time.perf_counter() - start)
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()
    return times


async def run(lines: int, edits: int) -> None:
    # As found (in this sandbox PYTHONDONTWRITEBYTECODE=1 keeps an editable checkout without bytecode),
    # then with the package's bytecode written, as ``pip install`` leaves it.
    as_found = await start_times(5)
    compileall.compile_dir(str(ROOT / "cnnshape_ls"), quiet=1)
    compiled = await start_times(5)

    text = make_buffer(lines, model_sources())
    uri = (ROOT / "bench_buffer.py").as_uri()
    client = LanguageClient("bench", "1")
    landed: dict[int, float] = {}

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diagnostics(params: types.PublishDiagnosticsParams) -> None:
        if params.version is not None:
            landed.setdefault(params.version, time.perf_counter())

    @client.feature(types.WORKSPACE_INLAY_HINT_REFRESH)
    def on_refresh(params) -> None:
        return None

    @client.feature(types.WORKSPACE_CONFIGURATION)
    def on_configuration(params: types.ConfigurationParams):
        return [{"verify": {"enabled": False}} for _ in params.items]

    start = time.perf_counter()
    await client.start_io(*SERVER)
    await client.initialize_async(initialize_params())
    client.initialized(types.InitializedParams())
    started = time.perf_counter() - start

    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))
    while 1 not in landed:
        await asyncio.sleep(0.001)

    source_lines = text.split("\n")
    middle = len(source_lines) // 2
    target = next(i for i in range(middle, len(source_lines)) if "nn.Conv2d(" in source_lines[i])
    async def send(change: types.TextDocumentContentChangePartial, version: int) -> float:
        """didChange, and the time until that version's diagnostics arrive."""
        sent = time.perf_counter()
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version), content_changes=[change]))
        while version not in landed:
            await asyncio.sleep(0.0005)
        elapsed = landed[version] - sent
        await asyncio.sleep(0.05)
        return elapsed

    latencies = []
    for n in range(edits):
        version = n + 2
        line = source_lines[target]
        if n % 10 == 9:  # now and then a new line, which moves every model below it
            change = types.TextDocumentContentChangePartial(
                range=types.Range(start=types.Position(line=target, character=0),
                                  end=types.Position(line=target, character=0)), text="\n")
            source_lines.insert(target, "")
            target += 1
        else:  # type a digit into a kernel size and take it back
            col = line.index("nn.Conv2d(") + len("nn.Conv2d(")
            new = "1" if n % 2 == 0 else ""
            old_len = 0 if n % 2 == 0 else 1
            change = types.TextDocumentContentChangePartial(
                range=types.Range(start=types.Position(line=target, character=col),
                                  end=types.Position(line=target, character=col + old_len)), text=new)
            source_lines[target] = line[:col] + new + line[col + old_len:]
        latencies.append(await send(change, version))

    typed = []
    comment = "  # try a larger kernel here"
    for n, char in enumerate(comment):  # every version is new text: the model is analyzed again
        version = edits + 2 + n
        line = source_lines[target]
        change = types.TextDocumentContentChangePartial(
            range=types.Range(start=types.Position(line=target, character=len(line)),
                              end=types.Position(line=target, character=len(line))), text=char)
        source_lines[target] = line + char
        typed.append(await send(change, version))

    async def hint_round_trips(first: int, last: int) -> list[float]:
        rounds = []
        for _ in range(50):
            sent = time.perf_counter()
            await client.text_document_inlay_hint_async(types.InlayHintParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=types.Range(start=types.Position(line=first, character=0),
                                  end=types.Position(line=last, character=0))))
            rounds.append(time.perf_counter() - sent)
        return rounds

    viewport = await hint_round_trips(target - 30, target + 30)  # what an editor asks for: the visible lines
    whole = await hint_round_trips(0, len(source_lines))
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()

    print(f"buffer: {len(text.splitlines())} lines")
    print(f"start to initialized:         {started * 1000:7.1f} ms   (target <= 500)")
    print(f"  median of 5 starts, as found: {statistics.median(as_found) * 1000:7.1f} ms;"
          f" with bytecode written (as after pip install): {statistics.median(compiled) * 1000:.1f} ms")
    print(f"didChange to diagnostics p50: {statistics.median(latencies) * 1000:7.1f} ms   (target <= 50)"
          f"   p90 {percentile(latencies, 0.9) * 1000:.1f} ms   max {max(latencies) * 1000:.1f} ms")
    print(f"typing a comment, every version new, p50: {statistics.median(typed) * 1000:5.1f} ms   (target <= 50)"
          f"   p90 {percentile(typed, 0.9) * 1000:.1f} ms   max {max(typed) * 1000:.1f} ms")
    print(f"inlay hints, 60 visible lines p50: {statistics.median(viewport) * 1000:6.1f} ms   (target <= 5)"
          f"   p90 {percentile(viewport, 0.9) * 1000:.1f} ms")
    print(f"inlay hints, whole file p50:  {statistics.median(whole) * 1000:7.1f} ms"
          f"   p90 {percentile(whole, 0.9) * 1000:.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--edits", type=int, default=40)
    args = parser.parse_args()
    asyncio.run(run(args.lines, args.edits))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
