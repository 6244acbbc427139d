"""A notebook against the same program as one file, side by side: a real client over stdio.

    python tests/benchmarks/bench_notebook.py [--cells 60] [--edits 30] [--rounds 3]

The notebook has ``--cells`` code cells (the corpus and test models, renamed copies, split at their top-level
statements, with a markdown cell and an IPython line now and then); the file is the same code cells joined.
Measures, for each: open to the first diagnostics, an edit (a digit typed into a kernel size and taken back,
in a cell in the middle) to that version's diagnostics, and the inlay-hint round trip for the edited cell
(for the file: the same lines), in ``--rounds`` alternating rounds. Prints both and their ratio; nothing is
asserted (times depend on the machine).
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import re
import statistics
import sys
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parents[2]
SERVER = [sys.executable, "-m", "cnnshape_ls"]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_analyze import model_sources  # noqa: E402


def renamed(text: str, suffix: str) -> str:
    names = set(re.findall(r"^class (\w+)", text, re.M)) | set(re.findall(r"^(\w+) = ", text, re.M)) \
        | set(re.findall(r"^def (\w+)", text, re.M))
    for name in sorted(names, key=len, reverse=True):
        text = re.sub(rf"\b{name}\b", name + suffix, text)
    return text


def split_statements(text: str) -> list[str]:
    """A file's top-level statements (comments just above each go with it): the cells a notebook would have."""
    lines = text.split("\n")
    starts = []
    for stmt in ast.parse(text).body:
        first = min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", []))])
        while first > 1 and lines[first - 2].lstrip().startswith("#"):
            first -= 1
        starts.append(first if starts else 1)
    bounds = [*starts, len(lines) + 1]
    return ["\n".join(lines[bounds[i] - 1:bounds[i + 1] - 1]).rstrip("\n") for i in range(len(starts))]


def make_cells(count: int) -> list[str]:
    sources = model_sources()
    cells: list[str] = []
    copy = 0
    while len(cells) < count:
        cells.extend(split_statements(renamed(sources[copy % len(sources)], f"_{copy}")))
        copy += 1
    return cells[:count]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def initialize_params() -> types.InitializeParams:
    return types.InitializeParams(
        capabilities=types.ClientCapabilities(
            workspace=types.WorkspaceClientCapabilities(configuration=True),
            text_document=types.TextDocumentClientCapabilities(
                inlay_hint=types.InlayHintClientCapabilities(),
                publish_diagnostics=types.PublishDiagnosticsClientCapabilities(version_support=True)),
            notebook_document=types.NotebookDocumentClientCapabilities(
                synchronization=types.NotebookDocumentSyncClientCapabilities())),
        root_uri=ROOT.as_uri())


class Session:
    """One server, and when each (uri, version) of diagnostics arrived."""

    def __init__(self) -> None:
        self.client = LanguageClient("bench", "1")
        self.landed: dict[tuple[str, int], float] = {}

        @self.client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def on_diagnostics(params: types.PublishDiagnosticsParams) -> None:
            if params.version is not None:
                self.landed.setdefault((params.uri, params.version), time.perf_counter())

        @self.client.feature(types.WORKSPACE_CONFIGURATION)
        def on_configuration(params: types.ConfigurationParams):
            return [{"verify": {"enabled": False}} for _ in params.items]

    async def start(self) -> None:
        await self.client.start_io(*SERVER)
        await self.client.initialize_async(initialize_params())
        self.client.initialized(types.InitializedParams())

    async def until(self, uri: str, version: int, since: float) -> float:
        while (uri, version) not in self.landed:
            await asyncio.sleep(0.0005)
        return self.landed[(uri, version)] - since

    async def hints(self, uri: str, first: int, last: int, rounds: int = 30) -> list[float]:
        times = []
        for _ in range(rounds):
            sent = time.perf_counter()
            await self.client.text_document_inlay_hint_async(types.InlayHintParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=types.Range(start=types.Position(line=first, character=0),
                                  end=types.Position(line=last, character=0))))
            times.append(time.perf_counter() - sent)
        return times

    async def stop(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()


def digit_edit(text: str, n: int) -> tuple[types.TextDocumentContentChangePartial, str]:
    """Type a digit into the first kernel size of ``text`` (even ``n``) or take it back (odd ``n``)."""
    lines = text.split("\n")
    row = next(i for i, line in enumerate(lines) if "nn.Conv2d(" in line)
    col = lines[row].index("nn.Conv2d(") + len("nn.Conv2d(")
    new, old = ("1", 0) if n % 2 == 0 else ("", 1)
    change = types.TextDocumentContentChangePartial(
        range=types.Range(start=types.Position(line=row, character=col),
                          end=types.Position(line=row, character=col + old)), text=new)
    lines[row] = lines[row][:col] + new + lines[row][col + old:]
    return change, "\n".join(lines)


async def measure_file(cells: list[str], target: int, edits: int) -> dict[str, list[float]]:
    session = Session()
    await session.start()
    text = "\n".join(cells)
    uri = (ROOT / "bench_notebook_as_file.py").as_uri()
    offset = sum(len(c.split("\n")) for c in cells[:target])
    sent = time.perf_counter()
    session.client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))
    opened = [await session.until(uri, 1, sent)]
    cell = cells[target]
    latencies = []
    for n in range(edits):
        change, cell = digit_edit(cell, n)
        change.range.start.line += offset
        change.range.end.line += offset
        sent = time.perf_counter()
        session.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=n + 2), content_changes=[change]))
        latencies.append(await session.until(uri, n + 2, sent))
        await asyncio.sleep(0.05)
    hints = await session.hints(uri, offset, offset + len(cell.split("\n")))
    await session.stop()
    return {"open": opened, "edit": latencies, "hints": hints}


async def measure_notebook(cells: list[str], target: int, edits: int) -> dict[str, list[float]]:
    session = Session()
    await session.start()
    path = ROOT / "bench_notebook.ipynb"
    uris = [f"vscode-notebook-cell:{path.as_posix()}#C{i}" for i in range(len(cells))]
    notebook_cells, documents = [], []
    for uri, text in zip(uris, cells):
        notebook_cells.append(types.NotebookCell(kind=types.NotebookCellKind.Code, document=uri))
        documents.append(types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text))
    for i in range(0, len(cells), 10):  # markdown cells between, as notebooks have
        md = f"vscode-notebook-cell:{path.as_posix()}#M{i}"
        notebook_cells.insert(i + i // 10, types.NotebookCell(kind=types.NotebookCellKind.Markup, document=md))
        documents.append(types.TextDocumentItem(uri=md, language_id="markdown", version=1, text=f"## Part {i}"))
    # IPython lines at the end (masked, never a syntax error): the file has no such cell
    notebook_cells.append(types.NotebookCell(kind=types.NotebookCellKind.Code, document=uris[0] + "x"))
    documents.append(types.TextDocumentItem(uri=uris[0] + "x", language_id="python", version=1,
                                            text="%matplotlib inline\n!pip install torchinfo\nmodel?"))
    sent = time.perf_counter()
    session.client.notebook_document_did_open(types.DidOpenNotebookDocumentParams(
        notebook_document=types.NotebookDocument(uri=path.as_uri(), notebook_type="jupyter-notebook", version=1,
                                                 cells=notebook_cells),
        cell_text_documents=documents))
    opened = [await session.until(uris[target], 1, sent)]
    cell = cells[target]
    latencies = []
    for n in range(edits):
        change, cell = digit_edit(cell, n)
        sent = time.perf_counter()
        session.client.notebook_document_did_change(types.DidChangeNotebookDocumentParams(
            notebook_document=types.VersionedNotebookDocumentIdentifier(uri=path.as_uri(), version=n + 2),
            change=types.NotebookDocumentChangeEvent(cells=types.NotebookDocumentCellChanges(text_content=[
                types.NotebookDocumentCellContentChanges(
                    document=types.VersionedTextDocumentIdentifier(uri=uris[target], version=n + 2),
                    changes=[change])]))))
        latencies.append(await session.until(uris[target], n + 2, sent))
        await asyncio.sleep(0.05)
    hints = await session.hints(uris[target], 0, len(cell.split("\n")))
    await session.stop()
    return {"open": opened, "edit": latencies, "hints": hints}


async def run(count: int, edits: int, rounds: int) -> None:
    cells = make_cells(count)
    target = next(i for i in range(len(cells) // 2, len(cells)) if "nn.Conv2d(" in cells[i])
    as_file: dict[str, list[float]] = {}
    as_notebook: dict[str, list[float]] = {}
    for _ in range(rounds):  # alternating, so a busy moment of the machine falls on both
        for found, measure in ((as_file, measure_file), (as_notebook, measure_notebook)):
            for key, values in (await measure(cells, target, edits)).items():
                found.setdefault(key, []).extend(values)
    lines = sum(len(c.split("\n")) for c in cells)
    print(f"{len(cells)} code cells, {lines} lines; the edit is in cell {target + 1}; {rounds} rounds")
    print(f"{'':34} {'file':>10} {'notebook':>10} {'ratio':>7}")
    for name, key, stat in (("open to first diagnostics p50", "open", statistics.median),
                            ("edit to diagnostics p50", "edit", statistics.median),
                            ("edit to diagnostics p90", "edit", lambda v: percentile(v, 0.9)),
                            ("inlay hints of the cell p50", "hints", statistics.median)):
        a, b = stat(as_file[key]) * 1000, stat(as_notebook[key]) * 1000
        print(f"{name:34} {a:8.1f}ms {b:8.1f}ms {b / a:6.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=60)
    parser.add_argument("--edits", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(run(args.cells, args.edits, args.rounds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
