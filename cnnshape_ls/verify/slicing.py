"""What verification executes: the dependency slice of a module for its models.

Starting from the names a model's build expression reads (``CNN(3, 10)`` reads ``CNN``), keep the top-level
imports, definitions and plain-name assignments that bind a needed name, then the names those read (class
bases, decorators, default arguments, metaclass and keywords, evaluated annotations, bodies), until nothing
new is needed. Everything else is left out: the training loop, the ``if __name__ == "__main__":`` block, any
bare expression, a top-level ``trainset = datasets.CIFAR10(download=True)`` the model does not read, and every
statement that changes an existing object (``Net.x = f()``, ``registry[f()] = 2``, ``model.n = len(data)``).

A model that cannot be built as the file builds it without running such a statement (a needed name changed
after it is bound, bound again by a call, or the model's layers replaced after it is built) is not sliced:
:class:`Blocker` says which statement it would have had to run. Pure: no torch, nothing executed here.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field

BUILTIN_NAMES = frozenset(dir(builtins))

MUTATORS = frozenset({
    "append", "extend", "insert", "update", "setdefault", "pop", "popitem", "remove", "clear", "add", "discard",
    "sort", "reverse", "add_module", "register_module", "register_buffer", "register_parameter", "__setitem__",
    "__delitem__", "__setattr__", "__delattr__"})
"""Methods that change the object they are called on (a bare ``layers.append(...)`` at top level)."""

SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


@dataclass(frozen=True)
class Blocker:
    """A statement the model would need and that verification never runs."""

    line: int
    statement: str
    """Its first line, as written (shortened)."""
    why: str
    """What it does to the model: ``changes CONFIG after it is defined``."""

    def describe(self) -> str:
        return f"line {self.line} (`{self.statement}`), which {self.why}"


@dataclass(frozen=True)
class Slice:
    source: str
    """The kept statements, each at its original line (the lines between are blank)."""
    lines: tuple[int, ...]
    """The first line of every kept statement."""
    missing: tuple[str, ...]
    """Names the model needs that no top-level statement defines."""
    blockers: tuple[Blocker, ...] = ()
    """Statements the model would need that are never run: the model is not verified when there are any."""


# ---------------------------------------------------------------------------------------------- names read
def free_names(node: ast.AST, lazy_annotations: bool = False) -> set[str]:
    """Names ``node`` reads from its module when it runs (builtins left out).

    A function's own parameters and locals are not free, so a method's local ``trainset`` does not pull in a
    top-level ``trainset = datasets.CIFAR10(...)``; what runs when a ``def`` or ``class`` statement runs is:
    decorators, default arguments, annotations (unless ``lazy_annotations``: ``from __future__ import
    annotations``), bases, keywords and metaclass, and a class body.
    """
    return _free(node, lazy_annotations) - BUILTIN_NAMES


def _free(node: ast.AST, lazy: bool) -> set[str]:
    if isinstance(node, ast.Name):
        return {node.id} if isinstance(node.ctx, (ast.Load, ast.Del)) else set()
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        return _free_function(node, lazy)
    if isinstance(node, ast.ClassDef):
        return _free_class(node, lazy)
    if isinstance(node, COMPREHENSIONS):
        used: set[str] = set()
        bound: set[str] = set()
        for generator in node.generators:
            bound |= _stored(generator.target)
        for child in ast.iter_child_nodes(node):
            used |= _free(child, lazy)
        return used - bound
    if isinstance(node, ast.AnnAssign) and lazy:
        return _free(node.target, lazy) | (_free(node.value, lazy) if node.value is not None else set())
    used = set()
    for child in ast.iter_child_nodes(node):
        used |= _free(child, lazy)
    return used


def _stored(target: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _annotations(args: ast.arguments) -> list[ast.expr]:
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs, *(a for a in (args.vararg, args.kwarg) if a)]
    return [a.annotation for a in every if a.annotation is not None]


def _free_function(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, lazy: bool) -> set[str]:
    args = node.args
    outer: set[str] = set()
    # what runs when the def statement runs
    evaluated = [*args.defaults, *(d for d in args.kw_defaults if d is not None)]
    if not isinstance(node, ast.Lambda):
        evaluated += node.decorator_list
        if not lazy:
            evaluated += _annotations(args) + ([node.returns] if node.returns is not None else [])
    for expr in evaluated:
        outer |= _free(expr, lazy)
    params = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    params |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    body = node.body if isinstance(node.body, list) else [node.body]
    local = params | _locals(body)
    inner: set[str] = set()
    for stmt in body:
        inner |= _free(stmt, lazy)
    return outer | (inner - local)


def _locals(body: list[ast.stmt]) -> set[str]:
    """Names a function body binds (not those it declares global or nonlocal), nested scopes excluded."""
    bound: set[str] = set()
    declared: set[str] = set()
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
            continue  # its body is its own scope
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name != "*"}
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            declared |= set(node.names)
        elif isinstance(node, ast.Lambda):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return bound - declared


def _free_class(node: ast.ClassDef, lazy: bool) -> set[str]:
    used: set[str] = set()
    for expr in [*node.bases, *(k.value for k in node.keywords), *node.decorator_list]:
        used |= _free(expr, lazy)
    class_locals: set[str] = set()
    for stmt in node.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            class_locals.add(stmt.name)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            class_locals |= defined_names(stmt)
    for stmt in node.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            used |= _free(stmt, lazy)  # methods read the module, not the class body
        else:
            used |= _free(stmt, lazy) - class_locals
    return used


# ---------------------------------------------------------------------------------------------- names bound
def defined_names(node: ast.stmt) -> set[str]:
    """Names a top-level statement binds. Only plain names: ``Net.x = ...`` or ``registry[k] = ...`` changes
    an object and binds nothing."""
    if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).split(".")[0] for alias in node.names if alias.name != "*"}
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        targets = [node.target]
    elif isinstance(node, ast.AugAssign):
        targets = [node.target]
    names: set[str] = set()
    for target in targets:
        names |= _plain_targets(target)
    return names


def _plain_targets(target: ast.expr) -> set[str]:
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, ast.Starred):
        return _plain_targets(target.value)
    if isinstance(target, (ast.Tuple, ast.List)):
        return set().union(*(_plain_targets(e) for e in target.elts)) if target.elts else set()
    return set()


def root_name(node: ast.expr) -> str | None:
    """``CONFIG`` of ``CONFIG["a"].b``; None when the chain starts with something else (a call)."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _changed_targets(stmt: ast.AST) -> list[ast.expr]:
    """Attribute and item targets of assignments and ``del`` in ``stmt`` (nested scopes excluded)."""
    found: list[ast.expr] = []
    for node in _walk_top(stmt):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        for target in targets:
            stack = [target]
            while stack:
                t = stack.pop()
                if isinstance(t, (ast.Tuple, ast.List)):
                    stack.extend(t.elts)
                elif isinstance(t, ast.Starred):
                    stack.append(t.value)
                elif isinstance(t, (ast.Attribute, ast.Subscript)):
                    found.append(t)
    return found


def _mutating_calls(stmt: ast.AST) -> list[tuple[str, ast.Call]]:
    """``x.append(...)``-like calls and ``setattr(x, ...)`` in ``stmt``: the root name each one changes."""
    found: list[tuple[str, ast.Call]] = []
    for node in _walk_top(stmt):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in MUTATORS:
            root = root_name(func.value)
        elif isinstance(func, ast.Name) and func.id in ("setattr", "delattr") and node.args:
            root = root_name(node.args[0])
        else:
            continue
        if root is not None:
            found.append((root, node))
    return found


def _walk_top(stmt: ast.AST):
    """The nodes of a top-level statement that run when it runs: not the bodies of functions and classes."""
    stack = [stmt]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, SCOPES) and node is not stmt:
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            # a definition's own decorators and defaults run; its body does not
            stack.extend(getattr(node, "decorator_list", []))
            stack.extend(getattr(node, "bases", []))
            continue
        stack.extend(ast.iter_child_nodes(node))


# ---------------------------------------------------------------------------------------------- the module
KEEPABLE = (ast.Import, ast.ImportFrom, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef, ast.Assign,
            ast.AnnAssign, ast.AugAssign)


@dataclass
class ModuleIndex:
    """One parse of a module, and what each top-level statement binds and reads (computed once, so slicing
    a file with many models stays linear)."""

    source: str
    tree: ast.Module = field(init=False)
    lazy_annotations: bool = field(init=False)
    _binders: dict[str, list[int]] = field(init=False, default_factory=dict)
    _reads: dict[int, set[str]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.tree = ast.parse(self.source)
        self.lazy_annotations = any(isinstance(s, ast.ImportFrom) and s.module == "__future__"
                                    and any(a.name == "annotations" for a in s.names) for s in self.tree.body)
        for i, stmt in enumerate(self.tree.body):
            if isinstance(stmt, KEEPABLE):
                for name in defined_names(stmt):
                    self._binders.setdefault(name, []).append(i)

    def reads(self, i: int) -> set[str]:
        if i not in self._reads:
            self._reads[i] = free_names(self.tree.body[i], self.lazy_annotations)
        return self._reads[i]

    def statement_text(self, stmt: ast.stmt) -> str:
        line = self.source.split("\n")[stmt.lineno - 1].strip()
        return line if len(line) <= 60 else line[:57] + "..."

    def binders(self, name: str, before: int | None = None) -> list[int]:
        """The statements that bind ``name`` for a model the file builds on line ``before``: those before it,
        or when there are none, the later ones (a function its ``forward`` calls may come after)."""
        every = self._binders.get(name, [])
        if before is None:
            return every
        earlier = [i for i in every if self.tree.body[i].lineno < before]
        return earlier or every

    def needs(self, model_expr: str, before: int | None = None) -> tuple[set[int], set[str]]:
        """The statements ``model_expr`` needs, and every name they and it read."""
        needed = free_names(ast.parse(model_expr, mode="eval"), self.lazy_annotations)
        kept: set[int] = set()
        queue = list(needed)
        while queue:
            name = queue.pop()
            for i in self.binders(name, before):
                if i in kept:
                    continue
                kept.add(i)
                for read in self.reads(i) - needed:
                    needed.add(read)
                    queue.append(read)
        return kept, needed

    def blockers(self, kept: set[int], needed: set[str], before: int | None = None) -> list[Blocker]:
        """Statements that would change what the kept ones bind before the model is built on line ``before``
        (the end of the file when None): verification would have to run them."""
        body = self.tree.body
        found: list[Blocker] = []
        # bound again by running something: `model = train(model)` when `model` is needed
        for name in sorted(needed):
            binders = [i for i in self.binders(name, before) if i in kept]
            for i in binders[1:]:
                stmt = body[i]
                value = getattr(stmt, "value", None)
                if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and value is not None and any(
                        isinstance(n, ast.Call) for n in ast.walk(value)):
                    found.append(Blocker(stmt.lineno, self.statement_text(stmt), f"binds {name} again by a call"))
        # an object the model reads, changed after it is made (module imports aside: `torch.x = ...` is a setting)
        own = {name for name in needed
               if any(not isinstance(body[i], ast.Import) for i in self._binders.get(name, []))}
        for i, stmt in enumerate(body):
            if i in kept or isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if before is not None and stmt.lineno >= before:
                break  # after the model is built: it changes something else's copy, or nothing torch checks
            changed = [root_name(t) for t in _changed_targets(stmt)]
            changed += [root for root, _ in _mutating_calls(stmt)]
            for name in dict.fromkeys(c for c in changed if c in own):
                found.append(Blocker(stmt.lineno, self.statement_text(stmt), f"changes {name} after it is made"))
        return sorted(set(found), key=lambda b: b.line)

    def render(self, kept: set[int]) -> tuple[str, tuple[int, ...]]:
        body = self.tree.body
        star_imports = {i for i, s in enumerate(body)
                        if isinstance(s, ast.ImportFrom) and any(a.name == "*" for a in s.names)}
        chosen = [body[i] for i in sorted(kept | star_imports)]
        lines = self.source.split("\n")
        out = [""] * len(lines)
        for stmt in chosen:
            start = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
            for n in range(start, (stmt.end_lineno or stmt.lineno) + 1):
                out[n - 1] = lines[n - 1]
        return "\n".join(out), tuple(s.lineno for s in chosen)

    def slice(self, model_expr: str, before: int | None = None) -> tuple[set[int], Slice]:
        """The slice for a model built by ``model_expr``, on line ``before`` of the file (None: after it)."""
        kept, needed = self.needs(model_expr, before)
        defined = set().union(*(defined_names(self.tree.body[i]) for i in kept)) if kept else set()
        source, lines = self.render(kept)
        blockers = tuple(self.blockers(kept, needed, before))
        return kept, Slice(source, lines, tuple(sorted(needed - defined)), blockers)


def slice_module(source: str, model_expr: str, before: int | None = None) -> Slice:
    return ModuleIndex(source).slice(model_expr, before)[1]


# ---------------------------------------------------------------------------------------------- how a model is built
@dataclass(frozen=True)
class Construction:
    expr: str
    """What to evaluate (under the meta device) to build the model: ``Net(3, 10)``, not ``model``."""
    line: int
    """The statement of the file that builds it."""


def construction(tree: ast.Module, variable: str, cls: str | None) -> Construction | None:
    """How the file builds the model it binds to ``variable``: the last top-level assignment to it that does
    not read it (``model = train(model)`` and ``model = model.to(device)`` change a model, they do not build
    one); in it, the call of ``cls`` itself when there is one (``Net()`` of ``model = Net().to(device)``)."""
    assignments = []
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == variable for t in stmt.targets):
            assignments.append(stmt)
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.target.id == variable \
                and stmt.value is not None:
            assignments.append(stmt)
    for stmt in reversed(assignments):
        value = stmt.value
        if variable in free_names(value):
            continue
        if cls is not None:
            call = next((n for n in ast.walk(value) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
                         and n.func.id == cls), None)
            if call is not None:
                return Construction(ast.unparse(call), stmt.lineno)
        return Construction(ast.unparse(value), stmt.lineno)
    return None


def surgery(index: ModuleIndex, variables: set[str], after: int, submodules: set[str]) -> list[Blocker]:
    """Statements after the model is built that replace its layers (``model.fc = nn.Linear(512, 10)``,
    ``model[0] = ...``, ``model.add_module(...)``): the model the file runs is not the one it built.
    Other attributes (``model.class_to_idx = ...``) change nothing torch checks and are never run."""
    found: list[Blocker] = []
    for stmt in index.tree.body:
        if stmt.lineno <= after or isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        hit = None
        for target in _changed_targets(stmt):
            chain = target
            while isinstance(chain, (ast.Attribute, ast.Subscript)) and isinstance(chain.value,
                                                                                (ast.Attribute, ast.Subscript)):
                chain = chain.value
            if not (isinstance(chain, (ast.Attribute, ast.Subscript)) and isinstance(chain.value, ast.Name)
                    and chain.value.id in variables):
                continue
            if isinstance(chain, ast.Subscript) or chain.attr in submodules:
                hit = chain.value.id
        for root, _call in _mutating_calls(stmt):
            if root in variables:
                hit = root
        if hit is not None:
            found.append(Blocker(stmt.lineno, index.statement_text(stmt), f"changes the layers of {hit}"))
    return found
