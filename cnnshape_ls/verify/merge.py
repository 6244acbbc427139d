"""Merging torch's answer with the static one.

Agreement marks records verified; a disagreement is a warning on the layer and torch's shape wins; a shape
the static analysis left unknown is filled from torch; an error torch raises that the static analysis
missed becomes a diagnostic (source ``torch``) on the layer at fault, in the words torch uses on the CPU,
with the same kind of fix as a static finding. No torch here: this reads the worker's JSON.
"""

from __future__ import annotations

import ast
import re
from copy import copy
from dataclasses import dataclass, field, replace

from ..analysis import dims
from ..analysis.findings import Edit, Finding, Fix, LayerRecord, Span, shape_text
from ..analysis.result import Analysis, ModelResult, block_ids
from ..verify.slicing import ModuleIndex, construction, surgery

VERIFY_BATCH = 2


@dataclass
class Plan:
    """What to ask the worker for one buffer: the sliced source and the models with concrete inputs."""

    source: str
    models: list[dict]
    skipped: dict[str, str] = field(default_factory=dict)
    """Models that cannot be verified, and why (an input with unknown sizes)."""


def concrete_input(shape: tuple | None) -> list[int] | None:
    if shape is None:
        return None
    out = []
    for i, d in enumerate(shape):
        if isinstance(d, int):
            out.append(d)
        elif i == 0 and isinstance(d, dims.Expr) and len(d.symbols()) == 1:
            out.append(VERIFY_BATCH)  # the symbolic batch: any size will do on the meta device
        else:
            return None
    return out


def required_arguments(tree: ast.Module, name: str) -> list[str]:
    """Constructor parameters without defaults (torch cannot build the model without them)."""
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    args = item.args
                    positional = [*args.posonlyargs, *args.args][1:]
                    needed = positional[:len(positional) - len(args.defaults)]
                    needed += [a for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is None]
                    return [a.arg for a in needed]
    return []


@dataclass(frozen=True)
class Build:
    """How the worker builds one model: an expression evaluated under the meta device."""

    expr: str
    line: int | None = None
    """The line of the file that builds it (None: the file only defines it)."""
    variables: frozenset[str] = frozenset()
    """The names the file binds the built model to (``model``)."""


def build_for(model: ModelResult, tree: ast.Module) -> tuple[Build | None, str]:
    """The model's own constructor call, never the variable the file binds it to: ``Net()`` for ``model =
    Net()``, so that nothing done to ``model`` afterwards runs and the model is built on the meta device."""
    classes = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    cls = model.name if model.name in classes else None
    variable = model.aliases[0] if cls is not None and model.aliases else model.name
    if cls is None or model.aliases:
        made = construction(tree, variable, cls)
        if made is not None:
            return Build(made.expr, made.line, frozenset({variable})), ""
        return Build(variable), ""  # bound some other way (``model, opt = build()``): that statement runs
    if model.construct:
        return Build(model.construct), ""
    needed = required_arguments(tree, model.name)
    if needed:
        return None, (f"its constructor needs {', '.join(needed)}: instantiate it in the file "
                      f"(model = {model.name}(...)) to have it verified")
    return Build(f"{model.name}()"), ""


def plan(analysis: Analysis, text: str) -> Plan | None:
    """What to run: every model whose input is known, in the dependency slice of the file. A model that
    cannot be built without running a statement the slice leaves out is skipped, naming that statement."""
    try:
        index = ModuleIndex(text)
    except SyntaxError:
        return None
    wanted, skipped = [], {}
    kept: set[int] = set()
    blocks = block_ids(analysis.models)
    for model in analysis.models:
        if id(model) in blocks:
            continue  # torch runs it inside the model that builds it, with that model's sizes
        shape = concrete_input(model.input)
        if shape is None:
            skipped[model.name] = "its input size is unknown: state it with a comment such as # in: (BS, 3, 32, 32)"
            continue
        build, why = build_for(model, index.tree)
        if build is None:
            skipped[model.name] = why
            continue
        try:
            needs, piece = index.slice(build.expr, build.line)
        except SyntaxError:
            skipped[model.name] = f"cannot read how the file builds it ({build.expr})"
            continue
        blockers = list(piece.blockers)
        if build.line is not None:
            submodules = {r.path.split(".")[0] for r in model.records if r.path}
            blockers += surgery(index, set(build.variables), build.line, submodules)
        if blockers:
            first = min(blockers, key=lambda b: b.line)
            skipped[model.name] = (f"building it as the file does would run {first.describe()}; "
                                   "verification never runs that")
            continue
        kept |= needs
        spec = {"name": model.name, "expr": build.expr, "input": shape, "line": model.line}
        if build.line is not None:
            spec["at"] = build.line
        wanted.append(spec)
    if not wanted:
        return Plan("", [], skipped)
    source, _ = index.render(kept)
    return Plan(source, wanted, skipped)


# ------------------------------------------------------------------ comparing
def to_static(torch_shape: list[int], like: tuple | None) -> tuple:
    """Torch's shape written as the static analysis writes it: the verification batch back to ``BS``."""
    out: list = list(torch_shape)
    if like is not None and len(like) == len(out):
        for i, (d, t) in enumerate(zip(like, torch_shape)):
            if isinstance(d, dims.Expr) and t == VERIFY_BATCH:
                out[i] = d
    elif out and out[0] == VERIFY_BATCH:
        out[0] = dims.sym("BS")
    return tuple(out)


def same(static: tuple | None, torch_shape: list[int]) -> bool | None:
    if static is None or any(d is None for d in static) or len(static) != len(torch_shape):
        return None if static is None or any(d is None for d in static) else False
    for d, t in zip(static, torch_shape):
        value = d if isinstance(d, int) else dims.evaluate(d, {s: VERIFY_BATCH for s in d.symbols()})
        if value != t:
            return False
    return True


@dataclass
class Verdict:
    model: str
    ok: bool
    records: list[LayerRecord]
    findings: list[Finding]
    confirmed: int = 0
    corrected: int = 0
    filled: int = 0


def merge_model(model: ModelResult, answer: dict, static_findings: list[Finding], lines: list[str]) -> Verdict:
    records = [copy(r) for r in model.records]
    leaves = [i for i, r in enumerate(records) if r.leaf and r.path]
    findings: list[Finding] = []
    verdict = Verdict(model.name, bool(answer.get("ok")), records, findings)
    position = 0
    for path, shape in answer.get("calls", []):
        j = position
        while j < len(leaves) and records[leaves[j]].path != path:
            j += 1
        if j == len(leaves):
            continue
        position = j + 1
        record = records[leaves[j]]
        agreement = same(record.output, shape)
        if agreement is True:
            record.verified = "torch"
            verdict.confirmed += 1
        elif agreement is None:
            record.output = to_static(shape, record.input)
            record.verified = "filled"
            verdict.filled += 1
        else:
            record.static_output = record.output
            record.output = to_static(shape, record.output)
            record.verified = "corrected"
            verdict.corrected += 1
            line = record.def_line or record.line
            findings.append(Finding(_line_span(lines, line), "warning", "torch-mismatch",
                                    f"torch gives {shape_text(record.output)}, static analysis said "
                                    f"{shape_text(record.static_output)}", source="torch", model=model.name,
                                    layer_path=record.path))
    confirm_lines(records, answer.get("lines") or [], verdict)
    error = answer.get("error")
    static_errors = [f for f in static_findings if f.severity == "error" and f.model == model.name]
    if error and not static_errors:
        findings.append(torch_error(model, records, error, lines))
    return verdict


def confirm_lines(records: list[LayerRecord], made: list, verdict: Verdict) -> None:
    """A call that is not a module's (``F.relu(...)``, ``out + identity``, ``torch.cat``) is confirmed where
    torch made a tensor of its shape on its line, in the same module: the line's ✓, whatever its outermost
    call."""
    shapes: dict[tuple, list] = {}
    for owner, line, shape in made:
        shapes.setdefault((owner, line), []).append(shape)
    for record in records:
        if record.path or record.verified or record.output is None:
            continue
        if any(same(record.output, shape) is True for shape in shapes.get((record.owner or "", record.line), ())):
            record.verified = "torch"
            verdict.confirmed += 1


def _line_span(lines: list[str], line: int) -> Span:
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    start = len(text) - len(text.lstrip())
    return Span(line, start, line, len(text.rstrip()))


# ------------------------------------------------------------------ torch's errors in the CPU's words
REDUCTION = re.compile(r"a and b must have same reduction dim, but got \[(\d+), (\d+)\] X \[(\d+), (\d+)\]")
BROADCAST = re.compile(r"Attempting to broadcast a dimension of length (\d+) at (-\d+)! .*?torch\.Size\(\[([\d, ]*)\]\)"
                       r".*?broadcastable to \[([\d, ]*)\]")
CODES = (("mat1 and mat2", "linear-in-features"), ("channels, but got", "conv-in-channels"),
         ("running_mean should contain", "norm-num-features"), ("normalized_shape", "norm-num-features"),
         ("Output size is too small", "output-too-small"), ("Kernel size can't be greater", "output-too-small"),
         ("is invalid for input of size", "view-invalid"), ("Sizes of tensors must match", "cat-mismatch"),
         ("must match the size of tensor", "add-mismatch"), ("input.size(-1) must be equal", "linear-in-features"),
         ("embedding dimension", "linear-in-features"))


def batch_text(value: int) -> str:
    return "BS" if value == VERIFY_BATCH else str(value)


def _input_text(shape: list[int], weight: list[int]) -> str:
    """A conv input as the CPU prints it, its batch (when it has one) written as the static analysis does."""
    dims_shown = [*map(str, shape)]
    if len(shape) == len(weight):
        dims_shown[0] = batch_text(shape[0])
    return "[" + ", ".join(dims_shown) + "]"


def cpu_message(error: dict) -> str:
    """The meta device words some errors differently from the CPU: say it as users see it on the CPU."""
    message = error.get("message", "")
    match = REDUCTION.search(message)
    if match:
        rows, k1, k2, cols = match.groups()
        return f"mat1 and mat2 shapes cannot be multiplied ({batch_text(int(rows))}x{k1} and {k2}x{cols})"
    if message.startswith("Invalid channel dimensions") and "weight" in error and error.get("input"):
        shape = error["input"]
        got = shape[1] if len(shape) == len(error["weight"]) else shape[0]
        groups = error.get("groups", 1)
        wanted = error["weight"][1] * groups
        return (f"Given groups={groups}, weight of size {error['weight']}, expected input"
                f"{_input_text(shape, error['weight'])} to have {wanted} channels, but got {got} channels instead")
    if message.startswith("Given transposed=1") and "weight" in error and error.get("input"):
        # the worker's own check (the meta device makes none): the same words, the batch as everywhere else
        shape = error["input"]
        return message.replace(f"expected input{shape}", f"expected input{_input_text(shape, error['weight'])}", 1)
    match = BROADCAST.search(message)
    if match:
        length, axis, other, expected = match.groups()
        wanted = [int(v) for v in expected.split(",") if v.strip()]
        index = len(wanted) + int(axis)
        a = wanted[index] if 0 <= index < len(wanted) else "?"
        return (f"The size of tensor a ({a}) must match the size of tensor b ({length}) at non-singleton "
                f"dimension {index}")
    return message


def torch_error(model: ModelResult, records: list[LayerRecord], error: dict, lines: list[str]) -> Finding:
    message = cpu_message(error)
    code = next((c for key, c in CODES if key in message), "torch-error")
    record = next((r for r in records if error.get("module") and r.path == error.get("module")), None)
    span = None
    fixes: list[Fix] = []
    if record is not None:
        blame, value = _blame(code, error)
        if blame and blame in record.arg_spans:
            span = record.arg_spans[blame]
            fixes.append(Fix(f"Change {blame} to {value}", [Edit(span, str(value))]))
        elif record.def_line:
            span = _line_span(lines, record.def_line)
    if span is None:
        line = error.get("line") or (record.line if record else model.line)
        span = _line_span(lines, line)
    return Finding(span, "error", code, message, fixes, source="torch", model=model.name,
                   layer_path=error.get("module"))


def _blame(code: str, error: dict) -> tuple[str | None, int | None]:
    shape = error.get("input") or []
    if code == "linear-in-features" and shape:
        name = "in_features" if error.get("module_type") in ("Linear", "LazyLinear") else None
        return name, shape[-1]
    if code == "conv-in-channels" and len(shape) >= 2:
        return "in_channels", shape[1] if len(shape) == len(error.get("weight", [])) else shape[0]
    if code == "norm-num-features" and len(shape) >= 2 and error.get("module_type", "").startswith(
            ("BatchNorm", "InstanceNorm")):
        return "num_features", shape[1]
    return None, None


def merge_answer(analysis: Analysis, answer: dict, lines: list[str],
                 python: str = "") -> tuple[Analysis, list[Finding]]:
    """The worker's answer for one buffer merged into its analysis: a new analysis and torch's findings."""
    findings: list[Finding] = []
    by_name = {m["name"]: m for m in answer.get("models", [])}
    models = []
    for model in analysis.models:
        result = by_name.get(model.name)
        if result is None:
            models.append(model)
            continue
        if not result.get("ok") and (result.get("error") or {}).get("stage") == "build":
            findings.append(Finding(Span(model.line, 0, model.line, 0), "information", "torch-build",
                                    f"torch could not build {model.name}: {result['error'].get('message')}",
                                    source="torch", model=model.name))
            models.append(model)
            continue
        verdict = merge_model(model, result, analysis.findings, lines)
        models.append(replace(model, records=verdict.records, verified=verdict.ok and not verdict.corrected))
        findings += verdict.findings
    findings += [problem_note(lines, problem, python) for problem in answer.get("problems", [])]
    return Analysis(analysis.path, models, analysis.findings, analysis.batch_name), findings


def problem_note(lines: list[str], problem: dict, python: str = "") -> Finding:
    """A statement of the slice that failed: a missing module is said once, on its import."""
    line = problem.get("line") or 1
    span = _line_span(lines, line)
    if problem.get("kind") == "import":
        where = f" (in {python})" if python else ""
        return Finding(span, "information", "torch-import",
                       f"torch verification cannot import this: {problem['message']}{where}", source="torch")
    return Finding(span, "information", "torch-verify", f"torch verification: this line failed: {problem['message']}",
                   source="torch")
