"""What editors and the command line show, computed from one analysis.

Pure functions of an :class:`~cnnshape_ls.analysis.Analysis`: no LSP types, no
I/O. The language server turns these into inlay hints, hovers and code lenses;
``cnnshape annotate`` turns :func:`line_hints` into ``# out:`` comments. Lines
are 1-based, columns 0-based code points.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .analysis import Analysis, ModelResult, dims
from .analysis.engine import comment_matches
from .analysis.findings import LayerRecord, shape_text
from .analysis.layers import ALL_RULES
from .analysis.source import OUT_COMMENT, comment_start

DIM_NAMES = {
    1: ("features",),
    2: ("batch", "features"),
    3: ("batch", "channels", "length"),
    4: ("batch", "channels", "height", "width"),
    5: ("batch", "channels", "depth", "height", "width"),
}
SEQUENCE_OPS = tuple(rule.op for rule in ALL_RULES if rule.sequence)
MAX_LABEL = 43  # VS Code cuts inlay hint labels longer than this


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

    @property
    def tooltip(self) -> str:
        """Input -> output and the formula; built when asked (inlayHint/resolve), not for every hint."""
        return tooltip(self.records, self.batch_name, self.shapes)


def rename_batch(text: str, batch_name: str) -> str:
    return text if batch_name == "BS" else text.replace("BS", batch_name)


def is_concrete(shape: tuple | None) -> bool:
    return shape is not None and all(isinstance(d, int) or (isinstance(d, dims.Expr) and len(d.symbols()) == 1
                                                            and not d.symbols() - {"BS"}) for d in shape)


def _symbol_count(shape: tuple | None) -> int:
    if shape is None:
        return 1000
    return sum(0 if isinstance(d, int) else 100 if d is None else len(d.symbols()) for d in shape)


def _records_by_line(model: ModelResult) -> dict[int, list[LayerRecord]]:
    by_line: dict[int, list[LayerRecord]] = {}
    uses = Counter(r.path for r in model.records if r.path)
    for record in model.records:
        by_line.setdefault(record.line, []).append(record)
        # a layer defined in __init__ and used once also gets a hint where it is defined
        if record.def_line and record.def_line != record.line and record.path and uses[record.path] == 1:
            by_line.setdefault(record.def_line, []).append(record)
    return by_line


def hint_style_label(shape: tuple, style: str, batch_name: str) -> str:
    text = rename_batch(shape_text(shape), batch_name)
    return f"→ {text}" if style == "arrow" else f"# out: {text}"


def line_hints(analysis: Analysis, lines: list[str], style: str = "comment",
               batch_name: str = "BS") -> list[LineHint]:
    """One hint per line that applies or defines a layer; lines whose ``# out:`` comment
    already says the same get none."""
    best: dict[int, tuple[int, ModelResult, list[LayerRecord]]] = {}
    for model in analysis.models:
        for line, records in _records_by_line(model).items():
            last = records[-1].output
            if last is None or any(d is None for d in last):
                continue
            score = _symbol_count(last)
            if line not in best or score < best[line][0]:
                best[line] = (score, model, records)
    hints = []
    for line, (_, model, records) in sorted(best.items()):
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        shapes = _distinct(pass_outputs([r for r in records if r.line == line]) or [records[-1].output])
        if len(shapes) > 1:
            shape = shapes[-1]
            label = f"# out: {len(shapes)} shapes" if style != "arrow" else f"→ {len(shapes)} shapes"
        else:
            shape = shapes[0]
            label = hint_style_label(shape, style, batch_name)
        existing = OUT_COMMENT.search(text)
        if existing and len(shapes) == 1 and _same_comment(existing.group("shape"), shape):
            continue
        if len(label) > MAX_LABEL:
            label = label[: MAX_LABEL - 1] + "…"
        cut = comment_start(text)
        column = len(text[:cut].rstrip()) if cut is not None else len(text.rstrip())
        verified = records[-1].verified == "torch"
        hints.append(LineHint(line, column, shape, label, records, model.name, verified, shapes, batch_name))
    return hints


def pass_outputs(records: list[LayerRecord]) -> list:
    """What a line ends with, once per time it runs: a loop or a constructor in a loop runs it again
    (the same call recurs), while nested calls on one line run once and end with the outermost."""
    finals: list = []
    seen: set[tuple] = set()
    last = None
    for record in records:
        key = (record.op, record.column, record.end_column)
        if not record.end_column:  # no position (a layer of an imported block): its name tells it apart
            key += (record.path,)
        if key in seen and last is not None:
            finals.append(last)
            seen.clear()
        seen.add(key)
        last = record.output
    if last is not None:
        finals.append(last)
    return finals


def _same_comment(written: str, shape: tuple) -> bool:
    return comment_matches(written, shape)


def _distinct(shapes: list) -> list:
    out: list = []
    for s in shapes:
        if s is not None and s not in out:
            out.append(s)
    return out


def tooltip(records: list[LayerRecord], batch_name: str, shapes: list | None = None) -> str:
    parts = []
    for record in records[-3:]:
        name = record.path or record.op
        parts.append(f"{name}: {rename_batch(shape_text(record.input), batch_name)} -> "
                     f"{rename_batch(shape_text(record.output), batch_name)}")
        parts.extend(f"  {line}" for line in record.explain[:3])
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


def layer_hover(records: list[LayerRecord], batch_name: str = "BS", verified: str | None = None) -> str:
    """Markdown for a hover on a layer: shapes with dimension names, the formula with numbers, parameters."""
    blocks = []
    for record in records:
        name = record.path or record.op
        title = f"**{name}** `{record.op}`" if record.path else f"`{record.op}`"
        lines = [title, "", "```text"]
        lines.append(f"{'input':<8}{rename_batch(shape_text(record.input), batch_name)}  "
                     f"{dim_names(record.input, record.op)}".rstrip())
        for i, out in enumerate(record.outputs or (record.output,)):
            label = "output" if i == 0 else f"out[{i}]"
            lines.append(f"{label:<8}{rename_batch(shape_text(out), batch_name)}  {dim_names(out, record.op)}".rstrip())
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
        if verified:
            lines.append(verified)
        blocks.append("\n".join(lines))
    return "\n\n---\n\n".join(blocks)


def model_summary(model: ModelResult, batch_name: str = "BS") -> str:
    source = f" ({model.input_source})" if model.input_source else ""
    leaves = [r for r in model.layers if r.path]
    return "\n".join([
        f"**{model.name}**: {len({r.path for r in leaves})} layers, {params_text(model.params)} parameters",
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
        if key not in best or _symbol_count(record.output) < _symbol_count(best[key].output):
            best[key] = record
    ordered = sorted(best.values(), key=lambda r: (r.end_column - r.column) if r.end_column else 10 ** 6)
    return ordered[:1] if column is not None and ordered else ordered


def annotate_edits(analysis: Analysis, lines: list[str], batch_name: str = "BS") -> list[tuple[int, int, int, str]]:
    """``# out:`` comments to write: (line, start column, end column, text), replacing a stale one."""
    edits = []
    for hint in line_hints(analysis, lines, "comment", batch_name):
        if not hint.label.startswith("# out: (") or hint.label.endswith("…"):
            continue
        text = lines[hint.line - 1]
        existing = OUT_COMMENT.search(text)
        if existing:
            edits.append((hint.line, existing.start(), len(text.rstrip()), hint.label))
        else:
            end = len(text.rstrip())
            edits.append((hint.line, end, end, "  " + hint.label))
    return edits
