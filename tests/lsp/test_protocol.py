"""The protocol's edges: every request answered, the right error codes, exit codes, no tracebacks.

Most cases talk raw JSON-RPC to a server process (so the messages can be malformed, and the exit code and
standard error can be read); the buffer cases use the test client of the other LSP tests.
"""

from __future__ import annotations

import asyncio
import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from lsprotocol import types

from helpers import diagnostics, inlay_hints

INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, SERVER_NOT_INITIALIZED = -32602, -32600, -32601, -32002
ANSWER_WITHIN = 10.0

BROKEN = """import torch.nn as nn

# in: (BS, 3, 32, 32)
net = nn.Sequential(
    nn.Conv2d(3, 8, 3),
    nn.Flatten(),
    nn.Linear(100, 10),
)
"""


class RawServer:
    """``python -m cnnshape_ls`` over pipes: frames written as given, every message read kept in order."""

    def __init__(self, cwd: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "cnnshape_ls"], cwd=cwd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.messages: queue.Queue[dict] = queue.Queue()
        self.seen: list[dict] = []
        self.stderr_chunks: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.stderr_chunks.extend(iter(lambda: self.proc.stderr.read1(4096), b"")),
                         daemon=True).start()

    def _read(self) -> None:
        stream = self.proc.stdout
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    return
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
                elif line in (b"\r\n", b"\n") and length is not None:
                    break
            self.messages.put(json.loads(stream.read(length)))

    def send(self, message: dict | bytes) -> None:
        body = message if isinstance(message, bytes) else json.dumps(message).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def answer(self, msg_id, timeout: float = ANSWER_WITHIN) -> dict:
        """The response to request ``msg_id`` (other messages are kept in ``seen``)."""
        for message in self.seen:
            if message.get("id") == msg_id and "method" not in message:
                return message
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                message = self.messages.get(timeout=0.1)
            except queue.Empty:
                continue
            self.seen.append(message)
            if message.get("id") == msg_id and "method" not in message:
                return message
        raise AssertionError(f"request {msg_id!r} was not answered within {timeout} s")

    def request(self, msg_id, method: str, params=None) -> dict:
        message = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return self.answer(msg_id)

    def notify(self, method: str, params=None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, **({"params": params} if params is not None else {})})

    def start(self, folder: Path, capabilities: dict | None = None) -> None:
        answer = self.request(0, "initialize", {
            "processId": None, "rootUri": folder.as_uri(), "capabilities": capabilities or {},
            "initializationOptions": {"cnnshape": {"verify": {"enabled": False}}}})
        assert "result" in answer, answer
        self.notify("initialized", {})

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                self.seen.append(self.messages.get(timeout=0.05))
            except queue.Empty:
                pass

    def exit_code(self, timeout: float = 10.0) -> int:
        return self.proc.wait(timeout=timeout)

    @property
    def stderr(self) -> str:
        return b"".join(self.stderr_chunks).decode(errors="replace")

    def log_errors(self) -> list[str]:
        return [m["params"]["message"] for m in self.seen
                if m.get("method") == "window/logMessage" and m["params"].get("type") == 1]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def raw(tmp_path):
    server = RawServer(tmp_path)
    yield server
    server.close()


def hover(uri: str, line: int = 0, character: int = 0) -> dict:
    return {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}


def test_invalid_params_get_an_invalid_params_error(raw, tmp_path):
    raw.start(tmp_path)
    uri = (tmp_path / "net.py").as_uri()
    for i, params in enumerate([{"textDocument": 5}, {"textDocument": {"uri": uri}}, [], "hover",
                                {"textDocument": {"uri": uri}, "position": {"line": "one", "character": 0}}]):
        answer = raw.request(10 + i, "textDocument/hover", params)
        assert answer.get("error", {}).get("code") == INVALID_PARAMS, (params, answer)
    answer = raw.request(20, "textDocument/inlayHint", {"textDocument": {"uri": uri}, "range": "all"})
    assert answer["error"]["code"] == INVALID_PARAMS
    assert raw.request(21, "textDocument/hover", hover(uri)) == {"id": 21, "jsonrpc": "2.0", "result": None}
    raw.request(22, "shutdown")
    raw.notify("exit")
    assert raw.exit_code() == 0
    assert "Traceback" not in raw.stderr and not raw.log_errors(), (raw.stderr, raw.log_errors())


def test_every_request_is_answered(raw, tmp_path):
    """Each method the server offers, with params from empty to absurd: an answer (result or error) each."""
    raw.start(tmp_path)
    (tmp_path / "net.py").write_text(BROKEN)
    uri = (tmp_path / "net.py").as_uri()
    whole = {"start": {"line": 0, "character": 0}, "end": {"line": 10**9, "character": 10**9}}
    far = {"line": 2**31 - 1, "character": 2**31 - 1}
    cases = [
        ("textDocument/hover", hover(uri, 2**31 - 1, 2**31 - 1)),
        ("textDocument/hover", {"textDocument": {"uri": "untitled:nothing"}, "position": far}),
        ("textDocument/inlayHint", {"textDocument": {"uri": uri}, "range": whole}),
        ("inlayHint/resolve", {"position": far, "label": "x", "data": {"uri": 5, "line": "x"}}),
        ("textDocument/codeAction", {"textDocument": {"uri": uri}, "range": whole,
                                     "context": {"diagnostics": [], "only": ["nonsense"]}}),
        ("textDocument/codeLens", {"textDocument": {"uri": "file:///no/such/file.py"}}),
        ("textDocument/diagnostic", {"textDocument": {"uri": "file:///no/such/file.py"}}),
        ("workspace/executeCommand", {"command": "cnnshape.showSummary", "arguments": [5, {"uri": []}]}),
        ("workspace/executeCommand", {"command": "cnnshape.annotate", "arguments": []}),
        ("workspace/executeCommand", {"command": "no.such.command"}),
        ("textDocument/definition", hover(uri)),
        ("cnnshape/unknown", {"anything": True}),
    ]
    for i, (method, params) in enumerate(cases):
        answer = raw.request(100 + i, method, params)
        assert "result" in answer or "error" in answer, (method, answer)
    assert raw.request(200, "cnnshape/unknown")["error"]["code"] == METHOD_NOT_FOUND
    assert raw.request(201, "textDocument/hover", hover(uri))["result"] is None  # still serving
    raw.request(202, "shutdown")
    raw.notify("exit")
    assert raw.exit_code() == 0


def test_requests_after_shutdown_get_invalid_request(raw, tmp_path):
    raw.start(tmp_path)
    uri = (tmp_path / "net.py").as_uri()
    assert raw.request(1, "shutdown") == {"id": 1, "jsonrpc": "2.0", "result": None}
    for msg_id, method, params in [(2, "textDocument/hover", hover(uri)), (3, "shutdown", None),
                                   (4, "textDocument/inlayHint", {"textDocument": {"uri": uri}, "range": {
                                       "start": {"line": 0, "character": 0}, "end": {"line": 9, "character": 0}}})]:
        answer = raw.request(msg_id, method, params)
        assert answer["error"]["code"] == INVALID_REQUEST, answer
    raw.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                                         "text": BROKEN}})
    raw.notify("exit")
    assert raw.exit_code() == 0
    assert not [m for m in raw.seen if m.get("method") == "textDocument/publishDiagnostics"]


def test_requests_before_initialize_get_server_not_initialized(raw, tmp_path):
    uri = (tmp_path / "net.py").as_uri()
    raw.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                                         "text": BROKEN}})
    for msg_id, method, params in [(1, "textDocument/diagnostic", {"textDocument": {"uri": uri}}),
                                   (2, "textDocument/hover", hover(uri)), (3, "shutdown", None)]:
        assert raw.request(msg_id, method, params)["error"]["code"] == SERVER_NOT_INITIALIZED
    raw.start(tmp_path)
    answer = raw.request(4, "textDocument/diagnostic", {"textDocument": {"uri": uri}})
    assert answer["result"]["items"] == []  # the didOpen before initialize did not count
    assert "Traceback" not in raw.stderr and not raw.log_errors(), (raw.stderr, raw.log_errors())


def test_exit_without_shutdown_exits_with_1(raw, tmp_path):
    raw.start(tmp_path)
    raw.request(1, "textDocument/hover", hover((tmp_path / "net.py").as_uri()))
    raw.notify("exit")
    assert raw.exit_code() == 1


def test_unopened_documents_are_answered_quietly_and_never_read(raw, tmp_path):
    """didChange of a document never opened, and pulls for it and for a missing file: quiet, empty answers."""
    raw.start(tmp_path)
    on_disk = tmp_path / "on_disk.py"
    on_disk.write_text(BROKEN)  # analyzing it would give a linear-in-features error
    uri = on_disk.as_uri()
    raw.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": 2},
        "contentChanges": [{"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
                            "text": "# edited\n"}]})
    raw.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 3},
                                          "contentChanges": [{"text": BROKEN}]})
    for msg_id, target in [(1, uri), (2, (tmp_path / "missing.py").as_uri()), (3, "untitled:Untitled-9")]:
        answer = raw.request(msg_id, "textDocument/diagnostic", {"textDocument": {"uri": target}})
        assert answer["result"] == {"kind": "full", "items": []}, answer
    raw.drain(1.0)
    assert not [m for m in raw.seen if m.get("method") == "textDocument/publishDiagnostics"], raw.seen
    assert on_disk.read_text() == BROKEN
    assert not raw.log_errors() and "Traceback" not in raw.stderr, (raw.log_errors(), raw.stderr)
    # the same document once opened is analyzed as usual: the quiet answers above were not from a broken server
    raw.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                                         "text": BROKEN}})
    answer = raw.request(4, "textDocument/diagnostic", {"textDocument": {"uri": uri}})
    assert [d["code"] for d in answer["result"]["items"]] == ["linear-in-features"]


# ---------------------------------------------------------------------- odd buffers
MODEL = """import torch.nn as nn

# in: (BS, 3, 32, 32)
net = nn.Sequential(
    nn.Conv2d(3, 8, 3),  # a comment
    nn.ReLU(),
)
"""


async def labels_of(client, name: str, text: str) -> dict[int, tuple[int, str]]:
    """Open ``text`` as a buffer (not written to disk: a lone surrogate cannot be) and read its hints."""
    uri = (client.workspace_path / name).as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))
    found = await diagnostics(client, uri, 1)
    assert not [d for d in found if d.code == "syntax-error"], [d.message for d in found]
    return {h.position.line: (h.position.character, h.label) for h in await inlay_hints(client, uri)}


@pytest.mark.asyncio
async def test_a_leading_bom_is_accepted(client):
    plain = await labels_of(client, "plain.py", MODEL)
    assert plain[4][1] == "# out: (BS, 8, 30, 30)"
    assert await labels_of(client, "bom.py", "\ufeff" + MODEL) == plain


@pytest.mark.asyncio
async def test_a_lone_surrogate_in_a_comment_keeps_the_hints(client):
    plain = await labels_of(client, "plain.py", MODEL)
    text = MODEL.replace("# a comment", "# a comment \ud83d cut in half")  # half of an emoji
    assert await labels_of(client, "surrogate.py", text) == plain


@pytest.mark.asyncio
async def test_a_buffer_with_a_bom_is_verified_too(verifying_client):
    """Torch runs the text the analysis parsed: the BOM costs the file neither its hints nor its ✓."""
    pytest.importorskip("torch")
    client = verifying_client
    uri = (client.workspace_path / "bom.py").as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri=uri, language_id="python", version=1, text="\ufeff" + MODEL)))
    deadline = time.monotonic() + 60
    labels: dict[int, str] = {}
    while time.monotonic() < deadline:
        labels = {h.position.line: h.label for h in await inlay_hints(client, uri)}
        if labels.get(4, "").endswith("✓"):
            break
        await asyncio.sleep(0.2)
    assert labels.get(4) == "# out: (BS, 8, 30, 30) ✓", labels


def test_a_cancel_of_an_answered_request_is_quiet(raw, tmp_path):
    """VS Code cancels the hints it asked for on every edit, often once the answer is on its way: allowed by
    the protocol, so nothing on stderr (editors show it in their server log), and the server goes on."""
    raw.start(tmp_path)
    uri = (tmp_path / "net.py").as_uri()
    raw.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                                         "text": BROKEN}})
    assert "result" in raw.request(1, "textDocument/hover", hover(uri, 4, 8))
    for msg_id in (1, "1", 99):  # answered; the same id as a string; never sent
        raw.notify("$/cancelRequest", {"id": msg_id})
    answer = raw.request(2, "textDocument/hover", hover(uri, 4, 8))
    assert "Conv2d" in answer["result"]["contents"]["value"], answer
    raw.request(3, "shutdown")
    raw.notify("exit")
    assert raw.exit_code() == 0
    assert "Cancel notification" not in raw.stderr and not raw.log_errors(), raw.stderr
