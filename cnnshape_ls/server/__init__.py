"""The language server: a thin layer that turns the engine's findings into LSP features."""

from .server import CnnshapeServer, create_server, run

__all__ = ["CnnshapeServer", "create_server", "run"]
