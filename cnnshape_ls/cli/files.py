"""Which files to analyze, and how to read and write them.

Folders are walked for ``*.py`` and ``*.ipynb`` (notebooks, :mod:`.notebooks`), skipping hidden folders,
virtual environments (``pyvenv.cfg``), ``site-packages``, ``__pycache__``, ``node_modules`` and
``.ipynb_checkpoints`` (Jupyter's autosaved copies). Inside a git
work tree the walk also skips what ``.gitignore`` files (and ``.git/info/exclude``)
ignore, read by :mod:`.gitignore`: git itself is never run, since running it would run
what the repository's ``.git/config`` names (``core.fsmonitor``). A path named on the
command line is always checked, ignored or not; the walk counts what it skipped.

The settings that apply to each file are read by :mod:`cnnshape_ls.settings`, as
the language server reads them.
"""

from __future__ import annotations

import io
import os
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from .gitignore import IgnoreStack

SKIP_DIRS = frozenset({"__pycache__", "node_modules", "site-packages", "__pypackages__", "venv", "virtualenv",
                       ".ipynb_checkpoints"})
SOURCE_SUFFIXES = (".py", ".ipynb")
"""What a folder walk checks: Python files and Jupyter notebooks."""


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


@dataclass
class Collection:
    found: list[SourcePath]
    errors: list[str]
    """A message for each path that does not exist or is not a file or folder."""
    ignored: int = 0
    """Python files a folder walk skipped because a ``.gitignore`` ignores them."""
    empty: list[str] = field(default_factory=list)
    """Folders named on the command line under which no Python file was found."""


def collect(paths: list[str]) -> tuple[list[SourcePath], list[str]]:
    """The Python files under ``paths`` in a stable order, and a message for each path that does not exist."""
    collection = collect_paths(paths)
    return collection.found, collection.errors


def collect_paths(paths: list[str]) -> Collection:
    """The Python files under ``paths`` in a stable order, with what the walk skipped and found nothing in."""
    collection = Collection([], [])
    seen: set[str] = set()

    def add(path: Path, display: str, explicit: bool) -> None:
        key = os.path.normcase(os.path.realpath(path))
        if key not in seen:
            seen.add(key)
            collection.found.append(SourcePath(path, display, explicit))

    for given in paths:
        path = Path(given)
        if path.is_dir():
            walk = scan_folder(path)
            collection.ignored += walk.ignored
            if not walk.files:
                collection.empty.append(given)
            for rel in walk.files:
                display = rel if given in (".", "./") else os.path.normpath(os.path.join(given, rel))
                add(path / rel, display, False)
        elif path.is_file():
            add(path, given, True)  # named: checked whatever .gitignore says
        elif path.exists():
            collection.errors.append(f"{given}: not a regular file")
        else:
            collection.errors.append(f"{given}: no such file or directory")
    return collection


@dataclass(frozen=True)
class FolderWalk:
    files: list[str]
    """The ``*.py`` files found, sorted POSIX paths relative to the folder."""
    ignored: int
    """Python files skipped because a ``.gitignore`` ignores them (or a folder they are in)."""


def walk_folder(folder: Path) -> list[str]:
    """The ``*.py`` files under ``folder`` as sorted POSIX paths relative to it."""
    return scan_folder(folder).files


def scan_folder(folder: Path) -> FolderWalk:
    """Walk ``folder`` (never what it is in: the folder itself is checked even if it is ignored)."""
    rules, root = IgnoreStack.above(folder)
    prefix = folder.resolve().relative_to(root).as_posix() if root is not None else ""
    prefix = "" if prefix == "." else prefix
    files: list[str] = []
    ignored = 0
    pending: list[tuple[str, IgnoreStack]] = [("", rules)]
    while pending:
        rel_dir, rules = pending.pop()
        here = folder / rel_dir if rel_dir else folder
        if root is not None:
            rules = rules.with_file(_join(prefix, rel_dir), here / ".gitignore")
        try:
            entries = sorted(os.scandir(here), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            rel = _join(rel_dir, entry.name)
            try:
                is_folder = entry.is_dir(follow_symlinks=False)
                is_python = not is_folder and entry.name.endswith(SOURCE_SUFFIXES) and entry.is_file()
            except OSError:
                continue
            if is_folder:
                if _skip_dir(str(here), entry.name):
                    continue
                if root is not None and rules.ignored(_join(prefix, rel), True):
                    ignored += count_python_files(Path(entry.path))
                    continue
                pending.append((rel, rules))
            elif is_python:
                if root is not None and rules.ignored(_join(prefix, rel), False):
                    ignored += 1
                    continue
                files.append(rel)
    return FolderWalk(sorted(files), ignored)


def _join(first: str, second: str) -> str:
    return f"{first}/{second}" if first and second else first or second


def count_python_files(folder: Path) -> int:
    """How many ``*.py`` files an ignored folder holds (what the walk would have checked without the rule)."""
    count = 0
    for parent, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not _skip_dir(parent, d)]
        count += sum(1 for name in names if name.endswith(SOURCE_SUFFIXES))
    return count


def _skip_dir(parent: str, name: str) -> bool:
    if name.startswith(".") or name in SKIP_DIRS or name.endswith(".egg-info"):
        return True
    return os.path.isfile(os.path.join(parent, name, "pyvenv.cfg"))  # a virtual environment under any name


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


__all__ = ["Collection", "FolderWalk", "SourceError", "SourcePath", "SourceText", "collect", "collect_paths",
           "read_source", "scan_folder", "walk_folder", "write_source"]
