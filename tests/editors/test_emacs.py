"""Emacs 30 (bookworm-backports) with its built-in Eglot and editors/emacs/cnnshape-eglot.el, in batch: the
inlay hint overlays, the Flymake diagnostics, the hover, the preferred quick fix applied and saved, and
M-x cnnshape-annotate."""

from __future__ import annotations

import json
import subprocess
import time
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
    photograph,
    save_image,
    screen_line,
    tagged_pids,
    tmux_screen,
)


@pytest.mark.parametrize("batch", ["BS", "N"], ids=["defaults", "settings"])
def test_emacs_eglot(editor_tools: Tools, session: Session, workspace: Path, tmp_path: Path, batch: str,
                     request: pytest.FixtureRequest) -> None:
    """Defaults: the server from `pipx install .`, `cnnshape-command' pointed at it (docs/editors.md). With
    cnnshape-settings (:batchName "N"), `python -m cnnshape_ls', the settings reach the server, the hints say N."""
    original = (workspace / "model.py").read_text().splitlines()
    report_path = tmp_path / "emacs.json"
    env = {**session.env, "PROBE_FILE": str(workspace / "model.py"), "PROBE_REPORT": str(report_path)}
    server = request.getfixturevalue("pipx_server") if batch == "BS" else None
    if server is not None:
        env = {k: v for k, v in env.items() if k != "PYTHONPATH"}
        env["CNNSHAPE_SERVER"] = str(server)
    if batch != "BS":
        env["CNNSHAPE_PROBE_SETTINGS"] = json.dumps({"batchName": batch})
    proc = session.run([editor_tools.emacs, "--batch", "-Q", "-L", str(ROOT / "editors" / "emacs"),
                        "-l", str(HERE / "emacs_probe.el")], timeout=120, cwd=workspace, env=env)
    assert report_path.is_file(), f"the probe wrote no report (exit {proc.returncode}):\n{proc.stdout}"
    report = json.loads(report_path.read_text())
    assert proc.returncode == 0 and not report["errors"] and report["done"], f"{report['errors']}\n{proc.stdout}"
    assert report["emacs"].startswith("30.") and report["server"] == "cnnshape-ls"
    assert report["command"] == ([str(server)] if server else [report["command"][0], "-m", "cnnshape_ls"])
    assert report["inlay_hints_mode"] is True
    # the hint overlays, at the end of the code of each layer line
    drawn = {original[h["line"] - 1]: h["text"] for h in report["hints"]}
    for marker, hint in EXPECTED_HINTS.items():
        line = next(text for text in original if marker in text)
        assert hint.replace("(BS,", f"({batch},") in drawn.get(line, ""), (marker, drawn)
    # the Flymake diagnostic, on the argument to change
    errors = [d for d in report["diagnostics"] if d["type"] == "eglot-error"]
    assert [(d["line"], d["text"]) for d in errors] == [(FIX_LINE, "128")]
    assert MESSAGE in errors[0]["message"] and "linear-in-features" in errors[0]["message"]
    # the hover: its first line, what ElDoc's echo area shows, says it all; the rest (C-h .) has the formula
    assert report["hover"].splitlines()[0] == f"conv1 Conv2d ({batch}, 3, 32, 32) -> ({batch}, 8, 30, 30), 224 params"
    assert "H_out = floor((32 + 2*0 - 1*(3 - 1) - 1) / 1) + 1 = 30" in report["hover"]
    # the preferred quick fix, applied and saved
    assert report["actions"][0] == "Change in_features to 127"
    assert report["fixed_line"] == FIXED_LINE
    assert (workspace / "model.py").read_text().splitlines()[FIX_LINE - 1] == FIXED_LINE
    # M-x cnnshape-annotate (then reverted)
    assert f"    ('relu1', nn.ReLU()),  # out: ({batch}, 8, 30, 30)" in report["annotated"].splitlines()
    # Eglot shut the server down
    end = time.monotonic() + 10
    while tagged_pids(session.tag) and time.monotonic() < end:
        time.sleep(0.1)
    assert not tagged_pids(session.tag), "the language server outlived Emacs"


def test_emacs_shows_a_shared_block_line(editor_tools: Tools, session: Session, workspace: Path,
                                         tmp_path: Path) -> None:
    """A block built 19 times: the hint overlay says what holds for every instance, the hover lists them."""
    model = (ROOT / "tests" / "models" / "m12_inception_block.py").read_text().replace(
        "class MiniGoogLeNet", "# in: (BS, 3, 32, 32)\nclass MiniGoogLeNet")
    (workspace / "model.py").write_text(model)
    lines = model.splitlines()
    line = next(i for i, text in enumerate(lines) if "x = self.conv(x)" in text)
    report_path = tmp_path / "emacs-blocks.json"
    env = {**session.env, "PROBE_FILE": str(workspace / "model.py"), "PROBE_REPORT": str(report_path),
           "CNNSHAPE_PROBE_HOVER": f"{line},{lines[line].index('self.conv') + 6}"}
    proc = session.run([editor_tools.emacs, "--batch", "-Q", "-L", str(ROOT / "editors" / "emacs"),
                        "-l", str(HERE / "emacs_probe.el")], timeout=120, cwd=workspace, env=env)
    assert report_path.is_file(), f"the probe wrote no report (exit {proc.returncode}):\n{proc.stdout}"
    report = json.loads(report_path.read_text())
    assert not report["errors"] and report["done"], f"{report['errors']}\n{proc.stdout}"
    drawn = {h["line"] - 1: h["text"] for h in report["hints"]}
    assert drawn[line].strip() == "# out: (BS, out_channels, 16|32, 16|32) ×19", drawn
    assert "19 instances" in report["hover"] and "and 7 more" in report["hover"]
    assert "a3.branch1    (BS, 64, 32, 32) -> (BS, 32, 32, 32)" in report["hover"]


def test_emacs_screen(editor_tools: Tools, session: Session, workspace: Path, tmp_path: Path,
                      pipx_server: Path) -> None:
    """What a person sees: emacs -nw in a terminal of 256 colours (tmux) with the init of editors/emacs/README.md
    and the server from `pipx install .`; the hints drawn by eglot-inlay-hints-mode in a real window, then the
    diagnostics by Flymake at the end of the line (after the hint, on the same line)."""
    session.env["CNNSHAPE_SERVER"] = str(pipx_server)
    session.env.pop("PYTHONPATH", None)

    def ready(screen: str) -> bool:
        return "# out: (BS, 8, 30, 30)" in screen_line(screen, "('relu1'") and "mat1 and mat2" in screen

    command = (f"{editor_tools.emacs} -nw -Q -L {ROOT / 'editors' / 'emacs'} -l {HERE / 'emacs_init.el'} model.py")
    tmux, screen, colored = tmux_screen(session, editor_tools.tmux, command, workspace, ready, timeout=30,
                                        size=(150, 30), truecolor=False)
    (tmp_path / "emacs-screen.txt").write_text(screen)
    assert "# out: (BS, 8, 30, 30)" in screen_line(screen, "('relu1'"), screen
    assert "# out: (BS, 127)" in screen_line(screen, "('fc1'"), screen
    fc2 = screen_line(screen, "('fc2'")
    assert "mat1 and mat2 shapes cannot be multiplied (BSx127 and 128x64)" in fc2, screen
    assert fc2.index("# out: (BS, 64)") < fc2.index("mat1 and mat2"), fc2  # the hint, then the diagnostic
    subprocess.run([*tmux, "send-keys", "-t", "editor", "C-x", "C-c"], env=session.env)
    end = time.monotonic() + 10
    while tagged_pids(session.tag) and time.monotonic() < end:
        time.sleep(0.1)
    assert not tagged_pids(session.tag), "Emacs or its language server outlived C-x C-c"
    save_image(tmp_path / "emacs-screen.txt", "emacs-screen.txt")
    photograph(session, editor_tools.chromium, colored, tmp_path / "emacs-screen.png", "Emacs 30 with cnnshape-ls",
               size="1270,560")
    save_image(tmp_path / "emacs-screen.png", "emacs-screen.png")
