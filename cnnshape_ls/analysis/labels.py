"""The label of every line: which shape a line ends with, the one answer for hints, ``# out:`` comments
and the ``stale-comment`` check.

A line gets a label where a layer is applied on it, and where a layer applied once is defined (its
``__init__`` line). Of the models that run a line, the one that knows it best (fewest symbols) speaks.
A line run several times (a loop, a block built several times) has one shape per run; where those
differ the label says what holds for every run (:func:`shared_text`: ``(BS, planes, 16|32, 16|32) ×6``),
and a written comment is checked against every run (:func:`comment_fits`): never one instance's shape
as if it were the only one.

Pure: no LSP types, no I/O. The display (:mod:`cnnshape_ls.display`) build hints and comment edits on it;
the engine checks written comments with it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from . import dims
from .findings import Edit, Finding, Fix, LayerRecord, Span, shape_text
from .result import BlockInstance, ModelResult, shown_models
from .source import OUT_COMMENT, SourceFile, comment_start

BATCH = re.compile(r"\bBS\b")


@dataclass
class InstanceRun:
    """What one instance of a block (or the model itself) makes on a line."""

    path: str
    """Its module path (``layer2.0``; ``""`` for the model)."""
    instance: BlockInstance | None
    records: list[LayerRecord] = field(default_factory=list)
    shapes: list[tuple] = field(default_factory=list)
    """What the line ends with, once per time this instance runs it."""


@dataclass
class LineLabel:
    line: int
    model: str
    """The model whose run gives the label."""
    records: list[LayerRecord] = field(default_factory=list)
    """The layer applications the label is about (a call's, or the definition's instances)."""
    shapes: list[tuple] = field(default_factory=list)
    """The distinct shapes the line ends with, one per run that differs."""
    runs: list[InstanceRun] = field(default_factory=list)
    """Each instance that runs the line (several where a block is built several times)."""

    @property
    def shape(self) -> tuple | None:
        """The line's one shape, fully known; ``None`` where runs differ or a size is unknown."""
        if len(self.shapes) != 1 or any(d is None for d in self.shapes[0]):
            return None
        return self.shapes[0]

    @property
    def shared(self) -> bool:
        """Runs differ: the label says what holds for all of them (:func:`shared_text`)."""
        return len(self.shapes) > 1

    @property
    def count(self) -> int:
        """How many instances run the line (how many times it runs, for one instance in a loop)."""
        return len(self.runs) if len(self.runs) > 1 else sum(len(r.shapes) for r in self.runs)

    @property
    def complete(self) -> bool:
        """Every size of every run is known: only then is a comment written or checked."""
        return bool(self.shapes) and all(d is not None for shape in self.shapes for d in shape)

    def text(self, batch_name: str = "BS") -> str | None:
        """The shape the label shows: the one shape, or what all runs share followed by ``×N``; a size not
        known is ``?``. ``None`` where runs differ in rank."""
        if not self.shared:
            return rename_batch(shape_text(self.shapes[0]), batch_name) if self.shapes else None
        shared = shared_text(self.runs)
        return None if shared is None else f"{rename_batch(shared, batch_name)} ×{self.count}"

    def comment(self, batch_name: str = "BS") -> str | None:
        """The ``# out: (...)`` comment for the line, or ``None`` where a size of a run is not known."""
        text = self.text(batch_name) if self.complete else None
        return None if text is None else f"# out: {text}"

    def fits(self, written: str) -> bool:
        """Whether a written shape is true for every run of the line (see :func:`comment_fits`); never for
        a line where a size is not known."""
        if not self.complete:
            return False
        if self.shape is not None:
            return comment_matches(written, self.shape)
        return comment_fits(written, self.runs)


MAX_ALTERNATIVES = 3


def shared_text(runs: list[InstanceRun]) -> str | None:
    """What every run's shape agrees on: equal sizes as they are; a size that differs as the block's
    constructor parameter it equals in every instance (``out_ch``), else its values (``64|128``, at most
    three numbers), else ``*``; ``?`` where a run's size is not known. ``None`` where ranks differ."""
    pairs = [(run.instance, shape) for run in runs for shape in run.shapes]
    if not pairs:
        return None
    ranks = {len(shape) for _, shape in pairs}
    if len(ranks) != 1:
        return None
    parts = []
    for i in range(ranks.pop()):
        values = [shape[i] for _, shape in pairs]
        if any(v is None for v in values):
            parts.append("?")  # not known in one run: not known for all
            continue
        if all(v == values[0] for v in values):
            parts.append(dims.to_text(values[0]))
            continue
        name = _parameter_equal_to(pairs, i)
        if name is not None:
            parts.append(name)
            continue
        numbers = sorted(set(values)) if all(isinstance(v, int) for v in values) else []
        # formulas side by side (``(H - 1)//2 + 1|H``) read as noise: a size that differs as one is ``*``
        parts.append("|".join(map(str, numbers)) if 0 < len(numbers) <= MAX_ALTERNATIVES else "*")
    return "(" + ", ".join(parts) + ")"


def _parameter_equal_to(pairs: list[tuple], i: int) -> str | None:
    """The constructor parameter every instance was given the size at ``i`` as, if one is."""
    if any(instance is None for instance, _ in pairs) or len({instance.cls for instance, _ in pairs}) != 1:
        return None
    for name, _ in pairs[0][0].arguments:
        if all(instance.argument(name) == shape[i] for instance, shape in pairs):
            return name
    return None


def comment_fits(written: str, runs: list[InstanceRun]) -> bool:
    """Whether a written shape is true for every run: each size equal, a parameter name equal to the
    instance's argument, alternatives (``64|128``) holding it, ``*`` anything; the batch named freely."""
    got = _dims(written)
    for run in runs:
        arguments = dict(run.instance.arguments) if run.instance is not None else {}
        for shape in run.shapes:
            if len(got) != len(shape):
                return False
            for i, (token, dim) in enumerate(zip(got, shape)):
                if not _token_fits(token, dim, arguments, batch=i == 0):
                    return False
    return True


def _token_fits(token: str, dim: object, arguments: dict[str, int], batch: bool) -> bool:
    if token == "*":
        return True
    want = dims.to_text(dim).replace(" ", "")
    for choice in token.split("|"):
        if choice == want or (choice in arguments and arguments[choice] == dim):
            return True
        if batch and choice.isidentifier() and (want.isidentifier() or want.isdigit()):
            return True  # the batch may be written B, N, BS or as a number
    return False


def rename_batch(text: str, batch_name: str) -> str:
    """The analysis writes the batch as ``BS``; shown as the user names it."""
    return text if batch_name == "BS" else BATCH.sub(batch_name, text)


def symbol_count(shape: tuple | None) -> int:
    """How much of a shape is unknown or symbolic: the lower, the better a model knows the line."""
    if shape is None:
        return 1000
    return sum(0 if isinstance(d, int) else 100 if d is None else len(d.symbols()) for d in shape)


def line_labels(models: Iterable[ModelResult], lines: Collection[int] | None = None) -> dict[int, LineLabel]:
    """The label of each line that applies or defines a layer whose last output is known, at least in part
    (``(BS, 64, ?, ?)``): the hint shows it; a comment is written and checked only for a fully known one.
    ``lines``: only those (the stale-comment check needs the commented lines alone)."""
    best: dict[int, tuple[ModelResult, list[LayerRecord]]] = {}
    for model in shown_models(list(models)):  # a block speaks through the model that builds it
        for line, records in _records_by_line(model, lines).items():
            last = records[-1].output
            if last is None or all(d is None for d in last):
                continue  # a shape of which something is known is shown, its unknown sizes as ?
            taken = best.get(line)
            # scored only where two models run the line (a block and the model that builds it): most lines, one
            if taken is None or symbol_count(last) < symbol_count(taken[1][-1].output):
                best[line] = (model, records)
    labels = {}
    for line, (model, records) in sorted(best.items()):
        calls = [r for r in records if r.line == line]
        runs = _instance_runs(model, line, calls or records, definition=not calls)
        shapes = _distinct([shape for run in runs for shape in run.shapes])
        labels[line] = LineLabel(line, model.name, records, shapes, runs)
    return labels


def _instance_runs(model: ModelResult, line: int, records: list[LayerRecord], definition: bool) -> list[InstanceRun]:
    """The records of a line split by the instance that runs them: a call line ends with the last output
    of each run; a definition line with each instance's output."""
    runs: dict[str, InstanceRun] = {}
    for record in records:
        owner = _holder(model, record.path) if definition else (record.owner or "")
        run = runs.get(owner)
        if run is None:
            run = runs[owner] = InstanceRun(owner, model.instances.get(owner))
        run.records.append(record)
    for run in runs.values():
        run.shapes = [r.output for r in run.records if r.output is not None] if definition \
            else [s for s in pass_outputs(run.records) if s is not None]
    return [run for run in runs.values() if run.shapes]


def _holder(model: ModelResult, path: str | None) -> str:
    """The instance that holds the layer at ``path``: the longest prefix that is one (``layer2.0``)."""
    head = path or ""
    while head:
        head = head.rpartition(".")[0]
        if head in model.instances:
            return head
    return ""


def _records_by_line(model: ModelResult, lines: Collection[int] | None) -> dict[int, list[LayerRecord]]:
    """The records of each line (of ``lines`` only, where given)."""
    uses: dict[str, int] = {}
    for record in model.records:
        if record.path:
            uses[record.path] = uses.get(record.path, 0) + 1
    by_line: dict[int, list[LayerRecord]] = {}
    for record in model.records:
        if lines is None or record.line in lines:
            by_line.setdefault(record.line, []).append(record)
        # a layer defined in __init__ and used once also gets a label where it is defined
        if record.def_line and record.def_line != record.line and record.path and uses[record.path] == 1 \
                and (lines is None or record.def_line in lines):
            by_line.setdefault(record.def_line, []).append(record)
    return by_line


def pass_outputs(records: list[LayerRecord]) -> list:
    """What a line ends with, once per time it runs: a loop or a constructor in a loop runs it again
    (the same call recurs), while nested calls on one line run once and end with the outermost. Layers
    listed in a container have no call position: they run again when the same layer recurs or when the
    line's layers now belong to another container (the same block line, built in another instance)."""
    finals: list = []
    seen: set[tuple] = set()
    last = None
    container: str | None = None
    for record in records:
        if record.end_column:
            key: tuple = (record.op, record.column, record.end_column)
            again = key in seen
        else:
            owner = (record.path or "").rpartition(".")[0]
            key = (record.op, record.path)
            again = key in seen or (container is not None and owner != container)
            container = owner
        if again and last is not None:
            finals.append(last)
            seen.clear()
        seen.add(key)
        last = record.output
    if last is not None:
        finals.append(last)
    return finals


def _distinct(shapes: list) -> list:
    out: list = []
    for s in shapes:
        if s is not None and s not in out:
            out.append(s)
    return out


# ---------------------------------------------------------------------- comments already written
def written_comment(text: str) -> re.Match | None:
    """The ``# out: (...)`` comment of a line, found in its comment (not in a string)."""
    start = comment_start(text)
    return None if start is None else OUT_COMMENT.search(text, start)


def _dims(text: str) -> list[str]:
    return [t.replace(" ", "") for t in text.strip("()[] ").split(",") if t.strip()]


def comment_matches(written: str, shape: tuple) -> bool:
    """Whether a written shape says ``shape``, ignoring spaces and how the batch is named."""
    got = _dims(written)
    want = [dims.to_text(d).replace(" ", "") for d in shape]
    if len(got) != len(want):
        return False
    for i, (g, w) in enumerate(zip(got, want)):
        if g == w:
            continue
        if i == 0 and g.isidentifier() and (w.isidentifier() or w.isdigit()):
            continue  # the batch may be written B, N, BS or as a number
        return False
    return True


def refreshed_shape(written: str, shape: tuple) -> str:
    """``shape`` written to replace a stale comment's shape, keeping the name it gave the batch."""
    first = _dims(written)[:1]
    if first and first[0].isidentifier() and len(shape) > 1:
        return "(" + ", ".join([first[0], *(dims.to_text(d) for d in shape[1:])]) + ")"
    return shape_text(shape)


def stale_comments(src: SourceFile, models: list[ModelResult]) -> list[Finding]:
    """A ``# out:`` comment that is false for the line's label: for a line run by several instances, false
    for one of them (a comment true for every instance is never flagged)."""
    findings: list[Finding] = []
    commented = {n for n, text in enumerate(src.lines, 1) if "out:" in text}  # a cheap test before the regex
    if not commented:
        return findings
    for label in line_labels(models, commented).values():
        said = label.text() if label.complete else None  # a shape known in part is never checked
        match = written_comment(src.line_text(label.line)) if said is not None else None
        if match is None or label.fits(match.group("shape")):
            continue
        ours = refreshed_shape(match.group("shape"), label.shape) if label.shape is not None else \
            said.rpartition(" ×")[0]
        span = Span(label.line, match.start("shape"), label.line, match.end("shape"))
        what = "the output is" if label.shape is not None else f"its {label.count} runs give"
        findings.append(Finding(span, "warning", "stale-comment",
                                f"This comment says {match.group('shape')}, but {what} {ours}",
                                [Fix(f"Update the comment to {ours}", [Edit(span, ours)])], model=label.model))
    return findings


__all__ = ["InstanceRun", "LineLabel", "comment_fits", "comment_matches", "line_labels", "pass_outputs",
           "refreshed_shape", "rename_batch", "shared_text", "stale_comments", "symbol_count", "written_comment"]
