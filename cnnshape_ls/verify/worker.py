"""The verification worker: runs models under torch on the meta device and reports every layer's shape.

Runs in the user's interpreter (``cnnshape.python``), which may not have cnnshape-ls installed: this file
is self-contained (standard library and torch only) and is started by path. It talks newline-delimited JSON
over two pipe file descriptors it is given, never over stdout: whatever the user's code prints goes to
/dev/null and cannot corrupt the protocol.

Request:  {"id": 1, "method": "verify", "params": {"source": ..., "path": ..., "models": [
              {"name": "Net", "expr": "Net()", "input": [2, 3, 32, 32], "at": <line the file builds it on>}]}}
          (built under the meta device when the slice reaches line "at", or after it without "at")
Response: {"id": 1, "result": {"models": [{"name", "ok", "calls": [[path, shape], ...], "output", "error"}],
              "problems": [{"line", "kind", "message"}]}}
Events:   {"event": "ready", "torch": ..., "python": ..., "pid": <the process that will serve the next request>}
          {"event": "exit", "pid": <that process>, "status": <exit code, -signal>} (0: it answered)

This process imports torch and pays the first meta-device forward once, then forks a fresh process for each
request: it waits for one request, runs the user's code, answers and exits. Nothing of one request (an imported
workspace module, a patched ``nn.Linear``, a thread) is left for the next; each fork is already warm (see
``supervise``). Every exit is reported, and the next process is forked at once.
"""

from __future__ import annotations

import argparse
import ast
import gc
import json
import os
import sys
import traceback
import types
from dataclasses import dataclass

LIGHTNING = ("pytorch_lightning", "lightning")


def _limit_memory(megabytes: int) -> None:
    try:
        import resource

        limit = megabytes * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass


def _no_core_dumps() -> None:
    """A segfault in the user's code must not leave a core file of the whole torch process behind."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ImportError, ValueError, OSError):
        pass


def _silence_stdio() -> None:
    """The user's prints go nowhere; file descriptors 1 and 2 point at /dev/null."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    sys.stderr = sys.stdout


MAX_LINE_SHAPES = 20_000
"""Distinct (module, line, shape) notes kept from one run: a loop of many shapes stays small."""


class Worker:
    def __init__(self) -> None:
        self.torch = None
        self.nn = None

    def start(self) -> dict:
        try:
            import torch
            import torch.nn as nn
        except Exception as err:  # noqa: BLE001 - an interpreter without torch: say so, keep answering
            return {"torch": None, "python": sys.executable, "error": f"{type(err).__name__}: {err}"}
        self.torch, self.nn = torch, nn
        self.warm_up()
        return {"torch": torch.__version__, "python": sys.executable}

    def warm_up(self) -> None:
        """Pay the first-time costs of a verification now, not on an edit: the first meta-device forward in a
        process (about 1.5 s), and in each forked process the first touch of what a verification uses (a
        page copied on write per object, about as much again as the verification itself). The same path as a
        request (compile, build, hooks, forward), on a small model of the common layers; nothing it makes
        outlives it (no module imported, no import path added)."""
        self.verify({"source": WARM_UP, "path": WARM_UP_PATH,
                     "models": [{"name": "WarmUp", "expr": "WarmUp()", "input": [2, 3, 16, 16], "at": 16}]},
                    import_path=False)

    # -------------------------------------------------------------- one request
    def verify(self, params: dict, import_path: bool = True) -> dict:
        if self.torch is None:
            return {"models": [], "problems": [{"line": 0, "kind": "no-torch", "message": "torch is not installed"}]}
        path = params.get("path") or "<buffer>"
        problems: list[dict] = []
        if import_path:
            self.add_import_path(path)
        specs = params.get("models", [])
        built: dict[int, tuple] = {}
        # a model the file builds on line N is built when the slice reaches line N, as the file would build it
        # (a name bound again later changes another model, not this one); forward runs once all is defined
        waiting = sorted((spec["at"], i) for i, spec in enumerate(specs) if isinstance(spec.get("at"), int))

        def build_until(line: int | None, namespace: dict) -> None:
            while waiting and (line is None or waiting[0][0] <= line):
                _, i = waiting.pop(0)
                built[i] = self.build_model(namespace, specs[i], path)

        namespace = self.load(params["source"], path, problems, before=build_until)
        build_until(None, namespace)
        models = []
        for i, spec in enumerate(specs):
            model, error = built[i] if i in built else self.build_model(namespace, spec, path)
            models.append(self.run_model(model, spec, path) if error is None else
                          {"name": spec["name"], "ok": False, "calls": [], "error": error})
        return {"models": models, "problems": problems}

    @staticmethod
    def package_of(path: str) -> tuple[str, str | None]:
        """The folder the file's imports resolve from, and its package when it is in one."""
        folder = os.path.dirname(os.path.abspath(path)) if path != "<buffer>" else os.getcwd()
        if os.path.isfile(os.path.join(folder, "__init__.py")):
            return os.path.dirname(folder), os.path.basename(folder)
        return folder, None

    def add_import_path(self, path: str) -> None:
        folder, _ = self.package_of(path)
        if folder not in sys.path:
            sys.path.insert(0, folder)

    def load(self, source: str, path: str, problems: list[dict], before=None) -> dict:
        """Run the slice; ``before(line, namespace)`` is called before each statement."""
        package = self.package_of(path)[1] if path != WARM_UP_PATH else None
        namespace: dict = {"__name__": "cnnshape_verify", "__file__": path, "__package__": package,
                           "__builtins__": __builtins__}
        tree = ast.parse(source, path)
        meta = self.torch.device("meta")
        for stmt in tree.body:
            if before is not None:
                before(stmt.lineno, namespace)
            code = compile(ast.Module([stmt], []), path, "exec")
            importing = isinstance(stmt, (ast.Import, ast.ImportFrom))
            try:
                if importing:  # a library's import-time code runs as it would anywhere
                    exec(code, namespace)  # noqa: S102 - the dependency slice of the user's file, by design
                else:  # a module or tensor the file makes at top level holds no storage either
                    with meta:
                        exec(code, namespace)  # noqa: S102
            except ImportError as err:
                if not self.stub_lightning(stmt, namespace):
                    problems.append({"line": stmt.lineno, "kind": "import", "message": f"{err}",
                                     "module": getattr(err, "name", None)})
            except BaseException as err:  # noqa: BLE001 - SystemExit at top level, anything the user wrote
                problems.append({"line": stmt.lineno, "kind": "statement",
                                 "message": f"{type(err).__name__}: {err}".splitlines()[0]})
        return namespace

    def stub_lightning(self, stmt: ast.stmt, namespace: dict) -> bool:
        """Without Lightning installed, a LightningModule is an nn.Module for shapes' sake."""
        module = getattr(stmt, "module", None) or ""
        stubbed = False
        for alias in getattr(stmt, "names", []):
            root = (module or alias.name).split(".")[0]
            if root not in LIGHTNING:
                continue
            stub = types.ModuleType(alias.name)
            stub.LightningModule = self.nn.Module
            if module:
                namespace[alias.asname or alias.name] = self.nn.Module if alias.name == "LightningModule" else stub
            else:
                namespace[alias.asname or alias.name.split(".")[0]] = stub
            stubbed = True
        return stubbed

    def build_model(self, namespace: dict, spec: dict, path: str) -> tuple:
        """(the model, None), or (None, the error) when it cannot be built."""
        torch, nn = self.torch, self.nn
        try:
            with torch.device("meta"):
                model = eval(spec["expr"], namespace)  # noqa: S307 - a name or call the static analysis chose
            model = model.to("meta")
            nn.Module.train(model, False)
        except BaseException as err:  # noqa: BLE001
            return None, self.describe(err, None, path, stage="build")
        return model, None

    def run_model(self, model, spec: dict, path: str) -> dict:
        torch = self.torch
        name = spec["name"]
        calls: list = []
        stack: list = []
        handles = []
        for qualified, module in model.named_modules():
            leaf = not any(True for _ in module.children())
            handles.append(module.register_forward_pre_hook(self.pre_hook(qualified, module, stack)))
            handles.append(module.register_forward_hook(self.post_hook(qualified, leaf, calls, stack)))
        seen: dict[tuple, None] = {}
        owners = {id(module): qualified for qualified, module in model.named_modules()}
        try:
            with torch.no_grad(), self.line_shapes(path, owners, seen):
                out = model(torch.empty(*spec["input"], device="meta"))
        except BaseException as err:  # noqa: BLE001 - torch's error is part of the answer
            return {"name": name, "ok": False, "calls": calls, "error": self.describe(err, stack, path)}
        finally:
            for handle in handles:
                handle.remove()
        return {"name": name, "ok": True, "calls": calls, "output": self.shape_of(out),
                "lines": [[owner, line, list(shape)] for owner, line, shape in seen]}

    def line_shapes(self, path: str, owners: dict[int, str], seen: dict[tuple, None]):
        """A torch function mode that notes the shape of every tensor a line of the user's file makes
        (``F.relu(...)``, ``out + identity``, ``torch.cat``), with the module whose code runs it: the
        analysis' ✓ on lines whose outermost call is not a module (``answer["lines"]``)."""
        shape_of = self.shape_of

        class Lines(self.torch.overrides.TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                out = func(*args, **(kwargs or {}))
                frame = sys._getframe(1)
                while frame is not None and frame.f_code.co_filename != path:
                    frame = frame.f_back
                shape = shape_of(out) if frame is not None else None
                if shape is not None and len(seen) < MAX_LINE_SHAPES:
                    owner = owners.get(id(frame.f_locals.get("self")), "")
                    seen[(owner, frame.f_lineno, tuple(shape))] = None
                return out

        return Lines()

    def pre_hook(self, qualified: str, module, stack: list):
        nn = self.nn

        def hook(_module, inputs):
            first = inputs[0] if inputs else None
            shape = list(first.shape) if isinstance(first, self.torch.Tensor) else None
            stack.append((qualified, module, shape))
            # the meta device skips these checks that the CPU makes: make them here, in the CPU's words
            if isinstance(module, nn.modules.conv._ConvTransposeNd) and shape is not None and len(shape) >= 2:
                got = shape[1] if len(shape) == module.weight.dim() else shape[0]
                if got != module.in_channels:
                    raise RuntimeError(
                        f"Given transposed=1, weight of size {list(module.weight.shape)}, expected input{shape} "
                        f"to have {module.in_channels} channels, but got {got} channels instead")
        return hook

    def post_hook(self, qualified: str, leaf: bool, calls: list, stack: list):
        def hook(_module, _inputs, output):
            if stack:
                stack.pop()
            if leaf and qualified:
                shape = self.shape_of(output)
                if shape is not None:
                    calls.append([qualified, shape])
        return hook

    def shape_of(self, value):
        while isinstance(value, (tuple, list)) and value:
            value = value[0]
        if isinstance(value, self.torch.Tensor):
            return list(value.shape)
        return None

    def describe(self, err: BaseException, stack: list | None, path: str, stage: str = "forward") -> dict:
        """Torch's error, the module running when it happened, and the line of the user's file."""
        message = f"{err}".splitlines()[0] if str(err) else type(err).__name__
        line = None
        for frame in traceback.extract_tb(err.__traceback__):
            if os.path.abspath(frame.filename) == os.path.abspath(path) or frame.filename == path:
                line = frame.lineno
        info: dict = {"type": type(err).__name__, "message": message, "line": line, "stage": stage}
        if stack:
            qualified, module, shape = stack[-1]
            info["module"] = qualified
            info["module_type"] = type(module).__name__
            info["input"] = shape
            weight = getattr(module, "weight", None)
            if isinstance(weight, self.torch.Tensor):
                info["weight"] = list(weight.shape)
            for attr in ("in_channels", "out_channels", "groups", "in_features", "out_features", "num_features"):
                if isinstance(getattr(module, attr, None), int):
                    info[attr] = getattr(module, attr)
        return info


WARM_UP_PATH = "<warm-up>"
WARM_UP = """import torch
import torch.nn as nn
import torch.nn.functional as F


class WarmUp(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
                                      nn.MaxPool2d(2, 2), nn.Conv2d(8, 8, 3), nn.AdaptiveAvgPool2d((2, 2)))
        self.classifier = nn.Sequential(nn.Dropout(), nn.Linear(32, 8), nn.ReLU(True), nn.Linear(8, 2))

    def forward(self, x):
        x = torch.flatten(self.features(x), 1)
        return F.softmax(self.classifier(x), dim=1)
"""

EOF_STATUS = 75
"""How a serving process exits when the server closed its end of the pipe: the supervisor stops too."""


def serve(read_fd: int, write_fd: int, worker: Worker, hello: dict, once: bool = False) -> bool:
    """Answer requests; with ``once``, only the first. False when the server closed the pipe."""
    reader = os.fdopen(read_fd, "r", encoding="utf-8", closefd=False)
    writer = os.fdopen(write_fd, "w", encoding="utf-8", closefd=False)

    def send(payload: dict) -> None:
        writer.write(json.dumps(payload) + "\n")
        writer.flush()

    send({"event": "ready", **hello, "pid": os.getpid()})
    # one request in flight at a time (the client waits for each answer): reading ahead takes nothing of the next
    for line in reader:
        try:
            request = json.loads(line)
        except ValueError:
            continue
        try:
            result = worker.verify(request.get("params", {}))
            send({"id": request.get("id"), "result": result})
        except BaseException as err:  # noqa: BLE001 - never die on one request
            send({"id": request.get("id"), "error": f"{type(err).__name__}: {err}"})
        if once:
            return True
    return False


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when its parent (the supervisor) dies."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError, ImportError):
        pass


@dataclass
class Child:
    """A serving process forked by the supervisor, and its two private pipes."""

    pid: int
    go: int
    """Written once (one byte) when it may serve: until then it only warms up."""
    done: int
    """Read: one byte when it has answered (and writes nothing more); end of file when it died first."""


def _fork_spare(read_fd: int, write_fd: int, worker: Worker, hello: dict, supervisor: int) -> Child:
    """Fork the process for the next request but one: it warms up now (while the current one serves), then
    waits until it is told to serve (end of file on its go pipe: the supervisor is gone)."""
    go_read, go_write = os.pipe()
    done_read, done_write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(go_write)
            os.close(done_read)
            os.setpgid(0, 0)
            _die_with_parent()
            if os.getppid() != supervisor:
                os._exit(EOF_STATUS)
            try:
                worker.warm_up()  # before it serves: while the user types, not after the edit
            except Exception:  # noqa: BLE001 - a warm-up is a courtesy: serve cold rather than not at all
                pass
            if os.read(go_read, 1) != b"g":
                os._exit(EOF_STATUS)
            answered = serve(read_fd, write_fd, worker, hello, once=True)
            if answered:
                os.write(done_write, b"d")  # the answer is flushed: the next process may take the pipe
        except BaseException:  # noqa: BLE001
            os._exit(1)
        # os._exit: no atexit handlers, no waiting for the threads the user's code started
        os._exit(0 if answered else EOF_STATUS)
    os.close(go_read)
    os.close(done_write)
    try:
        os.setpgid(pid, pid)  # also from here, so that killing its group never races its own setpgid
    except OSError:
        pass
    return Child(pid, go_write, done_read)


def _kill_group(pid: int, reaped: bool = False) -> None:
    """SIGKILL to the process group ``pid`` leads, and to ``pid`` itself unless it has been waited for (its
    number may belong to another process by now)."""
    import signal

    for kill in (os.killpg,) if reaped else (os.killpg, os.kill):
        try:
            kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _close(*fds: int) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def supervise(read_fd: int, write_fd: int, worker: Worker, hello: dict, server: int) -> None:
    """Serve each request from a fresh process forked from this warm one (torch imported, first forward paid).

    The user's code runs only in a serving process, in a process group of its own, and each serving process
    answers one request, then exits (with it its threads, and its process group is killed once it has). The
    next one was forked and warmed up while the last one served, and is let go as soon as the last one has
    answered: a fresh interpreter state per request costs neither a torch import nor a fork nor an exit on the
    way of an edit. Only one process reads requests and writes on the pipe at a time. When a serving process
    dies before answering (a segfault, ``os._exit``, killed by the client after a timeout), this process says
    so on the pipe. It never runs the user's code and exits when the server goes away (its parent changes) or
    closes the pipe.
    """
    import select

    supervisor = os.getpid()
    # what is alive now lives in every fork: the collector never walks it there (a walk writes to every
    # object, copying each page of the warm process into the fork)
    gc.collect()
    gc.freeze()
    spare = _fork_spare(read_fd, write_fd, worker, hello, supervisor)
    current: Child | None = None
    exiting: set[int] = set()
    """Processes that answered and are exiting: reaped (and their groups killed) when they have, in silence."""

    def stop() -> None:
        for child in (current, spare):
            if child is not None:
                _kill_group(child.pid)
        os._exit(0)

    while True:
        if current is None:  # let the warm spare serve, then fork the next spare
            current, spare = spare, None
            try:
                os.write(current.go, b"g")
            except OSError:
                pass  # it died meanwhile: the wait below sees it
            _close(current.go)
            spare = _fork_spare(read_fd, write_fd, worker, hello, supervisor)
        for pid in list(exiting):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                exiting.discard(pid)
                _kill_group(pid, reaped=True)  # whatever the user's code left running in its group
        if os.getppid() != server:  # the server died: take the serving processes with us
            stop()
        ready, _, _ = select.select([current.done], [], [], 0.05 if exiting else 0.5)
        if ready:
            answered = os.read(current.done, 1) == b"d"
            _close(current.done)
            if answered:
                exiting.add(current.pid)
                current = None
                continue
            _, status = os.waitpid(current.pid, 0)  # it died before answering: its pipe closed as it did
        else:
            done, status = os.waitpid(current.pid, os.WNOHANG)
            if not done:
                continue
            _close(current.done)
        code = os.waitstatus_to_exitcode(status)
        pid = current.pid
        current = None
        _kill_group(pid, reaped=True)
        if code == EOF_STATUS:
            stop()
        try:
            # a newline first: the dead process may have left half a line in the pipe
            os.write(write_fd, ("\n" + json.dumps({"event": "exit", "pid": pid, "status": code}) + "\n").encode())
        except OSError:
            stop()  # nobody reads any more


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--read-fd", type=int, required=True)
    parser.add_argument("--write-fd", type=int, required=True)
    parser.add_argument("--memory-mb", type=int, default=0)
    parser.add_argument("--no-fork", action="store_true", help="serve from this process, without a supervisor")
    args = parser.parse_args()
    server = os.getppid()  # before the slow torch import: the server may die meanwhile
    if args.memory_mb:
        _limit_memory(args.memory_mb)
    _no_core_dumps()
    _silence_stdio()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    worker = Worker()
    hello = worker.start()
    if args.no_fork or not hasattr(os, "fork") or worker.torch is None:
        serve(args.read_fd, args.write_fd, worker, hello)
        return
    supervise(args.read_fd, args.write_fd, worker, hello, server)


if __name__ == "__main__":
    main()
