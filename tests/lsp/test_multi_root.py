"""Two workspace folders, each with its own settings and modules, and a file outside both."""

from __future__ import annotations

import asyncio
import time

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from conftest import CLIENTS, SERVER
from helpers import diagnostics, inlay_hints

MODEL = "import torch.nn as nn\n\nnet = nn.Sequential(\n    nn.Conv2d(3, 8, 3),\n    nn.ReLU(),\n)\n"
USES_BLOCK = ("import torch.nn as nn\nfrom blocks import Block\n\n# in: (BS, 3, 12, 12)\n"
              "net = nn.Sequential(\n    Block(),\n    nn.Flatten(),\n)\n")


@pytest_lsp.fixture(params=CLIENTS, config=SERVER)
async def two_folders(lsp_client: LanguageClient, request, tmp_path):
    a, b, outside = tmp_path / "a", tmp_path / "b", tmp_path / "elsewhere"
    for folder in (a, b, outside):
        folder.mkdir()
    (a / "pyproject.toml").write_text('[tool.cnnshape]\ninput = "(BS, 3, 16, 16)"\n')
    (b / "pyproject.toml").write_text('[tool.cnnshape]\ninput = "(BS, 3, 20, 20)"\n')
    # the same module name in both folders: each file imports its own folder's
    (a / "blocks.py").write_text("import torch.nn as nn\n\n\ndef Block():\n    return nn.Conv2d(3, 4, 3)\n")
    (b / "blocks.py").write_text("import torch.nn as nn\n\n\ndef Block():\n    return nn.Conv2d(3, 6, 5)\n")
    params = types.InitializeParams(
        capabilities=client_capabilities(request.param),
        root_uri=a.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=a.as_uri(), name="a"),
                           types.WorkspaceFolder(uri=b.as_uri(), name="b")],
        initialization_options={"cnnshape": {"verify": {"enabled": False}}},
    )
    await lsp_client.initialize_session(params)
    lsp_client.profile = request.param
    lsp_client.folders = (a, b, outside)
    yield
    await lsp_client.shutdown_session()


def open_at(client, path, text: str) -> str:
    path.write_text(text)
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=path.as_uri(), language_id="python", version=1, text=text)))
    return path.as_uri()


async def labels(client, uri: str) -> dict[int, str]:
    await diagnostics(client, uri, 1)
    return {h.position.line: h.label for h in await inlay_hints(client, uri)}


@pytest.mark.asyncio
async def test_each_folder_reads_its_own_pyproject(two_folders):
    client = two_folders
    a, b, outside = client.folders
    in_a = open_at(client, a / "net.py", MODEL)
    in_b = open_at(client, b / "net.py", MODEL)
    alone = open_at(client, outside / "net.py", MODEL)
    assert (await labels(client, in_a))[3] == "# out: (BS, 8, 14, 14)"
    assert (await labels(client, in_b))[3] == "# out: (BS, 8, 18, 18)"
    assert (await labels(client, alone))[3] == "# out: (BS, 8, H - 2, W - 2)"  # no settings: symbols


@pytest.mark.asyncio
async def test_each_folder_imports_its_own_modules(two_folders):
    client = two_folders
    a, b, _ = client.folders
    in_a = open_at(client, a / "uses.py", USES_BLOCK)
    in_b = open_at(client, b / "uses.py", USES_BLOCK)
    assert (await labels(client, in_a))[5] == "# out: (BS, 4, 10, 10)"
    assert (await labels(client, in_b))[5] == "# out: (BS, 6, 8, 8)"


@pytest.mark.asyncio
async def test_workspace_configuration_per_folder(two_folders):
    client = two_folders
    a, b, _ = client.folders
    workspace = client_capabilities(client.profile).workspace
    assert workspace is not None and workspace.configuration  # both profiles answer it
    client.set_configuration({"batchName": "NA"}, section="cnnshape", scope_uri=a.as_uri())
    client.set_configuration({"batchName": "NB"}, section="cnnshape", scope_uri=b.as_uri())
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await asyncio.sleep(0.3)
    in_a = open_at(client, a / "net.py", MODEL)
    in_b = open_at(client, b / "net.py", MODEL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        got = ((await labels(client, in_a)).get(3), (await labels(client, in_b)).get(3))
        if got == ("# out: (NA, 8, 14, 14)", "# out: (NB, 8, 18, 18)"):
            break
        await asyncio.sleep(0.1)
    assert got == ("# out: (NA, 8, 14, 14)", "# out: (NB, 8, 18, 18)")
