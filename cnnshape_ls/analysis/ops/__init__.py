"""What a call means, by kind: each kind of call has its module, its handlers registered by name.

- ``dispatch``: routes a call by what is called (a function of the user's, a class, a ``torch`` name, a
  method) and builds and applies modules; the one part that holds the interpreter (as an ``Evaluator``).
- ``python``: builtins, ``math``, list/dict/str methods. ``containers``: ``nn.Sequential`` & co.
- ``torch_functions``: ``torch.*``; ``tensors``: tensor methods, operators, indexing; ``creation``:
  ``torch.zeros`` & co.; ``functional``: ``F.*`` (the layers' forms come from their rules).
- ``layer_calls``: applying a layer's rule; ``record``: what a run records, the fixes it writes at its end,
  and the one place where ``CannotTell`` and ``ShapeError`` are told apart (``attempt``).

Handlers get a ``Context`` (the run's ``Recorder`` and a few services of the evaluator), never the
interpreter; nothing here imports the interpreter.
"""

from .dispatch import CallDispatcher
from .record import ConstraintFound, FirstLayerFound, is_foreign

__all__ = ["CallDispatcher", "ConstraintFound", "FirstLayerFound", "is_foreign"]
