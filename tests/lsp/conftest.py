"""A real client over stdio, with the capabilities Neovim 0.11 and VS Code announce."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from pytest_lsp.client import make_test_lsp_client

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ["neovim@v0.11.0", "visual_studio_code"]


def make_client() -> LanguageClient:
    """The test client, also remembering each push's document version and answering refresh requests."""
    client = make_test_lsp_client()
    client.diagnostic_versions = {}
    features = client.protocol.fm.features

    def publish(params: types.PublishDiagnosticsParams) -> None:
        client.diagnostics[params.uri] = params.diagnostics
        client.diagnostic_versions[params.uri] = params.version

    features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = publish
    client.refreshes = []
    for method in (types.WORKSPACE_INLAY_HINT_REFRESH, types.WORKSPACE_CODE_LENS_REFRESH):
        features[method] = lambda params, m=method: client.refreshes.append(m)
    return client


SERVER = ClientServerConfig(server_command=[sys.executable, "-m", "cnnshape_ls"], client_factory=make_client)


async def start_session(lsp_client: LanguageClient, profile: str, folder, verify: dict,
                        trusted: bool | None = None) -> None:
    """Initialize as the client ``profile`` would, on one workspace folder, with these verify settings;
    ``trusted`` is what the editor says of the folder's trust (``None``: nothing, as a plain client)."""
    section: dict = {"verify": verify}
    if trusted is not None:
        section["workspaceTrusted"] = trusted
    params = types.InitializeParams(
        capabilities=client_capabilities(profile),
        root_uri=folder.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=folder.as_uri(), name="ws")],
        initialization_options={"cnnshape": section},
    )
    result = await lsp_client.initialize_session(params)
    lsp_client.encoding = str(result.capabilities.position_encoding or "utf-16")
    lsp_client.workspace_path = folder
    lsp_client.profile = profile


@pytest_lsp.fixture(params=CLIENTS, config=SERVER)
async def client(lsp_client: LanguageClient, request, tmp_path):
    """A client whose server does static analysis only."""
    await start_session(lsp_client, request.param, tmp_path, {"enabled": False})
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(params=CLIENTS, config=SERVER)
async def verifying_client(lsp_client: LanguageClient, request, tmp_path):
    """A client whose server verifies with torch, quickly after each edit."""
    await start_session(lsp_client, request.param, tmp_path, {"enabled": True, "delayMs": 50, "timeoutSeconds": 5},
                        trusted=True)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(params=CLIENTS, config=SERVER)
async def hostile_client(lsp_client: LanguageClient, request, tmp_path):
    """A verifying client with a short timeout: a model that hangs is given up on after 3 s."""
    await start_session(lsp_client, request.param, tmp_path, {"enabled": True, "delayMs": 50, "timeoutSeconds": 3},
                        trusted=True)
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=SERVER)
async def plain_client(lsp_client: LanguageClient):
    """A client not yet initialized: the test says what it announces and sends."""
    yield lsp_client
    await lsp_client.shutdown_session()
