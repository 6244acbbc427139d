"""Reading helpers and model classes from installed packages (``torchvision.models.resnet18``).

A name imported from a package that is neither the workspace's nor one the engine models itself (torch,
numpy, the standard library) is looked up in the project's environment the first time the analysis uses
it: the module that defines it is found on that environment's ``sys.path`` and read as text, never
imported. Its top level is evaluated as a workspace import's is (:func:`engine.evaluate_module`, the same
budgets), its nodes marked with their :class:`source.ForeignFile`, and the name's value taken from it.
A C extension, a file past :data:`limits.LIMITS` ``library_file_bytes``, a name the module does not
define in its text (``__getattr__``, lazy modules) or more library files than ``library_files`` stay
unknown (the :class:`values.External` they were).

The environment is the project's: a virtual environment in the project's folder (``.venv``, ``venv``:
a folder with a ``pyvenv.cfg``), else the one ``VIRTUAL_ENV`` names, else jedi's environment of the
running interpreter. Nothing of that environment is executed (its interpreter is never started).

:class:`LibrarySources` (where names are defined, parsed files) lives as long as the server or the
command line's loader and is shared by its analyses; :class:`LibraryContext` is one analysis's (the
evaluated modules), set for the analysis's duration in :data:`CURRENT` (context-local, as the step pool).
"""

from __future__ import annotations

import ast
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .limits import LIMITS
from .source import ForeignFile, SourceFile, parse_tolerant

MODELED_ROOTS = frozenset({
    "torch", "numpy", "np", "pytorch_lightning", "lightning", "typing_extensions", "builtins", "__future__",
    *sys.stdlib_module_names,
})
"""Packages the engine gives semantics itself (or never reads): their names stay :class:`External`."""

MODULE = object()
"""What :meth:`LibrarySources.locate` says of a name that is a module: it stays an External namespace."""


def is_library_name(qualname: str) -> bool:
    return qualname.partition(".")[0] not in MODELED_ROOTS


@dataclass(frozen=True)
class Location:
    module: str
    """The dotted name of the module that defines it (``torchvision.models.resnet``)."""
    path: Path
    name: str


@dataclass
class LibrarySources:
    """Where installed packages' names are defined, found once per name; parsed files kept by path."""

    project: Path | None = None
    _sys_path: list[Path] | None = None
    _modules: dict[str, Path | None] = field(default_factory=dict)
    _located: dict[str, Any] = field(default_factory=dict)
    _parsed: dict[Path, tuple[float, SourceFile, ast.Module] | None] = field(default_factory=dict)

    # ------------------------------------------------------------------ the environment
    def sys_path(self) -> list[Path]:
        if self._sys_path is None:
            self._sys_path = environment_path(self.project)
        return self._sys_path

    def module_file(self, dotted: str) -> Path | None:
        """The ``.py`` file of a module or package (``a.b`` -> ``a/b.py`` or ``a/b/__init__.py``)."""
        if dotted not in self._modules:
            self._modules[dotted] = self._find_module(dotted)
        return self._modules[dotted]

    def _find_module(self, dotted: str) -> Path | None:
        parts = dotted.split(".")
        if not all(p.isidentifier() for p in parts):
            return None
        for entry in self.sys_path():
            target = entry.joinpath(*parts)
            for candidate in (target / "__init__.py", target.with_suffix(".py")):
                if candidate.is_file():
                    return candidate
        return None

    # ------------------------------------------------------------------ names
    def locate(self, qualname: str) -> Location | object | None:
        """Where ``qualname`` is defined: a :class:`Location`, :data:`MODULE`, or None (not found in text)."""
        if qualname not in self._located:
            self._located[qualname] = self._locate(qualname, 0)
        return self._located[qualname]

    def _locate(self, qualname: str, depth: int) -> Location | object | None:
        """A name bound in its parent module's text wins over a submodule of that name (``from .alexnet
        import *`` rebinds ``torchvision.models.alexnet`` to the function), as Python's import does."""
        if depth > 16:
            return None  # a cycle of re-exports
        module, _, name = qualname.rpartition(".")
        path = self.module_file(module) if module else None
        tree = self.tree(path) if path is not None else None
        found = self._in_module(module, path, tree, name, depth) if path is not None and tree is not None else None
        if found is None and self.module_file(qualname) is not None:
            return MODULE
        return found

    def _in_module(self, module: str, path: Path, tree: ast.Module, name: str, depth: int) -> Any:
        """The definition of ``name`` in a module's text: a def, class or assignment there, or the one an
        import there names (``from .resnet import *``, ``from ._api import Weights``), followed."""
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        stars: list[str] = []
        for stmt in top_level(tree.body):
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and stmt.name == name:
                return Location(module, path, name)
            if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                    return Location(module, path, name)
            elif isinstance(stmt, ast.ImportFrom):
                source = absolute(stmt.module or "", stmt.level, package)
                if source is None:
                    continue
                for alias in stmt.names:
                    if alias.name == "*":
                        stars.append(source)
                    elif (alias.asname or alias.name) == name:
                        if f"{source}.{alias.name}" == f"{module}.{name}" or \
                                self.module_file(f"{source}.{alias.name}") is not None:
                            return MODULE  # ``from torchvision import models``: the submodule
                        return self._locate(f"{source}.{alias.name}", depth + 1)
            elif isinstance(stmt, ast.Import):
                for alias in stmt.names:
                    if alias.asname == name:
                        return MODULE if self.module_file(alias.name) is not None else None
        for source in stars:
            exported = self.exported(source)
            if exported is not None and name not in exported:
                continue
            found = self._locate(f"{source}.{name}", depth + 1)
            if found is not None and found is not MODULE:
                return found
        return None

    def exported(self, module: str) -> set[str] | None:
        """A module's literal ``__all__`` (what ``import *`` takes), None where it has none."""
        path = self.module_file(module)
        tree = self.tree(path) if path is not None else None
        if tree is None:
            return None
        for stmt in tree.body:
            if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__"
                                                    for t in stmt.targets):
                try:
                    return {str(n) for n in ast.literal_eval(stmt.value)}
                except (ValueError, TypeError, SyntaxError):
                    return None
        return None

    def tree(self, path: Path) -> ast.Module | None:
        parsed = self.parsed(path)
        return None if parsed is None else parsed[2]

    def parsed(self, path: Path) -> tuple[float, SourceFile, ast.Module] | None:
        """The file parsed once while it is unchanged; None for a file past the size budget or unreadable."""
        try:
            stat = path.stat()
        except OSError:
            return None
        known = self._parsed.get(path)
        if known is not None and known[0] == stat.st_mtime:
            return known
        if stat.st_size > LIMITS.library_file_bytes:
            self._parsed[path] = None
            return None
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        src = parse_tolerant(text, str(path))
        origin = ForeignFile(str(path), src, self.shown(path), installed=True)
        for node in ast.walk(src.tree):
            node._cnnshape_foreign = origin  # type: ignore[attr-defined]  # its lines are the package's
        entry = (stat.st_mtime, src, src.tree)
        self._parsed[path] = entry
        return entry

    def shown(self, path: Path) -> str:
        """``torchvision/models/resnet.py``: the path under the environment's entry that holds it."""
        holding = [entry for entry in self.sys_path() if path.is_relative_to(entry)]
        if not holding:
            return path.name
        return path.relative_to(max(holding, key=lambda entry: len(entry.parts))).as_posix()


def top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """A module's statements, those under ``if``/``try`` included (``try: from x import y``)."""
    for stmt in body:
        if isinstance(stmt, ast.If):
            yield from top_level(stmt.body)
            yield from top_level(stmt.orelse)
        elif isinstance(stmt, ast.Try):
            yield from top_level(stmt.body)
            for handler in stmt.handlers:
                yield from top_level(handler.body)
            yield from top_level(stmt.orelse)
        else:
            yield stmt


def absolute(module: str, level: int, package: str) -> str | None:
    """``from ..utils import x`` in package ``torchvision.models`` is ``torchvision.utils``."""
    if level == 0:
        return module
    parts = package.split(".") if package else []
    if level - 1 > len(parts) or not parts:
        return None
    base = parts[:len(parts) - (level - 1)]
    return ".".join([*base, module] if module else base)


def environment_path(project: Path | None) -> list[Path]:
    """The ``sys.path`` of the project's environment, told without starting its interpreter."""
    for folder in ([project] if project is not None else []):
        for name in (".venv", "venv", "env", ".env"):
            found = site_packages(folder / name)
            if found:
                return found
    virtual = os.environ.get("VIRTUAL_ENV")
    if virtual:
        found = site_packages(Path(virtual))
        if found:
            return found
    import jedi  # only here: a package name was used, and this is its first lookup

    return [Path(p) for p in jedi.InterpreterEnvironment().get_sys_path() if p and Path(p).is_dir()]


def site_packages(venv: Path) -> list[Path]:
    if not (venv / "pyvenv.cfg").is_file():
        return []
    found = sorted(venv.glob("lib/python3*/site-packages")) + sorted(venv.glob("Lib/site-packages"))
    return [p for p in found if p.is_dir()]


# ---------------------------------------------------------------------- one analysis
@dataclass
class LibraryContext:
    """One analysis's reading of installed packages: each module's top level evaluated once."""

    sources: LibrarySources
    evaluate: Callable[[SourceFile, str], Any]
    """Evaluates a module's top level (``engine.evaluate_module``), given the module's package name."""
    envs: dict[str, Any] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def value(self, qualname: str) -> Any:
        """The value ``qualname`` names, read from its package's source, or None (it stays External)."""
        if qualname in self.values:
            return self.values[qualname]
        self.values[qualname] = None  # a module that reads its own name while it is evaluated
        found = self.sources.locate(qualname)
        value = None
        if isinstance(found, Location):
            env = self.module_env(found.module, found.path)
            if env is not None:
                value = env.vars.get(found.name)
        self.values[qualname] = value
        return value

    def module_env(self, module: str, path: Path) -> Any:
        if module in self.envs:
            return self.envs[module]
        self.envs[module] = None
        if len(self.envs) > LIMITS.library_files:
            return None
        parsed = self.sources.parsed(path)
        if parsed is None:
            return None
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        env = self.evaluate(parsed[1], package)
        self.envs[module] = env
        return env


CURRENT: ContextVar[LibraryContext | None] = ContextVar("cnnshape_libraries", default=None)


@contextmanager
def reading(context: LibraryContext | None) -> Iterator[None]:
    """Installed packages are read through ``context`` for the analysis under way in this thread."""
    token = CURRENT.set(context)
    try:
        yield
    finally:
        CURRENT.reset(token)


def library_value(qualname: str) -> Any:
    """The value of an installed package's name for the analysis under way, or None."""
    context = CURRENT.get()
    if context is None or not is_library_name(qualname):
        return None
    return context.value(qualname)
