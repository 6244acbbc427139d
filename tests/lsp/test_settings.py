"""Settings from pyproject.toml, initializationOptions and workspace/configuration; untitled buffers; TCP."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lsprotocol import types

from helpers import diagnostics, inlay_hints, open_document

MODEL = "import torch.nn as nn\n\nnet = nn.Sequential(\n    nn.Conv2d(3, 8, 3),\n    nn.ReLU(),\n)\n"


@pytest.mark.asyncio
async def test_input_from_pyproject(client):
    (client.workspace_path / "pyproject.toml").write_text('[tool.cnnshape]\ninput = "(BS, 3, 16, 16)"\n')
    uri = open_document(client, "net.py", MODEL)
    await diagnostics(client, uri, 1)
    labels = {h.position.line: h.label for h in await inlay_hints(client, uri)}
    assert labels[3] == "# out: (BS, 8, 14, 14)"


@pytest.mark.asyncio
async def test_workspace_configuration_is_read_and_reread(client):
    client.set_configuration({"input": "(BS, 3, 10, 10)", "hints": {"style": "arrow"}, "batchName": "N"},
                             section="cnnshape")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await asyncio.sleep(0.3)
    uri = open_document(client, "net.py", MODEL)
    await diagnostics(client, uri, 1)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        labels = {h.position.line: h.label for h in await inlay_hints(client, uri)}
        if labels.get(3) == "→ (N, 8, 8, 8)":
            break
        await asyncio.sleep(0.1)
    assert labels[3] == "→ (N, 8, 8, 8)"


@pytest.mark.asyncio
async def test_a_bad_setting_gets_one_message_and_the_default(client):
    client.set_configuration({"hints": {"style": "sparkly"}, "verify": {"timeoutSeconds": "soon"}},
                             section="cnnshape")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    await asyncio.sleep(0.3)
    uri = open_document(client, "net.py", "# in: (BS, 3, 8, 8)\n" + MODEL)
    await diagnostics(client, uri, 1)
    labels = {h.position.line: h.label for h in await inlay_hints(client, uri)}
    assert labels[4] == "# out: (BS, 8, 6, 6)"
    warnings = [m.message for m in client.log_messages if "cnnshape.hints.style" in m.message]
    assert len(warnings) == 1 and "sparkly" in warnings[0]
    assert not [m for m in client.log_messages if m.type == types.MessageType.Error]


@pytest.mark.asyncio
async def test_untitled_buffer(client):
    uri = "untitled:Untitled-1"
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri=uri, language_id="python", version=1, text="# in: (BS, 1, 28, 28)\n" + MODEL.replace("3, 8", "1, 8"))))
    await diagnostics(client, uri, 1)
    labels = {h.position.line: h.label for h in await inlay_hints(client, uri)}
    assert labels[4] == "# out: (BS, 8, 26, 26)"


def test_tcp_server_answers(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "cnnshape_ls.cli", "serve", "--tcp", f"127.0.0.1:{port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                connection = socket.create_connection(("127.0.0.1", port), timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        body = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}'
        connection.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        connection.settimeout(20)
        reply = b""
        while b"inlayHintProvider" not in reply:
            chunk = connection.recv(65536)
            assert chunk, "the server closed the connection"
            reply += chunk
        connection.close()
    finally:
        server.kill()
        server.wait()


# ---------------------------------------------------------------------- workspace trust
def test_false_wins_over_any_later_true():
    from cnnshape_ls.settings import settings_for

    said_false = {"cnnshape": {"workspaceTrusted": False}}
    settings = settings_for(None, said_false, {"workspaceTrusted": True})
    assert settings.workspace_trusted is False and not settings.trusted
    assert any("false wins" in p for p in settings.problems)
    assert settings_for(None, {"cnnshape": {"workspaceTrusted": True}}, {"workspaceTrusted": False}).trusted is False
    assert settings_for(None, {"cnnshape": {"workspaceTrusted": True}}).trusted


def test_only_initialization_options_grant_trust():
    """Per-folder settings may come from the repository (.dir-locals.el, .vscode/settings.json)."""
    from cnnshape_ls.settings import settings_for

    settings = settings_for(None, None, {"workspaceTrusted": True})
    assert not settings.trusted and any("only the editor's initializationOptions" in p for p in settings.problems)


def test_silence_is_not_trust(tmp_path):
    from cnnshape_ls.settings import settings_for

    settings = settings_for(tmp_path / "net.py")
    assert settings.workspace_trusted is None and not settings.trusted and settings.verify_enabled


def test_a_repository_cannot_trust_itself(tmp_path):
    from cnnshape_ls.settings import settings_for

    (tmp_path / "pyproject.toml").write_text("[tool.cnnshape]\nworkspaceTrusted = true\n")
    settings = settings_for(tmp_path / "net.py", stop=tmp_path)
    assert not settings.trusted and settings.workspace_trusted is None
    assert any("a repository cannot trust itself" in p for p in settings.problems)
    (tmp_path / "pyproject.toml").write_text("[tool.cnnshape]\nworkspaceTrusted = false\n")
    settings = settings_for(tmp_path / "net.py", {"cnnshape": {"workspaceTrusted": True}}, stop=tmp_path)
    assert settings.workspace_trusted is False  # it may take trust away


TRUST_MODEL = """import torch.nn as nn

WIDTH = int.from_bytes(b"\x16", "big")   # 22: code the static engine does not evaluate


# in: (BS, 3, 8, 8)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        open({sentinel!r}, "w").write("ran")
        self.conv = nn.Conv2d(3, WIDTH, 3)
        self.fc = nn.Linear(16 * 6 * 6, 10)

    def forward(self, x):
        return self.fc(self.conv(x).flatten(1))
"""


def trust_capabilities(configuration: bool) -> types.ClientCapabilities:
    """A plain client: pushed diagnostics, inlay hints, with or without ``workspace/configuration``."""
    return types.ClientCapabilities(
        workspace=types.WorkspaceClientCapabilities(configuration=configuration),
        window=types.WindowClientCapabilities(show_message=types.ShowMessageRequestClientCapabilities()))


async def start_plain(client, folder, options: dict | None, configuration: bool = True) -> None:
    client.workspace_path = folder
    client.profile = "plain"
    await client.initialize_session(types.InitializeParams(
        capabilities=trust_capabilities(configuration), root_uri=folder.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=folder.as_uri(), name="ws")],
        initialization_options=options))


def verify_worker_started(server_pid: int) -> bool:
    """Whether the server has started a torch worker (it does so before any verification, and at
    ``initialized`` when verification is on): a sign that does not wait for torch to import."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if b"verify/worker.py" not in (entry / "cmdline").read_bytes():
                continue
            parent = int(next(line.split()[1] for line in (entry / "status").read_text().splitlines()
                              if line.startswith("PPid:")))
        except (OSError, StopIteration, ValueError):
            continue
        if parent == server_pid:
            return True
    return False


async def torch_ran(client, uri: str, sentinel, quiet: float) -> bool:
    """Whether the model code ran (the sentinel file), torch reported or a torch worker was started, within
    ``quiet`` seconds."""
    deadline = time.monotonic() + quiet
    while time.monotonic() < deadline:
        if sentinel.exists() or any(d.source == "torch" for d in client.diagnostics.get(uri) or []):
            return True
        if verify_worker_started(client._server.pid):
            return True
        await asyncio.sleep(0.1)
    return False


VERIFY_FAST = {"enabled": True, "delayMs": 50, "timeoutSeconds": 10}
QUIET_SECONDS = 6.0
"""How long the untrusted cases wait for code that must not run (the trusted case runs in about 2 s)."""


@pytest.mark.asyncio
async def test_false_at_initialize_wins_over_configuration_saying_true(plain_client, tmp_path):
    pytest.importorskip("torch")
    client = plain_client
    client.set_configuration({"workspaceTrusted": True, "verify": VERIFY_FAST}, section="cnnshape")
    await start_plain(client, tmp_path, {"cnnshape": {"workspaceTrusted": False, "verify": VERIFY_FAST}})
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    sentinel = tmp_path / "pwned"
    uri = open_document(client, "net.py", TRUST_MODEL.format(sentinel=str(sentinel)))
    await diagnostics(client, uri, 1)
    assert not await torch_ran(client, uri, sentinel, QUIET_SECONDS)
    assert any("false wins" in m.message for m in client.log_messages)
    assert any("the editor says this workspace is not trusted" in m.message for m in client.log_messages)
    assert not client.messages  # the editor shows its own untrusted state: no popup from the server


@pytest.mark.asyncio
async def test_false_at_initialize_wins_over_a_pushed_true(plain_client, tmp_path):
    """A client without workspace/configuration pushes its settings in didChangeConfiguration."""
    pytest.importorskip("torch")
    client = plain_client
    await start_plain(client, tmp_path, {"cnnshape": {"workspaceTrusted": False, "verify": VERIFY_FAST}},
                      configuration=False)
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"cnnshape": {"workspaceTrusted": True, "verify": VERIFY_FAST}}))
    sentinel = tmp_path / "pwned"
    uri = open_document(client, "net.py", TRUST_MODEL.format(sentinel=str(sentinel)))
    await diagnostics(client, uri, 1)
    assert not await torch_ran(client, uri, sentinel, QUIET_SECONDS)


@pytest.mark.asyncio
async def test_a_silent_client_is_not_trusted_and_is_told_once(plain_client, tmp_path):
    pytest.importorskip("torch")
    client = plain_client
    (tmp_path / "pyproject.toml").write_text("[tool.cnnshape]\nworkspaceTrusted = true\n")  # cannot grant it
    await start_plain(client, tmp_path, {"cnnshape": {"verify": VERIFY_FAST}}, configuration=False)
    sentinel = tmp_path / "pwned"
    uri = open_document(client, "net.py", TRUST_MODEL.format(sentinel=str(sentinel)))
    second = open_document(client, "other.py", TRUST_MODEL.format(sentinel=str(sentinel)))
    await diagnostics(client, uri, 1)
    await diagnostics(client, second, 1)
    assert not await torch_ran(client, uri, sentinel, QUIET_SECONDS)
    notices = [m.message for m in client.messages if "not said this workspace is trusted" in m.message]
    assert len(notices) == 1, [m.message for m in client.messages]
    for how in ("workspaceTrusted", ":trust", "trusted-content", "Workspace Trust"):
        assert how in notices[0]
    assert any("a repository cannot trust itself" in m.message for m in client.log_messages)


@pytest.mark.asyncio
async def test_a_pushed_true_does_not_trust_a_silent_client(plain_client, tmp_path):
    pytest.importorskip("torch")
    client = plain_client
    await start_plain(client, tmp_path, {"cnnshape": {"verify": VERIFY_FAST}}, configuration=False)
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"cnnshape": {"workspaceTrusted": True, "verify": VERIFY_FAST}}))
    sentinel = tmp_path / "pwned"
    uri = open_document(client, "net.py", TRUST_MODEL.format(sentinel=str(sentinel)))
    await diagnostics(client, uri, 1)
    assert not await torch_ran(client, uri, sentinel, QUIET_SECONDS)


@pytest.mark.asyncio
async def test_trust_at_initialize_turns_verification_on(plain_client, tmp_path):
    """The control for the cases above: the same file, trusted, runs under torch."""
    pytest.importorskip("torch")
    client = plain_client
    await start_plain(client, tmp_path, {"cnnshape": {"workspaceTrusted": True, "verify": VERIFY_FAST}},
                      configuration=False)
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"cnnshape": {"verify": VERIFY_FAST}}))
    sentinel = tmp_path / "ran"
    uri = open_document(client, "net.py", TRUST_MODEL.format(sentinel=str(sentinel)))
    await diagnostics(client, uri, 1)
    assert await torch_ran(client, uri, sentinel, 60)
    assert not [m for m in client.messages if "not said this workspace is trusted" in m.message]
