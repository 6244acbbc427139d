"""Real editors, driven headlessly: VS Code (code-server in Chromium), Neovim 0.11 and Emacs 30 with eglot.

``install.sh`` installs the editors once per machine (cached under ~/.cache/cnnshape-e2e); a failed install
fails these tests with the reason, unless ``CNNSHAPE_SKIP_EDITORS=1`` is set, which skips them. Every editor
runs in a process group (or tmux server) of its own that is killed at the end, and each test checks that no
process it started (language servers included) is left running.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from editor_support import (
    BAD_LINE,
    CACHE,
    FIX_LINE,
    HERE,
    INSTALL_TIMEOUT,
    ROOT,
    SEED,
    Session,
    Tools,
    kill_group,
    tagged_pids,
)


def pytest_collection_modifyitems(items):
    for item in items:
        if Path(str(item.fspath)).resolve().parent == HERE:
            item.add_marker(pytest.mark.editors)


@pytest.fixture(scope="session")
def editor_tools() -> Tools:
    """Run tests/editors/install.sh once per session; its cache makes a second run take a second."""
    if os.environ.get("CNNSHAPE_SKIP_EDITORS") == "1":
        pytest.skip("CNNSHAPE_SKIP_EDITORS=1: the real-editor tests are skipped")
    CACHE.mkdir(parents=True, exist_ok=True)
    log_path = CACHE / "install.log"
    start = time.monotonic()
    try:
        with open(log_path, "w") as log:
            proc = subprocess.run(["bash", str(HERE / "install.sh")], stdout=subprocess.PIPE, stderr=log,
                                  stdin=subprocess.DEVNULL, text=True, timeout=INSTALL_TIMEOUT,
                                  start_new_session=True)
    except subprocess.TimeoutExpired:
        pytest.fail(f"tests/editors/install.sh did not finish in {INSTALL_TIMEOUT} s (log: {log_path}). "
                    "Set CNNSHAPE_SKIP_EDITORS=1 to skip the editor tests.", pytrace=False)
    elapsed = time.monotonic() - start
    if proc.returncode != 0 or "cnnshape-e2e: ready" not in proc.stdout:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-25:])
        pytest.fail(
            f"could not install the editors for the end-to-end tests: tests/editors/install.sh exited with "
            f"{proc.returncode} (is the machine offline, or is apt-get not allowed?). Its log, {log_path}, ends "
            f"with:\n{tail}\nSet CNNSHAPE_SKIP_EDITORS=1 to skip the editor tests.", pytrace=False)
    values = dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)
    (CACHE / "last-install-seconds").write_text(f"{elapsed:.1f}\n")
    return Tools(nvim=values["NVIM"], emacs=values["EMACS"], tmux=values["TMUX"], code_server=values["CODE_SERVER"],
                 chromium=values["CHROMIUM"], playwright_node_path=values["PLAYWRIGHT_NODE_PATH"],
                 install_seconds=elapsed)


@pytest.fixture(scope="session")
def pipx_server(editor_tools: Tools, tmp_path_factory) -> Path:
    """The server as docs/editors.md installs it for Neovim and Emacs, `pipx install .` from the clone, with
    pipx itself from PyPI in a fresh venv; its own folders (PIPX_HOME, PIPX_BIN_DIR) in the test's. Nothing of
    this checkout on the module path: the executable runs what pipx installed. Its path."""
    base = tmp_path_factory.mktemp("pipx")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_USER", "VIRTUAL_ENV")}
    env.update(PIPX_HOME=str(base / "home"), PIPX_BIN_DIR=str(base / "bin"), PIPX_MAN_DIR=str(base / "man"))
    steps = [[sys.executable, "-m", "venv", str(base / "venv")],
             [str(base / "venv" / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "pipx"],
             [str(base / "venv" / "bin" / "pipx"), "install", str(ROOT)]]
    for step in steps:
        proc = subprocess.run(step, capture_output=True, text=True, env=env, cwd=base, timeout=600,
                              stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            pytest.fail(f"{' '.join(step[-2:])} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}", pytrace=False)
    executable = base / "bin" / "cnnshape-ls"
    assert executable.is_file(), list((base / "bin").iterdir())
    return executable


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A folder with the seed model as model.py."""
    folder = tmp_path / "workspace"
    folder.mkdir()
    shutil.copyfile(SEED, folder / "model.py")
    assert (folder / "model.py").read_text().splitlines()[FIX_LINE - 1] == BAD_LINE
    return folder


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    """Isolated XDG folders and PATH with this interpreter first; at the end no process of the run is left."""
    tag = uuid.uuid4().hex
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NVIM", "VIM", "EMACS", "VSCODE", "TMUX"))}
    env.update({
        "CNNSHAPE_E2E_TAG": tag,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_STATE_HOME": str(home / "state"),
        "XDG_CACHE_HOME": str(home / "cache"),
        # short: Chromium's and Emacs' sockets live here, and a socket path is at most 107 bytes
        # (pytest's numbered temporary folders grow past that)
        "TMPDIR": tempfile.mkdtemp(prefix="cnnshape-e2e-"),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    for key in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME", "TMPDIR"):
        Path(env[key]).mkdir(parents=True, exist_ok=True)
    run = Session(tag=tag, env=env, groups=[])
    try:
        yield run
    finally:
        for cleanup in reversed(run.cleanups):
            cleanup()
        for pid in run.groups:
            kill_group(pid)
        shutil.rmtree(env["TMPDIR"], ignore_errors=True)
        leftovers = tagged_pids(tag)
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert not leftovers, f"processes of the editor run were still running at the end: {leftovers}"
