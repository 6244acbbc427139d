"""Run one layer configuration through its shape rule and through torch, and compare.

Shared by the ``test_rules_torch*.py`` files. A :class:`Case` is a layer (op name and
constructor arguments by name), how many leading arguments to pass positionally, and
the input shapes. :func:`check` builds the torch module (on the meta device unless the
case says ``cpu``), runs it, and asserts the rule agrees:

* torch returns: the rule returns exactly torch's output shape(s) and the parameter
  count of the module; ``CannotTell`` is a failure (every input here is concrete).
  Each input dim is then made a symbol in turn: the rule may say ``CannotTell`` or an
  unknown (None) dim, but never an error, and what it says must evaluate to torch's.
* torch raises at construction or in forward: the rule raises :class:`ShapeError`.
  A construction error the rule cannot see from its arguments is tolerated only when
  :data:`CONSTRUCTION_ONLY` lists it (none do at the moment: every constructor check
  on the shape-relevant arguments is mirrored in the rules).
* :func:`deliberate_refusal` lists the configurations torch runs that a rule refuses on
  purpose (a lazy ConvTranspose whose out_channels do not split into the groups).
* :func:`training_only` lists the errors torch raises in training mode only, which the
  rules accept (a norm with running statistics given one value per channel).
* when the rule's error names a fix (``blame`` = ``expected``), the fixed configuration
  is checked the same way, and if torch runs it, ``recover`` is torch's output.
* :func:`check_message`: torch's cpu message, word for word (used for the key errors).

Some checks only exist outside the meta device: ConvTranspose's channel and
output_padding checks, a lazy conv's out_channels/groups check, softmax's dim range,
the empty-output check of interpolation; CrossMapLRN2d and MaxUnpool read values.
Those cases run on ``cpu`` with small real tensors (ConvTranspose with oneDNN off, see
:attr:`Case.native`).

Not compared: arguments of ``forward`` other than the inputs (ConvTranspose's
output_size, attention masks and need_weights=False, an RNN's initial state,
MaxUnpool's output_size); errors that depend on values (Embedding indices out of
range, invalid unpooling indices); dtype and device errors; zero-size dims (every drawn
size is at least 1); wrongly typed arguments (a string where an int goes), except floats where a size goes,
which test_rules_torch_floats.py compares.
"""

from __future__ import annotations

import re
import warnings
from contextlib import nullcontext
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any

import torch
from hypothesis import strategies as st
from torch import nn

from cnnshape_ls.analysis import dims
from cnnshape_ls.analysis.layers import RULES, Call, CannotTell, ShapeError

CONSTRUCTION_ONLY: dict[str, str] = {
    # regex on torch's construction error -> why the rule cannot see it
}
"""Construction errors a rule is allowed to miss, with the reason."""

TRAINING_ONLY = re.compile(r"Expected more than 1 (value per channel|spatial element) when training")


def training_only(case: Case, error: BaseException) -> bool:
    """A norm that tracks running statistics refuses a single value per channel in training mode only
    (modules are built in training mode here); the analyzer cannot know the mode, so it accepts it.
    Without running statistics the check holds in eval mode too, and the rule must raise."""
    if not TRAINING_ONLY.search(str(error)):
        return False
    positional, keywords = case.split()
    return RULES[case.op].bind(positional, keywords).get("track_running_stats") is True


def deliberate_refusal(case: Case, error: ShapeError) -> str | None:
    """Why the rule refuses a configuration torch runs, when it does so on purpose."""
    if case.op.startswith("LazyConvTranspose") and error.message == "out_channels must be divisible by groups":
        return ("a lazy ConvTranspose skips this constructor check; without bias torch then silently makes "
                "(out_channels // groups) * groups channels, with bias it fails in forward")
    return None


@dataclass(frozen=True)
class Module:
    """A constructor argument that is itself a layer (TransformerEncoder's encoder_layer and norm)."""

    op: str
    kwargs: dict[str, Any]

    def torch(self) -> nn.Module:
        return getattr(nn, self.op)(**{k: _torch_value(v) for k, v in self.kwargs.items()})

    def analyzed(self) -> SimpleNamespace:
        """What the interpreter hands a rule for a layer value: its rule and bound arguments."""
        rule = RULES[self.op]
        return SimpleNamespace(rule=rule, args=rule.bind([], {k: _rule_value(v) for k, v in self.kwargs.items()}))

    def __repr__(self) -> str:
        return f"{self.op}({', '.join(f'{k}={v!r}' for k, v in self.kwargs.items())})"


def _torch_value(value: Any) -> Any:
    return value.torch() if isinstance(value, Module) else value


def _rule_value(value: Any) -> Any:
    return value.analyzed() if isinstance(value, Module) else value


@dataclass
class Case:
    op: str
    kwargs: dict[str, Any]
    inputs: list[tuple[int, ...]]
    positional: int = 0
    """How many leading constructor arguments to pass positionally (to both torch and the rule)."""
    device: str = "meta"
    dtype: Any = None
    """The inputs' dtype (float32), or a tuple with one per input."""
    native: bool = False
    """On cpu, run torch's native kernels (oneDNN off): ConvTranspose through oneDNN returns an empty
    tensor where the native kernel (and the meta kernel) report "Output size is too small"."""

    def split(self) -> tuple[list[Any], dict[str, Any]]:
        names = RULES[self.op].signature[:self.positional]
        return [self.kwargs[n] for n in names], {k: v for k, v in self.kwargs.items() if k not in names}


@dataclass
class Outcome:
    kind: str  # ok | construct | forward (torch); ok | error | cannot (rule)
    out: Any = None
    params: Any = None
    error: BaseException | None = None


def shapes_of(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    if value is None:
        return None
    return tuple(shapes_of(v) for v in value)


def _tensor(shape: tuple[int, ...], case: Case, i: int) -> torch.Tensor:
    dtype = (case.dtype[i] if isinstance(case.dtype, tuple) else case.dtype) or torch.float32
    if case.device == "meta":
        return torch.empty(shape, device="meta", dtype=dtype)
    if dtype.is_floating_point:
        return torch.randn(shape, dtype=dtype)
    return torch.zeros(shape, dtype=dtype)


def run_torch(case: Case) -> Outcome:
    positional, keywords = case.split()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            with torch.device(case.device):
                module = getattr(nn, case.op)(*map(_torch_value, positional),
                                              **{k: _torch_value(v) for k, v in keywords.items()})
        except Exception as error:  # noqa: BLE001 - any refusal counts
            return Outcome("construct", error=error)
        tensors = [_tensor(shape, case, i) for i, shape in enumerate(case.inputs)]
        native = torch.backends.mkldnn.flags(enabled=False) if case.native else nullcontext()
        try:
            with torch.no_grad(), native:
                out = module(*tensors)
        except Exception as error:  # noqa: BLE001
            return Outcome("forward", error=error)
    return Outcome("ok", shapes_of(out), sum(p.numel() for p in module.parameters()))


def run_rule(case: Case) -> Outcome:
    rule = RULES[case.op]
    positional, keywords = case.split()
    args = rule.bind([_rule_value(v) for v in positional], {k: _rule_value(v) for k, v in keywords.items()})
    call = Call(args, list(case.inputs))
    try:
        out = rule.infer(call)
    except ShapeError as error:
        return Outcome("error", error=error)
    except CannotTell as error:
        return Outcome("cannot", error=error)
    return Outcome("ok", out, rule.count_params(args, call.resolved))


def describe(case: Case) -> str:
    positional, keywords = case.split()
    args = ", ".join([repr(v) for v in positional] + [f"{k}={v!r}" for k, v in keywords.items()])
    return f"{case.op}({args}) on {case.inputs} [{case.device}]"


def check(case: Case, follow_fix: bool = True) -> tuple[Outcome, Outcome]:
    """Assert that the rule agrees with torch on ``case``; returns both outcomes."""
    theirs, ours = run_torch(case), run_rule(case)
    where = describe(case)
    if theirs.kind == "ok" and ours.kind == "error" and deliberate_refusal(case, ours.error):
        return theirs, ours
    if theirs.kind == "ok":
        assert ours.kind == "ok", f"{where}: torch gives {theirs.out}, rule says {ours.kind}: {ours.error}"
        assert ours.out == theirs.out, f"{where}: torch gives {theirs.out}, rule {ours.out}"
        assert ours.params == theirs.params, f"{where}: torch has {theirs.params} parameters, rule {ours.params}"
        check_symbolic(case, theirs)
    elif theirs.kind == "forward" and training_only(case, theirs.error):
        pass
    elif ours.kind != "error":
        reason = theirs.kind == "construct" and next(
            (why for pattern, why in CONSTRUCTION_ONLY.items() if re.search(pattern, str(theirs.error))), None)
        assert reason, (f"{where}: torch raises at {theirs.kind}: {type(theirs.error).__name__}: {theirs.error}; "
                        f"rule says {ours.kind}: {ours.out if ours.kind == 'ok' else ours.error}")
    if ours.kind == "error" and follow_fix:
        check_fix(case, ours.error)
    return theirs, ours


def check_symbolic(case: Case, theirs: Outcome) -> None:
    """Each input dim made a symbol in turn: the rule may not tell, but what it says must hold at the value."""
    for i, shape in enumerate(case.inputs):
        for axis, size in enumerate(shape):
            name = f"S{i}_{axis}"
            inputs = [tuple(dims.sym(name) if (j, k) == (i, axis) else v for k, v in enumerate(s))
                      if j == i else s for j, s in enumerate(case.inputs)]
            ours = run_rule(replace(case, inputs=inputs))
            where = f"{describe(case)} with dim {axis} of input {i} symbolic"
            assert ours.kind != "error", f"{where}: rule raises {ours.error} where torch runs"
            if ours.kind == "ok":
                env = {name: size}
                got = _evaluate(ours.out, env)
                assert _matches(got, theirs.out), f"{where}: rule gives {ours.out} = {got}, torch {theirs.out}"
                if ours.params is not None:
                    assert dims.evaluate(ours.params, env) == theirs.params, f"{where}: params {ours.params}"


def _evaluate(value: Any, env: dict[str, int]) -> Any:
    if isinstance(value, tuple):
        return tuple(_evaluate(v, env) for v in value)
    if isinstance(value, dims.Expr):
        return dims.evaluate(value, env)
    return value


def _matches(ours: Any, theirs: Any) -> bool:
    """Equal, where an unknown part (None) of ours matches anything."""
    if ours is None:
        return True
    if isinstance(ours, tuple) and isinstance(theirs, tuple):
        return len(ours) == len(theirs) and all(_matches(a, b) for a, b in zip(ours, theirs))
    return ours == theirs


def check_fix(case: Case, error: ShapeError) -> None:
    """The fix an error proposes must remove that error, and ``recover`` must be what torch then returns."""
    if error.blame is None or error.expected is None:
        return
    assert error.blame in RULES[case.op].signature, f"{describe(case)}: blames unknown argument {error.blame}"
    expected = list(error.expected) if isinstance(error.expected, tuple) else error.expected
    fixed = replace(case, kwargs={**case.kwargs, error.blame: expected})
    theirs, ours = check(fixed, follow_fix=False)
    if ours.kind == "error":
        assert (ours.error.code, ours.error.blame) != (error.code, error.blame), \
            f"{describe(fixed)}: the proposed fix does not remove {error.code}: {ours.error}"
    if theirs.kind == "ok" and error.recover is not None:
        assert error.recover == theirs.out, \
            f"{describe(case)}: recovers with {error.recover}, torch gives {theirs.out} once fixed"


def check_message(case: Case) -> bool:
    """Check ``case`` on cpu; when torch fails in forward, the rule's message must be torch's, word for word.

    Returns whether the messages were compared (torch may accept a drawn configuration)."""
    theirs, ours = check(replace(case, device="cpu"))
    if theirs.kind != "forward":
        return False
    assert ours.error.message == str(theirs.error), f"{describe(case)}: rule says {ours.error.message!r}"
    return True


# ---------------------------------------------------------------------------- strategies


def per_axis(draw, n: int, values: st.SearchStrategy) -> int | tuple[int, ...]:
    """An int, or a tuple with one value per axis (as torch's _ntuple accepts)."""
    if n == 1 or draw(st.booleans()):
        return draw(values)
    return tuple(draw(values) for _ in range(n))


def positional_count(draw, op: str, kwargs: dict[str, Any]) -> int:
    """How many leading signature arguments present in ``kwargs`` to pass positionally."""
    n = 0
    for name in RULES[op].signature:
        if name not in kwargs:
            break
        n += 1
    return draw(st.integers(0, n))


def near(draw, value: int, low: int = 1) -> int:
    """Usually ``value``, sometimes a neighbour (a mismatch on purpose)."""
    if draw(st.integers(0, 3)) == 0:
        return max(low, value + draw(st.sampled_from([-1, 1, 2])))
    return value
