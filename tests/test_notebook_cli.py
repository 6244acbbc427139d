"""``cnnshape check`` and ``cnnshape annotate`` on notebooks: the seed corpus split over cells (the input
stated by a call in a later cell) gives the same diagnostics, fixes and ``# out:`` comments as the same code
in one ``.py`` file, at the same places told in cells; ``--fix`` and ``annotate`` write only the code cells'
sources, outputs and metadata kept."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import nbformat
import pytest

from cnnshape_ls.cli import main

from notebook_corpus import MANIFEST, Converted, corpus

CASES = corpus()
IDS = [entry["id"] for entry, _ in CASES]


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def write_pair(folder: Path, entry: dict, converted: Converted) -> tuple[Path, Path]:
    script, notebook = folder / f"{entry['id']}.py", folder / f"{entry['id']}.ipynb"
    script.write_text(converted.script)
    nbformat.write(converted.notebook, str(notebook))
    return script, notebook


def report(capsys, path: Path) -> dict:
    _, out, _ = run(capsys, "check", str(path), "--format", "json")
    return json.loads(out)["files"][0]


def script_in_cells(converted: Converted, line: int) -> tuple[int, int]:
    return converted.places[line]


@pytest.mark.parametrize(("entry", "converted"), CASES, ids=IDS)
def test_the_notebook_reports_what_the_script_does_in_its_cells(entry, converted, tmp_path, capsys) -> None:
    script, notebook = write_pair(tmp_path, entry, converted)
    ours, theirs = report(capsys, notebook), report(capsys, script)

    def diag(d: dict, where: tuple[int, int]) -> tuple:
        fixes = [[(e["column"], e["end_column"], e["new_text"]) for e in f["edits"]] for f in d["fixes"]]
        return where, d["column"], d["end_column"], d["severity"], d["code"], d["message"], fixes

    assert [diag(d, (d["cell"], d["line"])) for d in ours["diagnostics"]] == \
           [diag(d, script_in_cells(converted, d["line"])) for d in theirs["diagnostics"]]
    for fix in (f for d in ours["diagnostics"] for f in d["fixes"]):
        for edit, cell in ((e, e["cell"]) for e in fix["edits"]):
            assert converted.notebook.cells[cell - 1].cell_type == "code" and edit["line"] >= 1

    def layers(model: dict, cells: bool) -> list:
        return [(x["path"], x["op"], x["out"],
                 (x["cell"], x["line"]) if cells else script_in_cells(converted, x["line"])) for x in model["layers"]]

    assert [(m["name"], m["input"], m["input_source"], m["output"], m["params"], layers(m, True))
            for m in ours["models"]] == \
           [(m["name"], m["input"], m["input_source"], m["output"], m["params"], layers(m, False))
            for m in theirs["models"]]
    assert ours["models"], "the notebook's model was found"


@pytest.mark.parametrize(("entry", "converted"), CASES, ids=IDS)
def test_the_manifest_holds_for_the_notebook(entry, converted, tmp_path, capsys) -> None:
    """The corpus's own expectations, on the notebook: the error on the fix line (in its cell), the input
    taken from the call in a later cell, the fix's value."""
    _, notebook = write_pair(tmp_path, entry, converted)
    data = report(capsys, notebook)
    [model] = [m for m in data["models"] if m["name"] in (entry["model"], entry["model"].split("(")[0])]
    assert model["input_source"] == "call" and model["input"][1:] == entry["input"][1:]
    errors = [d for d in data["diagnostics"] if d["severity"] == "error"]
    assert bool(errors) == entry["expect_error"]
    if entry["expect_error"] and entry["fix_line"] is not None:
        [error] = errors
        assert (error["cell"], error["line"]) == converted.places[entry["fix_line"]]
        assert eval(error["fixes"][0]["edits"][0]["new_text"], {}) == entry["fix_value"]


def code_cells(notebook: nbformat.NotebookNode) -> dict[int, str]:
    return {i + 1: c.source for i, c in enumerate(notebook.cells) if c.cell_type == "code"}


def script_as_cells(converted: Converted, script: str) -> dict[int, str]:
    """The script's lines put back into the notebook's cells by ``places`` (the cells only the notebook has,
    its IPython lines, as they are)."""
    cells = {n: s.split("\n") for n, s in code_cells(converted.notebook).items()}
    for line, text in enumerate(script.split("\n"), start=1):
        cell, at = converted.places[line]
        cells[cell][at - 1] = text
    return {n: "\n".join(lines) for n, lines in cells.items()}


def without_sources(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    stripped = copy.deepcopy(notebook)
    for cell in stripped.cells:
        if cell.cell_type == "code":
            cell.source = ""
    return stripped


FIXABLE = [(e, c) for e, c in CASES if e["expect_error"] and e["fix_line"] is not None]


@pytest.mark.parametrize(("entry", "converted"), FIXABLE, ids=[e["id"] for e, _ in FIXABLE])
def test_fix_writes_the_scripts_fix_into_the_cells(entry, converted, tmp_path, capsys) -> None:
    script, notebook = write_pair(tmp_path, entry, converted)
    assert run(capsys, "check", "--fix", str(script))[0] == 0
    code, out, _ = run(capsys, "check", "--fix", str(notebook))
    assert code == 0 and "Applied 1 fix in 1 file" in out
    after = nbformat.read(str(notebook), as_version=4)
    assert code_cells(after) == script_as_cells(converted, script.read_text())
    assert without_sources(after) == without_sources(converted.notebook)  # outputs, metadata, markdown kept


@pytest.mark.parametrize(("entry", "converted"), CASES, ids=IDS)
def test_annotate_writes_the_scripts_comments_into_the_cells(entry, converted, tmp_path, capsys) -> None:
    script, notebook = write_pair(tmp_path, entry, converted)
    run(capsys, "annotate", str(script))
    code, out, _ = run(capsys, "annotate", "--check", str(notebook))
    assert code == (1 if "# out:" in script.read_text() else 0)
    run(capsys, "annotate", str(notebook))
    after = nbformat.read(str(notebook), as_version=4)
    assert code_cells(after) == script_as_cells(converted, script.read_text())
    assert without_sources(after) == without_sources(converted.notebook)
    assert run(capsys, "annotate", "--check", str(notebook))[0] == 0  # nothing left to write


def test_the_text_report_names_the_cell(tmp_path, capsys) -> None:
    entry, converted = next((e, c) for e, c in CASES if e["id"] == "s09")
    _, notebook = write_pair(tmp_path, entry, converted)
    code, out, _ = run(capsys, "check", str(notebook))
    cell, line = converted.places[entry["fix_line"]]
    assert code == 1
    assert f"{notebook}[cell {cell}]:{line}:15: error linear-in-features" in out
    [row] = [r for r in out.split("\n") if " Linear " in r]
    assert "Cell:Line" in out and f" {cell}:{line} " in row  # the table's Line column, in cells too


def test_a_folder_walk_takes_notebooks_and_skips_checkpoints(tmp_path, capsys) -> None:
    entry, converted = CASES[0]
    write_pair(tmp_path, entry, converted)
    checkpoints = tmp_path / ".ipynb_checkpoints"
    checkpoints.mkdir()
    nbformat.write(converted.notebook, str(checkpoints / f"{entry['id']}-checkpoint.ipynb"))
    _, out, _ = run(capsys, "check", str(tmp_path), "--format", "json")
    assert sorted(Path(f["path"]).name for f in json.loads(out)["files"]) == [f"{entry['id']}.ipynb",
                                                                             f"{entry['id']}.py"]


def test_a_notebook_of_another_language_has_no_models(tmp_path, capsys) -> None:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x <- c(1, 2)")],
                                        metadata={"kernelspec": {"name": "ir", "language": "R", "display_name": "R"}})
    path = tmp_path / "r.ipynb"
    nbformat.write(notebook, str(path))
    code, out, _ = run(capsys, "check", str(path), "--format", "json")
    assert code == 0 and json.loads(out)["files"][0]["models"] == []


def test_a_file_that_is_not_a_notebook_is_an_io_error(tmp_path, capsys) -> None:
    path = tmp_path / "broken.ipynb"
    path.write_text("{not json")
    code, _, err = run(capsys, "check", str(path))
    assert code == 2 and "broken.ipynb: not a notebook" in err


def test_the_manifest_is_covered() -> None:
    assert len(CASES) == len(MANIFEST) >= 11


def file_line_text(path: Path, line: int) -> str:
    return path.read_text(encoding="utf-8").split("\n")[line - 1]


def json_escaped(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)[1:-1]


@pytest.mark.parametrize(("entry", "converted"), CASES, ids=IDS)
def test_github_annotations_point_at_the_code_in_the_notebook_file(entry, converted, tmp_path, capsys) -> None:
    _, notebook = write_pair(tmp_path, entry, converted)
    diagnostics = report(capsys, notebook)["diagnostics"]
    _, out, _ = run(capsys, "check", str(notebook), "--format", "github")
    commands = out.splitlines()
    assert len(commands) == len(diagnostics)
    for command, diag in zip(commands, diagnostics):
        props = dict(p.split("=", 1) for p in command.split(" ", 1)[1].split("::", 1)[0].split(","))
        assert f"cell {diag['cell']}, line {diag['line']}: " in command
        assert props["line"] == props["endLine"] or diag["end_line"] != diag["line"]
        cell_line = converted.notebook.cells[diag["cell"] - 1].source.split("\n")[diag["line"] - 1]
        in_file = file_line_text(notebook, int(props["line"]))
        # the annotated columns of the file's line are the diagnostic's columns of the cell's line, escaped
        start = int(props["col"]) - 1
        assert in_file[:start].endswith(json_escaped(cell_line[:diag["column"] - 1]))  # JSON's are 1-based
        if diag["end_line"] == diag["line"]:
            marked = in_file[start:int(props["endColumn"]) - 1]
            assert marked == json_escaped(cell_line[diag["column"] - 1:diag["end_column"] - 1])


@pytest.mark.parametrize(("entry", "converted"), CASES, ids=IDS)
def test_sarif_fixes_edit_the_notebook_file_as_the_json_fix_edits_the_cell(entry, converted, tmp_path,
                                                                           capsys) -> None:
    _, notebook = write_pair(tmp_path, entry, converted)
    diagnostics = report(capsys, notebook)["diagnostics"]
    _, out, _ = run(capsys, "check", str(notebook), "--format", "sarif")
    results = json.loads(out)["runs"][0]["results"]
    assert len(results) == len(diagnostics)
    raw = notebook.read_text(encoding="utf-8")
    checked = 0
    for result, diag in zip(results, diagnostics):
        assert result["message"]["text"].startswith(f"cell {diag['cell']}, line {diag['line']}: ")
        if not diag["fixes"] or "fixes" not in result:
            continue
        [change] = result["fixes"][0]["artifactChanges"]
        lines = raw.split("\n")
        for replacement in sorted(change["replacements"], key=lambda r: (r["deletedRegion"]["startLine"],
                                                                          r["deletedRegion"]["startColumn"]),
                                  reverse=True):
            where = replacement["deletedRegion"]
            assert where["startLine"] == where["endLine"]
            text = lines[where["startLine"] - 1]
            lines[where["startLine"] - 1] = (text[:where["startColumn"] - 1] + replacement["insertedContent"]["text"]
                                             + text[where["endColumn"] - 1:])
        fixed = nbformat.reads("\n".join(lines), as_version=4)
        expected = copy.deepcopy(converted.notebook)
        for edit in sorted(diag["fixes"][0]["edits"], key=lambda e: (e["line"], e["column"]), reverse=True):
            cell = expected.cells[edit["cell"] - 1]
            cell_lines = cell.source.split("\n")
            text = cell_lines[edit["line"] - 1]
            cell_lines[edit["line"] - 1] = text[:edit["column"] - 1] + edit["new_text"] + text[edit["end_column"] - 1:]
            cell.source = "\n".join(cell_lines)
        assert code_cells(fixed) == code_cells(expected)
        checked += 1
    assert checked == sum(1 for d in diagnostics if d["fixes"] and all(
        e["line"] == e["end_line"] and "\n" not in e["new_text"] for e in d["fixes"][0]["edits"]))


def test_a_notebook_in_another_layout_is_annotated_on_the_file_naming_the_cell(tmp_path, capsys) -> None:
    entry, converted = next((e, c) for e, c in CASES if e["id"] == "s09")
    notebook = tmp_path / "one_string.ipynb"
    data = json.loads(nbformat.writes(converted.notebook))
    for cell in data["cells"]:
        cell["source"] = "".join(cell["source"])  # valid nbformat, not the layout Jupyter writes
    notebook.write_text(json.dumps(data))
    _, out, _ = run(capsys, "check", str(notebook), "--format", "github")
    cell, line = converted.places[entry["fix_line"]]
    [command] = [c for c in out.splitlines() if "linear-in-features" in c]
    assert command.startswith(f"::error file={notebook.as_posix().lstrip('/')}".split("=")[0])
    assert ",line=" not in command and f"::cell {cell}, line {line}: " in command


ESCAPED_CELLS = [
    "import torch\nimport torch.nn as nn\n",
    'class Net(nn.Module):\n'
    '    def __init__(self):\n'
    '        super().__init__()\n'
    '        self.conv = nn.Conv2d(3, 4, 3)\n'
    '        tag = "a \\"quoted\\" \\\\ é 😀"; self.fc = nn.Linear(4 * 7 * 7, 10)\n'
    '\n'
    '    def forward(self, x):\n'
    '        return self.fc(torch.flatten(self.conv(x), 1))\n',
    "model = Net()\nmodel(torch.zeros(2, 3, 10, 10))\n",
]


@pytest.mark.parametrize("ascii_only", [False, True], ids=["utf-8", "ascii-escapes"])
def test_file_columns_count_the_escapes_before_the_place(ascii_only, tmp_path, capsys) -> None:
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in ESCAPED_CELLS])
    path = tmp_path / "escaped.ipynb"
    path.write_text(json.dumps(json.loads(nbformat.writes(notebook)), indent=1, ensure_ascii=ascii_only) + "\n")
    [diag] = [d for d in report(capsys, path)["diagnostics"] if d["code"] == "linear-in-features"]
    _, out, _ = run(capsys, "check", str(path), "--format", "sarif")
    [result] = [r for r in json.loads(out)["runs"][0]["results"] if r["ruleId"] == "linear-in-features"]
    where = result["locations"][0]["physicalLocation"]["region"]
    in_file = file_line_text(path, where["startLine"])
    cell_line = ESCAPED_CELLS[1].split("\n")[diag["line"] - 1]
    expected = json.dumps(cell_line[diag["column"] - 1:diag["end_column"] - 1], ensure_ascii=ascii_only)[1:-1]
    assert in_file[where["startColumn"] - 1:where["endColumn"] - 1] == expected == "4 * 7 * 7"
    # the fix, applied to the file's text, is the fix of the cell
    [replacement] = result["fixes"][0]["artifactChanges"][0]["replacements"]
    region = replacement["deletedRegion"]
    lines = path.read_text(encoding="utf-8").split("\n")
    text = lines[region["startLine"] - 1]
    lines[region["startLine"] - 1] = (text[:region["startColumn"] - 1] + replacement["insertedContent"]["text"]
                                      + text[region["endColumn"] - 1:])
    fixed = nbformat.reads("\n".join(lines), as_version=4)
    assert fixed.cells[1].source == ESCAPED_CELLS[1].replace("4 * 7 * 7", diag["fixes"][0]["edits"][0]["new_text"])
