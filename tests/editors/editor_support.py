"""Shared by the real-editor tests: the seed, its expected hints and fix, and process handling."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SEED = ROOT / "tests" / "corpus" / "s01_ordereddict_fc_mismatch.py"
IMAGES = ROOT / "docs" / "images"
CACHE = Path(os.environ.get("CNNSHAPE_E2E_CACHE", Path.home() / ".cache" / "cnnshape-e2e"))
INSTALL_TIMEOUT = 1500

# The seed: fc1 makes 127 features, fc2 (line 19) takes 128; the preferred fix makes it 127.
FIX_LINE = 19
BAD_LINE = "    ('fc2', nn.Linear(128, 64)),"
FIXED_LINE = "    ('fc2', nn.Linear(127, 64)),"
MESSAGE = "mat1 and mat2 shapes cannot be multiplied (BSx127 and 128x64)"
# Hints the server draws on the seed's layer lines that have no `# out:` comment yet.
EXPECTED_HINTS = {
    "('relu1'": "# out: (BS, 8, 30, 30)",
    "('flatten'": "# out: (BS, 576)",
    "('fc1'": "# out: (BS, 127)",
    "('fc2'": "# out: (BS, 64)",
    "('sigmoid'": "# out: (BS, 1)",
}



@dataclass
class Tools:
    nvim: str
    emacs: str
    tmux: str
    code_server: str
    chromium: str
    playwright_node_path: str
    install_seconds: float


# --------------------------------------------------------------------------------------------- processes

def tagged_pids(tag: str) -> list[int]:
    """Processes whose environment carries this test's tag (editors, their servers, anything they started)."""
    pids = []
    needle = f"CNNSHAPE_E2E_TAG={tag}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def kill_group(pid: int, timeout: float = 5.0) -> None:
    """SIGTERM then SIGKILL a whole process group (the editor, its extension host, its language server)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


@dataclass
class Session:
    """Environment for one editor run: a tag in the environment to find every process it started."""
    tag: str
    env: dict[str, str]
    groups: list[int]
    cleanups: list = field(default_factory=list)

    def popen(self, cmd: list[str], **kwargs) -> subprocess.Popen:
        proc = subprocess.Popen(cmd, env=self.env, start_new_session=True, **kwargs)
        self.groups.append(proc.pid)
        return proc

    def run(self, cmd: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
        """Run a command in its own process group; on a timeout the whole group is killed."""
        proc = self.popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc.pid)
            out, _ = proc.communicate()
            raise AssertionError(f"{Path(cmd[0]).name} timed out after {timeout} s; its output:\n{out}") from None
        return subprocess.CompletedProcess(cmd, proc.returncode, out, "")


def save_image(src: Path, name: str) -> None:
    """Copy a screenshot (or screen capture) into docs/images, where the README and docs/editors.md show it."""
    IMAGES.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, IMAGES / name)
