"""``cnnshape check``: analyze files or folders and report shapes and problems.

Exit codes: 0 when no error-severity finding remains, 1 when shape errors are
found, 2 for a usage or I/O error (a missing or unreadable file, a bad ``--input``)
or when there is nothing to check (no Python file under the folders given).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

from .. import analyze
from ..analysis import Options, analyze_source, dims
from ..analysis.edits import apply_fixes, fixes_to_apply, odd_line_breaks
from ..analysis.findings import LayerRecord, shape_text
from ..analysis.imports import FileModuleLoader, ProjectRoots
from ..analysis.libraries import LibrarySources
from ..analysis.result import Analysis, ModelResult, block_ids
from ..notebook import Program, cell_json
from ..settings import Settings, settings_for
from . import files
from .ipynb_lines import FilePlaces
from .notebooks import apply_by_cell, is_notebook, line_label, location, notebook_places, read_notebook, write_notebook

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2
PARALLEL_THRESHOLD = 4
"""More files than this are analyzed in worker processes."""
MAX_FIX_PASSES = 3
"""A fix can uncover the next problem (the Linear after a fixed convolution): fix, re-analyze, up to this often."""

T = TypeVar("T")
R = TypeVar("R")


# ---------------------------------------------------------------------- options shared with annotate
def add_analysis_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="Python files, Jupyter notebooks or folders (walked for *.py and *.ipynb)")
    parser.add_argument("--input", metavar="SHAPE",
                        help='input shape for the models, e.g. "(BS, 3, 32, 32)", "[B,1,28,28]" or "3x32x32"')
    parser.add_argument("--model", metavar="NAME",
                        help='analyze only this model: a name in the file, or a call such as "CNN(3, 10)"')
    parser.add_argument("--batch-name", metavar="NAME", default=None,
                        help='how the batch dimension is written (default "BS", or batchName from pyproject.toml)')


class UsageError(Exception):
    pass


def validate_options(args: argparse.Namespace) -> None:
    if args.batch_name is not None and not args.batch_name.isidentifier():
        raise UsageError(f"--batch-name must be a name such as BS, not {args.batch_name!r}")
    if args.input is not None:
        from ..analysis.inputs import ShapeSyntaxError, parse_shape

        text = args.input.strip()
        pairs = {"(": ")", "[": "]"}
        opened = text[:1] in pairs and text[-1:] == pairs[text[:1]]
        inner = text[1:-1] if opened else text
        if any(ch in inner for ch in "()[]"):
            raise UsageError(f"bad --input {args.input!r}: write a shape such as \"(BS, 3, 32, 32)\" or \"3x32x32\"")
        try:
            shape = parse_shape(args.input, args.batch_name or "BS")
        except ShapeSyntaxError as err:
            raise UsageError(f"bad --input: {err}")
        if not shape:
            raise UsageError(f"bad --input: empty shape {args.input!r}")
        bad = [d for d in shape if isinstance(d, int) and d <= 0]
        if bad:
            raise UsageError(f"bad --input {args.input!r}: sizes must be positive, not {bad[0]}")
    if args.model is not None:
        if model_name(args.model) is None:
            raise UsageError(f'bad --model {args.model!r}: write a name, or a call such as "CNN(3, 10)"')


def model_name(model: str) -> str | None:
    """The name a ``--model`` value refers to: ``Net`` for ``"Net(num_classes=5)"``; ``None`` when malformed."""
    try:
        expr = ast.parse(model.strip(), mode="eval").body
    except SyntaxError:
        return None
    if isinstance(expr, ast.Call):
        expr = expr.func
    return expr.id if isinstance(expr, ast.Name) else None


def defines_name(text: str, name: str) -> bool:
    """Whether ``name`` is bound anywhere in the file (class, function, assignment, import)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return True  # cannot tell: let the analysis say what it finds
    for node in ast.walk(tree):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return True
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id == name:
            return True
        if isinstance(node, ast.alias) and (node.asname or node.name.split(".")[0]) == name:
            return True
    return False


@dataclass(frozen=True)
class Request:
    """One file to analyze, with everything the worker needs (picklable)."""

    path: str
    display: str
    explicit: bool
    input: str | None
    model: str | None
    batch_name: str
    config_input: Any
    fix: bool = False
    project_root: str | None = None
    """Imports of files under this folder are followed (``from .blocks import ConvBlock``)."""


@dataclass
class Outcome:
    display: str
    analysis: Analysis | None = None
    error: str | None = None
    fixes_applied: int = 0
    missing_model: bool = False
    skipped: str | None = None
    """Why ``--fix`` left the file alone: a warning."""
    program: Program | None = None
    """A notebook's code cells as the one program analyzed: its positions are told in cells."""
    file_places: FilePlaces | None = None
    """Where a notebook's code lines are in its file's JSON text (for the formats that point into files)."""


@dataclass
class Requests:
    requests: list[Request]
    problems: list[str]
    """Path errors, and "no Python files found under X" when nothing is left to check (exit code 2)."""
    skipped: str | None = None
    """What the folder walk left out and why: ``3 files skipped: ignored by .gitignore``."""


def build_requests(args: argparse.Namespace, *, fix: bool = False,
                   stderr: IO[str] | None = None) -> tuple[list[Request], list[str]]:
    """The files named by ``args.paths`` as requests, each with its ``[tool.cnnshape]`` settings; and path errors."""
    collected = collect_requests(args, fix=fix, stderr=stderr)
    return collected.requests, collected.problems


def collect_requests(args: argparse.Namespace, *, fix: bool = False, stderr: IO[str] | None = None) -> Requests:
    """:func:`build_requests`, with what the walk skipped."""
    stderr = stderr or sys.stderr
    collection = files.collect_paths(args.paths)
    found, errors = collection.found, list(collection.errors)
    skipped = skipped_text(collection.ignored)
    if not found and not errors:
        where = ", ".join(collection.empty) or ", ".join(args.paths)
        errors.append(f"no Python files found under {where}" + (f" ({skipped})" if skipped else ""))
    by_folder: dict[Path, Settings] = {}  # each folder's settings looked up once
    roots = ProjectRoots()
    warned: set[str] = set()
    requests = []
    for source in found:
        folder = source.path.resolve().parent
        if folder not in by_folder:
            by_folder[folder] = settings_for(folder)  # read as the language server reads them
        settings = by_folder[folder]
        for problem in settings.problems:
            if problem not in warned:
                warned.add(problem)
                print(f"cnnshape: warning: {problem}", file=stderr)
        batch = args.batch_name or settings.batch_name
        requests.append(Request(str(source.path), source.display, source.explicit, args.input, args.model, batch,
                                settings.input, fix, str(roots.for_file(source.path))))
    return Requests(requests, errors, skipped)


def skipped_text(ignored: int) -> str | None:
    if not ignored:
        return None
    return f"{ignored} file{'s' if ignored != 1 else ''} skipped: ignored by .gitignore"


def analyze_text(text: str, request: Request) -> Analysis:
    loader = module_loader(request.project_root)
    if loader is None:
        return analyze(text, path=request.display, input=request.input, model=request.model,
                       batch_name=request.batch_name, config_input=request.config_input)
    options = Options(input=request.input, model=request.model, batch_name=request.batch_name,
                      config_input=request.config_input, module_loader=loader)
    return analyze_source(text, request.display, options)


def module_loader(root: str | None) -> FileModuleLoader | None:
    """A loader for the files of the project a file imports; ``None`` without a project folder."""
    return None if root is None else FileModuleLoader(roots=(Path(root),), libraries=LibrarySources(Path(root)))


def check_file(request: Request) -> Outcome:
    """Analyze one file or notebook (and with ``fix``, fix it, write it and analyze it again). Runs in a
    worker process."""
    outcome = Outcome(request.display)
    path = Path(request.path)
    check = _check_notebook if is_notebook(path) else _check_source
    try:
        text, analysis, program = check(request, outcome, path)
    except files.SourceError as err:
        outcome.error = f"{request.display}: {err}"
        return outcome
    except Exception as err:  # noqa: BLE001 - one file's crash must not lose the report on the others
        outcome.error = f"{request.display}: internal error in the analysis: {type(err).__name__}: {err}"
        return outcome
    if request.model is not None:
        name = model_name(request.model)
        if name is not None and not defines_name(text, name):
            analysis.models = []  # not a model of this file: drop the empty result the engine makes for it
            outcome.missing_model = True
    outcome.analysis = analysis
    outcome.program = program
    return outcome


def _check_source(request: Request, outcome: Outcome, path: Path) -> tuple[str, Analysis, None]:
    source = files.read_source(path)
    analysis = analyze_text(source.text, request)
    if request.fix and odd_line_breaks(source.text):
        outcome.skipped = (f"{request.display}: not fixed: it has a form feed or another character that the "
                           "analysis counts as a line break, so its positions may be off")
    elif request.fix:
        original = source.text
        for _ in range(MAX_FIX_PASSES):
            new_text, applied = apply_fixes(source.text, fixes_to_apply(source.text, analysis.diagnostics))
            if not applied or new_text == source.text:
                break
            outcome.fixes_applied += applied
            source.text = new_text
            analysis = analyze_text(source.text, request)
        if source.text != original:
            files.write_source(path, source)
    return source.text, analysis, None


def _check_notebook(request: Request, outcome: Outcome, path: Path) -> tuple[str, Analysis, Program]:
    """A notebook's code cells analyzed as one program; ``--fix`` edits the cells and writes the notebook
    back with nbformat (outputs and metadata as they were)."""
    notebook = read_notebook(path)
    analysis = analyze_text(notebook.program.text, request)
    if request.fix:
        changed = False
        for _ in range(MAX_FIX_PASSES):
            fixes = fixes_to_apply(notebook.program.text, analysis.diagnostics)
            sources, applied = apply_by_cell(notebook, [fix.edits for fix in fixes])
            if not applied or sources == list(notebook.program.sources):
                break
            outcome.fixes_applied += applied
            notebook = notebook.with_sources(sources)
            analysis = analyze_text(notebook.program.text, request)
            changed = True
        if changed:
            write_notebook(path, notebook)
    outcome.file_places = notebook_places(path, notebook)
    return notebook.program.text, analysis, notebook.program


def run_all(func: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``map(func, items)``, in worker processes when there are more than a few items; results in order."""
    workers = min(os.cpu_count() or 1, len(items))
    if len(items) > PARALLEL_THRESHOLD and workers > 1:
        try:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                chunk = max(1, len(items) // (workers * 4))
                return list(pool.map(func, items, chunksize=chunk))
        except (OSError, NotImplementedError, PermissionError, BrokenProcessPool):
            pass  # no process pool here (a sandbox without semaphores): do it in this process
    return [func(item) for item in items]


# ---------------------------------------------------------------------- the command
def run(args: argparse.Namespace, stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    try:
        validate_options(args)
    except UsageError as err:
        print(f"cnnshape: error: {err}", file=stderr)
        return EXIT_USAGE
    collected = collect_requests(args, fix=args.fix, stderr=stderr)
    requests, problems = collected.requests, collected.problems
    outcomes = run_all(check_file, requests)
    if args.verify:
        from .verify import verify_outcomes

        verify_outcomes([(r.path, o) for r, o in zip(requests, outcomes)], stderr=stderr)
    for outcome in outcomes:
        if outcome.error:
            problems.append(outcome.error)
        if outcome.skipped:
            print(f"cnnshape: warning: {outcome.skipped}", file=stderr)
    if args.model is not None:
        problems.extend(missing_model_problems(args.model, requests, outcomes))
    done = [o for o in outcomes if o.analysis is not None]

    if args.format == "json":
        print(json.dumps(json_report(done), indent=None), file=stdout)
    elif args.format == "sarif":
        from .sarif import sarif_report

        print(json.dumps(sarif_report(done), indent=2), file=stdout)
    elif args.format == "github":
        from .github import write_github_report

        write_github_report(done, stdout)
    else:
        write_text_report(done, stdout, collected.skipped)
    if collected.skipped and args.format != "text":
        print(f"cnnshape: {collected.skipped}", file=stderr)
    if args.fix:
        applied = sum(o.fixes_applied for o in done)
        changed = sum(1 for o in done if o.fixes_applied)
        message = f"Applied {applied} fix{'es' if applied != 1 else ''} in {changed} file{'s' if changed != 1 else ''}"
        print(message, file=stdout if args.format == "text" else stderr)
    for problem in problems:
        print(f"cnnshape: error: {problem}", file=stderr)
    if problems:
        return EXIT_USAGE
    if any(o.analysis.errors for o in done):
        return EXIT_ERRORS
    return EXIT_OK


def missing_model_problems(model: str, requests: Sequence[Request], outcomes: Sequence[Outcome]) -> list[str]:
    """A named file that does not define ``--model`` is a usage error; so is a folder where no file does."""
    problems = [f"{o.display}: no model named {model_name(model)}" for r, o in zip(requests, outcomes)
                if r.explicit and o.missing_model]
    walked = [o for r, o in zip(requests, outcomes) if not r.explicit and o.analysis is not None]
    if walked and all(o.missing_model for o in walked):
        problems.append(f"no file defines the model {model_name(model)}")
    return problems


# ---------------------------------------------------------------------- JSON
def json_report(outcomes: Iterable[Outcome]) -> dict[str, Any]:
    entries = []
    for outcome in outcomes:
        entry = outcome.analysis.to_json()
        entry["path"] = outcome.display
        for diag in entry["diagnostics"]:  # other files' places, written as this file's path is
            for item in [*diag.get("related", ()), *(e for f in diag.get("workspace_fixes", ()) for e in f["edits"])]:
                item["path"] = shown_path(item["path"], outcome.display)
        if outcome.program is not None:
            entry = cell_json(entry, outcome.program)
        entries.append(entry)
    return {"version": 1, "files": entries}


def shown_path(path: str | None, display: str) -> str:
    """Another file's path as the user named the file that imports it: relative to the current folder
    where that was relative."""
    if path is None or Path(display).is_absolute() or not Path(path).is_absolute():
        return path or display
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive
        return path


# ---------------------------------------------------------------------- text
INPUT_SOURCES = {
    "annotation": "from annotation",
    "docstring": "from docstring",
    "example_input_array": "from example_input_array",
    "call": "from a call in the file",
    "cli": "from --input",
    "config": "from pyproject.toml",
    "inferred": "inferred",
}
# column caps: 2 + 28 + 2 + 18 + 2 + 5 + 2 + 26 + 2 + 11 = 98 columns at most
CAPS = {"layer": 28, "type": 18, "line": 5, "shape": 26, "params": 11}


def params_text(value: dims.Dim | None, functional: bool = False) -> str:
    if value is None:
        return "-" if functional else "?"
    if isinstance(value, int):
        return f"{value:,}"
    return dims.to_text(value)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def layer_row(record: LayerRecord, line_text: Callable[[int], str] = str) -> tuple[str, str, str, str, str]:
    functional = record.path is None
    name = record.op if functional else (record.path or record.op)
    kind = "op" if functional else record.op
    return name, kind, line_text(record.line), shape_text(record.output), params_text(record.params, functional)


def model_header(display: str, model: ModelResult) -> str:
    if model.input is None:
        where = "input unknown"
    else:
        how = INPUT_SOURCES.get(model.input_source or "", f"from {model.input_source}" if model.input_source else "")
        where = f"input {shape_text(model.input)} {how}".rstrip()
    return f"{display}: Model {model.name} ({where})"


def block_line(display: str, block: ModelResult, models: Sequence[ModelResult]) -> str:
    """A class another model builds: where its instances are, not a table of its generic shapes."""
    builders = [(m.name, sum(1 for path, i in m.instances.items() if path and (i.cls, i.cls_line) ==
                             (block.name, block.line)))
                for m in models if m is not block]
    said = ", ".join(f"{count}× in {name}" for name, count in builders if count)
    return f"{display}: Block {block.name} (line {block.line}): built {said}; its shapes are in those tables"


def model_table(model: ModelResult, program: Program | None = None) -> list[str]:
    rows = [layer_row(r, line_label(program)) for r in model.layers]
    heads = ("Layer", "Type", "Cell:Line" if program is not None else "Line", "Output shape", "Param #")
    keys = ("layer", "type", "line", "shape", "params")
    caps = {**CAPS, "line": 9} if program is not None else CAPS
    widths = [min(caps[k], max([len(h)] + [len(row[i]) for row in rows])) for i, (k, h) in enumerate(zip(keys, heads))]
    right = (False, False, True, False, True)

    def fmt(cells: Sequence[str]) -> str:
        parts = []
        for cell, width, align_right in zip(cells, widths, right):
            cell = _clip(cell, width)
            parts.append(cell.rjust(width) if align_right else cell.ljust(width))
        return ("  " + "  ".join(parts)).rstrip()

    lines = [fmt(heads), "  " + "  ".join("-" * w for w in widths)]
    if rows:
        lines.extend(fmt(row) for row in rows)
    else:
        lines.append("  (no layers found)")
    total = params_text(model.params)
    lines.append(f"  Total params: {total}    Output shape: {shape_text(model.output)}")
    if not model.complete and rows:
        lines.append("  (the analysis stopped early: later shapes are unknown)")
    return lines


def diagnostic_lines(display: str, analysis: Analysis, program: Program | None = None) -> list[str]:
    out = []
    place = location(display, program)  # a notebook's places are in its cells
    for f in analysis.diagnostics:
        out.append(f"{place(f.span)}: {f.severity} {f.code} {f.message}")
        for related in f.related:
            # another file's place is where the error is; a place of this file bears on it (says how)
            if related.path is not None:
                out.append(f"    in: {shown_path(related.path, display)}:{related.span.line}:"
                           f"{related.span.column + 1}")
            else:
                out.append(f"    see: {place(related.span)}: {related.message}")
        if f.fixes and f.fixes[0].elsewhere:
            where = ", ".join(sorted({shown_path(e.path, display) for e in f.fixes[0].edits if e.path}))
            out.append(f"    fix in {where} (not applied by --fix): {f.fixes[0].title}")
        elif f.fixes:
            out.append(f"    fix: {f.fixes[0].title}")
    return out


def write_text_report(outcomes: Sequence[Outcome], out: IO[str], skipped: str | None = None) -> None:
    counts = {"error": 0, "warning": 0, "information": 0}
    models = 0
    first = True
    for outcome in outcomes:
        analysis = outcome.analysis
        blocks: list[list[str]] = []
        built = block_ids(analysis.models)
        for model in analysis.models:
            if id(model) in built:  # a block speaks through the models that build it, as in the editor
                blocks.append([block_line(outcome.display, model, analysis.models)])
                continue
            models += 1
            blocks.append([model_header(outcome.display, model), *model_table(model, outcome.program)])
        diags = diagnostic_lines(outcome.display, analysis, outcome.program)
        if diags:
            blocks.append(diags)
        for f in analysis.findings:
            counts[f.severity] = counts.get(f.severity, 0) + 1
        for block in blocks:
            if not first:
                out.write("\n")
            first = False
            out.write("\n".join(block) + "\n")
    n = len(outcomes)
    if not n:
        if skipped:
            out.write(skipped + "\n")
        return
    summary = (f"{n} file{'s' if n != 1 else ''} checked, {models} model{'s' if models != 1 else ''}: "
               f"{counts['error']} error{'s' if counts['error'] != 1 else ''}, "
               f"{counts['warning']} warning{'s' if counts['warning'] != 1 else ''}, "
               f"{counts['information']} note{'s' if counts['information'] != 1 else ''}")
    if not first:
        out.write("\n")
    out.write(summary + "\n")
    if skipped:
        out.write(skipped + "\n")


__all__ = ["Outcome", "Request", "add_analysis_options", "check_file", "json_report", "run", "run_all",
           "write_text_report"]
