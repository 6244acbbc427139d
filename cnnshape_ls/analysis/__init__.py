"""The pure analysis core: parse, model tree, shape rules. No LSP, no torch."""

from .engine import Options, analyze_source
from .result import Analysis, ModelResult

__all__ = ["Analysis", "ModelResult", "Options", "analyze_source"]
