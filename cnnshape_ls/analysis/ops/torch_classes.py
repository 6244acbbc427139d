"""The class of a torch layer or container, as Python sees it: ``type(m)``, ``m.__class__`` and their
``__name__`` (``m.__class__.__name__ == "AdaptiveInstanceNorm2d"`` while walking ``model.modules()``)."""

from __future__ import annotations

from ..values import Container, External, Layer
from .names import tail


def torch_class_of(value: Layer | Container) -> External:
    """``type(nn.Conv2d(...))`` is ``torch.nn.Conv2d``, as ``nn.Conv2d`` itself evaluates."""
    name = value.rule.op if isinstance(value, Layer) else value.kind
    return External(f"torch.nn.{name}")


def class_name_of(value: External) -> str | None:
    """``__name__`` of a class torch or Python defines (``torch.nn.Conv2d`` -> ``"Conv2d"``,
    ``builtins.int`` -> ``"int"``); None for anything else (a module's ``__name__`` is its dotted path)."""
    name = tail(value.qualname)
    if value.qualname.startswith("builtins."):
        return name
    if value.qualname.startswith("torch.") and name[:1].isupper():
        return name
    return None
