"""Finding the source of a module the analyzed file imports (``from .blocks import ConvBlock``).

The engine evaluates an imported file of the workspace the same way it evaluates
the buffer, so that blocks and constants defined elsewhere keep their shapes.
Only files under the given roots (the workspace, the importer's folder) are
read as workspace files; installed packages are read by :mod:`libraries` (``libraries``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .libraries import LibrarySources


@dataclass
class FileModuleLoader:
    roots: tuple[Path, ...] = ()
    overlay: dict[str, str] = field(default_factory=dict)
    """Unsaved text of open buffers, by absolute path: it wins over the file on disk."""
    libraries: LibrarySources | None = None
    """Installed packages' sources (:mod:`libraries`), read where a name of one is used; None: never."""

    def find(self, module: str, level: int, importer: str | None) -> Path | None:
        parts = [p for p in module.split(".") if p] if module else []
        bases: list[Path] = []
        if level > 0:
            if importer is None:
                return None
            base = Path(importer).resolve().parent
            for _ in range(level - 1):
                base = base.parent
            bases.append(base)
        else:
            if importer is not None:
                bases.append(Path(importer).resolve().parent)
            bases.extend(self.roots)
        for base in bases:
            target = base.joinpath(*parts)
            for candidate in (target.with_suffix(".py") if parts else None, target / "__init__.py"):
                if candidate is not None and (str(candidate) in self.overlay or candidate.is_file()):
                    if self._allowed(candidate, importer):
                        return candidate
        return None

    def _allowed(self, path: Path, importer: str | None) -> bool:
        resolved = path.resolve()
        allowed = [r.resolve() for r in self.roots]
        if importer is not None:
            allowed.append(Path(importer).resolve().parent.parent)
        return any(resolved.is_relative_to(root) for root in allowed)

    def source(self, path: Path) -> str | None:
        key = str(path)
        if key in self.overlay:
            return self.overlay[key]
        try:
            return path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None


PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")


class ProjectRoots:
    """The project a file belongs to: the nearest folder above it with a pyproject.toml, setup.py or .git
    (its imports are followed under that folder); each folder's answer looked up once."""

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
