"""Hostile code under torch verification, end to end over LSP.

Each case opens a model whose construction misbehaves: it never returns, exits after flooding stdout with
text that looks like protocol, segfaults, asks for 100 GB, imports a module that does not exist, or is a
training script whose loop and main block would write files. In every case, while the trouble happens,
hovers and inlay hints are answered within a second from the static snapshot; the trouble is reported as
information (source ``torch``); and after an edit that makes the model harmless, the next verification
succeeds (a hint gets its ✓), so the worker was restarted when it had died.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from lsprotocol import types

from helpers import change_document, diagnostics, inlay_hints, open_document, pulls

pytest.importorskip("torch")

ANSWER_WITHIN = 1.0
"""Seconds a hover or an inlay hint may take, whatever the worker is doing."""

GOOD = """import torch.nn as nn
{imports}

# in: (BS, 3, 8, 8)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
{trouble}
        self.conv = nn.Conv2d(3, 16, 3)
        self.fc = nn.Linear(16 * 6 * 6, 10)

    def forward(self, x):
        x = self.conv(x).flatten(1)
        return self.fc(x)
"""


def model(imports: str = "", trouble: str = "") -> str:
    """The model, with trouble (indented into ``__init__``) and its imports; without, it is harmless."""
    body = "\n".join("        " + line for line in trouble.strip("\n").split("\n")) if trouble else ""
    text = GOOD.format(imports=imports, trouble=body)
    return text.replace("\n\n\n\n", "\n\n\n").replace("super().__init__()\n\n", "super().__init__()\n")


def pid_marker(workdir: Path) -> str:
    """The first thing the hostile constructor does: write the worker's pid, so the test knows it started."""
    return f"open({str(workdir / 'started')!r}, 'w').write(str(__import__('os').getpid()))"


def parent_of(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))


def worker_pids() -> list[int]:
    """Live verification worker processes (the warm one and the one it forked to serve) under this test."""
    me = os.getpid()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "verify/worker.py" not in cmdline or gone(int(entry)):
            continue
        ancestor: int | None = int(entry)
        for _ in range(5):
            ancestor = parent_of(ancestor) if ancestor else None
            if ancestor == me:
                found.append(int(entry))
                break
    return found


def gone(pid: int, within: float = 0.0) -> bool:
    """``pid`` has exited (or is a zombie), now or ``within`` seconds."""
    deadline = time.monotonic() + within
    while not exited(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def exited(pid: int) -> bool:
    try:
        state = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                     if line.startswith("State:"))
    except (OSError, StopIteration):
        return True
    return "Z" in state.split()[1]


class Prober:
    """Hover and inlay-hint requests, each timed with time.monotonic()."""

    def __init__(self, client, uri: str) -> None:
        self.client, self.uri = client, uri
        self.hovers: list[float] = []
        self.hints: list[float] = []
        self.text = ""

    def position(self) -> types.Position:
        lines = self.text.split("\n")
        line = next(i for i, text in enumerate(lines) if "nn.Conv2d(" in text)
        return types.Position(line=line, character=lines[line].index("Conv2d") + 2)

    async def probe(self) -> list[types.InlayHint]:
        start = time.monotonic()
        await self.client.text_document_hover_async(types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=self.uri), position=self.position()))
        self.hovers.append(time.monotonic() - start)
        start = time.monotonic()
        hints = await inlay_hints(self.client, self.uri)
        self.hints.append(time.monotonic() - start)
        return hints

    def check(self) -> None:
        assert self.hovers and self.hints
        assert max(self.hovers) < ANSWER_WITHIN, f"a hover took {max(self.hovers):.2f} s"
        assert max(self.hints) < ANSWER_WITHIN, f"inlay hints took {max(self.hints):.2f} s"


async def current_diagnostics(client, uri: str, version: int) -> list[types.Diagnostic]:
    """The diagnostics of ``version`` as they stand now (pulled, or the last push for that version)."""
    if pulls(client):
        return await diagnostics(client, uri)
    if client.diagnostic_versions.get(uri) != version:
        return []
    return list(client.diagnostics.get(uri) or [])


async def until_torch_reports(prober: Prober, version: int, timeout: float = 30.0) -> list[types.Diagnostic]:
    """Probe until an information diagnostic from torch arrives for ``version``; return all of torch's."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await prober.probe()
        found = await current_diagnostics(prober.client, prober.uri, version)
        notes = [d for d in found if d.source == "torch" and d.severity == types.DiagnosticSeverity.Information]
        if notes:
            return [d for d in found if d.source == "torch"]
        await asyncio.sleep(0.05)
    raise TimeoutError(f"no information from torch for version {version}")


async def until_verified(prober: Prober, timeout: float = 30.0) -> dict[int, str]:
    """Probe until a hint carries torch's ✓; return the labels by line (0-based)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hints = await prober.probe()
        if any(h.label.endswith(" ✓") for h in hints):
            return {h.position.line: h.label for h in hints}
        await asyncio.sleep(0.05)
    raise TimeoutError("no hint was verified by torch")


async def wait_for_file(path: Path, prober: Prober, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text():
        assert time.monotonic() < deadline, f"{path.name} never appeared: the hostile code did not run"
        await prober.probe()
        await asyncio.sleep(0.02)


async def open_hostile(client, name: str, text: str) -> Prober:
    prober = Prober(client, "")
    prober.text = text
    prober.uri = open_document(client, name, text)
    return prober


async def fix_and_verify(prober: Prober, text: str, version: int = 2) -> dict[int, str]:
    """Make the model harmless; the next verification must succeed, without torch's trouble notes."""
    prober.text = text
    change_document(prober.client, prober.uri, text, version)
    labels = await until_verified(prober)
    conv_line = prober.position().line
    assert labels[conv_line] == "# out: (BS, 16, 6, 6) ✓"
    found = await current_diagnostics(prober.client, prober.uri, version)
    assert not [d for d in found if d.source == "torch"], [d.message for d in found]
    prober.check()
    return labels


def restarted(old_pid: int) -> None:
    """The worker that misbehaved is gone and a new one answers."""
    assert gone(old_pid, within=2.0), f"the old worker {old_pid} is still there"
    alive = worker_pids()
    assert alive and old_pid not in alive


# ---------------------------------------------------------------------------------------------- the cases
@pytest.mark.asyncio
async def test_constructor_that_never_returns(hostile_client):
    client = hostile_client
    marker = client.workspace_path / "started"
    prober = await open_hostile(client, "hang.py", model(trouble=f"{pid_marker(client.workspace_path)}\n"
                                                               "while True:\n    pass"))
    await wait_for_file(marker, prober)
    hung = int(marker.read_text())
    began = time.monotonic()
    found = await until_torch_reports(prober, 1)
    waited = time.monotonic() - began
    prober.check()
    assert len(prober.hovers) >= 10, "hovers and hints were not asked for while the model hung"
    note = next(d for d in found if d.code == "torch-verify")
    assert "stopped after 3 s" in note.message and "restarted" in note.message
    assert waited >= 2.0, f"the worker was given up on after {waited:.1f} s, before its 3 s timeout"
    assert waited < 8.0, f"the hang was reported only after {waited:.1f} s"
    assert gone(hung, within=2.0), "the hung worker was not killed"
    await fix_and_verify(prober, model())
    restarted(hung)


@pytest.mark.asyncio
async def test_exit_after_flooding_stdout_with_protocol(hostile_client):
    client = hostile_client
    flood = (
        "frame = 'Content-Length: 99\\r\\n\\r\\n{\"jsonrpc\": \"2.0\", \"id\": 1, \"result\": null}'\n"
        "line = '{\"id\": 1, \"result\": {\"models\": [], \"problems\": []}}\\n'\n"
        "for _ in range(2000):\n"
        "    print(frame)\n"
        "    sys.stdout.write(line)\n"
        "    sys.__stdout__.write(frame + line)\n"
        "    sys.stderr.write(frame + line)\n"
        "    os.write(1, (frame + line).encode())\n"
        "    os.write(2, (frame + line).encode())\n"
        "sys.stdout.flush()\n"
        "os._exit(3)"
    )
    marker = client.workspace_path / "started"
    prober = await open_hostile(client, "flood.py", model(imports="import os\nimport sys",
                                                          trouble=f"{pid_marker(client.workspace_path)}\n{flood}"))
    await wait_for_file(marker, prober)
    died = int(marker.read_text())
    found = await until_torch_reports(prober, 1)
    prober.check()
    note = next(d for d in found if d.code == "torch-verify")
    assert "exited with status 3" in note.message
    # the flood went nowhere: the server still talks LSP, and its hints are the static ones
    labels = {h.position.line: h.label for h in await prober.probe()}
    assert labels[prober.position().line] == "# out: (BS, 16, 6, 6)"
    await fix_and_verify(prober, model(imports="import os\nimport sys"))
    restarted(died)


@pytest.mark.asyncio
async def test_constructor_that_segfaults(hostile_client):
    client = hostile_client
    marker = client.workspace_path / "started"
    prober = await open_hostile(client, "segv.py", model(imports="import ctypes",
                                                         trouble=f"{pid_marker(client.workspace_path)}\n"
                                                                 "ctypes.string_at(0)"))
    await wait_for_file(marker, prober)
    died = int(marker.read_text())
    found = await until_torch_reports(prober, 1)
    prober.check()
    note = next(d for d in found if d.code == "torch-verify")
    assert "SIGSEGV" in note.message and "restarted" in note.message
    await fix_and_verify(prober, model(imports="import ctypes"))
    restarted(died)


@pytest.mark.asyncio
async def test_constructor_that_allocates_100_gb(hostile_client):
    client = hostile_client
    marker = client.workspace_path / "started"
    peak = client.workspace_path / "peak"
    # the process exits once it has answered: it says its own peak before it does
    trouble = (f"{pid_marker(client.workspace_path)}\n"
               "try:\n"
               "    self.buffer = bytearray(100 * 2**30)\n"
               "finally:\n"
               f"    open({str(peak)!r}, 'w').write(next(line.split()[1] for line in open('/proc/self/status')\n"
               "                                        if line.startswith('VmHWM:')))")
    prober = await open_hostile(client, "memory.py", model(trouble=trouble))
    await wait_for_file(marker, prober)
    began = time.monotonic()
    found = await until_torch_reports(prober, 1)
    assert time.monotonic() - began < 5.0, "the 100 GB allocation did not fail fast"
    prober.check()
    note = next(d for d in found if d.code == "torch-build")
    assert "MemoryError" in note.message and "Net" in note.message
    # the address-space cap refused it: nothing near 100 GB was ever resident in the worker
    peak_kb = int(peak.read_text())
    assert peak_kb < 4 * 2**20, f"the worker peaked at {peak_kb / 2**20:.1f} GB resident"
    await fix_and_verify(prober, model())
    assert worker_pids(), "no worker answers after the MemoryError"


@pytest.mark.asyncio
async def test_missing_module(hostile_client):
    client = hostile_client
    text = model(imports="import timm_that_does_not_exist",
                 trouble="self.stem = timm_that_does_not_exist.create_model('resnet18', pretrained=True)")
    prober = await open_hostile(client, "missing.py", text)
    found = await until_torch_reports(prober, 1)
    prober.check()
    imported = next(d for d in found if d.code == "torch-import")
    assert "No module named 'timm_that_does_not_exist'" in imported.message
    assert imported.range.start.line == 1  # on the import line
    assert imported.severity == types.DiagnosticSeverity.Information
    assert any(d.code == "torch-build" and "timm_that_does_not_exist" in d.message for d in found)
    await fix_and_verify(prober, model())


TRAINING = """import pathlib

import torch
import torch.nn as nn

WORKDIR = pathlib.Path({workdir!r})
DATA = open(WORKDIR / "assigned.txt", "w")
LOG = WORKDIR.joinpath("touched.txt").touch()


# in: (BS, 3, 8, 8)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, {width}, 3)
        self.fc = nn.Linear({width} * 6 * 6, 10)

    def forward(self, x):
        x = self.conv(x).flatten(1)
        return self.fc(x)


def save(name):
    open(WORKDIR / name, "w").write("saved")


model = Net()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
open(WORKDIR / "expression.txt", "w")
for epoch in range(3):
    open(WORKDIR / "loop.txt", "w").write(str(epoch))
    save("checkpoint.txt")

if __name__ == "__main__":
    open(WORKDIR / "main.txt", "w").write("main")
"""
WOULD_CREATE = ("assigned.txt", "touched.txt", "expression.txt", "loop.txt", "checkpoint.txt", "main.txt")


@pytest.mark.asyncio
async def test_training_script_runs_only_the_model(hostile_client):
    client = hostile_client
    workdir = client.workspace_path / "out"
    workdir.mkdir()
    text = TRAINING.format(workdir=str(workdir), width=16)
    prober = await open_hostile(client, "train.py", text)
    labels = await until_verified(prober)
    prober.check()
    assert labels[prober.position().line] == "# out: (BS, 16, 6, 6) ✓"
    found = await current_diagnostics(client, prober.uri, 1)
    assert not [d for d in found if d.source == "torch"], [d.message for d in found]
    assert sorted(os.listdir(workdir)) == [], "verification ran code the model does not need"
    # an edit: verified again, and still nothing but the model ran
    wider = TRAINING.format(workdir=str(workdir), width=32)
    prober.text = wider
    change_document(client, prober.uri, wider, 2)
    deadline = time.monotonic() + 30
    while True:
        labels = {h.position.line: h.label for h in await prober.probe()}
        if labels.get(prober.position().line) == "# out: (BS, 32, 6, 6) ✓":
            break
        assert time.monotonic() < deadline, labels
        await asyncio.sleep(0.05)
    prober.check()
    assert [name for name in WOULD_CREATE if (workdir / name).exists()] == []
    assert sorted(os.listdir(workdir)) == []


# ---------------------------------------------------------------------------------------------- only the model runs
AFTERWARDS = """import pathlib

import torch.nn as nn

SENTINEL = pathlib.Path({sentinel!r})


def run(what):
    SENTINEL.write_text(what)
    return 1


# in: (BS, 3, 8, 8)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3)
        self.fc = nn.Linear(16 * 6 * 6, 10)

    def forward(self, x):
        x = self.conv(x).flatten(1)
        return self.fc(x)


{after}
"""
NEVER_RUN = {
    "train": "def train(model):\n    run('train() ran')\n    return model\n\n\nmodel = Net()\nmodel = train(model)",
    "data": "def load_data():\n    run('the data loader ran')\n    return [1, 2]\n\n\nmodel = Net()\n"
            "trainset = load_data()\nmodel.num_samples = len(trainset)",
    "nn-attribute": "nn.x = run('nn.x = f() ran')",
    "registry": "registry = {}\nregistry[run('registry[f()] = 2 ran')] = 2\nmodel = Net()",
    "class-attribute-later": "model = Net()\nNet.x = run('Net.x = f() ran')",
}


@pytest.mark.asyncio
@pytest.mark.parametrize("case", list(NEVER_RUN))
async def test_nothing_done_to_the_model_afterwards_runs(hostile_client, case):
    """Issue 13: `model = train(model)`, `model.num_samples = len(load_data())`, `nn.x = f()`, `registry[f()] = 2`
    ran under verification. The model is verified from its own constructor call; none of them runs."""
    client = hostile_client
    sentinel = client.workspace_path / "sentinel"
    text = AFTERWARDS.format(sentinel=str(sentinel), after=NEVER_RUN[case])
    prober = await open_hostile(client, f"{case.replace('-', '_')}.py", text)
    labels = await until_verified(prober)
    prober.check()
    assert labels[prober.position().line] == "# out: (BS, 16, 6, 6) ✓"
    found = await current_diagnostics(client, prober.uri, 1)
    assert not [d for d in found if d.source == "torch"], [d.message for d in found]
    assert not sentinel.exists(), sentinel.read_text()


@pytest.mark.asyncio
async def test_a_model_that_needs_a_change_run_is_skipped_saying_which(hostile_client):
    """`Net.x = f()` for a class the file never builds: building it as the file would means running f(); the
    model is skipped with a note naming that line, and f() never runs."""
    client = hostile_client
    sentinel = client.workspace_path / "sentinel"
    text = AFTERWARDS.format(sentinel=str(sentinel), after="Net.x = run('Net.x = f() ran')")
    prober = await open_hostile(client, "changed.py", text)
    found = await until_torch_reports(prober, 1)
    prober.check()
    line = text.split("\n").index("Net.x = run('Net.x = f() ran')") + 1
    note = next(d for d in found if d.code == "torch-skipped")
    assert note.message == (f"torch verification skipped Net: building it as the file does would run line {line} "
                            "(`Net.x = run('Net.x = f() ran')`), which changes Net after it is made; "
                            "verification never runs that")
    assert not sentinel.exists(), sentinel.read_text()


@pytest.mark.asyncio
async def test_a_model_bound_in_the_file_is_built_on_the_meta_device(hostile_client):
    """`model = Net()` in the file: a Linear(50000, 50000) (10 GB on the CPU, over the worker's cap) verifies."""
    client = hostile_client
    text = model().replace("nn.Linear(16 * 6 * 6, 10)", "nn.Linear(16 * 6 * 6, 50000)") + "\n\nmodel = Net()\n"
    text = text.replace("        return self.fc(x)\n", "        return self.big(self.fc(x))\n").replace(
        "        self.fc = nn.Linear(16 * 6 * 6, 50000)\n",
        "        self.fc = nn.Linear(16 * 6 * 6, 50000)\n        self.big = nn.Linear(50000, 50000)\n")
    prober = await open_hostile(client, "big.py", text)
    labels = await until_verified(prober)
    prober.check()
    assert labels[prober.position().line] == "# out: (BS, 16, 6, 6) ✓"
    found = await current_diagnostics(client, prober.uri, 1)
    assert not [d for d in found if d.source == "torch"], [d.message for d in found]
