"""The engine: source -> model tree -> shapes -> findings, for one buffer.

1. :mod:`source` parses what parses; 2. the module's top level is evaluated
abstractly (imports, constants, classes, ``model = CNN(3, 10)``); 3. models are
discovered (``nn.Module`` subclasses and module-level Sequentials); 4. each
model's input shape is found or solved for; 5. its ``forward`` is run over
shapes, recording every layer application and every problem.
"""

from __future__ import annotations

import ast
import gc
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import dims
from .cache import IDENTIFIER, FileLayout
from .checking import check_fixes
from .findings import Finding, Span
from .fixes_size import smallest_input_note
from .focus import focus, outline
from .inputs import (
    FoundInput,
    ShapeSyntaxError,
    annotation_for,
    docstring_input,
    parse_shape,
    preferred_size,
    ranges_text,
    solve_square,
)
from .interpreter import BudgetExceeded, Frame, Interpreter
from .labels import stale_comments
from .layers import UNKNOWN
from .libraries import LibraryContext, LibrarySources, reading
from .limits import BUDGET_CODE, LIMITS, TooLarge, file_budget
from .ops import ConstraintFound, FirstLayerFound
from .ops.record import is_foreign
from .result import Analysis, BlockInstance, ModelResult, block_ids
from .source import ForeignFile, SourceFile, is_installed, parse_tolerant
from .trace import Constraint, Trace
from .values import (
    NOT_COUNTED,
    ClassValue,
    Container,
    Env,
    Instance,
    Layer,
    Module,
    OpaqueModule,
    Tensor,
    assign_paths,
    instance_params,
    iter_modules,
    layer_params,
)

MODULE_BUDGET = LIMITS.steps_per_module
MODEL_BUDGET = LIMITS.steps_per_model


@dataclass(frozen=True)
class Options:
    input: str | None = None
    """The input shape given on the command line (``--input``): it wins over everything."""
    model: str | None = None
    """Analyze only this model: a name in the file, or a call such as ``CNN(3, 10)``."""
    config_input: Any = None
    """``cnnshape.input`` from pyproject.toml or the editor: a shape, or a table of model name -> shape."""
    batch_name: str = "BS"
    module_loader: Any = None
    """Finds the files this one imports (:class:`imports.FileModuleLoader`); None: imports stay opaque."""
    cache: Any = field(default=None, compare=False)
    """A :class:`cache.ModelCache` of one document: models whose text did not change are not re-run."""
    check_fixes: bool = True
    """Analyze each error's fixes applied (:mod:`checking`); off in those analyses themselves."""
    only: str | None = None
    """Analyze only the model of this name (a fix being checked)."""


@dataclass
class Candidate:
    name: str
    line: int
    end_line: int
    build: Callable[[Interpreter], Any]
    node: ast.AST | None = None
    aliases: tuple[str, ...] = ()
    alias_lines: tuple[int, ...] = ()
    construct: str | None = None
    """How the file builds the model when it needs arguments: ``resnet18()`` (torch verification uses it)."""
    unbuilt: bool = False
    """Its constructor needs arguments the file never gives: what depends on them stays unknown."""


@dataclass
class Run:
    trace: Trace
    output: Any
    complete: bool
    first_layer: Layer | None = None
    root: Module | None = None
    notes: list[str] = field(default_factory=list)
    solved: Constraint | None = None
    """The size that stopped a run solving for the input (see :func:`run_model`)."""


def analyze_source(text: str, path: str | None = None, options: Options = Options()) -> Analysis:
    # The analysis makes many small objects while the AST is large: the collector's full passes over
    # the tree cost a fifth of the time and free nothing, so it waits until the analysis is done.
    collecting = gc.isenabled()
    gc.disable()
    try:
        with file_budget(), reading(library_context(options.module_loader)):
            return _analyze(text, path, options)
    finally:
        if collecting:
            gc.enable()


def _analyze(text: str, path: str | None, options: Options) -> Analysis:
    cache = options.cache
    src = parse_tolerant(text, path or "<buffer>", cache.chunks if cache is not None else None)
    analysis = Analysis(path, batch_name=options.batch_name)
    for problem in src.problems:
        analysis.findings.append(Finding(Span(problem.line, problem.column, problem.line, problem.column + 1),
                                         "warning", "syntax-error",
                                         f"{problem.message}: shapes are not shown for the code around this line"))
    imports = ImportContext(options.module_loader, path)
    env = evaluate_module(src, imports, notes=analysis.findings)
    candidates = discover(src, env, options)
    if options.only is not None:
        candidates = [c for c in candidates if c.name == options.only]
    if options.model and not candidates:
        analysis.findings.append(Finding(Span(1, 0, 1, 0), "warning", "model-unknown",
                                         f"No model named {options.model!r} in this file"))
    layout = FileLayout.of(src) if cache is not None else None
    settings_key = repr((options.input, options.model, options.config_input, options.batch_name,
                         sorted(imports.texts.items())))
    reported = {(f.span, f.code) for f in analysis.findings}
    for cand in candidates:
        key = regions = None
        analyzed: Any = None
        if cache is not None and layout is not None and cand.node is not None:
            key, regions = cache.key(src, layout, cand.name, cand.line, cand.end_line, settings_key,
                                     read_elsewhere(src, cand))
            analyzed = cache.get(key, regions)
        if analyzed is None:
            try:
                analyzed = analyze_model(src, env, cand, options) or (None, [])
                if options.check_fixes and any(f.fixes and f.severity == "error" for f in analyzed[1]):
                    _check_model_fixes(src, path, options, cand, analyzed[1])
            except (RecursionError, MemoryError):
                continue
            except Exception as err:  # noqa: BLE001 - a defect of ours loses one model, never the buffer
                analysis.findings.append(Finding(
                    Span(cand.line, 0, cand.line, 0), "information", "analysis-error",
                    f"cnnshape could not analyze {cand.name} ({type(err).__name__}: {err}); its shapes are not "
                    "shown. Please report this", model=cand.name))
                continue
            if key is not None:
                cache.put(key, regions, *analyzed)
        result, findings = analyzed
        if result is None:
            continue
        analysis.models.append(result)
        for finding in findings:
            if (finding.span, finding.code) not in reported:  # a block's error, found again by its parent
                reported.add((finding.span, finding.code))
                finding.model = finding.model or result.name
                analysis.findings.append(finding)
    blocks = block_ids(analysis.models)
    analysis.findings[:] = [f for f in analysis.findings if not block_note(f, analysis.models, blocks)]
    analysis.findings.extend(stale_comments(src, analysis.models))
    return analysis


BLOCK_NOTES = ("input-unknown", "model-arguments")
"""Notes about a model's own input and constructor: false of a block another model builds (its sizes
come from that model)."""


def block_note(finding: Finding, models: list[ModelResult], blocks: set[int]) -> bool:
    """A note that would present a block as a model: its input or constructor arguments (never an error);
    ``blocks`` is :func:`result.block_ids` of ``models``."""
    if finding.code not in BLOCK_NOTES or finding.severity != "information" or not finding.model:
        return False
    model = next((m for m in models if m.name == finding.model), None)
    return model is not None and finding.span.line == model.line and id(model) in blocks


def _check_model_fixes(src: SourceFile, path: str | None, options: Options, cand: Candidate,
                       findings: list[Finding]) -> None:
    """Check the fixes of a model's errors on the part of the file it reads (:mod:`focus`)."""
    quiet = replace(options, cache=None, check_fixes=False, only=cand.name)

    def prepare() -> tuple[str, frozenset[int]]:
        if src.outline is None:
            src.outline = outline(src.tree, src.lines)
        part = focus(src.outline, src.lines, {cand.name, *cand.aliases})
        return part.text, part.lines

    def errors(text: str) -> list[Finding] | None:
        fixed = _analyze(text, path, quiet)
        if not any(m.name == cand.name for m in fixed.models) or any(
                f.code == "analysis-error" for f in fixed.findings):
            return None
        if sum(f.code == "syntax-error" for f in fixed.findings) > len(src.problems):
            return None  # the fix broke the text
        return [f for f in fixed.findings if f.severity == "error"]
    check_fixes(prepare, findings, errors)


def read_elsewhere(src: SourceFile, cand: Candidate) -> str:
    """What a model's analysis reads outside its own class: how a factory builds it, the top-level
    statements that name it (``model = Net(Block)``), and the calls that may show its input (in
    functions too)."""
    names = {cand.name, *cand.aliases}
    calls = [src.segment(node) for node in module_calls(src)
             if _callee(node) in names or _callee(node) == "summary"]
    statements = [text for name in sorted(names) for text in statements_naming(src).get(name, ())]
    return "\x00".join([cand.construct or "", *statements, *calls])


def statements_naming(src: SourceFile) -> dict[str, list[str]]:
    """The text of each top-level statement (not a class or function), by the names in it; once per file."""
    if src.naming is None:
        src.naming = {}
        for stmt in src.tree.body:
            if isinstance(stmt, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            text = src.segment(stmt)
            for name in set(IDENTIFIER.findall(text)):
                src.naming.setdefault(name, []).append(text)
    return src.naming


def _callee(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


# ---------------------------------------------------------------------- module level
@dataclass
class ImportContext:
    """Evaluates the workspace files a buffer imports, each once per analysis, cycles cut."""

    loader: Any
    importer: str | None
    modules: dict[str, Env | None] = field(default_factory=dict)
    texts: dict[str, int] = field(default_factory=dict)
    """A hash of each imported file's text: a change there invalidates cached models."""

    def load(self, module: str, level: int, importer: str | None) -> Env | None:
        if self.loader is None:
            return None
        path = self.loader.find(module, level, importer or self.importer)
        if path is None:
            return None
        key = str(path)
        if key in self.modules:
            return self.modules[key]
        self.modules[key] = None  # an import cycle sees an opaque module
        text = self.loader.source(path)
        if text is None:
            return None
        self.texts[key] = hash(text)
        src = parse_tolerant(text, key)
        origin = ForeignFile(key, src, shown_from(key, self.importer))
        for node in ast.walk(src.tree):
            node._cnnshape_foreign = origin  # type: ignore[attr-defined]  # its lines are another file's
        env = evaluate_module(src, self, key)
        self.modules[key] = env
        return env


def shown_from(path: str, importer: str | None) -> str:
    """``path`` as seen from the analyzed file's folder: ``blocks.py``, ``layers/blocks.py``."""
    if importer is None:
        return Path(path).name
    try:
        return os.path.relpath(path, Path(importer).resolve().parent)
    except ValueError:  # another drive
        return Path(path).name


def library_context(loader: Any) -> LibraryContext | None:
    """How this analysis reads installed packages: through the loader's :class:`LibrarySources` (kept
    by the server or the command line across analyses); None where the loader has none."""
    sources = getattr(loader, "libraries", None)
    if not isinstance(sources, LibrarySources):
        return None
    return LibraryContext(sources, lambda src, package: evaluate_module(src, package=package))


def evaluate_module(src: SourceFile, imports: ImportContext | None = None, path: str | None = None,
                    notes: list[Finding] | None = None, package: str | None = None) -> Env:
    """The file's top level evaluated; ``notes`` receives what went past a budget (``analysis-budget``);
    ``package``: the file is a module of that installed package (:mod:`libraries`)."""
    interp = Interpreter(Trace(src), MODULE_BUDGET)
    interp.package = package
    if imports is not None and imports.loader is not None:
        interp.imports = lambda module, level: imports.load(module, level, path)
    env = Env(values={"__name__": "__cnnshape__"})
    frame = Frame()
    skipped = (ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith) + ((ast.Try,) if package is None else ())
    for stmt in src.tree.body:
        if isinstance(stmt, skipped):
            continue  # a training loop at top level: nothing a model needs, possibly long
        try:
            if package is not None:
                library_statement(interp, stmt, env, frame)
            else:
                interp.exec_stmt(stmt, env, frame)
        except BudgetExceeded as stop:
            interp.trace.add(budget_note(interp.trace.span(stmt), "the file's top level", stop.what))
            break
        except (RecursionError, MemoryError):
            continue
        except Exception:  # noqa: BLE001 - the analysis never raises; one bad statement loses only itself
            continue
    if notes is not None:
        notes.extend(f for f in interp.trace.findings if f.code == BUDGET_CODE)
    return env


def library_statement(interp: Interpreter, stmt: ast.stmt, env: Env, frame: Frame) -> None:
    """A top-level statement of an installed package's module, within ``LIMITS.library_statement_steps``:
    past it, the names it binds stay unknown and the next statement runs (timm builds its tables of
    pretrained configurations at import: seconds here, and nothing a shape needs)."""
    left = interp.not_drawn
    interp.not_drawn = min(left, LIMITS.library_statement_steps)
    granted = interp.not_drawn
    try:
        interp.exec_stmt(stmt, env, frame)
    except BudgetExceeded:
        if interp.not_drawn > 0 or left <= granted:
            raise  # the file's pool or the module's own budget: the rest of the module is not evaluated
        interp.steps_left = 0
    finally:
        interp.not_drawn = left - (granted - interp.not_drawn)


def budget_note(where: Span, what: str, budget: str) -> Finding:
    return Finding(where, "information", BUDGET_CODE,
                   f"Not followed to the end: {what} takes more than {budget}, so the shapes after this point "
                   "are unknown")


def _has_forward(cls: ClassValue) -> bool:
    return cls.lookup("forward") is not None or cls.container_base == "Sequential"


def discover(src: SourceFile, env: Env, options: Options) -> list[Candidate]:
    found: list[Candidate] = []
    instances: dict[int, list[tuple[str, int]]] = {}
    for stmt in src.tree.body:
        if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    value = env.vars.get(target.id)
                    if isinstance(value, Instance):
                        instances.setdefault(id(value.cls), []).append((target.id, stmt.lineno))
    seen_values: set[int] = set()
    for stmt in src.tree.body:
        if isinstance(stmt, ast.ClassDef):
            cls = env.vars.get(stmt.name)
            if not isinstance(cls, ClassValue) or cls.node is not stmt or not cls.is_module or not _has_forward(cls):
                continue
            uses = instances.get(id(cls), [])
            aliases = tuple(name for name, _ in uses)
            instance = env.vars.get(aliases[0]) if aliases else None
            needs = instance is None and _needs_arguments(stmt)
            factory = _factory_call(src, stmt.name) if needs else None
            found.append(Candidate(stmt.name, stmt.lineno, stmt.end_lineno or stmt.lineno,
                                   _class_builder(cls, instance, factory, env), stmt, aliases,
                                   tuple(line for _, line in uses),
                                   construct=ast.unparse(factory) if factory is not None else None,
                                   unbuilt=needs and factory is None))
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                if not isinstance(target, ast.Name):
                    continue
                value = env.vars.get(target.id)
                if isinstance(value, Container) and value.kind == "Sequential" and id(value) not in seen_values:
                    seen_values.add(id(value))
                    found.append(Candidate(target.id, stmt.lineno, stmt.end_lineno or stmt.lineno,
                                           lambda interp, v=value: v, stmt))
                elif is_installed_model(value) and id(value) not in seen_values:
                    seen_values.add(id(value))  # ``m = resnet18(weights=None)``: an installed package's model
                    found.append(Candidate(target.id, stmt.lineno, stmt.end_lineno or stmt.lineno,
                                           lambda interp, v=value: v, stmt, (target.id,), (stmt.lineno,)))
    if options.model:
        return select(src, env, found, options.model)
    return found


def is_installed_model(value: Any) -> bool:
    """An instance of a module class read from an installed package (:mod:`libraries`)."""
    if not isinstance(value, Instance) or not value.cls.is_module or not _has_forward(value.cls):
        return False
    return is_installed(value.cls.node)


def _class_builder(cls: ClassValue, instance: Any, factory: ast.expr | None = None,
                   env: Env | None = None) -> Callable[[Interpreter], Any]:
    def build(interp: Interpreter) -> Any:
        if isinstance(instance, Instance):
            return instance
        if factory is not None and env is not None:
            built = interp.eval(factory, env)
            if isinstance(built, Instance) and cls in built.cls.mro():
                return built
        return interp.calls.instantiate(cls, [], {}, cls.node)
    return build


def _needs_arguments(node: ast.ClassDef) -> bool:
    for item in node.body:
        if isinstance(item, ast.FunctionDef) and item.name == "__init__":
            args = item.args
            positional = [*args.posonlyargs, *args.args][1:]
            return len(positional) > len(args.defaults) or any(d is None for d in args.kw_defaults)
    return False


def _factory_call(src: SourceFile, name: str) -> ast.expr | None:
    """How the file builds a class it never instantiates at top level: ``def resnet18(): return
    ResNet(BasicBlock, [2, 2, 2, 2])`` gives ``resnet18()``; a call with plain arguments anywhere gives itself."""
    if src.factories is None:
        src.factories = _factory_index(src)
    return src.factories.get(name)


def _factory_index(src: SourceFile) -> dict[str, ast.expr]:
    """One pass over the file's functions and top-level code (not its classes) for every class at once."""
    factories: dict[str, ast.expr] = {}
    plain: dict[str, ast.expr] = {}
    for stmt in src.tree.body:
        if isinstance(stmt, ast.ClassDef):
            continue
        is_factory = isinstance(stmt, ast.FunctionDef) and not _required_params(stmt)
        for node in ast.walk(stmt):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
                continue
            name = node.func.id
            if is_factory and name not in factories and any(
                    isinstance(r, ast.Return) and r.value is node for r in ast.walk(stmt)):
                factories[name] = ast.Call(func=ast.Name(id=stmt.name, ctx=ast.Load()), args=[], keywords=[])
            if name not in plain and all(_plain(a) for a in [*node.args, *(k.value for k in node.keywords)]):
                plain[name] = node
    return {**plain, **factories}


def _required_params(func: ast.FunctionDef) -> bool:
    args = func.args
    positional = [*args.posonlyargs, *args.args]
    return len(positional) > len(args.defaults) or any(d is None for d in args.kw_defaults)


def _plain(node: ast.AST) -> bool:
    """An argument made of literals and names (evaluated at module level)."""
    return all(isinstance(n, (ast.Constant, ast.Name, ast.Tuple, ast.List, ast.Load, ast.UnaryOp, ast.USub,
                              ast.BinOp, ast.operator, ast.Attribute)) for n in ast.walk(node))


def select(src: SourceFile, env: Env, found: list[Candidate], wanted: str) -> list[Candidate]:
    wanted = wanted.strip()
    for cand in found:
        if wanted == cand.name or wanted in cand.aliases:
            return [cand]
    try:
        expr = ast.parse(wanted, mode="eval").body
    except SyntaxError:
        return []
    name = expr.func.id if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) else wanted
    base = next((c for c in found if c.name == name), None)

    def build(interp: Interpreter) -> Any:
        return interp.eval(expr, env)

    if base is not None:
        return [Candidate(base.name, base.line, base.end_line, build, base.node, base.aliases, base.alias_lines)]
    if not isinstance(expr, ast.Call) and name not in env.vars:
        return []
    return [Candidate(name, 1, 1, build, None)]


# ---------------------------------------------------------------------- one model
def run_model(src: SourceFile, env: Env, cand: Candidate, shape: tuple | None, batch: str | None,
              root: Module | None = None, probe: bool = False, solving_for: frozenset[str] | None = None) -> Run:
    """Run ``forward`` once over ``shape``; a probe stops at the first layer and records nothing.

    With ``solving_for``, the run stops at the first size that pins down only those symbols
    (``Run.solved``): the input is then solved for and the model run again with it.
    """
    trace = Trace(src)
    interp = Interpreter(trace, MODEL_BUDGET)
    interp.calls.batch_symbol = batch
    interp.calls.probing = probe
    interp.calls.solving_for = solving_for
    try:
        if root is None:
            root = cand.build(interp)
        if not isinstance(root, Module):
            return Run(trace, None, False)
        assign_paths(root)
        trace.recording = not probe
        output = interp.calls.apply_module(root, [Tensor(shape, is_input=True)], {}, None, line=cand.line)
        interp.calls.finish()
        return Run(trace, output, True, trace.first_layer, root)
    except FirstLayerFound:
        return Run(trace, None, False, trace.first_layer, root)
    except ConstraintFound as found:
        return Run(trace, None, False, trace.first_layer, root, solved=found.constraint)
    except BudgetExceeded as stop:
        trace.add(budget_note(Span(cand.line, 0, cand.line, 0), cand.name, stop.what))
        return Run(trace, None, False, trace.first_layer, root)
    except (TooLarge, RecursionError, MemoryError):
        return Run(trace, None, False, trace.first_layer, root)


def analyze_model(src: SourceFile, env: Env, cand: Candidate,
                  options: Options) -> tuple[ModelResult, list[Finding]] | None:
    batch = options.batch_name
    interp = Interpreter(Trace(src), MODEL_BUDGET)
    try:
        root = cand.build(interp)
    except BudgetExceeded as stop:
        root = None
        interp.trace.add(budget_note(Span(cand.line, 0, cand.line, 0), f"building {cand.name}", stop.what))
    except (TooLarge, RecursionError, MemoryError):
        root = None
    built_notes = [f for f in interp.trace.findings if f.code == BUDGET_CODE]
    if isinstance(root, Instance) and not root.modules and not options.model \
            and not any(v is UNKNOWN for v in root.attrs.values()):  # one may be a module: a model, unknown
        return None  # a module without submodules (the user's Flatten) is a layer, not a model
    probe: Run | None = None
    found = find_input(src, cand, options, root)
    if found is None or found.needs_rank:
        # run once without an input to see which layer comes first: it implies the input's rank
        probe = run_model(src, env, cand, None, batch, root, probe=True)
        if found is None:
            found = input_from_calls(src, cand, options, probe.first_layer) or config_input(cand, options)
    extra: list[Finding] = []
    shape: tuple | None = None
    source: str | None = None
    if found is not None:
        try:
            rank = _rank_of(probe.first_layer) if probe is not None else None
            shape = parse_shape(found.text, batch, rank=rank)
            source = found.source
        except ShapeSyntaxError as err:
            extra.append(Finding(Span(cand.line, 0, cand.line, 0), "warning", "input-unknown", str(err)))
    run: Run | None = None
    if shape is None and probe is not None and probe.first_layer is not None:
        shape, source, note, run = infer_input(src, env, cand, probe.first_layer, batch, root)
        if note is not None:
            extra.append(note)
    if run is None:  # the run over the symbolic input, when nothing pinned it down, is the model's run
        batch_symbol = batch if shape and isinstance(shape[0], dims.Expr) and str(shape[0]) == batch else None
        run = run_model(src, env, cand, shape, batch_symbol, root)
    trace = run.trace
    output = _first_tensor(run.output)
    modules = iter_modules(run.root) if run.root is not None else None  # one walk for both
    params = total_params(run.root, modules) if modules is not None else None
    result = ModelResult(cand.name, cand.line, shape, source, output.shape if output is not None else None, params,
                         trace.records, cand.aliases, cand.end_line, run.complete, construct=cand.construct,
                         instances=block_instances(modules) if modules is not None else {})
    if cand.unbuilt and options.model is None:
        extra.append(Finding(Span(cand.line, 0, cand.line, 0), "information", "model-arguments",
                             f"{cand.name}'s constructor needs arguments this file never passes: what depends on them "
                             f"is unknown. Build it once in the file (model = {cand.name}(...)) to see every shape"))
    findings = built_notes + trace.findings + extra
    smallest = smallest_input_note(cand.name, cand.line, findings, shape, lambda s: run_model(
        src, env, cand, s, batch if s and isinstance(s[0], dims.Expr) and str(s[0]) == batch else None,
        run.root).trace) if run.root is not None and options.check_fixes else None  # not when checking a fix
    if smallest is not None:
        findings.append(smallest)
    for f in findings:
        f.model = cand.name
    return result, findings


def block_instances(modules: list[tuple[str, Module]]) -> dict[str, BlockInstance]:
    """Every instance of a class of the user's in the model (:func:`iter_modules`), by path, with what built it."""
    found = {}
    for path, module in modules:
        if isinstance(module, Instance) and module.cls.is_module:
            node = module.cls.node
            line = 0 if is_foreign(node) else node.lineno
            found[path] = BlockInstance(path, module.cls.name, line, tuple(module.arguments.items()))
    return found


def _first_tensor(value: Any) -> Tensor | None:
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for item in value:
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


def _rank_of(layer: Layer | None) -> int | None:
    shape = _input_template(layer, "BS")
    return len(shape) if shape else None


def find_input(src: SourceFile, cand: Candidate, options: Options, root: Any) -> FoundInput | None:
    """The input stated for this model, first found wins; calls and settings come later (they need the rank)."""
    if options.input:
        return FoundInput(options.input, "cli", needs_rank=True)
    for line in (cand.line, *cand.alias_lines):
        found = annotation_for(src, line)
        if found:
            return found
    found = docstring_input(cand.node, src)
    if found:
        return found
    if isinstance(root, Instance):
        example = root.attrs.get("example_input_array")
        if isinstance(example, Tensor) and example.shape and all(d is not None for d in example.shape):
            return FoundInput(_shape_literal(example.shape, options.batch_name), "example_input_array")
    return None


def config_input(cand: Candidate, options: Options) -> FoundInput | None:
    config = options.config_input
    if isinstance(config, dict):
        config = config.get(cand.name) or next((config[a] for a in cand.aliases if a in config), None)
    if isinstance(config, str) and config.strip():
        return FoundInput(config, "config", needs_rank=True)
    return None


def _shape_literal(shape: tuple, batch: str) -> str:
    items = [dims.to_text(d) for d in shape]
    if items and not isinstance(shape[0], dims.Expr):
        items[0] = batch
    return "(" + ", ".join(items) + ")"


def input_from_calls(src: SourceFile, cand: Candidate, options: Options,
                     first_layer: Layer | None) -> FoundInput | None:
    """``model(torch.randn(4, 3, 32, 32))`` or ``summary(model, (3, 32, 32))`` in the same file."""
    names = {cand.name, *cand.aliases}
    rank = _rank_of(first_layer)
    for node in module_calls(src):
        callee = _callee(node)
        if callee in names and node.args:
            shape = _literal_shape(node.args[0], src)
            if shape:
                return FoundInput(_shape_literal(shape, options.batch_name), "call")
        if callee == "summary" and node.args and isinstance(node.args[0], ast.Name) and node.args[0].id in names:
            size_node = node.args[1] if len(node.args) > 1 else next(
                (k.value for k in node.keywords if k.arg == "input_size"), None)
            sizes = _int_tuple(size_node)
            if sizes:
                with_batch = rank is not None and len(sizes) == rank
                shape = tuple(sizes) if with_batch else (0, *sizes)
                return FoundInput(_shape_literal(shape, options.batch_name), "call")
    return None


def module_calls(src: SourceFile) -> list[ast.Call]:
    """Calls that may show a model's input (``model(x)``, ``summary(...)``), collected once per file."""
    if src.calls is None:
        wanted = []
        # class bodies (the bulk of a model file) never feed a model an input: skip them
        stack: list[ast.AST] = [s for s in src.tree.body if not isinstance(s, ast.ClassDef)]
        while stack:
            node = stack.pop()
            if isinstance(node, ast.Call) and node.args:
                func = node.func
                if isinstance(func, ast.Name) or (isinstance(func, ast.Attribute) and func.attr == "summary"):
                    wanted.append(node)
            stack.extend(ast.iter_child_nodes(node))
        src.calls = wanted
    return src.calls


def _literal_shape(node: ast.AST, src: SourceFile) -> tuple | None:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
            "randn", "rand", "zeros", "ones", "empty", "randint"):
        args = node.args
        if node.func.attr == "randint":
            size = next((k.value for k in node.keywords if k.arg == "size"), args[-1] if args else None)
            return _int_tuple(size)
        if len(args) == 1:
            return _int_tuple(args[0])
        return _int_tuple(ast.Tuple(elts=list(args)))
    return None


def _int_tuple(node: ast.AST | None) -> tuple | None:
    if isinstance(node, (ast.Tuple, ast.List)):
        values = []
        for elt in node.elts:
            if isinstance(elt, ast.Constant) and isinstance(elt.value, int) and not isinstance(elt.value, bool):
                values.append(elt.value)
            else:
                return None
        return tuple(values) if values else None
    return None


def _input_template(layer: Layer | None, batch: str) -> tuple | None:
    """The input a first layer implies: its rank and channels, spatial sizes as symbols (its rule's)."""
    if layer is None or layer.rule.input_template is None:
        return None
    return layer.rule.input_template(layer.args, dims.sym(batch))


def infer_input(src: SourceFile, env: Env, cand: Candidate, first: Layer, batch: str, root: Module | None
                ) -> tuple[tuple | None, str | None, Finding | None, Run | None]:
    """The input the first layer implies, its spatial sizes solved for where a later size pins them down.

    Also returns the run over the symbolic input when nothing pinned it down: it is the model's run.
    """
    template = _input_template(first, batch)
    if template is None:
        return None, None, None, None
    where = Span(cand.line, 0, cand.line, 0)
    spatial = tuple(str(d) for d in template[2:] if isinstance(d, dims.Expr)) if len(template) > 2 else ()
    symbolic = run_model(src, env, cand, template, batch, root, solving_for=frozenset(spatial))
    shown = "(" + ", ".join(dims.to_text(d) for d in template) + ")"
    constraint = symbolic.solved
    if constraint is not None:
        names = tuple(sorted(dims.symbols(constraint.size)))
        fits = solve_square(constraint.size, constraint.value, names, constraint.factors)
        if not fits:
            return template, "inferred", Finding(
                where, "warning", "input-unknown",
                f"No square input size gives {constraint.where}: check that size, or state the input with "
                f"# in: {shown}"), None
        size = preferred_size(fits)
        concrete = tuple(size if isinstance(d, dims.Expr) and str(d) in spatial else d for d in template)
        text = "(" + ", ".join(dims.to_text(d) for d in concrete) + ")"
        return concrete, "inferred", Finding(
            where, "information", "input-unknown",
            f"No input shape given: assuming {text}, which fits {constraint.where} "
            f"(inputs of {ranges_text(fits)} fit). State it with # in: {text}"), None
    return template, "inferred", Finding(
        where, "information", "input-unknown",
        f"No input shape given: shapes are shown for an input {shown}. State it with a comment such as "
        f"# in: {shown.replace(', '.join(spatial), ', '.join('32' for _ in spatial)) if spatial else shown}"
    ), symbolic


def total_params(root: Module, modules: list[tuple[str, Module]] | None = None) -> dims.Dim | None:
    """``sum(p.numel() for p in model.parameters())``, or None where any part of it is unknown; ``modules`` is
    :func:`iter_modules` of ``root`` where already made."""
    total: dims.Dim = 0
    counted: set[int] = set()  # a parameter registered twice is one, as parameters() gives it
    for _, module in modules if modules is not None else iter_modules(root):
        if isinstance(module, Layer):
            count = module.params
            if count is NOT_COUNTED:  # never applied
                count = layer_params(module, module.resolved or {})
        elif isinstance(module, Instance):
            count = instance_params(module, counted)
        elif isinstance(module, OpaqueModule):
            count = 0 if module.name.endswith("Loss") and module.name != "AdaptiveLogSoftmaxWithLoss" else None
        else:
            count = 0
        if count is None or module.incomplete:
            return None
        total = dims.add(total, count)
    return total


# ---------------------------------------------------------------------- comments
__all__ = ["Options", "analyze_source"]
