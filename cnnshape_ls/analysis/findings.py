"""What the analysis finds: layer applications with their shapes, and problems with fixes.

Positions are 1-based lines and 0-based code-point columns internally; the JSON
form (:mod:`result`) turns columns 1-based as the contract says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import dims
from .layers import Shape


@dataclass(frozen=True)
class Span:
    line: int
    column: int
    end_line: int
    end_column: int


@dataclass(frozen=True)
class Edit:
    span: Span
    new_text: str
    path: str | None = None
    """Another file's edit (an imported block's argument): that file's path, ``span`` in its lines.
    None: an edit of the analyzed buffer."""


@dataclass(frozen=True)
class Related:
    """A place a finding comes from or bears on (LSP ``relatedInformation``): in another file (an imported
    block's layer), or, with ``path`` None, in this one (the Linear a wrong view agrees with)."""

    path: str | None
    span: Span
    message: str
    shown: str = ""
    """The other file as messages name it (relative to the analyzed file's folder)."""


@dataclass
class Fix:
    title: str
    edits: list[Edit]
    relocates: bool = field(default=False, compare=False)
    """The mistake is where this fix edits (an instance's argument), not where torch would fail."""
    producer: Any = field(default=None, compare=False, repr=False)
    """The layer whose output size this fix changes, while the run that wrote it ends (``drop_cascades``)."""
    tentative: bool = field(default=False, compare=False)
    """A guess (swapped sizes): kept only where applying it is checked to leave no error (:mod:`checking`)."""
    checked: bool = field(default=False, compare=False)
    """One of several alternatives (a padding, a pool's kernel): each kept only where applying it is checked
    to leave no error, all that do in their order (:mod:`checking`)."""
    shows: Related | None = field(default=None, compare=False, repr=False)
    """The place of this file the fix edits, shown as related information on its finding (the pool whose
    stride made the map too small): it goes where the checks drop the fix."""

    @property
    def elsewhere(self) -> bool:
        """It edits another file: offered only as an action the user picks, never applied by fix-all."""
        return any(edit.path is not None for edit in self.edits)


@dataclass
class Finding:
    span: Span
    severity: str  # error | warning | information
    code: str
    message: str
    fixes: list[Fix] = field(default_factory=list)
    source: str = "cnnshape"
    model: str | None = None
    layer_path: str | None = None
    related: list[Related] = field(default_factory=list)
    """Where in another file the problem is, for an error inside an imported block (reported on the line
    of this file that builds or applies it); and places of this file that bear on it (``path`` None)."""

    @property
    def in_other_file(self) -> bool:
        """The error is in another file's code (an imported block): what follows it here is unknown."""
        return any(r.path is not None for r in self.related)

    @property
    def local_fixes(self) -> list[Fix]:
        """The fixes fix-all and ``cnnshape check --fix`` may apply: this buffer's own, and only where the
        preferred fix is one of them (an error whose fix is in another file is the user's pick)."""
        if not self.fixes or self.fixes[0].elsewhere:
            return []
        return [fix for fix in self.fixes if not fix.elsewhere]


@dataclass
class LayerRecord:
    """One application of a layer (or functional op) during ``forward``."""

    path: str | None
    op: str
    line: int
    def_line: int | None
    input: Shape | None
    output: Shape | None
    params: dims.Dim | None
    formula: str = ""
    explain: list[str] = field(default_factory=list)
    params_text_of: Callable[[], str] | None = field(default=None, repr=False, compare=False)
    """Makes :attr:`params_text` when a hover first asks: most records are never hovered."""
    outputs: tuple = ()
    """Every output shape when the op returns several (LSTM: output, h_n, c_n)."""
    column: int = 0
    end_column: int = 0
    """Where the call is on ``line`` (for hovers on the call)."""
    leaf: bool = True
    """False for a call of a module with submodules (a block): shown as a hint, not a layer."""
    arg_spans: dict = field(default_factory=dict)
    """Where the constructor's size arguments are written (``in_features``): for fixes found by torch."""
    verified: str = ""
    """Set by torch verification: ``torch`` (confirmed), ``filled`` (torch gave what was unknown) or
    ``corrected`` (torch disagreed; ``output`` is torch's)."""
    static_output: Shape | None = None
    """What the static analysis said, when torch corrected it."""
    owner: str | None = None
    """The module path of the user's module whose ``forward`` made this call (``layer2.0``; ``""``: the model)."""
    unknown_args: tuple[str, ...] = ()
    """The layer's arguments the analysis could not follow, and why (``kernel_size: np.power(...) could
    not be followed``): the dimensions that depend on them are unknown."""
    _params_text: str | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def params_text(self) -> str:
        """The parameter count's formula with the numbers put in: ``6*(3/1)*5*5 + 6 (bias) = 456``."""
        if self._params_text is None:
            self._params_text = self.params_text_of() if self.params_text_of is not None else ""
        return self._params_text

    def __getstate__(self) -> dict:
        """Made now when sent to another process (``cnnshape check`` analyzes folders in parallel)."""
        state = dict(self.__dict__)
        state["_params_text"], state["params_text_of"] = self.params_text, None
        return state

    def __copy__(self) -> LayerRecord:
        """A plain copy (the cache moves copies to new lines): the text is still made when first read."""
        copied = object.__new__(LayerRecord)
        copied.__dict__.update(self.__dict__)
        return copied


def shape_text(shape: Shape | None) -> str:
    if shape is None:
        return "?"
    if len(shape) == 1:
        return f"({dims.to_text(shape[0])},)"
    return "(" + ", ".join(dims.to_text(d) for d in shape) + ")"


def shape_json(shape: Shape | None) -> list | None:
    if shape is None or any(d is None for d in shape):
        return None
    return [dims.to_json(d) for d in shape]


def partial_json(shape: Shape | None) -> dict[str, list]:
    """``{"out_partial": [2, 64, null, null]}`` where a shape is known only in part (``out`` is null there),
    else nothing: the key says which sizes are known without changing what ``out`` means."""
    if shape is None or all(d is not None for d in shape) or all(d is None for d in shape):
        return {}
    return {"out_partial": [dims.to_json(d) for d in shape]}
