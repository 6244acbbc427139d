"""JupyterLab with jupyterlab-lsp, in headless Chromium: the configuration docs/editors.md gives starts
cnnshape-ls, and the seed split over notebook cells (its input stated by a call in a later cell) shows the
error in the model's cell with torch's words. jupyterlab-lsp sends the notebook as one virtual document (its
cells joined), not as an LSP notebook document. JupyterLab and jupyterlab-lsp are installed from PyPI into a
virtual environment of their own in the editor cache (about 90 s the first time)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from editor_support import CACHE, HERE, ROOT, Session, Tools, kill_group, save_image

sys.path.insert(0, str(ROOT / "tests"))
from notebook_corpus import MANIFEST, convert  # noqa: E402

PACKAGES = ["jupyterlab==4.6.6", "jupyterlab-lsp==5.3.0"]
VENV = CACHE / "jupyterlab-venv"


def jupyter() -> Path:
    """The environment's ``jupyter``, installed once (a stamp names the packages)."""
    stamp = VENV / "cnnshape-packages.txt"
    if not stamp.is_file() or stamp.read_text() != " ".join(PACKAGES):
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True, timeout=120)
        done = subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", *PACKAGES], capture_output=True,
                              text=True, timeout=900)
        if done.returncode != 0:
            pytest.fail(f"pip could not install {PACKAGES}: {done.stderr[-2000:]}", pytrace=False)
        stamp.write_text(" ".join(PACKAGES))
    return VENV / "bin" / "jupyter"


def server_config() -> dict:
    """docs/editors.md's configuration, with this interpreter (and this checkout) as the server's."""
    return {"LanguageServerManager": {"autodetect": False, "language_servers": {"cnnshape-ls": {
        "version": 2, "argv": [sys.executable, "-m", "cnnshape_ls"], "languages": ["python"],
        "mime_types": ["text/python", "text/x-ipython"], "display_name": "cnnshape-ls",
        "env": {"PYTHONPATH": os.environ.get("PYTHONPATH", str(ROOT))},
        "workspace_configuration": {"cnnshape": {"verify": {"enabled": False}}}}}}}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_jupyterlab_lsp_shows_the_error_in_a_cell(editor_tools: Tools, session: Session, tmp_path: Path) -> None:
    lab = jupyter()
    entry = next(e for e in MANIFEST if e["id"] == "s01")
    converted = convert((ROOT / "tests" / "corpus" / entry["file"]).read_text(), entry)
    workspace, config_dir = tmp_path / "workspace", tmp_path / "jupyter-config"
    workspace.mkdir()
    config_dir.mkdir()
    nbformat.write(converted.notebook, str(workspace / "model.ipynb"))
    (config_dir / "jupyter_server_config.json").write_text(json.dumps(server_config(), indent=1))
    port = _free_port()
    log_path = tmp_path / "lab.log"
    with open(log_path, "w") as log:
        server = session.popen([str(lab), "lab", "--allow-root", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
                                "--IdentityProvider.token=", f"--ServerApp.root_dir={workspace}"],
                               env={**session.env, "JUPYTER_CONFIG_DIR": str(config_dir)},
                               stdout=log, stderr=subprocess.STDOUT, cwd=workspace)
    report_path, shot = tmp_path / "report.json", tmp_path / "jupyterlab-notebook.png"
    try:
        end = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/lsp/status", timeout=2) as answer:
                    status = json.loads(answer.read())
                break
            except OSError:
                assert time.monotonic() < end and server.poll() is None, log_path.read_text()[-3000:]
                time.sleep(0.5)
        assert "cnnshape-ls" in status["sessions"], status
        (tmp_path / "drive.json").write_text(json.dumps({
            "url": f"http://127.0.0.1:{port}/lab/tree/model.ipynb", "chromium": editor_tools.chromium,
            "report": str(report_path), "shot": str(shot)}))
        drive = session.run(["node", str(HERE / "jupyterlab_drive.js"), str(tmp_path / "drive.json")], timeout=300,
                            env={**session.env, "NODE_PATH": editor_tools.playwright_node_path}, cwd=tmp_path)
    finally:
        kill_group(server.pid)
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    assert drive.returncode == 0 and report.get("ok"), (
        f"the JupyterLab run failed: {report.get('errors')}\n{drive.stdout[-3000:]}\n"
        f"lab log:\n{log_path.read_text(errors='replace')[-3000:]}")
    assert report["errorText"] == "128"  # fc2's in_features, in the model's cell
    assert "('fc2', nn.Linear(128, 64))" in report["cellText"]
    assert "mat1 and mat2 shapes cannot be multiplied (BSx127 and 128x64)" in report["tooltip"]
    save_image(shot, "jupyterlab-notebook.png")
