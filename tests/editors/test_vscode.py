"""VS Code: build the extension (esbuild), package a .vsix (vsce), install it into code-server 4.100.3 and
drive it in headless Chromium: the missing-package message, the hints, the squiggle, the hovers, the quick
fix, and the file fixed on disk. Screenshots go to docs/images/."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from editor_support import (
    EXPECTED_HINTS,
    FIX_LINE,
    FIXED_LINE,
    HERE,
    MESSAGE,
    ROOT,
    Session,
    Tools,
    kill_group,
    save_image,
)

EXTENSION = ROOT / "editors" / "vscode"
SCREENSHOTS = ["vscode-missing.png", "vscode-hints.png", "vscode-diagnostic.png", "vscode-hover.png",
               "vscode-quickfix.png"]


def _npm(args: list[str], timeout: float) -> str:
    proc = subprocess.run(["npm", *args], cwd=EXTENSION, capture_output=True, text=True, timeout=timeout,
                          env={**_clean_env(), "npm_config_update_notifier": "false", "npm_config_fund": "false",
                               "npm_config_audit": "false"})
    assert proc.returncode == 0, f"npm {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def _clean_env() -> dict[str, str]:
    import os
    return {k: v for k, v in os.environ.items() if not k.startswith("VSCODE")}


@pytest.fixture(scope="session")
def vsix(editor_tools: Tools, tmp_path_factory) -> Path:
    """npm ci (when the lock changed), type-check, bundle with esbuild, package with vsce."""
    if shutil.which("npm") is None:
        pytest.fail("npm is not on the PATH: the VS Code extension cannot be built", pytrace=False)
    lock = hashlib.sha256((EXTENSION / "package-lock.json").read_bytes()).hexdigest()
    stamp = EXTENSION / "node_modules" / ".cnnshape-lock-sha256"
    if not stamp.is_file() or stamp.read_text() != lock:
        _npm(["ci", "--loglevel=error"], timeout=600)
        stamp.write_text(lock)
    _npm(["run", "typecheck"], timeout=300)
    out_dir = tmp_path_factory.mktemp("vsix")
    version = json.loads((EXTENSION / "package.json").read_text())["version"]
    target = out_dir / f"cnnshape-ls-{version}.vsix"
    _npm(["exec", "--", "vsce", "package", "--no-dependencies", "--out", str(target)], timeout=300)
    return target


def test_extension_packages(vsix: Path) -> None:
    import zipfile
    assert vsix.is_file() and vsix.stat().st_size > 10_000
    names = {name.lower() for name in zipfile.ZipFile(vsix).namelist()}
    assert {"extension/package.json", "extension/dist/extension.js", "extension/readme.md"} <= names, names
    assert not any(n.startswith("extension/node_modules/") or n.startswith("extension/src/") for n in names)
    manifest = json.loads(zipfile.ZipFile(vsix).read("extension/package.json"))
    settings = manifest["contributes"]["configuration"]["properties"]
    for name in ("input", "batchName", "hints.enabled", "hints.style", "codeLens.enabled", "verify.enabled",
                 "verify.timeoutSeconds", "verify.delayMs", "verify.memoryMb", "python"):
        assert f"cnnshape.{name}" in settings and settings[f"cnnshape.{name}"].get("description", settings[
            f"cnnshape.{name}"].get("markdownDescription")), name
        assert "default" in settings[f"cnnshape.{name}"], name
    assert manifest["activationEvents"] == ["onLanguage:python"]
    assert manifest["capabilities"]["untrustedWorkspaces"]["supported"] == "limited"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"code-server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("code-server did not answer /healthz in time")


def test_vscode_end_to_end(editor_tools: Tools, vsix: Path, session: Session, workspace: Path,
                           tmp_path: Path) -> None:
    user_data, extensions = tmp_path / "cs-user-data", tmp_path / "cs-extensions"
    (user_data / "User").mkdir(parents=True)
    extensions.mkdir()
    installed = session.run([editor_tools.code_server, "--user-data-dir", str(user_data), "--extensions-dir",
                             str(extensions), "--install-extension", str(vsix)], timeout=120)
    assert installed.returncode == 0 and "successfully installed" in installed.stdout, installed.stdout

    # First an interpreter without cnnshape-ls (a bare venv); the driver then sets the project's Python.
    bare = tmp_path / "bare-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=60)
    settings_path = user_data / "User" / "settings.json"
    settings_path.write_text(json.dumps({
        "cnnshape.python": str(bare / "bin" / "python"),
        "workbench.startupEditor": "none",
        "workbench.tips.enabled": False,
        "workbench.enableExperiments": False,
        "extensions.autoCheckUpdates": False,
        "extensions.autoUpdate": False,
        "extensions.ignoreRecommendations": True,
        "telemetry.telemetryLevel": "off",
        "update.mode": "none",
        "chat.commandCenter.enabled": False,
        "editor.minimap.enabled": False,
        "files.autoSave": "off",
    }, indent=2))

    port = _free_port()
    log = open(tmp_path / "code-server.log", "w")
    server = session.popen([editor_tools.code_server, "--bind-addr", f"127.0.0.1:{port}", "--auth", "none",
                            "--user-data-dir", str(user_data), "--extensions-dir", str(extensions),
                            "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust",
                            "--disable-getting-started-override", str(workspace)],
                           stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    shots = tmp_path / "shots"
    report_path = tmp_path / "report.json"
    try:
        _wait_healthy(port, server)
        config = {
            "url": f"http://127.0.0.1:{port}/?folder={workspace}",
            "chromium": editor_tools.chromium,
            "file": "model.py",
            "filePath": str(workspace / "model.py"),
            "settingsPath": str(settings_path),
            "python": sys.executable,
            "missingPython": True,
            "fixLine": FIX_LINE,
            "fixColumn": 24,
            "fixTitle": "Change in_features to 127",
            "fixedText": FIXED_LINE.strip(),
            "shots": str(shots),
            "outdir": str(tmp_path),
            "report": str(report_path),
        }
        (tmp_path / "drive.json").write_text(json.dumps(config))
        env = {**session.env, "NODE_PATH": editor_tools.playwright_node_path}
        drive = subprocess.run(["node", str(HERE / "vscode_drive.js"), str(tmp_path / "drive.json")], env=env,
                               capture_output=True, text=True, timeout=300, start_new_session=True)
        print(drive.stdout[-6000:], drive.stderr[-3000:])
    finally:
        kill_group(server.pid)
        log.close()

    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    assert drive.returncode == 0 and report.get("ok"), (
        f"the VS Code run failed: {report.get('errors')}\nsteps: {report.get('steps')}\n"
        f"driver output:\n{drive.stdout[-4000:]}\n{drive.stderr[-2000:]}\n"
        f"code-server log:\n{(tmp_path / 'code-server.log').read_text(errors='replace')[-3000:]}")

    # the interpreter without cnnshape-ls: a clear message and the install action
    assert "is not installed in" in report["missing"]["text"]
    assert "Install cnnshape-ls" in report["missing"]["buttons"]
    # the # out: hints on the layer lines
    lines = report["hints"]["lines"]
    for marker, hint in EXPECTED_HINTS.items():
        line = next((text for text in lines if marker in text), "")
        assert hint in line, (marker, hint, line)
    assert sum("# out:" in hint for hint in report["hints"]["hints"]) >= len(EXPECTED_HINTS)
    # the squiggle and its message
    assert report["squigglesBefore"] >= 1
    assert MESSAGE in report["diagnostic"]
    # the hover on a layer: shapes, the formula with the numbers put in, the parameter count
    hover = report["hover"]
    assert "Conv2d" in hover and "(BS, 3, 32, 32)" in hover and "(BS, 8, 30, 30)" in hover, hover
    assert "H_out = floor((32 + 2*0 - 1*(3 - 1) - 1) / 1) + 1 = 30" in hover, hover
    assert "params" in hover and "224" in hover, hover
    # the quick fix was offered, applied and saved
    assert any("Change in_features to 127" in item for item in report["quickfix"]["items"])
    assert (workspace / "model.py").read_text().splitlines()[FIX_LINE - 1] == FIXED_LINE

    for name in SCREENSHOTS:
        assert (shots / name).is_file(), name
        save_image(shots / name, name)
