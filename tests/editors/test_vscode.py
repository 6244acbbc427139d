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
    _npm(["exec", "--", "vsce", "package", "--no-dependencies", "--allow-missing-repository", "--out", str(target)],
         timeout=300)
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


USER_SETTINGS = {
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
}


def _drive_code_server(tools: Tools, vsix: Path, session: Session, workspace: Path, tmp_path: Path,
                       settings: dict, trusted: bool, **driver: object) -> tuple[dict, Path]:
    """Install the .vsix into a fresh code-server, start it on the workspace, run vscode_drive.js; the
    report, and the folder of code-server's logs (the extension's output channel is written there)."""
    user_data, extensions = tmp_path / "cs-user-data", tmp_path / "cs-extensions"
    (user_data / "User").mkdir(parents=True)
    extensions.mkdir()
    installed = session.run([tools.code_server, "--user-data-dir", str(user_data), "--extensions-dir",
                             str(extensions), "--install-extension", str(vsix)], timeout=120, cwd=tmp_path)
    assert installed.returncode == 0 and "successfully installed" in installed.stdout, installed.stdout
    (user_data / "User" / "settings.json").write_text(json.dumps({**USER_SETTINGS, **settings}, indent=2))

    port = _free_port()
    log_path = tmp_path / "code-server.log"
    with open(log_path, "w") as log:
        server = session.popen([tools.code_server, "--bind-addr", f"127.0.0.1:{port}", "--auth", "none",
                                "--user-data-dir", str(user_data), "--extensions-dir", str(extensions),
                                "--disable-telemetry", "--disable-update-check", "--disable-getting-started-override",
                                *(["--disable-workspace-trust"] if trusted else []),
                                str(workspace)], stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    report_path = tmp_path / "report.json"
    try:
        _wait_healthy(port, server)
        config = {
            "url": f"http://127.0.0.1:{port}/?folder={workspace}",
            "chromium": tools.chromium,
            "file": "model.py",
            "filePath": str(workspace / "model.py"),
            "python": sys.executable,
            "shots": str(tmp_path / "shots"),
            "outdir": str(tmp_path),
            "report": str(report_path),
            **driver,
        }
        (tmp_path / "drive.json").write_text(json.dumps(config))
        env = {**session.env, "NODE_PATH": tools.playwright_node_path}
        drive = session.run(["node", str(HERE / "vscode_drive.js"), str(tmp_path / "drive.json")], timeout=300,
                            env=env, cwd=tmp_path)
        print(drive.stdout[-6000:])
    finally:
        kill_group(server.pid)
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    assert drive.returncode == 0 and report.get("ok"), (
        f"the VS Code run failed: {report.get('errors')}\nsteps: {report.get('steps')}\n"
        f"driver output:\n{drive.stdout[-4000:]}\n"
        f"code-server log:\n{log_path.read_text(errors='replace')[-3000:]}")
    return report, user_data / "logs"


def _output_channel(logs: Path) -> str:
    """What the extension wrote to its output channel "cnnshape-ls"."""
    return "\n".join(p.read_text(errors="replace") for p in sorted(logs.rglob("*cnnshape-ls.log")))


def test_vscode_end_to_end(editor_tools: Tools, vsix: Path, session: Session, workspace: Path,
                           tmp_path: Path) -> None:
    # First an interpreter without cnnshape-ls (a bare venv); the driver then chooses the project's Python.
    bare = tmp_path / "bare-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=60)
    report, logs = _drive_code_server(
        editor_tools, vsix, session, workspace, tmp_path, {"cnnshape.python": str(bare / "bin" / "python")},
        trusted=True, missingPython=True, fixLine=FIX_LINE, fixColumn=24, fixTitle="Change in_features to 127",
        fixedText=FIXED_LINE.strip())
    shots = tmp_path / "shots"

    # the interpreter without cnnshape-ls: a clear message and the install action; then the restart
    assert "is not installed in" in report["missing"]["text"]
    assert "Install cnnshape-ls" in report["missing"]["buttons"]
    channel = _output_channel(logs)
    assert f"interpreter: {bare / 'bin' / 'python'} (from cnnshape.python)" in channel, channel
    assert f"restarting: cnnshape.python changed to {sys.executable}" in channel, channel
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
    assert report["quickfix"]["focused"] == "Change in_features to 127"
    assert (workspace / "model.py").read_text().splitlines()[FIX_LINE - 1] == FIXED_LINE
    # "cnnshape: Annotate File with # out: Comments" wrote the comments in the buffer
    annotated = report["annotate"]["lines"]
    assert "    ('sigmoid', nn.Sigmoid())  # out: (BS, 1)" in annotated, annotated

    for name in SCREENSHOTS:
        assert (shots / name).is_file(), name
        save_image(shots / name, name)


def test_vscode_shows_a_shared_block_line(editor_tools: Tools, vsix: Path, session: Session, workspace: Path,
                                          tmp_path: Path) -> None:
    """A block built 19 times: the hint VS Code draws says what holds for every instance, the hover lists
    them (the picture in docs/features.md)."""
    model = (ROOT / "tests" / "models" / "m12_inception_block.py").read_text().replace(
        "class MiniGoogLeNet", "# in: (BS, 3, 32, 32)\nclass MiniGoogLeNet")
    (workspace / "model.py").write_text(model)
    report, _ = _drive_code_server(editor_tools, vsix, session, workspace, tmp_path, {}, trusted=True, blocks=True)
    line = next(text for text in report["blocks"]["lines"] if "x = self.conv(x)" in text)
    assert "# out: (BS, out_channels, 16|32, 16|32) ×19" in line, line
    hover = report["blocks"]["hover"]
    assert "19 instances" in hover and "and 7 more" in hover and "a3.branch1" in hover, hover
    save_image(tmp_path / "shots" / "vscode-blocks.png", "vscode-blocks.png")


def test_vscode_restricted_mode(editor_tools: Tools, vsix: Path, session: Session, workspace: Path,
                                tmp_path: Path) -> None:
    """Workspace trust on, the folder not trusted: hints still, torch verification off (the server is told)."""
    # A workspace setting that must not count in Restricted Mode.
    (workspace / ".vscode").mkdir()
    (workspace / ".vscode" / "settings.json").write_text(json.dumps({"cnnshape.python": "/nonexistent/python"}))
    report, logs = _drive_code_server(
        editor_tools, vsix, session, workspace, tmp_path,
        {"cnnshape.python": sys.executable, "cnnshape-ls.trace.server": "verbose"},
        trusted=False, trust="decline", only="hints", hintsShot="vscode-restricted.png")
    assert "Restricted Mode" in report["statusbar"], report["statusbar"]
    lines = report["hints"]["lines"]
    assert "# out: (BS, 8, 30, 30)" in next(text for text in lines if "('relu1'" in text)
    channel = _output_channel(logs)
    assert f"interpreter: {sys.executable} (from cnnshape.python)" in channel, channel
    assert "workspace untrusted: verification off" in channel, channel
    # initializationOptions and the workspace/configuration answers, as the client traced them
    assert '"workspaceTrusted": false' in channel, channel
    init = channel[channel.index("Sending request 'initialize"):]
    init = init[:init.index("\n\n")]
    assert '"enabled": false' in init[init.index('"verify"'):], init
    assert "/nonexistent/python" not in channel  # the workspace's own cnnshape.python does not count
    save_image(tmp_path / "shots" / "vscode-restricted.png", "vscode-restricted.png")
