"""Which files to analyse, how to read and write them, and the settings that apply to each.

Folders are walked for ``*.py``: inside a git work tree the files git would track
(``git ls-files --cached --others --exclude-standard``, so ``.gitignore`` is
respected); elsewhere a plain walk that skips hidden folders, virtual
environments, ``__pycache__`` and ``node_modules``.

Settings come from ``[tool.cnnshape]`` in the nearest ``pyproject.toml`` above a
file that has such a table (a ``pyproject.toml`` without one is passed over, as
ruff does for ``[tool.ruff]``).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    try:
        import tomli as tomllib
    except ImportError:
        tomllib = None

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


# ---------------------------------------------------------------------- settings
@dataclass(frozen=True)
class Settings:
    input: Any = None
    """``input``: a shape string, or a table of model name -> shape string."""
    batch_name: str | None = None
    config_path: Path | None = None
    problems: tuple[str, ...] = field(default=())


class SettingsFinder:
    """``[tool.cnnshape]`` for each file, each folder's answer looked up once."""

    def __init__(self) -> None:
        self._by_dir: dict[Path, Settings] = {}

    def for_file(self, path: Path) -> Settings:
        return self._for_dir(path.resolve().parent)

    def _for_dir(self, folder: Path) -> Settings:
        if folder in self._by_dir:
            return self._by_dir[folder]
        candidate = folder / "pyproject.toml"
        settings: Settings | None = None
        if candidate.is_file():
            settings = read_settings(candidate)
        if settings is None:
            settings = Settings() if folder.parent == folder else self._for_dir(folder.parent)
        self._by_dir[folder] = settings
        return settings


PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")


class ProjectRoots:
    """The project a file belongs to: the nearest folder above it with a pyproject.toml, setup.py or .git."""

    def __init__(self) -> None:
        self._by_dir: dict[Path, Path | None] = {}

    def for_file(self, path: Path) -> Path:
        folder = path.resolve().parent
        return self._find(folder) or folder

    def _find(self, folder: Path) -> Path | None:
        if folder not in self._by_dir:
            if any((folder / marker).exists() for marker in PROJECT_MARKERS):
                self._by_dir[folder] = folder
            else:
                self._by_dir[folder] = None if folder.parent == folder else self._find(folder.parent)
        return self._by_dir[folder]


def read_settings(pyproject: Path) -> Settings | None:
    """The ``[tool.cnnshape]`` table of one ``pyproject.toml``; ``None`` when it has none."""
    if tomllib is None:  # pragma: no cover - Python 3.10 without tomli
        return None
    try:
        with pyproject.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as err:
        return Settings(config_path=pyproject, problems=(f"{pyproject}: ignored, cannot read it: {err}",))
    table = data.get("tool", {}).get("cnnshape") if isinstance(data.get("tool"), dict) else None
    if not isinstance(table, dict):
        return None
    problems: list[str] = []
    value = table.get("input")
    if value is not None and not _valid_input(value):
        problems.append(f"{pyproject}: [tool.cnnshape] input must be a shape string or a table of model -> shape")
        value = None
    batch = table.get("batchName", table.get("batch_name"))
    if batch is not None and not (isinstance(batch, str) and batch.isidentifier()):
        problems.append(f"{pyproject}: [tool.cnnshape] batchName must be a name such as \"BS\"")
        batch = None
    return Settings(value, batch, pyproject, tuple(problems))


def _valid_input(value: object) -> bool:
    if isinstance(value, str):
        return True
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


__all__ = ["ProjectRoots", "Settings", "SettingsFinder", "SourceError", "SourcePath", "SourceText", "collect",
           "read_source", "walk_folder", "write_source"]
