"""The seed corpus as notebooks: each file split over several cells the way a course notebook is written
(imports, one cell per class or model, the model built in a later cell and called in another), with markdown
cells, IPython lines (``%matplotlib inline``, ``!pip install``, ``net?``) and outputs in between.

Each notebook comes with the same code as one script (``script``: the file, then the cells that build and
call the model) and where each line of the script is in the notebook (``places``), so a test can ask that
the notebook gives the same diagnostics, fixes and hints as the script, at the same places."""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

TESTS = Path(__file__).resolve().parent
CORPUS = TESTS / "corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())


@dataclass
class Converted:
    notebook: nbformat.NotebookNode
    script: str
    """The code cells that are Python as one file: the corpus file's lines first, unchanged."""
    places: dict[int, tuple[int, int]]
    """Each script line (1-based) as (cell number, line in the cell), cells numbered as users count them."""

    def cell_source(self, number: int) -> str:
        return self.notebook.cells[number - 1].source


def _chunks(source: str) -> list[tuple[int, int]]:
    """Top-level statements as (first line, last line), 1-based; imports together, comments with what follows."""
    lines = source.split("\n")
    body = ast.parse(source).body
    starts = []
    for i, stmt in enumerate(body):
        first = min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", []))])
        is_import = isinstance(stmt, (ast.Import, ast.ImportFrom))
        follows_import = i > 0 and isinstance(body[i - 1], (ast.Import, ast.ImportFrom))
        while first > 1 and lines[first - 2].lstrip().startswith("#"):
            first -= 1  # the comments just above a statement are its own (``# in: (BS, 3, 32, 32)``)
        if not (is_import and follows_import):
            starts.append(first if starts else 1)
    bounds = [*starts, len(lines) + 1]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(len(starts))]


def model_cells(entry: dict, call_style: str) -> tuple[list[str], str]:
    """The cells that build the manifest's model and state its input by a call; and the name it is bound to."""
    model = entry["model"]
    name = model if "(" not in model else "net"
    build = [] if "(" not in model else [f"net = {model}"]
    shape = entry["input"]
    if call_style == "summary":
        call = f"from torchsummary import summary\n\nsummary({name}, ({', '.join(map(str, shape[1:]))}))"
    else:
        call = f"import torch\n\nout = {name}(torch.randn({', '.join(map(str, shape))}))\nprint(out.shape)"
    return [*build, call], name


STATED_INPUT = re.compile(r"(#\s*)(in|input|Input)(\s*:)")


def convert(source: str, entry: dict, call_style: str = "call") -> Converted:
    # the file's own statements of its input become plain comments: the call in a later cell states it
    source = STATED_INPUT.sub(r"\1shape\3", source)
    lines = source.split("\n")
    cells: list[nbformat.NotebookNode] = [nbformat.v4.new_markdown_cell(f"# {entry['file']}\nA model, step by step.")]
    places: dict[int, tuple[int, int]] = {}
    for k, (first, last) in enumerate(_chunks(source)):
        if k == 1:  # after the first cell (the file's comments and imports), as notebooks are written
            cells.append(nbformat.v4.new_code_cell("%matplotlib inline\n!pip install torchinfo"))
        if k:
            cells.append(nbformat.v4.new_markdown_cell(f"Step {k}"))
        cells.append(nbformat.v4.new_code_cell("\n".join(lines[first - 1:last])))
        for line in range(first, last + 1):
            places[line] = (len(cells), line - first + 1)
    extra, name = model_cells(entry, call_style)
    script_lines = list(lines)
    for i, text in enumerate(extra):
        cells.append(nbformat.v4.new_code_cell(text, execution_count=i + 1, outputs=[
            nbformat.v4.new_output("stream", name="stdout", text="torch.Size([2, 10])\n")]))
        if i == 0:
            cells.append(nbformat.v4.new_code_cell(f"{name}?"))  # IPython help: not Python, masked
        for j, _ in enumerate(text.split("\n")):
            script_lines.append(text.split("\n")[j])
            places[len(script_lines)] = (len(cells) - (1 if i == 0 else 0), j + 1)
    notebook = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}})
    return Converted(notebook, "\n".join(script_lines), places)


def corpus(call_style_of=lambda i: "summary" if i % 2 else "call") -> list[tuple[dict, Converted]]:
    return [(entry, convert((CORPUS / entry["file"]).read_text(), entry, call_style_of(i)))
            for i, entry in enumerate(MANIFEST)]


__all__ = ["Converted", "MANIFEST", "convert", "corpus"]
