"""What editors and the command line show, computed from one analysis.

Pure functions of an :class:`~cnnshape_ls.analysis.Analysis`: no LSP types, no
I/O. The language server turns these into inlay hints, hovers and code lenses.
Every line's label comes from :func:`~cnnshape_ls.analysis.labels.line_labels`:
the inlay hint, the comment both annotate actions (the editor's and ``cnnshape
annotate``) write with :func:`annotate_edits`, and the ``stale-comment`` check
say the same. Lines are 1-based, columns 0-based code points.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass, field

from .analysis import Analysis, ModelResult, dims
from .analysis.edits import odd_line_breaks
from .analysis.findings import Edit, LayerRecord, Span, shape_text
from .analysis.labels import line_labels, rename_batch, symbol_count, written_comment
from .analysis.layers import ALL_RULES
from .analysis.source import OUT_COMMENT, comment_start, split_lines

DIM_NAMES = {
    1: ("features",),
    2: ("batch", "features"),
    3: ("batch", "channels", "length"),
    4: ("batch", "channels", "height", "width"),
    5: ("batch", "channels", "depth", "height", "width"),
}
SEQUENCE_OPS = tuple(rule.op for rule in ALL_RULES if rule.sequence)
MAX_LABEL = 43  # VS Code cuts inlay hint labels longer than this
VERIFIED_MARK = " ✓"
"""What the inlay hint of a line torch confirmed ends with (server/features/inlay_hints.py)."""


@dataclass
class LineHint:
    line: int
    column: int
    """Where the hint goes: the end of the code on the line, before any comment."""
    shape: tuple
    label: str
    records: list[LayerRecord] = field(default_factory=list)
    model: str = ""
    verified: bool = False
    shapes: list = field(default_factory=list)
    batch_name: str = "BS"
    comment: str | None = None
    """The ``# out:`` comment the annotate actions write on the line (the label, never cut short)."""

    @property
    def tooltip(self) -> str:
        """Input -> output and the formula; built when asked (inlayHint/resolve), not for every hint."""
        return tooltip(self.records, self.batch_name, self.shapes)


def hint_style_label(shape: tuple, style: str, batch_name: str) -> str:
    return style_label(rename_batch(shape_text(shape), batch_name), style)


def style_label(text: str, style: str) -> str:
    return f"→ {text}" if style == "arrow" else f"# out: {text}"


def line_hints(analysis: Analysis, lines: list[str], style: str = "comment",
               batch_name: str = "BS") -> list[LineHint]:
    """One hint per labelled line (:func:`~cnnshape_ls.analysis.labels.line_labels`); lines whose
    ``# out:`` comment already says something true for every run get none."""
    hints = []
    for line, found in line_labels(analysis.models).items():
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        shapes = found.shapes
        shape = shapes[-1]
        said = found.text(batch_name)
        if said is None:  # runs differ in rank or a size is unknown in one: nothing holds for all of them
            continue
        label = style_label(said, style)
        existing = written_comment(text)
        if existing and found.fits(existing.group("shape")):
            continue
        records = found.records
        # ✓ where torch confirmed what the line ends with in every instance that runs it
        verified = all(run.records[-1].verified == "torch" for run in found.runs) if found.runs \
            else records[-1].verified == "torch"
        room = MAX_LABEL - (len(VERIFIED_MARK) if verified else 0)  # the server appends the mark
        if len(label) > room:
            shape_part, times, count = label.rpartition(" ×") if found.shared else (label, "", "")
            tail = f"{times}{count}" if times else ""
            label = shape_part[: room - 1 - len(tail)] + "…" + tail  # a cut shared label keeps its count
        cut = comment_start(text)
        column = len(text[:cut].rstrip()) if cut is not None else len(text.rstrip())
        hints.append(LineHint(line, column, shape, label, records, found.model, verified, shapes, batch_name,
                              found.comment(batch_name)))
    return hints


def tooltip(records: list[LayerRecord], batch_name: str, shapes: list | None = None) -> str:
    parts = []
    for record in records[-3:]:
        name = record.path or record.op
        parts.append(f"{name}: {rename_batch(shape_text(record.input), batch_name)} -> "
                     f"{rename_batch(shape_text(record.output), batch_name)}")
        parts.extend(f"  {line}" for line in (*record.unknown_args, *record.explain)[:3])
    if shapes and len(shapes) > 1:
        parts.append("shapes on this line: " + ", ".join(rename_batch(shape_text(s), batch_name) for s in shapes))
    return "\n".join(parts)


def dim_names(shape: tuple | None, op: str = "") -> str:
    if shape is None:
        return ""
    if any(op.startswith(p) for p in SEQUENCE_OPS) or op in SEQUENCE_OPS:
        return ""
    names = DIM_NAMES.get(len(shape))
    return f"({', '.join(names)})" if names else ""


def params_text(value: dims.Dim | None) -> str:
    if value is None:
        return "unknown"
    return f"{value:,}" if isinstance(value, int) else dims.to_text(value)


def summary_line(record: LayerRecord, batch_name: str = "BS") -> str:
    """One plain-text line that says it all, for editors that show only a hover's first line (Emacs' echo
    area, Neovim's and VS Code's compact views): ``conv1 Conv2d (BS, 3, 32, 32) -> (BS, 6, 28, 28), 456 params``."""
    name = f"{record.path} {record.op}" if record.path else record.op
    text = (f"{name} {rename_batch(shape_text(record.input), batch_name)} -> "
            f"{rename_batch(shape_text(record.output), batch_name)}")
    if record.path and record.params is not None:
        text += f", {params_text(record.params)} params"
    return text


def layer_hover(records: list[LayerRecord], batch_name: str = "BS") -> str:
    """Markdown for a hover on a layer: a plain first line with the whole story (``summary_line``), then the
    shapes with dimension names, the formula with numbers, parameters."""
    blocks = []
    for record in records:
        lines = [summary_line(record, batch_name), "", "```text"]
        lines.append(f"{'input':<8}{rename_batch(shape_text(record.input), batch_name)}  "
                     f"{dim_names(record.input, record.op)}".rstrip())
        for i, out in enumerate(record.outputs or (record.output,)):
            label = "output" if i == 0 else f"out[{i}]"
            lines.append(f"{label:<8}{rename_batch(shape_text(out), batch_name)}  {dim_names(out, record.op)}".rstrip())
        lines.extend(f"{'unknown':<8}{why}" for why in record.unknown_args)  # what the ? dims depend on
        lines.extend(record.explain)
        if record.params is not None and record.path:
            if record.params_text not in ("", "0") and record.params:
                lines.append(f"{'params':<8}{record.params_text}")
            else:
                lines.append(f"{'params':<8}{params_text(record.params)}")
        lines.append("```")
        if record.formula:
            lines.append(f"`{record.formula}`")  # a code span: the * of a formula is not emphasis
        if record.verified == "torch":
            lines.append("✓ torch agrees")
        elif record.verified == "filled":
            lines.append("shape from torch (the static analysis could not tell)")
        elif record.verified == "corrected":
            lines.append(f"torch gives {rename_batch(shape_text(record.output), batch_name)}, static analysis said "
                         f"{rename_batch(shape_text(record.static_output), batch_name)}")
        blocks.append("\n".join(lines))
    return "\n\n---\n\n".join(blocks)


MAX_INSTANCES = 12
"""Instances listed one by one in the hover on a shared line; the rest are counted."""


def instances_hover(analysis: Analysis, line: int, column: int | None = None, batch_name: str = "BS") -> str | None:
    """Markdown for a hover on a line that several instances of a block run with different shapes: the
    label, each instance by module path with its input and output, the parameters of each configuration.
    ``None`` where the line has one shape (the layer hover says it all)."""
    label = line_labels(analysis.models).get(line)
    if label is None or not label.shared or len(label.runs) < 2:
        return None
    said = label.text(batch_name)
    block = label.runs[0].instance.cls if label.runs[0].instance is not None else label.model
    # the first line plain text, whole in itself (an echo area shows only it)
    out = [f"{block}: this line runs in {len(label.runs)} instances" + (f", out {said}" if said else ""), "", "```text"]
    subjects = [(run, _subject(run.records, line, column)) for run in label.runs]
    width = max(len(run.path) for run, _ in subjects[:MAX_INSTANCES])
    for run, (first, last) in subjects[:MAX_INSTANCES]:
        out.append(f"{run.path:<{width}}  {rename_batch(shape_text(first.input), batch_name)} -> "
                   f"{rename_batch(shape_text(last.output), batch_name)}")
    if len(subjects) > MAX_INSTANCES:
        out.append(f"and {len(subjects) - MAX_INSTANCES} more")
    out.append("```")
    configurations: dict[tuple, list[str]] = {}
    counts: dict[tuple, dims.Dim | None] = {}
    for run, (first, last) in subjects:
        key = run.instance.arguments if run.instance is not None else ()
        configurations.setdefault(key, []).append(run.path)
        counts[key] = _layer_params([last] if last is first and last.path else run.records)
    if all(last.verified == "torch" for _, (_, last) in subjects):
        out.append("✓ torch agrees in every instance")
    if any(value is not None for value in counts.values()):
        out.extend(["", "params of each configuration:", ""])
        for key, paths in configurations.items():
            built = ", ".join(f"{name}={value}" for name, value in key) or "as built"
            out.append(f"- `{built}` ({len(paths)}×): {params_text(counts[key])}")
    return "\n".join(out)


def _layer_params(records: list[LayerRecord]) -> dims.Dim | None:
    """The parameters of the layers ``records`` apply, each layer once; ``None`` if none is a layer."""
    by_path = {r.path: r.params for r in records if r.path}
    if not by_path or any(v is None for v in by_path.values()):
        return None
    total: dims.Dim = 0
    for value in by_path.values():
        total = dims.add(total, value)
    return total


def _subject(records: list[LayerRecord], line: int, column: int | None) -> tuple[LayerRecord, LayerRecord]:
    """The first and last record an instance's run of a line is about: the call under the cursor, else the
    line's first pass (its input is the first call's, its output the last call's)."""
    if column is not None:
        under = [r for r in records if r.line == line and r.end_column and r.column <= column <= r.end_column]
        if under:
            narrowest = min(under, key=lambda r: r.end_column - r.column)
            return narrowest, narrowest
    ends = [r for r in records if r.output is not None]
    last = next((r for r in ends if r.end_column and r.line == line
                 and r.end_column - r.column == max(x.end_column - x.column for x in ends if x.line == line)),
                records[-1]) if any(r.line == line for r in records) else records[0]
    return records[0], last


def model_summary(model: ModelResult, batch_name: str = "BS") -> str:
    source = f" ({model.input_source})" if model.input_source else ""
    leaves = [r for r in model.layers if r.path]
    return "\n".join([
        f"{model.name}: {len({r.path for r in leaves})} layers, {params_text(model.params)} params, "
        f"{rename_batch(shape_text(model.input), batch_name)} -> {rename_batch(shape_text(model.output), batch_name)}",
        "",
        f"input  `{rename_batch(shape_text(model.input), batch_name)}`{source}",
        f"output `{rename_batch(shape_text(model.output), batch_name)}`",
    ])


def lens_title(model: ModelResult, batch_name: str = "BS") -> str:
    return (f"{params_text(model.params)} params · {rename_batch(shape_text(model.input), batch_name)} → "
            f"{rename_batch(shape_text(model.output), batch_name)}" + (" · ✓ torch" if model.verified else ""))


def records_at(analysis: Analysis, line: int, column: int | None = None) -> list[LayerRecord]:
    """The layer applications a position points at: a call in forward, or a layer's definition."""
    calls = []
    defs = []
    for model in analysis.models:
        for record in model.records:
            if record.line == line and (column is None or record.end_column == 0
                                        or record.column <= column <= record.end_column):
                calls.append(record)
            elif record.def_line == line:
                defs.append(record)
    found = calls or defs
    best: dict[tuple, LayerRecord] = {}
    for record in found:
        key = (record.path, record.op, record.line)
        if key not in best or symbol_count(record.output) < symbol_count(best[key].output):
            best[key] = record
    ordered = sorted(best.values(), key=lambda r: (r.end_column - r.column) if r.end_column else 10 ** 6)
    return ordered[:1] if column is not None and ordered else ordered


# ---------------------------------------------------------------------- # out: comments written into the file
OUT_START = re.compile(r"#\s*out:")


class CannotAnnotate(Exception):
    """A file where comments cannot be placed safely (it does not tokenize, odd line breaks)."""


@dataclass(frozen=True)
class CommentEdit:
    """One ``# out:`` comment to write: on ``line``, replacing columns ``start``..``end`` (code points)."""

    line: int
    start: int
    end: int
    new_text: str
    kind: str
    """``missing`` (appended) or ``stale`` (an ``# out:`` comment refreshed in place)."""
    comment: str

    @property
    def edit(self) -> Edit:
        return Edit(Span(self.line, self.start, self.line, self.end), self.new_text)


def comment_slots(text: str) -> dict[int, tuple[int, str] | None]:
    """The lines a comment can end (outside any string, not continued by a backslash), each with the
    column and text of the comment it has, if any."""
    if re.search(r"\r(?!\n)", text):
        raise CannotAnnotate("it has lines ending in a lone carriage return")
    if odd_line_breaks(text):
        raise CannotAnnotate("it has a form feed or another character the analysis counts as a line break")
    slots: dict[int, tuple[int, str] | None] = {}
    comments: dict[int, tuple[int, str]] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                comments[tok.start[0]] = (tok.start[1], tok.string)
            elif tok.type in (tokenize.NL, tokenize.NEWLINE):
                slots[tok.start[0]] = comments.get(tok.start[0])
    except (tokenize.TokenError, SyntaxError) as err:
        raise CannotAnnotate(f"it does not tokenize: {err}")
    return slots


def annotate_edits(analysis: Analysis, text: str, batch_name: str = "BS") -> list[CommentEdit]:
    """The ``# out:`` comment of each hinted line, written where missing and refreshed where stale, in line
    order: the text of each is its hint's. Another comment on the line is kept, the ``# out:`` one appended
    after it. Raises :class:`CannotAnnotate` for a file where comments cannot be placed safely."""
    slots = comment_slots(text)
    lines = split_lines(text)
    edits = []
    for hint in line_hints(analysis, lines, "comment", batch_name):
        if hint.comment is None or hint.line not in slots or hint.line > len(lines):
            continue
        content = lines[hint.line - 1]
        comment = slots[hint.line]
        found = OUT_START.search(comment[1]) if comment is not None else None
        if comment is not None and found is not None:
            written = OUT_COMMENT.match(comment[1], found.start())
            begin = comment[0] + found.start()
            end = comment[0] + (written.end() if written else len(comment[1]))
            edits.append(CommentEdit(hint.line, begin, end, hint.comment, "stale", hint.comment))
        else:
            end = len(content.rstrip())
            edits.append(CommentEdit(hint.line, end, len(content), "  " + hint.comment, "missing", hint.comment))
    return edits
