"""Settings from pyproject.toml, initializationOptions and workspace/configuration; untitled buffers; TCP."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time

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
