"""Which files to analyse, and how to read and write them.

Folders are walked for ``*.py``: inside a git work tree the files git would track
(``git ls-files --cached --others --exclude-standard``, so ``.gitignore`` is
respected); elsewhere a plain walk that skips hidden folders, virtual
environments, ``__pycache__`` and ``node_modules``.

The settings that apply to each file are read by :mod:`cnnshape_ls.settings`, as
the language server reads them.
"""

from __future__ import annotations

import io
import os
import subprocess
import tokenize
from dataclasses import dataclass
from pathlib import Path

SKIP_DIRS = frozenset({"__pycache__", "node_modules", "site-packages", "__pypackages__", "venv", "virtualenv"})


class SourceError(Exception):
    """A file that cannot be found, read or decoded: a usage or I/O error (exit code 2)."""


@dataclass(frozen=True)
class SourcePath:
    path: Path
    """Where the file is on disk."""
    display: str
    """The path as the user gave it (or the folder they gave joined with the file's place in it)."""
    explicit: bool
    """Named on the command line, not found by walking a folder."""


def collect(paths: list[str]) -> tuple[list[SourcePath], list[str]]:
    """The Python files under ``paths`` in a stable order, and a message for each path that does not exist."""
    found: list[SourcePath] = []
    errors: list[str] = []
    seen: set[str] = set()

    def add(path: Path, display: str, explicit: bool) -> None:
        key = os.path.normcase(os.path.realpath(path))
        if key not in seen:
            seen.add(key)
            found.append(SourcePath(path, display, explicit))

    for given in paths:
        path = Path(given)
        if path.is_dir():
            for rel in walk_folder(path):
                display = rel if given in (".", "./") else os.path.normpath(os.path.join(given, rel))
                add(path / rel, display, False)
        elif path.is_file():
            add(path, given, True)
        elif path.exists():
            errors.append(f"{given}: not a regular file")
        else:
            errors.append(f"{given}: no such file or directory")
    return found, errors


def walk_folder(folder: Path) -> list[str]:
    """The ``*.py`` files under ``folder`` as sorted POSIX paths relative to it."""
    listed = git_files(folder)
    if listed is None:
        listed = plain_walk(folder)
    return sorted({rel for rel in listed if rel.endswith(".py") and (folder / rel).is_file()})


def git_files(folder: Path) -> list[str] | None:
    """The files git tracks or would track under ``folder``; ``None`` outside a work tree or without git."""
    try:
        proc = subprocess.run(
            ["git", "-C", str(folder), "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "."],
            capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    return [name for name in proc.stdout.decode("utf-8", "surrogateescape").split("\0") if name]


def _skip_dir(parent: str, name: str) -> bool:
    if name.startswith(".") or name in SKIP_DIRS or name.endswith(".egg-info"):
        return True
    return os.path.isfile(os.path.join(parent, name, "pyvenv.cfg"))  # a virtual environment under any name


def plain_walk(folder: Path) -> list[str]:
    out: list[str] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not _skip_dir(root, d))
        rel_root = os.path.relpath(root, folder)
        for name in files:
            if name.endswith(".py"):
                rel = name if rel_root == "." else os.path.join(rel_root, name)
                out.append(Path(rel).as_posix())
    return out


# ---------------------------------------------------------------------- reading and writing
@dataclass
class SourceText:
    text: str
    encoding: str


def read_source(path: Path) -> SourceText:
    """The text of a Python file, decoded as Python would (coding cookie, BOM), line endings kept."""
    try:
        data = path.read_bytes()
    except OSError as err:
        raise SourceError(f"cannot read: {err.strerror or err}") from err
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return SourceText(data.decode(encoding), encoding)
    except (SyntaxError, LookupError, UnicodeDecodeError) as err:
        raise SourceError(f"cannot decode: {err}") from err


def write_source(path: Path, source: SourceText) -> None:
    try:
        path.write_bytes(source.text.encode(source.encoding))
    except (OSError, UnicodeEncodeError) as err:
        raise SourceError(f"cannot write: {err}") from err


__all__ = ["SourceError", "SourcePath", "SourceText", "collect", "read_source", "walk_folder", "write_source"]
