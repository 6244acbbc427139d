"""VS Code: build the self-contained .vsix as CI does (`npm ci && npm run package`: esbuild, the server and its
pure-Python dependencies in bundled/libs, vsce), install it into code-server 4.100.3 and drive it in headless
Chromium with a bare Python that has neither cnnshape-ls nor torch: the hints, the squiggle, the hovers, the
quick fix, the file fixed on disk, the summary. Screenshots go to docs/images/."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone
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
SCREENSHOTS = ["vscode-hints.png", "vscode-diagnostic.png", "vscode-hover.png", "vscode-quickfix.png",
               "vscode-summary.png"]
MAX_VSIX_BYTES = 5_000_000  # 4.0 MB at stop 15 (cnnshape_ls 1.1 MB, jedi 1.1 MB, with bytecode); all pure Python


def _npm(args: list[str], timeout: float) -> str:
    proc = subprocess.run(["npm", *args], cwd=EXTENSION, capture_output=True, text=True, timeout=timeout,
                          env={**_clean_env(), "npm_config_update_notifier": "false", "npm_config_fund": "false",
                               "npm_config_audit": "false", "CNNSHAPE_BUNDLE_PYTHON": sys.executable})
    assert proc.returncode == 0, f"npm {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def _clean_env() -> dict[str, str]:
    import os
    return {k: v for k, v in os.environ.items() if not k.startswith("VSCODE")}


@pytest.fixture(scope="session")
def vsix(editor_tools: Tools, tmp_path_factory) -> Path:
    """npm ci (when the lock changed), type-check, then `npm run package` as CI builds it: esbuild, the server
    and its dependencies from this checkout into bundled/libs, vsce."""
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
    _npm(["run", "package", "--", "--out", str(target)], timeout=600)
    print(f"{target.name}: {target.stat().st_size:,} bytes")
    return target


def test_extension_packages(vsix: Path) -> None:
    import zipfile
    assert vsix.is_file() and vsix.stat().st_size > 10_000
    names = {name.lower() for name in zipfile.ZipFile(vsix).namelist()}
    assert {"extension/package.json", "extension/dist/extension.js", "extension/readme.md"} <= names, names
    assert not any(n.startswith("extension/node_modules/") or n.startswith("extension/src/") for n in names)
    # the server and every module it imports, pure Python, from this checkout; no torch, nothing compiled
    libs = "extension/bundled/libs/"
    for package in ("cnnshape_ls", "pygls", "lsprotocol", "cattrs", "attrs", "jedi", "parso", "exceptiongroup",
                    "tomli"):
        assert f"{libs}{package}/__init__.py" in names, package
    assert f"{libs}typing_extensions.py" in names
    ours = {n[len(libs):] for n in names if n.startswith(f"{libs}cnnshape_ls/") and n.endswith(".py")}
    assert ours == {str(p.relative_to(ROOT)).lower() for p in (ROOT / "cnnshape_ls").rglob("*.py")}
    assert not any(n.startswith(f"{libs}torch") or n.endswith((".so", ".pyd")) for n in names)
    # bytecode for the Python that built it, so that a cold start does not compile first
    tag = sys.implementation.cache_tag
    assert f"{libs}lsprotocol/__pycache__/types.{tag}.pyc" in names, tag
    assert vsix.stat().st_size < MAX_VSIX_BYTES, vsix.stat().st_size
    manifest = json.loads(zipfile.ZipFile(vsix).read("extension/package.json"))
    settings = manifest["contributes"]["configuration"]["properties"]
    for name in ("input", "batchName", "hints.enabled", "hints.style", "codeLens.enabled", "verify.enabled",
                 "verify.timeoutSeconds", "verify.delayMs", "verify.memoryMb", "python"):
        assert f"cnnshape.{name}" in settings and settings[f"cnnshape.{name}"].get("description", settings[
            f"cnnshape.{name}"].get("markdownDescription")), name
        assert "default" in settings[f"cnnshape.{name}"], name
    # a Python file opened anywhere, and a folder holding Python files or notebooks when it opens: the server
    # starts while the user is still choosing the file (test_vscode_shows_a_shared_block_line opens it then)
    assert manifest["activationEvents"] == ["onLanguage:python", "workspaceContains:**/*.py",
                                            "workspaceContains:**/*.ipynb"]
    assert manifest["capabilities"]["untrustedWorkspaces"]["supported"] == "limited"
    # a machine setting a workspace may override: under Remote and code-server it is set on the Remote tab
    assert settings["cnnshape.python"]["scope"] == "machine-overridable"


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
    # nothing of this checkout on the module path: the server can come only from the .vsix's bundled/libs
    env = {k: v for k, v in session.env.items() if k != "PYTHONPATH"}
    with open(log_path, "w") as log:
        server = session.popen([tools.code_server, "--bind-addr", f"127.0.0.1:{port}", "--auth", "none",
                                "--user-data-dir", str(user_data), "--extensions-dir", str(extensions),
                                "--disable-telemetry", "--disable-update-check", "--disable-getting-started-override",
                                *(["--disable-workspace-trust"] if trusted else []),
                                str(workspace)], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
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


def _extension_host_log(logs: Path) -> str:
    """code-server's extension host log: when it started, and which event activated which extension."""
    return "\n".join(p.read_text(errors="replace") for p in sorted(logs.rglob("remoteexthost.log")))


def _start_up(logs: Path, report: dict) -> str:
    """The cold open step by step, in ms after the click on the file (negative: before it), from the extension
    host's log, the extension's own log lines and the driver's clock (one machine, one clock). Printed, never
    asserted: wall-clock times depend on the machine's load."""
    clicked = report["openedAt"] / 1000
    day = datetime.fromtimestamp(clicked, timezone.utc).date()
    steps: list[tuple[str, float]] = []
    host = _extension_host_log(logs)
    for pattern, name in ((r"^(\S+ \S+) \[info\] Extension host with pid \d+ started", "extension host started"),
                          (r"^(\S+ \S+) \[info\] ExtensionService#_doActivateExtension cnnshape\.cnnshape-ls.*"
                           r"activationEvent: '([^']+)'", "activated by {}")):
        found = re.search(pattern, host, re.M)
        if found:  # the host logs local time
            at = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
            steps.append((name.format(*found.groups()[1:]), at))
    client_steps = {r"activated: extension host up": "activate() runs", r"interpreter: ": "interpreter chosen",
                    r"starting the server": "server process started", r"\d+ ms to ask": "interpreter answered",
                    r"server running": "initialize answered", r"first hints: ": "first hints answered"}
    for pattern, name in client_steps.items():
        found = re.search(r"^\[client (\d\d:\d\d:\d\d\.\d+)\] .*" + pattern, _output_channel(logs), re.M)
        if found:  # the extension logs UTC
            at = datetime.combine(day, datetime.strptime(found.group(1), "%H:%M:%S.%f").time(), timezone.utc)
            steps.append((name, at.timestamp()))
    if "serverRunningAt" in report:
        steps.append(("cnnshape status 'running' seen", report["serverRunningAt"] / 1000))
    steps.append(("hints drawn", clicked + report["firstHintMs"] / 1000))
    return ", ".join(f"{name} {round((at - clicked) * 1000):+d}" for name, at in sorted(steps, key=lambda s: s[1]))


def test_vscode_end_to_end(editor_tools: Tools, vsix: Path, session: Session, workspace: Path,
                           tmp_path: Path) -> None:
    # A bare Python (a venv without pip): no cnnshape-ls, no pygls, no torch. The .vsix brings the server.
    bare = tmp_path / "bare-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True, timeout=60)
    bare_python = bare / "bin" / "python"
    assert subprocess.run([str(bare_python), "-c", "import cnnshape_ls"], capture_output=True, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin"}).returncode != 0
    report, logs = _drive_code_server(
        editor_tools, vsix, session, workspace, tmp_path, {"cnnshape.python": str(bare_python)},
        trusted=True, fixLine=FIX_LINE, fixColumn=24, fixTitle="Change in_features to 127",
        fixedText=FIXED_LINE.strip())
    shots = tmp_path / "shots"

    channel = _output_channel(logs)
    assert f"interpreter: {bare_python} (from cnnshape.python)" in channel, channel
    assert "/bundled/libs" in channel and "Python 3." in channel, channel
    # no torch there: one status line and one log line, no prompt
    assert "cnnshape (no torch)" in report["statusbar"], report["statusbar"]
    assert f"no torch in {bare_python}" in channel, channel
    assert "Install" not in " ".join(report["summary"]["toasts"]), report["summary"]["toasts"]
    # the # out: hints on the layer lines
    lines = report["hints"]["lines"]
    for marker, hint in EXPECTED_HINTS.items():
        line = next((text for text in lines if marker in text), "")
        assert hint in line, (marker, hint, line)
    assert sum("# out:" in hint for hint in report["hints"]["hints"]) >= len(EXPECTED_HINTS)
    # cold open: from the extension's activation (the file opened) to the first hints, in the extension's log;
    # and from the click on the file to the hints drawn, which adds VS Code starting its extension host
    activation = int(re.search(r"first hints: \d+, (\d+) ms after activation", channel).group(1))
    print(f"cold open: first hints {activation} ms after activation, drawn {report['firstHintMs']} ms after "
          "the click on the file")
    print(f"cold open, ms after the click on the file: {_start_up(logs, report)}")
    # timings are printed, never asserted (they follow the machine's load); the .vsix's bytecode, which
    # the start-up depends on, is checked by the packaging test
    # the squiggle and its message
    assert report["squigglesBefore"] >= 1
    assert MESSAGE in report["diagnostic"]
    # the hover on a layer: a first line that says it all, then the formula with the numbers put in
    hover = report["hover"]
    assert hover.splitlines()[0] == "conv1 Conv2d (BS, 3, 32, 32) -> (BS, 8, 30, 30), 224 params", hover
    assert "H_out = floor((32 + 2*0 - 1*(3 - 1) - 1) / 1) + 1 = 30" in hover, hover
    # the quick fix was offered, applied and saved
    assert any("Change in_features to 127" in item for item in report["quickfix"]["items"])
    assert report["quickfix"]["focused"] == "Change in_features to 127"
    assert (workspace / "model.py").read_text().splitlines()[FIX_LINE - 1] == FIXED_LINE
    # "cnnshape: Annotate File with # out: Comments" wrote the comments in the buffer
    annotated = report["annotate"]["lines"]
    assert "    ('sigmoid', nn.Sigmoid())  # out: (BS, 1)" in annotated, annotated
    # the code lens over the model, then "cnnshape: Show Model Summary": each opens one new tab, the CLI's
    # per-layer table in it, no message besides
    lens = report["lensSummary"]
    assert len(lens["tabsAfter"]) == len(lens["tabsBefore"]) + 1, lens
    assert "model.py: Model model (input (BS, 3, 32, 32) from annotation)" in lens["table"], lens["table"]
    summary = report["summary"]
    assert len(summary["tabsAfter"]) == len(summary["tabsBefore"]) + 1, summary
    assert any(tab.startswith("Summary: model") for tab in summary["tabsAfter"]), summary
    assert "model.py: Model model (input (BS, 3, 32, 32) from annotation)" in summary["table"], summary["table"]
    assert "fc1      Linear       17  (BS, 127)          73,279" in summary["table"], summary["table"]
    assert not summary["toasts"], summary["toasts"]
    # the edits sent no cancellation the server did not know about
    assert "Cancel notification for unknown message id" not in channel, channel

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
    # The folder opens first; the file is clicked once the status says the server runs: the extension started
    # on the folder (workspaceContains), before any file was open, and the click meets a warm server.
    report, logs = _drive_code_server(editor_tools, vsix, session, workspace, tmp_path, {}, trusted=True, blocks=True,
                                      openWhenRunning=True)
    activated = re.findall(r"_doActivateExtension cnnshape\.cnnshape-ls, .*activationEvent: '([^']*)'",
                           _extension_host_log(logs))
    assert activated and activated[0].startswith("workspaceContains:") and "**/*.py" in activated[0], activated
    assert "no Python file open yet" in _output_channel(logs), _output_channel(logs)
    print(f"warm open: hints drawn {report['firstHintMs']} ms after the click on the file; ms after the click: "
          f"{_start_up(logs, report)}")
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


OLD_PYTHON = Path.home() / ".pyenv" / "versions" / "3.8.18" / "bin" / "python"


@pytest.mark.skipif(not OLD_PYTHON.is_file(), reason=f"no Python 3.8 at {OLD_PYTHON}")
def test_vscode_says_once_that_the_python_is_too_old(editor_tools: Tools, vsix: Path, session: Session,
                                                     workspace: Path, tmp_path: Path) -> None:
    """cnnshape.python names a Python 3.8: the server is started before the interpreter's answer is in (the
    cold open's probe runs beside it), and still the user gets one message that says why, with the action
    that fixes it, and no others (no "initialization failed", no restarts)."""
    report, logs = _drive_code_server(editor_tools, vsix, session, workspace, tmp_path,
                                      {"cnnshape.python": str(OLD_PYTHON)}, trusted=True, toasts="3.10 or later")
    toasts = [t for t in report["toasts"] if "cnnshape" in t.lower() or "server" in t.lower()]
    assert len(toasts) == 1, report["toasts"]
    assert "Python 3.8; cnnshape-ls needs 3.10 or later" in toasts[0] and "Choose Interpreter" in toasts[0], toasts
    assert "cnnshape" in report["statusbar"], report["statusbar"]
    channel = _output_channel(logs)
    assert "starting the server" in channel and "the server did not start" in channel, channel
    # started once, not restarted again and again as the client does with a server that exits
    assert channel.count("starting the server") == 1 and channel.count("Server process exited") == 1, channel
    assert "will restart" not in channel, channel
