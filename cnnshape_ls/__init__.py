"""cnnshape-ls: the shape of every tensor in a PyTorch model, while you type."""

from __future__ import annotations

from .analysis import Analysis, Options, analyze_source

__version__ = "0.1.0"


def analyze(source: str, *, path: str | None = None, input: str | None = None,  # noqa: A002 - the contract's name
            model: str | None = None, batch_name: str = "BS", config_input: object = None) -> Analysis:
    """Analyze one buffer without importing torch or executing it; ``.to_json()`` gives the contract's form.

    With a ``path`` that exists, the files of its project it imports (``from blocks import Block``) are
    read and analyzed with it, as ``cnnshape check`` does; installed packages' helpers and models
    (``torchvision.models.resnet18``) are read from the project's environment, or the running one."""
    return analyze_source(source, path, Options(input=input, model=model, batch_name=batch_name,
                                                config_input=config_input, module_loader=_loader_for(path)))


def _loader_for(path: str | None):
    from pathlib import Path

    from .analysis.imports import FileModuleLoader, ProjectRoots
    from .analysis.libraries import LibrarySources

    if path is None or not Path(path).is_file():
        return FileModuleLoader(libraries=LibrarySources())  # installed packages only: no workspace files
    root = ProjectRoots().for_file(Path(path))
    return FileModuleLoader(roots=(root,), libraries=LibrarySources(root))


__all__ = ["Analysis", "analyze", "__version__"]
