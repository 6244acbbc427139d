"""The input shape of a model: written by the user, found in the file, or solved for."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from . import dims
from .source import DOC_INPUT, IN_COMMENT, SourceFile

COMMON_SIZES = (32, 28, 224, 64, 96, 128, 256, 227, 299, 112, 48, 16, 512, 100, 200, 84)
MAX_SOLVE = 1024


class ShapeSyntaxError(ValueError):
    pass


def parse_shape(text: str, batch_name: str = "BS", rank: int | None = None) -> tuple:
    """``"(BS, 3, 32, 32)"``, ``"[B,1,28,28]"`` or ``"3x32x32"`` (batch added) as a shape.

    A name is a symbolic dimension; a name in the first place is the batch, written ``batch_name``.
    """
    raw = text.strip()
    inner = raw.strip("()[] ")
    if not inner:
        raise ShapeSyntaxError(f"empty shape: {text!r}")
    if "x" in inner and "," not in inner and re.fullmatch(r"[\w\s]+(x[\w\s]+)+", inner):
        parts = [p.strip() for p in inner.split("x")]
        add_batch = True
    else:
        parts = [p.strip() for p in inner.split(",") if p.strip()]
        add_batch = False
    out: list[dims.Dim] = []
    for i, part in enumerate(parts):
        if re.fullmatch(r"-?\d+", part):
            out.append(int(part))
        elif re.fullmatch(r"[A-Za-z_]\w*", part):
            out.append(dims.sym(batch_name if i == 0 and not add_batch and _is_batch_name(part) else part))
        else:
            raise ShapeSyntaxError(f"cannot read {part!r} in the shape {text!r}: write sizes as numbers or names")
    if add_batch or (rank is not None and len(out) == rank - 1):
        out.insert(0, dims.sym(batch_name))
    return tuple(out)


def _is_batch_name(name: str) -> bool:
    return name.upper() in ("B", "BS", "N", "BATCH", "BATCH_SIZE", "BSZ") or name.lower().startswith("batch")


@dataclass(frozen=True)
class FoundInput:
    text: str
    source: str  # annotation | docstring | example_input_array | call | cli | config | inferred
    needs_rank: bool = False
    """A shape that may omit the batch (``3x32x32``, a setting): the model's rank tells."""


def annotation_for(src: SourceFile, line: int) -> FoundInput | None:
    """``# in: (BS, 3, 32, 32)`` on the model's line or the line above it."""
    for candidate in (line, line - 1):
        match = IN_COMMENT.search(src.line_text(candidate))
        if match:
            return FoundInput(match.group("shape"), "annotation")
    return None


def docstring_input(node: ast.AST | None, src: SourceFile) -> FoundInput | None:
    """``Input: [B, 3, 32, 32]`` in the class docstring, the module docstring, or the file's header comments."""
    texts = []
    if isinstance(node, ast.ClassDef):
        texts.append(ast.get_docstring(node) or "")
    texts.append(ast.get_docstring(src.tree) or "")
    for text in texts:
        match = DOC_INPUT.search(text)
        if match:
            return FoundInput(match.group("shape"), "docstring")
    for text in header_comments(src):
        match = IN_COMMENT.search(text)
        if match:
            return FoundInput(match.group("shape"), "docstring")
    return None


def header_comments(src: SourceFile) -> list[str]:
    """The comment lines that open the file (up to its first statement, within 40 lines): they may state
    every model's input, so a model's cached analysis depends on them too."""
    comments = []
    for text in src.lines[:40]:
        stripped = text.strip()
        if stripped and not stripped.startswith("#"):
            break
        comments.append(stripped)
    return comments


def solve_square(size: dims.Dim, value: int, symbols: tuple[str, ...], factors: tuple = ()) -> list[int]:
    """Square input sizes ``s`` (every spatial symbol = s) for which ``size`` evaluates to ``value``, and
    every one of ``factors`` (the sizes a flatten multiplied) to at least 1: a product of two negative
    sizes may equal ``value`` where no window fits."""
    size_of = dims.compile_function(size, symbols)
    checks = [dims.compile_function(f, symbols) for f in factors if isinstance(f, dims.Expr)]

    def fits(s: int) -> bool:
        return size_of(s) == value and all((c(s) or 0) >= 1 for c in checks)

    # Conv/pool/flatten sizes grow with the input: binary search, then walk the range of fits.
    low, high = 1, MAX_SOLVE
    while low < high:
        mid = (low + high) // 2
        got = size_of(mid)
        if got is not None and got >= value:
            high = mid
        else:
            low = mid + 1
    found = []
    s = low
    while s <= MAX_SOLVE and size_of(s) == value:
        if fits(s):
            found.append(s)
        s += 1
    if found:
        return found
    # not monotonic after all (negative sizes below the smallest valid input): look everywhere
    points = range(1, MAX_SOLVE + 1)
    sizes = dims.values_at(size, symbols, points)
    minima = [dims.values_at(f, symbols, points) for f in factors if isinstance(f, dims.Expr)]
    return [s for i, s in enumerate(points)
            if sizes[i] == value and all((check[i] or 0) >= 1 for check in minima)]


def preferred_size(candidates: list[int]) -> int:
    for common in COMMON_SIZES:
        if common in candidates:
            return common
    return candidates[0]


def ranges_text(values: list[int]) -> str:
    """``31 or 32``, ``31 to 34``: the sizes that fit, for the message."""
    if len(values) == 1:
        return f"{values[0]}x{values[0]}"
    if values == list(range(values[0], values[-1] + 1)):
        if len(values) == 2:
            return f"{values[0]}x{values[0]} or {values[1]}x{values[1]}"
        return f"{values[0]}x{values[0]} to {values[-1]}x{values[-1]}"
    shown = ", ".join(f"{v}x{v}" for v in values[:6])
    return shown + (", ..." if len(values) > 6 else "")
