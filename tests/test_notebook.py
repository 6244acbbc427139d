"""A notebook's code cells as one program (cnnshape_ls/notebook.py): IPython lines masked line for line,
positions mapped to cells and back, the JSON form in cells."""

from __future__ import annotations

import ast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnshape_ls
from cnnshape_ls.analysis.findings import Edit, Span
from cnnshape_ls.notebook import CodeCell, build_program, cell_json, mask_ipython

NET = """class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3)
        self.fc = nn.Linear(100, 10)

    def forward(self, x):
        x = self.conv(x)
        x = x.flatten(1)
        return self.fc(x)"""


def program(*sources: str):
    return build_program([CodeCell(s, i + 1, f"cell{i + 1}") for i, s in enumerate(sources)])


@pytest.mark.parametrize(("line", "masked"), [
    ("%matplotlib inline", "pass"),
    ("!pip install torch", "pass"),
    ("model?", "pass"),
    ("??nn.Conv2d", "pass"),
    ("np.*load*?", "pass"),
    ("files = !ls", "files = None"),
    ("t = %timeit -o f()", "t = None"),
    ("    !echo hi", "    pass"),
    ("x = 1  # why?", "x = 1  # why?"),
    ("# is this right?", "# is this right?"),
    ("y = a % b", "y = a % b"),
    ("z = x != y", "z = x != y"),
])
def test_one_line(line: str, masked: str) -> None:
    assert mask_ipython(line) == masked


def test_lines_inside_strings_and_brackets_are_python() -> None:
    source = 'text = """\n%d items\n!important\n"""\ny = (1,\n%2)\nz = [\n    a?b\n] if 0 else 0'
    assert mask_ipython(source).split("\n")[:6] == source.split("\n")[:6]


def test_a_continued_magic_is_masked_whole() -> None:
    assert mask_ipython("!pip install \\\n    torch torchvision\nimport torch") == "pass\n\nimport torch"


def test_python_cell_magics_keep_their_body_and_others_are_blanked() -> None:
    assert mask_ipython("%%time\nmodel = Net()\n") == "\nmodel = Net()\n"
    assert mask_ipython("\n%%capture out\nx = 1") == "\n\nx = 1"
    assert mask_ipython("%%bash\necho hi\nls -l") == "\n\n"
    assert mask_ipython("%%writefile net.py\nimport torch\n") == "\n\n"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["%matplotlib inline", "!ls \\", "x = 1", "model?", "def f(", "    return 2)",
                                 "'''", "%%time", "files = !ls", "", "    !echo", "for i in range(2):", "# c?"]),
                min_size=1, max_size=12))
def test_masking_keeps_every_line_in_place(lines: list[str]) -> None:
    source = "\n".join(lines)
    masked = mask_ipython(source).split("\n")
    assert len(masked) == len(lines)
    for before, after in zip(lines, masked):
        assert after in (before, "", before[:len(before) - len(before.lstrip())] + "pass") or after.endswith(" = None")


def test_cells_in_order_are_one_program_and_positions_map_back() -> None:
    cells = ("%matplotlib inline\nimport torch\nimport torch.nn as nn", NET, "model = Net()\nmodel?",
             "%%time\nout = model(torch.randn(4, 1, 28, 28))")
    nb = program(*cells)
    ast.parse(nb.text)  # IPython lines masked: the program parses
    assert [(c.first_line, c.line_count) for c in nb.cells] == [(1, 3), (4, 10), (14, 2), (16, 2)]
    analysis = cnnshape_ls.analyze(nb.text)
    [model] = analysis.models
    assert (model.input_source, model.input[1:]) == ("call", (1, 28, 28))  # the call in a later cell
    [error] = analysis.errors
    cell, span = nb.locate(error.span)
    assert (cell.number, cell.key, span.line) == (2, "cell2", 5)
    assert NET.split("\n")[span.line - 1][span.column:span.end_column] == "100"
    assert nb.cell_at(3).number == 1 and nb.cell_at(4).number == 2 and nb.cell_at(18) is None
    assert nb.cells[1].program_line(5) == error.span.line


def test_a_cell_left_half_typed_costs_only_itself() -> None:
    nb = program("import torch\nimport torch.nn as nn", NET, "model = Net()", "y = torch.zeros(",
                 "out = model(torch.randn(4, 1, 28, 28))")
    analysis = cnnshape_ls.analyze(nb.text)
    [model] = analysis.models
    assert (model.input_source, model.input[1:]) == ("call", (1, 28, 28))  # the cell after it still counts
    assert [nb.cell_at(f.span.line).number for f in analysis.errors] == [2]


def test_edits_group_by_cell_and_one_across_cells_is_refused() -> None:
    nb = program("a = 1\nb = 2", "c = 3")
    grouped = nb.edits_by_cell([Edit(Span(2, 4, 2, 5), "20"), Edit(Span(3, 4, 3, 5), "30")])
    assert grouped == {0: [Edit(Span(2, 4, 2, 5), "20")], 1: [Edit(Span(1, 4, 1, 5), "30")]}
    assert nb.edits_by_cell([Edit(Span(2, 0, 3, 1), "")]) is None


def test_the_json_form_tells_lines_in_cells() -> None:
    nb = program("import torch\nimport torch.nn as nn", NET, "model = Net()\nout = model(torch.randn(4, 1, 28, 28))")
    entry = cell_json(cnnshape_ls.analyze(nb.text).to_json(), nb)
    [model] = entry["models"]
    assert (model["cell"], model["line"]) == (2, 1)
    assert [(x["cell"], x["line"], x.get("def_cell"), x["def_line"]) for x in model["layers"]] == [
        (2, 8, 2, 4), (2, 9, None, None), (2, 10, 2, 5)]
    [diag] = [d for d in entry["diagnostics"] if d["severity"] == "error"]
    assert (diag["cell"], diag["line"], diag["end_line"]) == (2, 5, 5)
    assert [(e["cell"], e["line"], e["new_text"]) for e in diag["fixes"][0]["edits"]] == [(2, 5, "8 * 26 * 26")]


def test_verification_slices_the_notebook_like_a_file() -> None:
    """Only what the model needs goes to torch: never the training cell, never an IPython line."""
    from cnnshape_ls.verify.merge import plan

    nb = program("%matplotlib inline\nimport torch\nimport torch.nn as nn", NET, "model = Net()",
                 "optimizer = torch.optim.SGD(model.parameters(), lr=0.1)\nfor epoch in range(3):\n"
                 "    loss = model(torch.randn(4, 1, 28, 28)).sum()\n    loss.backward()\n    optimizer.step()",
                 "%%time\nout = model(torch.randn(4, 1, 28, 28))")
    job = plan(cnnshape_ls.analyze(nb.text), nb.text)
    assert job is not None and [spec["name"] for spec in job.models] == ["Net"]
    assert "class Net" in job.source and job.models[0]["expr"] == "Net()"  # the slice builds it itself
    assert "optimizer" not in job.source and "backward" not in job.source and "%" not in job.source
