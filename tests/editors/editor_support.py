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

    def popen(self, cmd: list[str], env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
        """Start a command in a process group of its own (``env`` must keep this run's tag)."""
        proc = subprocess.Popen(cmd, env=env or self.env, start_new_session=True, **kwargs)
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


# --------------------------------------------------------------------------------------------- terminal picture

_ANSI16 = [(0, 0, 0), (205, 49, 49), (13, 188, 121), (229, 229, 16), (36, 114, 200), (188, 63, 188),
           (17, 168, 205), (229, 229, 229), (102, 102, 102), (241, 76, 76), (35, 209, 139), (245, 245, 67),
           (59, 142, 234), (214, 112, 214), (41, 184, 219), (255, 255, 255)]


def _xterm256(n: int) -> tuple[int, int, int]:
    if n < 16:
        return _ANSI16[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return steps[n // 36], steps[(n // 6) % 6], steps[n % 6]
    level = 8 + (n - 232) * 10
    return level, level, level


def ansi_to_html(text: str, fg=(224, 226, 234), bg=(20, 22, 27), title: str = "") -> str:
    """A terminal screen (tmux capture-pane -e) as an HTML page, colours and underlines kept."""
    import html
    import re

    rows = []
    for line in text.rstrip("\n").split("\n"):
        state = {"fg": None, "bg": None, "bold": False, "italic": False, "under": None, "reverse": False}
        out = []
        for part in re.split(r"(\x1b\[[0-9;:]*m)", line):
            if part.startswith("\x1b["):
                codes = [c for c in part[2:-1].replace(":", ";").split(";")]
                codes = [int(c) if c.isdigit() else 0 for c in codes] or [0]
                i = 0
                while i < len(codes):
                    c = codes[i]
                    if c == 0:
                        state = {"fg": None, "bg": None, "bold": False, "italic": False, "under": None,
                                 "reverse": False}
                    elif c == 1:
                        state["bold"] = True
                    elif c == 3:
                        state["italic"] = True
                    elif c == 4:
                        state["under"] = state["under"] or "currentColor"
                    elif c == 7:
                        state["reverse"] = True
                    elif c == 22:
                        state["bold"] = False
                    elif c == 23:
                        state["italic"] = False
                    elif c == 24:
                        state["under"] = None
                    elif c == 27:
                        state["reverse"] = False
                    elif c in (38, 48, 58) and i + 1 < len(codes):
                        if codes[i + 1] == 2 and i + 4 < len(codes):
                            color = tuple(codes[i + 2:i + 5])
                            i += 4
                        elif codes[i + 1] == 5 and i + 2 < len(codes):
                            color = _xterm256(codes[i + 2])
                            i += 2
                        else:
                            color = None
                        key = {38: "fg", 48: "bg", 58: "under"}[c]
                        state[key] = f"rgb{tuple(color)}" if color and key == "under" else color
                    elif c == 39:
                        state["fg"] = None
                    elif c == 49:
                        state["bg"] = None
                    elif 30 <= c <= 37 or 90 <= c <= 97:
                        state["fg"] = _ANSI16[c - 30 if c < 90 else c - 82]
                    elif 40 <= c <= 47 or 100 <= c <= 107:
                        state["bg"] = _ANSI16[c - 40 if c < 100 else c - 92]
                    i += 1
                continue
            if not part:
                continue
            f, b = state["fg"] or fg, state["bg"] or bg
            if state["reverse"]:
                f, b = b, f
            style = [f"color:rgb{tuple(f)}", f"background:rgb{tuple(b)}"]
            if state["bold"]:
                style.append("font-weight:bold")
            if state["italic"]:
                style.append("font-style:italic")
            if state["under"]:
                style.append(f"text-decoration:underline wavy {state['under']}")
            out.append(f'<span style="{";".join(style)}">{html.escape(part)}</span>')
        rows.append("".join(out))
    body = "\n".join(rows)
    return (f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title><style>"
            f"body{{margin:0;background:rgb{bg}}}pre{{margin:0;padding:8px;font:14px/18px 'DejaVu Sans Mono',"
            f"monospace;color:rgb{fg};white-space:pre}}</style><pre>{body}</pre>")


def tmux_screen(session: Session, tmux_bin: str, command: str, cwd: Path, done, timeout: float = 60,
                size: tuple[int, int] = (132, 30), truecolor: bool = True) -> tuple[list[str], str, str]:
    """Run ``command`` in a tmux server of its own (a terminal, as a person has one) until ``done(screen)``
    holds; the tmux command prefix, the screen as text and with its colours. ``truecolor=False``: a terminal
    of 256 colours, as tmux and xterm are unless told otherwise. The server is killed at the end of the test."""
    tmux = [tmux_bin, "-L", f"cnnshape-e2e-{session.tag[:12]}", "-f", "/dev/null"]
    env = {k: v for k, v in session.env.items() if k != "COLORTERM"}
    session.cleanups.append(lambda: subprocess.run([*tmux, "kill-server"], capture_output=True, env=env))
    colours = ["-e", "COLORTERM=truecolor"] if truecolor else []
    subprocess.run([*tmux, "new-session", "-d", "-s", "editor", "-x", str(size[0]), "-y", str(size[1]),
                    "-c", str(cwd), *colours, command], check=True, env=env)

    def capture(*flags: str) -> str:
        return subprocess.run([*tmux, "capture-pane", "-p", *flags, "-t", "editor"], capture_output=True,
                              text=True, env=session.env).stdout

    end = time.monotonic() + timeout
    while time.monotonic() < end and not done(capture()):
        time.sleep(0.2)
    time.sleep(0.5)  # let the last redraw land
    return tmux, capture(), capture("-e")


def screen_line(screen: str, marker: str) -> str:
    return next((line for line in screen.splitlines() if marker in line), "")


def photograph(session: Session, chromium: str, ansi: str, png: Path, title: str, size: str = "1130,560") -> None:
    """The terminal screen as a picture for the docs: its colours as HTML, photographed by Chromium."""
    page = png.with_suffix(".html")
    page.write_text(ansi_to_html(ansi, title=title))
    session.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                 f"--user-data-dir={png.parent / 'chromium-shot'}", f"--screenshot={png}", f"--window-size={size}",
                 page.as_uri()], timeout=60)
    assert png.is_file(), f"Chromium wrote no {png.name}"
