"""The label of every line: which shape a line ends with, the one answer for hints, ``# out:`` comments
and the ``stale-comment`` check.

A line gets a label where a layer is applied on it, and where a layer applied once is defined (its
``__init__`` line). Of the models that run a line, the one that knows it best (fewest symbols) speaks.
A line run several times (a loop, a block built several times) has one shape per run; where those
differ the line has no single shape, and no comment is written or checked there: never one instance's
shape as if it were the only one.

Pure: no LSP types, no I/O. The views (:mod:`cnnshape_ls.views`) build hints and comment edits on it;
the engine checks written comments with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from . import dims
from .findings import LayerRecord, shape_text
from .result import ModelResult
from .source import OUT_COMMENT, comment_start

BATCH = re.compile(r"\bBS\b")


@dataclass
class LineLabel:
    line: int
    model: str
    """The model whose run gives the label."""
    records: list[LayerRecord] = field(default_factory=list)
    """The layer applications the label is about (a call's, or the definition's instances)."""
    shapes: list[tuple] = field(default_factory=list)
    """The distinct shapes the line ends with, one per run that differs."""

    @property
    def shape(self) -> tuple | None:
        """The line's one shape, fully known; ``None`` where runs differ or a size is unknown."""
        if len(self.shapes) != 1 or any(d is None for d in self.shapes[0]):
            return None
        return self.shapes[0]

    def comment(self, batch_name: str = "BS") -> str | None:
        """The ``# out: (...)`` comment for the line, or ``None`` where it has no single known shape."""
        shape = self.shape
        return None if shape is None else f"# out: {rename_batch(shape_text(shape), batch_name)}"


def rename_batch(text: str, batch_name: str) -> str:
    """The analysis writes the batch as ``BS``; shown as the user names it."""
    return text if batch_name == "BS" else BATCH.sub(batch_name, text)


def symbol_count(shape: tuple | None) -> int:
    """How much of a shape is unknown or symbolic: the lower, the better a model knows the line."""
    if shape is None:
        return 1000
    return sum(0 if isinstance(d, int) else 100 if d is None else len(d.symbols()) for d in shape)


def line_labels(models: Iterable[ModelResult]) -> dict[int, LineLabel]:
    """The label of each line that applies or defines a layer whose last output is known, at least in part
    (``(BS, 64, ?, ?)``): the hint shows it; a comment is written and checked only for a fully known one."""
    best: dict[int, tuple[ModelResult, list[LayerRecord]]] = {}
    for model in models:
        for line, records in _records_by_line(model).items():
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
        # a call line ends with the last output of each run; a definition line with each instance's output
        shapes = _distinct(pass_outputs(calls) if calls else [r.output for r in records])
        labels[line] = LineLabel(line, model.name, records, shapes)
    return labels


def _records_by_line(model: ModelResult) -> dict[int, list[LayerRecord]]:
    uses: dict[str, int] = {}
    for record in model.records:
        if record.path:
            uses[record.path] = uses.get(record.path, 0) + 1
    by_line: dict[int, list[LayerRecord]] = {}
    for record in model.records:
        by_line.setdefault(record.line, []).append(record)
        # a layer defined in __init__ and used once also gets a label where it is defined
        if record.def_line and record.def_line != record.line and record.path and uses[record.path] == 1:
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


__all__ = ["LineLabel", "comment_matches", "line_labels", "pass_outputs", "refreshed_shape", "rename_batch",
           "symbol_count", "written_comment"]
