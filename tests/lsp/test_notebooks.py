"""Notebook documents over LSP 3.17, with a real client over stdio: the seed corpus split over cells (the
input stated by a call in a later cell) gives, cell by cell with the cell's URI and positions, the
diagnostics, inlay hints, hovers, code lenses and quick fixes the same code gives as one ``.py`` file; an
edit in one cell analyzes the notebook again; the cells' diagnostics are cleared when it closes."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from conftest import SERVER
from helpers import apply_text_edits, diagnostics, inlay_hints, open_document, settled

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from notebook_corpus import Converted, corpus  # noqa: E402 - tests/ is on the path from here on

CASES = corpus()
IDS = [entry["id"] for entry, _ in CASES]


@pytest_lsp.fixture(config=SERVER)
async def client(lsp_client: LanguageClient, tmp_path):
    """VS Code's capabilities, with notebook document sync as VS Code announces it."""
    await start(lsp_client, tmp_path, pulls=False)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=SERVER)
async def pulling_client(lsp_client: LanguageClient, tmp_path):
    """The same, pulling diagnostics (as VS Code does for files, never for a notebook's cells)."""
    await start(lsp_client, tmp_path, pulls=True)
    yield
    await lsp_client.shutdown_session()


async def start(lsp_client: LanguageClient, tmp_path: Path, pulls: bool) -> None:
    capabilities = client_capabilities("visual_studio_code")
    if pulls:
        capabilities.text_document.diagnostic = types.DiagnosticClientCapabilities()
    capabilities.notebook_document = types.NotebookDocumentClientCapabilities(
        synchronization=types.NotebookDocumentSyncClientCapabilities(execution_summary_support=True))
    result = await lsp_client.initialize_session(types.InitializeParams(
        capabilities=capabilities, root_uri=tmp_path.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=tmp_path.as_uri(), name="ws")],
        initialization_options={"cnnshape": {"verify": {"enabled": False}}}))
    lsp_client.server_capabilities = result.capabilities
    lsp_client.encoding = str(result.capabilities.position_encoding or "utf-16")
    lsp_client.workspace_path = tmp_path
    lsp_client.profile = "visual_studio_code"


def cell_uri(notebook: Path, number: int) -> str:
    """As VS Code names a cell: its fragment base64, quoted (pygls keys documents unquoted)."""
    return f"vscode-notebook-cell:{notebook.as_posix()}#W{number}sZmlsZQ%3D%3D"


def open_notebook(client, name: str, converted: Converted) -> tuple[str, dict[int, str]]:
    """``notebookDocument/didOpen`` with every cell (markdown ones too); the notebook's URI and the code cells'
    URIs by cell number."""
    path = client.workspace_path / name
    cells, documents, uris = [], [], {}
    for number, cell in enumerate(converted.notebook.cells, start=1):
        uri = cell_uri(path, number)
        code = cell.cell_type == "code"
        cells.append(types.NotebookCell(kind=types.NotebookCellKind.Code if code else types.NotebookCellKind.Markup,
                                        document=uri))
        documents.append(types.TextDocumentItem(uri=uri, language_id="python" if code else "markdown", version=1,
                                                text=cell.source))
        if code:
            uris[number] = uri
    client.notebook_document_did_open(types.DidOpenNotebookDocumentParams(
        notebook_document=types.NotebookDocument(uri=path.as_uri(), notebook_type="jupyter-notebook", version=1,
                                                 cells=cells),
        cell_text_documents=documents))
    return path.as_uri(), uris


async def cell_diagnostics(client, uris: dict[int, str], version: int = 1) -> dict[int, list[types.Diagnostic]]:
    return {number: await diagnostics(client, uri, version) for number, uri in uris.items()}


def shifted(position: types.Position, converted: Converted) -> tuple[int, int, int]:
    """A script position as (cell, 0-based line in the cell, character)."""
    cell, line = converted.places[position.line + 1]
    return cell, line - 1, position.character


def test_the_server_announces_notebook_sync() -> None:
    from cnnshape_ls.server.notebooks import NOTEBOOK_SYNC

    [selector] = NOTEBOOK_SYNC.notebook_selector
    assert selector.notebook == "jupyter-notebook" and [c.language for c in selector.cells] == ["python"]


@pytest.mark.asyncio
async def test_announced_to_a_client_that_syncs_notebooks(client):
    sync = client.server_capabilities.notebook_document_sync
    assert sync is not None and sync.notebook_selector[0].notebook == "jupyter-notebook"


@pytest.mark.asyncio
@pytest.mark.parametrize(("entry", "converted"), CASES, ids=IDS)
async def test_each_cell_gets_what_the_script_gets(client, entry, converted):
    script_uri = open_document(client, f"{entry['id']}.py", converted.script)
    _, cells = open_notebook(client, f"{entry['id']}.ipynb", converted)
    script_diags = await diagnostics(client, script_uri, 1)
    by_cell = await cell_diagnostics(client, cells)

    def key(d: types.Diagnostic, where: tuple[int, int, int]) -> tuple:
        return where, d.range.end.character, d.code, d.severity, d.message

    assert sorted(key(d, (n, d.range.start.line, d.range.start.character)) for n, ds in by_cell.items() for d in ds) \
        == sorted(key(d, shifted(d.range.start, converted)) for d in script_diags)

    # pulled diagnostics of a cell are its pushed ones
    for number, uri in cells.items():
        report = await client.text_document_diagnostic_async(
            types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri)))
        assert [d.message for d in report.items] == [d.message for d in by_cell[number]]

    # inlay hints: the script's, each in its cell
    script_hints = await inlay_hints(client, script_uri)
    cell_hints = [((n, h.position.line, h.position.character), str(h.label))
                  for n, uri in cells.items() for h in await inlay_hints(client, uri)]
    assert sorted(cell_hints) == sorted((shifted(h.position, converted), str(h.label)) for h in script_hints)
    assert cell_hints, "hints in the notebook's cells"

    # hover on each hinted line: the script's hover
    for hint in script_hints[:6]:
        number, line, character = shifted(hint.position, converted)
        text = converted.cell_source(number).split("\n")[line]
        column = len(text) - len(text.lstrip()) + 1
        in_cell = await client.text_document_hover_async(types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=cells[number]),
            position=types.Position(line=line, character=column)))
        in_script = await client.text_document_hover_async(types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=script_uri),
            position=types.Position(line=hint.position.line, character=column)))
        assert (in_cell and in_cell.contents.value) == (in_script and in_script.contents.value)

    # code lenses: the script's, over the cell that defines the model
    script_lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=script_uri)))
    cell_lenses = [((n, lens.range.start.line, 0), lens.command.title) for n, uri in cells.items()
                   for lens in await client.text_document_code_lens_async(
                       types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))) or []]
    assert sorted(cell_lenses) == sorted((shifted(lens.range.start, converted)[:2] + (0,), lens.command.title)
                                         for lens in script_lenses or [])


async def quick_fixes(client, uri: str, diagnostic: types.Diagnostic) -> list[types.CodeAction]:
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=diagnostic.range,
        context=types.CodeActionContext(diagnostics=[diagnostic], only=[types.CodeActionKind.QuickFix])))
    return [a for a in actions or [] if a.kind == types.CodeActionKind.QuickFix]


FIXABLE = [(e, c) for e, c in CASES if e["expect_error"] and e["fix_line"] is not None]


@pytest.mark.asyncio
@pytest.mark.parametrize(("entry", "converted"), FIXABLE, ids=[e["id"] for e, _ in FIXABLE])
async def test_the_quick_fix_edits_the_cell_as_the_script(client, entry, converted):
    script_uri = open_document(client, f"{entry['id']}.py", converted.script)
    _, cells = open_notebook(client, f"{entry['id']}.ipynb", converted)
    [script_error] = [d for d in await diagnostics(client, script_uri, 1)
                      if d.severity == types.DiagnosticSeverity.Error]
    by_cell = await cell_diagnostics(client, cells)
    number, line, _ = shifted(script_error.range.start, converted)
    [cell_error] = [d for d in by_cell[number] if d.severity == types.DiagnosticSeverity.Error]
    assert cell_error.range.start.line == line
    [script_fix, *_] = await quick_fixes(client, script_uri, script_error)
    [cell_fix, *_] = await quick_fixes(client, cells[number], cell_error)
    assert cell_fix.title == script_fix.title and cell_fix.is_preferred
    assert list(cell_fix.edit.changes) == [cells[number]]  # the cell's URI, not the notebook's
    fixed_cell = apply_text_edits(converted.cell_source(number), cell_fix.edit.changes[cells[number]],
                                  client.encoding)
    fixed_script = apply_text_edits(converted.script, script_fix.edit.changes[script_uri], client.encoding)
    assert fixed_cell.split("\n")[line] == fixed_script.split("\n")[script_error.range.start.line]

    # fix-all from any cell: the script's fix-all, cell by cell
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=cells[min(cells)]),
        range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)),
        context=types.CodeActionContext(diagnostics=[], only=["source.fixAll.cnnshape"])))
    [fix_all] = [a for a in actions if a.kind == "source.fixAll.cnnshape"]
    assert set(fix_all.edit.changes) <= set(cells.values())
    for uri, edits in fix_all.edit.changes.items():
        n = next(k for k, v in cells.items() if v == uri)
        assert apply_text_edits(converted.cell_source(n), edits, client.encoding).split("\n")[line] == \
            fixed_script.split("\n")[script_error.range.start.line] or n != number


@pytest.mark.asyncio
async def test_an_edit_in_one_cell_analyzes_the_notebook_again(client):
    entry, converted = next((e, c) for e, c in CASES if e["id"] == "s09")
    notebook_uri, cells = open_notebook(client, "s09.ipynb", converted)
    number, line = converted.places[entry["fix_line"]]
    before = await cell_diagnostics(client, cells)
    assert any(d.severity == types.DiagnosticSeverity.Error for d in before[number])
    source = converted.cell_source(number).split("\n")
    source[line - 1] = source[line - 1].replace("5408", "3872")
    client.notebook_document_did_change(types.DidChangeNotebookDocumentParams(
        notebook_document=types.VersionedNotebookDocumentIdentifier(uri=notebook_uri, version=2),
        change=types.NotebookDocumentChangeEvent(cells=types.NotebookDocumentCellChanges(text_content=[
            types.NotebookDocumentCellContentChanges(
                document=types.VersionedTextDocumentIdentifier(uri=cells[number], version=2),
                changes=[types.TextDocumentContentChangeWholeDocument(text="\n".join(source))])]))))
    after = await diagnostics(client, cells[number], 2)
    assert not any(d.severity == types.DiagnosticSeverity.Error for d in after)



@pytest.mark.asyncio
async def test_a_new_call_cell_in_place_of_the_old_one_gives_the_input(client):
    """The structure changes (a cell removed, another put in its place): the input follows the new call."""
    entry, converted = next((e, c) for e, c in CASES if e["id"] == "s09")
    notebook_uri, cells = open_notebook(client, "s09.ipynb", converted)
    model_cell, _ = converted.places[entry["fix_line"]]
    call_cell, _ = converted.places[len(converted.script.split("\n"))]
    assert any(d.severity == types.DiagnosticSeverity.Error for d in await diagnostics(client, cells[model_cell], 1))
    new_uri = cell_uri(client.workspace_path / "s09.ipynb", 99)
    client.notebook_document_did_change(types.DidChangeNotebookDocumentParams(
        notebook_document=types.VersionedNotebookDocumentIdentifier(uri=notebook_uri, version=2),
        change=types.NotebookDocumentChangeEvent(cells=types.NotebookDocumentCellChanges(
            structure=types.NotebookDocumentCellChangeStructure(
                array=types.NotebookCellArrayChange(start=call_cell - 1, delete_count=1, cells=[
                    types.NotebookCell(kind=types.NotebookCellKind.Code, document=new_uri)]),
                did_open=[types.TextDocumentItem(uri=new_uri, language_id="python", version=1,
                                                 text="import torch\nmnist_model(torch.randn(8, 1, 32, 32))")],
                did_close=[types.TextDocumentIdentifier(uri=cells[call_cell])])))))
    await diagnostics(client, new_uri, 1)
    # 32x32 digits: (32 - 7) // 2 + 1 = 13, and 32 * 13 * 13 = 5408 is what the Linear takes
    assert not any(d.severity == types.DiagnosticSeverity.Error for d in await diagnostics(client, cells[model_cell]))
    hints = [str(h.label) for h in await inlay_hints(client, cells[model_cell])]
    assert "# out: (BS, 5408)" in hints and "# out: (BS, 32, 13, 13)" in hints


@pytest.mark.asyncio
async def test_closing_the_notebook_clears_its_cells(client):
    entry, converted = next((e, c) for e, c in CASES if e["id"] == "s09")
    notebook_uri, cells = open_notebook(client, "s09.ipynb", converted)
    number, _ = converted.places[entry["fix_line"]]
    assert await diagnostics(client, cells[number], 1)
    client.notebook_document_did_close(types.DidCloseNotebookDocumentParams(
        notebook_document=types.NotebookDocumentIdentifier(uri=notebook_uri),
        cell_text_documents=[types.TextDocumentIdentifier(uri=u) for u in cells.values()]))
    deadline = time.monotonic() + 10
    while client.diagnostics.get(cells[number]) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert list(client.diagnostics.get(cells[number])) == []


@pytest.mark.asyncio
async def test_a_file_beside_the_notebook_still_works(client):
    """A notebook open does not change what a file gets (its frame is the whole file)."""
    entry, converted = CASES[0]
    open_notebook(client, "nb.ipynb", converted)
    uri = open_document(client, "plain.py", converted.script)
    await settled(client, uri, 1)
    assert await inlay_hints(client, uri)


@pytest.mark.asyncio
async def test_cells_are_pushed_to_a_client_that_pulls(pulling_client):
    """VS Code pulls the diagnostics of documents in its tabs, and a notebook's cells are not: the server
    pushes them to the cells whatever the client pulls; a pull of a cell answers the same."""
    client = pulling_client
    entry, converted = next((e, c) for e, c in CASES if e["id"] == "s09")
    _, cells = open_notebook(client, "s09.ipynb", converted)
    number, line = converted.places[entry["fix_line"]]
    pushed = await diagnostics(client, cells[number], 1)  # waits for the push of the cell's version 1
    assert [d.range.start.line for d in pushed if d.severity == types.DiagnosticSeverity.Error] == [line - 1]
    report = await client.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=cells[number])))
    assert [d.message for d in report.items] == [d.message for d in pushed]
