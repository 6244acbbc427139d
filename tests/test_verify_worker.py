"""The verification worker without LSP: what is executed (the slice), how the client copes with a worker that
hangs, crashes or keeps dying, and how torch's meta-device errors are told in the CPU's words."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cnnshape_ls.verify.client import VerifyBackoff, VerifyCrashed, VerifyTimeout, VerifyUnavailable, WorkerClient
from cnnshape_ls.verify.merge import cpu_message
from cnnshape_ls.verify.slicing import slice_module

ROOT = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------------------------------------- slicing
TRAINING = '''import json
import os
import pathlib

import torch
import torch.nn as nn
from torch.utils.data import DataLoader

WORKDIR = pathlib.Path("/tmp/never")
WIDTH = 16
CONFIG = {"width": WIDTH, "classes": 10}
DATA = open(WORKDIR / "assigned.txt", "w")
trainset = DataLoader(list(range(10)), batch_size=2)


def block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3), nn.ReLU())


def unused_helper():
    return json.dumps({})


# in: (BS, 3, 8, 8)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = block(3, CONFIG["width"])
        self.fc = nn.Linear(WIDTH * 6 * 6, CONFIG["classes"])

    def forward(self, x):
        trainset = x.flatten(1)
        return self.fc(self.features(x).flatten(1))


model = Net()
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
print("starting")
for epoch in range(3):
    open(WORKDIR / "loop.txt", "w").write(str(epoch))

if __name__ == "__main__":
    open(WORKDIR / "main.txt", "w").write("main")
'''


def kept_text(piece) -> list[str]:
    return [line for line in piece.source.split("\n") if line.strip()]


def test_slice_keeps_what_the_model_needs_and_nothing_else():
    piece = slice_module(TRAINING, "model")
    lines = TRAINING.split("\n")
    first = {lines[n - 1] for n in piece.lines}
    assert first == {"import torch.nn as nn", "WIDTH = 16", 'CONFIG = {"width": WIDTH, "classes": 10}',
                     "def block(cin, cout):", "class Net(nn.Module):", "model = Net()"}
    kept = kept_text(piece)
    # whole statements, each at its original line
    assert piece.source.count("\n") == TRAINING.count("\n")
    for n in piece.lines:
        assert piece.source.split("\n")[n - 1] == lines[n - 1]
    assert "        return self.fc(self.features(x).flatten(1))" in kept
    assert "    return nn.Sequential(nn.Conv2d(cin, cout, 3), nn.ReLU())" in kept
    # not the training loop, the main block, a bare expression, or what the model does not use
    for gone in ("for epoch in range(3):", 'if __name__ == "__main__":', 'print("starting")',
                 "optimizer = torch.optim.SGD(model.parameters(), lr=0.1)",
                 'DATA = open(WORKDIR / "assigned.txt", "w")', 'WORKDIR = pathlib.Path("/tmp/never")',
                 "trainset = DataLoader(list(range(10)), batch_size=2)", "def unused_helper():",
                 "import json", "import os", "import pathlib", "import torch",
                 "from torch.utils.data import DataLoader"):
        assert gone not in kept, gone
    assert "open(" not in piece.source
    assert piece.missing == ()


def test_slice_names_what_nothing_defines():
    piece = slice_module("import torch.nn as nn\n\nmodel = nn.Sequential(make_layer(3), nn.ReLU())\n", "model")
    assert piece.missing == ("make_layer",)
    assert kept_text(piece) == ["import torch.nn as nn", "model = nn.Sequential(make_layer(3), nn.ReLU())"]


def test_slice_of_a_class_called_in_the_expression():
    piece = slice_module(TRAINING, "Net()")
    kept = kept_text(piece)
    assert "class Net(nn.Module):" in kept and "model = Net()" not in kept


# ---------------------------------------------------------------------------------------------- the CPU's words
def test_reduction_dim_in_the_cpus_words():
    error = {"type": "RuntimeError", "message": "a and b must have same reduction dim, but got [2, 1536] X [1024, 7].",
             "module": "fc", "module_type": "Linear", "input": [2, 1536], "weight": [7, 1024]}
    assert cpu_message(error) == "mat1 and mat2 shapes cannot be multiplied (BSx1536 and 1024x7)"


def test_invalid_channel_dimensions_in_the_cpus_words():
    error = {"type": "RuntimeError", "message": "Invalid channel dimensions", "module": "conv2",
             "module_type": "Conv2d", "input": [2, 8, 14, 14], "weight": [4, 16, 3, 3], "groups": 1}
    assert cpu_message(error) == ("Given groups=1, weight of size [4, 16, 3, 3], expected input[BS, 8, 14, 14] "
                                  "to have 16 channels, but got 8 channels instead")
    grouped = {**error, "weight": [4, 8, 3, 3], "groups": 2}
    assert cpu_message(grouped) == ("Given groups=2, weight of size [4, 8, 3, 3], expected input[BS, 8, 14, 14] "
                                    "to have 16 channels, but got 8 channels instead")
    unbatched = {**error, "input": [2, 14, 14]}  # (C, H, W): the 2 is channels, not a batch
    assert cpu_message(unbatched) == ("Given groups=1, weight of size [4, 16, 3, 3], expected input[2, 14, 14] "
                                      "to have 16 channels, but got 2 channels instead")


def test_other_messages_pass_through():
    assert cpu_message({"message": "Kernel size can't be greater than actual input size"}) == \
        "Kernel size can't be greater than actual input size"


# ---------------------------------------------------------------------------------------------- the worker
try:
    import torch
except ImportError:  # the pure tests above still run
    torch = None

NET = '''import torch.nn as nn
{imports}

class Net(nn.Module):
    def __init__(self):
        super().__init__()
{trouble}
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x)
'''
NET_MODELS = [{"name": "Net", "expr": "Net()", "input": [2, 4]}]


def net(trouble: str = "", imports: str = "") -> str:
    body = textwrap.indent(textwrap.dedent(trouble).strip("\n"), " " * 8) if trouble else "        pass"
    return NET.format(imports=imports, trouble=body)


def gone(pid: int, within: float = 3.0) -> bool:
    deadline = time.monotonic() + within
    while True:
        try:
            state = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                         if line.startswith("State:"))
            if "Z" in state.split()[1]:
                return True
        except (OSError, StopIteration):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


@pytest.fixture(scope="module")
def warm_client():
    if torch is None:
        pytest.skip("needs torch")
    client = WorkerClient()
    client.start()
    yield client
    client.shutdown()


@pytest.fixture
def client(warm_client):
    """The module's warm worker, with no failures counted from an earlier test."""
    warm_client.failures = 0
    warm_client.retry_at = 0.0
    return warm_client


def check_healthy(client: WorkerClient, within: float = 2.0) -> dict:
    """A normal request succeeds, quickly: the serving process was re-forked from the warm one."""
    start = time.monotonic()
    answer = client.verify(net(), None, NET_MODELS, 10)
    took = time.monotonic() - start
    model = answer["models"][0]
    assert model["ok"] and model["output"] == [2, 2]
    assert took < within, f"the healthy request took {took:.2f} s: the worker was not warm"
    return answer


def test_handshake(client):
    ready = client.start()
    assert ready["torch"] == torch.__version__
    assert client.child_pid and client.child_pid != client.process.pid  # the serving process is forked
    check_healthy(client)


def test_timeout_kills_the_serving_process_and_the_next_request_works(client, tmp_path):
    marker = tmp_path / "started"
    source = net(f"open({str(marker)!r}, 'w').write(str(__import__('os').getpid()))\nwhile True:\n    pass")
    start = time.monotonic()
    with pytest.raises(VerifyTimeout, match="no answer within 1.5 s"):
        client.verify(source, None, NET_MODELS, 1.5)
    assert 1.4 < time.monotonic() - start < 3.0
    hung = int(marker.read_text())
    assert gone(hung), "the hung process was not killed"
    supervisor = client.process.pid
    check_healthy(client)
    assert client.process.pid == supervisor and client.child_pid != hung
    assert client.failures == 0


def test_crash_is_reported_with_the_signal_name_and_the_worker_restarts(client):
    before = client.start()["pid"]  # the fresh process that serves the next request
    with pytest.raises(VerifyCrashed, match=r"^it was killed by SIGSEGV$"):
        client.verify(net("ctypes.string_at(0)", "import ctypes"), None, NET_MODELS, 10)
    assert gone(before)
    assert client.failures == 1
    check_healthy(client)  # restarted: the next edit is verified at once
    assert client.start()["pid"] != before and client.failures == 0


def test_exit_after_flooding_stdout_with_protocol(client):
    flood = '''
        frame = 'Content-Length: 99\\r\\n\\r\\n{"jsonrpc": "2.0", "id": 1, "result": null}'
        line = '{"id": %d, "result": {"models": [], "problems": []}}\\n' % 1
        for _ in range(500):
            print(frame)
            sys.stdout.write(line)
            sys.__stdout__.write(frame + line)
            os.write(1, (frame + line).encode())
            os.write(2, (frame + line).encode())
        os._exit(3)
    '''
    with pytest.raises(VerifyCrashed, match=r"^it exited with status 3$"):
        client.verify(net(flood, "import os\nimport sys"), None, NET_MODELS, 10)
    check_healthy(client)


def test_backoff_when_it_keeps_dying(client, tmp_path):
    crash = net("os._exit(9)", "import os")
    for _ in range(2):
        with pytest.raises(VerifyCrashed, match="status 9"):
            client.verify(crash, None, NET_MODELS, 10)
    assert client.failures == 2
    marker = tmp_path / "ran"
    with pytest.raises(VerifyBackoff, match=r"keeps dying \(it exited with status 9\); retrying in 2 s"):
        client.verify(net(f"open({str(marker)!r}, 'w')"), None, NET_MODELS, 10)
    assert not marker.exists(), "a request was sent while backing off"
    time.sleep(max(0.0, client.retry_at - time.monotonic()) + 0.05)
    with pytest.raises(VerifyCrashed):  # a third death in a row doubles the wait
        client.verify(crash, None, NET_MODELS, 10)
    assert 3.5 < client.retry_at - time.monotonic() <= 4.0
    with pytest.raises(VerifyBackoff, match="retrying in 4 s"):
        client.verify(net(), None, NET_MODELS, 10)
    client.retry_at = time.monotonic()  # rather than wait 4 s
    check_healthy(client)
    assert client.failures == 0 and not marker.exists()


def test_backoff_when_the_worker_cannot_start(tmp_path):
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\nexit 7\n")
    python.chmod(0o755)
    client = WorkerClient(python=str(python))
    with pytest.raises(VerifyUnavailable, match="did not start: it exited with status 7"):
        client.start()
    first = client.process
    with pytest.raises(VerifyUnavailable, match="did not start"):  # the first failure is retried at once
        client.start()
    assert client.process is not first and client.failures == 2
    second = client.process
    with pytest.raises(VerifyBackoff, match=r"keeps dying .*; retrying in 2 s"):
        client.start()
    assert client.process is second, "started again while backing off"
    time.sleep(client.retry_at - time.monotonic() + 0.05)
    with pytest.raises(VerifyUnavailable, match="did not start"):
        client.start()
    assert client.failures == 3 and 3.5 < client.retry_at - time.monotonic() <= 4.0
    client.shutdown()


def test_100_gb_fails_fast_with_memory_error(client, tmp_path):
    marker = tmp_path / "limit"
    start = time.monotonic()
    answer = client.verify(net(f"open({str(marker)!r}, 'w').write(str(resource.getrlimit(resource.RLIMIT_AS)[0]))\n"
                               "self.buffer = bytearray(100 * 2**30)", "import resource"), None, NET_MODELS, 10)
    assert time.monotonic() - start < 1.0
    error = answer["models"][0]["error"]
    assert error["type"] == "MemoryError" and error["stage"] == "build"
    assert int(marker.read_text()) == client.memory_mb * 2**20, "the address-space cap was not applied"
    check_healthy(client)


def test_missing_module_is_a_problem_on_its_line(client):
    source = net("self.stem = timm_that_does_not_exist.create_model('resnet18')", "import timm_that_does_not_exist")
    answer = client.verify(source, None, NET_MODELS, 10)
    assert answer["problems"] == [{"line": 2, "kind": "import", "message": "No module named 'timm_that_does_not_exist'",
                                   "module": "timm_that_does_not_exist"}]
    assert answer["models"][0]["error"]["stage"] == "build"


def test_only_the_slice_runs(client, tmp_path):
    source = TRAINING.replace("/tmp/never", str(tmp_path))
    piece = slice_module(source, "model")
    answer = client.verify(piece.source, str(tmp_path / "train.py"), [{"name": "Net", "expr": "model",
                                                                       "input": [2, 3, 8, 8]}], 10)
    assert answer["models"][0]["ok"] and answer["models"][0]["output"] == [2, 10]
    assert answer["problems"] == []
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------- torch's errors
ERRORS = '''import torch.nn as nn

linear = nn.Sequential(nn.Flatten(), nn.Linear(1024, 7))
conv = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(16, 4, 3))
grouped = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(16, 4, 3, groups=2))
transposed = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ConvTranspose2d(16, 4, 3))
transposed1d = nn.Sequential(nn.Conv1d(3, 8, 3), nn.ConvTranspose1d(6, 4, 3))
'''
CASES = {"linear": [2, 6, 16, 16], "conv": [2, 3, 16, 16], "grouped": [2, 3, 16, 16],
         "transposed": [2, 3, 16, 16], "transposed1d": [2, 3, 20]}


def cpu_error(name: str) -> str:
    namespace: dict = {}
    exec(ERRORS, namespace)
    with pytest.raises(RuntimeError) as caught:
        namespace[name](torch.zeros(*CASES[name]))
    return str(caught.value).splitlines()[0]


@pytest.mark.parametrize("name", list(CASES))
def test_meta_errors_are_told_as_the_cpu_tells_them(client, name):
    answer = client.verify(ERRORS, None, [{"name": name, "expr": name, "input": CASES[name]}], 10)
    model = answer["models"][0]
    assert not model["ok"]
    error = model["error"]
    assert error["module"] == "1"
    # the batch of 2 is shown as BS, as the static analysis writes it
    assert cpu_message(error) == cpu_error(name).replace("(2x", "(BSx").replace("input[2, ", "input[BS, ")


def test_conv_transpose_channels_are_checked_by_the_pre_hook(client):
    """The meta device runs a ConvTranspose whose input has the wrong channel count; the CPU refuses."""
    with torch.device("meta"):
        layer = torch.nn.ConvTranspose2d(16, 4, 3)
    assert layer(torch.empty(2, 8, 14, 14, device="meta")).shape == (2, 4, 16, 16)  # meta lets it through
    answer = client.verify(ERRORS, None, [{"name": "transposed", "expr": "transposed", "input": [2, 3, 16, 16]}], 10)
    error = answer["models"][0]["error"]
    assert error["module_type"] == "ConvTranspose2d" and error["in_channels"] == 16 and error["input"] == [2, 8, 14, 14]
    assert error["message"] == ("Given transposed=1, weight of size [16, 4, 3, 3], expected input[2, 8, 14, 14] "
                                "to have 16 channels, but got 8 channels instead")
    assert answer["models"][0]["calls"] == [["0", [2, 8, 14, 14]]]
    ok = ERRORS.replace("nn.ConvTranspose2d(16, 4, 3)", "nn.ConvTranspose2d(8, 4, 3)")
    answer = client.verify(ok, None, [{"name": "transposed", "expr": "transposed", "input": [2, 3, 16, 16]}], 10)
    assert answer["models"][0]["ok"] and answer["models"][0]["output"] == [2, 4, 16, 16]


# ---------------------------------------------------------------------------------------------- the server dies
DRIVER = '''
import json, sys, threading
sys.path.insert(0, {root!r})
from cnnshape_ls.verify.client import WorkerClient
client = WorkerClient()
client.start()
print(json.dumps({{"supervisor": client.process.pid, "child": client.child_pid}}), flush=True)
client.verify({source!r}, None, [{{"name": "Net", "expr": "Net()", "input": [2, 4]}}], 600)
'''


@pytest.mark.skipif(not sys.platform.startswith("linux") or torch is None, reason="reads /proc; needs torch")
def test_a_hung_worker_does_not_outlive_the_server(tmp_path):
    """The server is killed while the user's constructor spins: nothing of the worker is left running."""
    pids: dict = {}
    marker = tmp_path / "started"
    source = net(f"open({str(marker)!r}, 'w').write('x')\nwhile True:\n    pass")
    driver = subprocess.Popen([sys.executable, "-c", DRIVER.format(root=str(ROOT), source=source)],
                              stdout=subprocess.PIPE, text=True)
    try:
        pids = json.loads(driver.stdout.readline())
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert time.monotonic() < deadline, "the hanging model never started"
            time.sleep(0.05)
        assert not gone(pids["child"], within=0.0)
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        assert gone(pids["supervisor"], within=3.0), "the worker outlived the server"
        assert gone(pids["child"], within=3.0), "the hung serving process outlived the server"
    finally:
        driver.kill()
        for pid in pids.values():
            if not gone(pid, within=0.0):
                os.kill(pid, signal.SIGKILL)


# ---------------------------------------------------------------------------------------------- the whole path
def verify_text(client: WorkerClient, text: str, path: Path) -> tuple[object, list, object]:
    """Analyze ``text``, plan, run the plan in the worker and merge: (merged analysis, torch's findings, plan)."""
    from cnnshape_ls.analysis import Options, analyze_source
    from cnnshape_ls.verify.merge import merge_answer, plan

    path.write_text(text)
    analysis = analyze_source(text, str(path), Options())
    job = plan(analysis, text)
    assert job is not None
    if not job.models:
        return analysis, [], job
    answer = client.verify(job.source, str(path), job.models, 20)
    merged, found = merge_answer(analysis, answer, text.split("\n"))
    return merged, found, job


def assert_agrees(client: WorkerClient, text: str, path: Path, models: int = 1) -> None:
    merged, found, job = verify_text(client, text, path)
    assert job.skipped == {}, job.skipped
    assert found == [], [f.message for f in found]
    assert len(merged.models) == models and all(m.verified for m in merged.models), \
        [(m.name, m.verified) for m in merged.models]


LOCAL_BASE = '''import torch.nn as nn
class Base(nn.Module):
    pass
# in: (BS, 3, 8, 8)
class Net(Base):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 2)
    def forward(self, x):
        return self.fc(self.conv(x).flatten(1))
model = Net()
'''
IMPORTED_BASE = LOCAL_BASE.replace("class Base(nn.Module):\n    pass\n", "from torch.nn import Module\n") \
    .replace("class Net(Base):", "class Net(Module):")
DEFAULT_ARGUMENT = LOCAL_BASE.replace("class Base(nn.Module):\n    pass\n", "OUT = 2\n") \
    .replace("class Net(Base):", "class Net(nn.Module):") \
    .replace("def __init__(self):", "def __init__(self, out=OUT):") \
    .replace("nn.Linear(4 * 6 * 6, 2)", "nn.Linear(4 * 6 * 6, out)")


@pytest.mark.parametrize("text", [LOCAL_BASE, IMPORTED_BASE, DEFAULT_ARGUMENT], ids=["base", "imported", "default"])
def test_names_read_directly_are_in_the_slice(client, tmp_path, text):
    """Issue 13: a base class, an imported base and a default argument were cut out of the slice
    (NameError notes, the model never verified)."""
    assert_agrees(client, text, tmp_path / "net.py")


def test_every_name_a_definition_reads_is_kept():
    text = '''from __future__ import annotations
import torch.nn as nn
from torch import Tensor
from typing import Optional
import json, os

class Meta(type):
    pass
def register(cls):
    return cls
def tag(name):
    return lambda cls: cls
KW = 3
WIDTH = 8
Width = int
unused = json.dumps({})

@register
@tag("net")
class Net(nn.Module, metaclass=Meta, depth=KW):
    scale: Width = WIDTH
    def __init__(self, width: Width = WIDTH) -> None:
        super().__init__()
    def forward(self, x: Tensor) -> Optional[Tensor]:
        return x
'''
    from cnnshape_ls.verify.slicing import free_names

    assert free_names(ast.parse("Base", mode="eval").body) == {"Base"}
    piece = slice_module(text, "Net()")
    kept = kept_text(piece)
    for needed in ("class Meta(type):", "def register(cls):", "def tag(name):", "KW = 3", "WIDTH = 8",
                   "import torch.nn as nn", "@register", '@tag("net")'):
        assert needed in kept, needed
    # lazy annotations (the __future__ import): Tensor, Optional and Width are never evaluated
    for lazy in ("from torch import Tensor", "from typing import Optional", "Width = int"):
        assert lazy not in kept, lazy
    assert "unused = json.dumps({})" not in kept and "import json, os" not in kept
    eager = kept_text(slice_module(text.replace("from __future__ import annotations\n", "\n"), "Net()"))
    for evaluated in ("from torch import Tensor", "from typing import Optional", "Width = int"):
        assert evaluated in eager, evaluated


def test_locals_comprehensions_and_class_bodies_are_not_free():
    from cnnshape_ls.verify.slicing import free_names

    code = '''def f(a, *args, k=K, **kw):
    global G
    import math
    try:
        pass
    except ValueError as err:
        print(err)
    def inner():
        return H
    G = [i * j for i in range(a) for j in L]
    return inner, math, G
'''
    assert free_names(ast.parse(code).body[0]) == {"K", "H", "L", "G"}
    assert free_names(ast.parse("[x for x in XS if x > T]", mode="eval")) == {"XS", "T"}
    body = "class C(B):\n    n = N\n    m = n * 2\n    def f(self):\n        return n\n"
    assert free_names(ast.parse(body).body[0]) == {"B", "N", "n"}


# ---------------------------------------------------------------------------------------------- generated models
try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    given = None


def generated_model(base: str, width_from: str, decorated: str, annotated: bool, built: str, channels: int,
                    kernel: int, classes: int) -> tuple[str, int]:
    """A correct model program using the features the slice must follow; returns it and its output width."""
    head = ["import torch", "import torch.nn as nn"]
    if base == "local":
        head += ["", "class Base(nn.Module):", "    pass"]
    elif base == "imported":
        head += ["from torch.nn import Module as Base"]
    elif base == "alias":
        head += ["Base = nn.Module"]
    else:
        head += ["Base = nn.Module", "class Meta(type(Base)):", "    pass"]
    head += [f"CHANNELS = {channels}", f"KERNEL = {kernel}", f"CLASSES = {classes}"]
    if annotated:
        head += ["from torch import Tensor", "Size = int"]
    decorator = []
    if decorated == "plain":
        head += ["", "def register(cls):", "    return cls"]
        decorator = ["@register"]
    elif decorated == "factory":
        head += ["", "REGISTRY = {}", "def register(name):", "    def add(cls):",
                 "        REGISTRY[name] = cls", "        return cls", "    return add"]
        decorator = ['@register("net")']
    size = 12 - kernel + 1
    keywords = ", metaclass=Meta" if base == "meta" else ""
    ann = (": Size", ": Tensor", " -> Tensor") if annotated else ("", "", "")
    if width_from == "default":
        params = f"self, channels{ann[0]} = CHANNELS, classes{ann[0]} = CLASSES"
        channels_expr, classes_expr = "channels", "classes"
    elif width_from == "kwonly":
        params = f"self, *, channels{ann[0]} = CHANNELS, classes{ann[0]} = CLASSES"
        channels_expr, classes_expr = "channels", "classes"
    else:
        params = "self"
        channels_expr, classes_expr = "CHANNELS", "CLASSES"
    lines = [*head, "", "", "# in: (BS, 3, 12, 12)", *decorator, f"class Net(Base{keywords}):",
             f"    def __init__({params}):",
             "        super().__init__()",
             f"        self.conv = nn.Conv2d(3, {channels_expr}, KERNEL)",
             f"        self.fc = nn.Linear({channels_expr} * {size} * {size}, {classes_expr})",
             "",
             f"    def forward(self, x{ann[1]}){ann[2]}:",
             "        return self.fc(torch.relu(self.conv(x)).flatten(1))", ""]
    if built == "instance":
        lines += ["model = Net()"]
    elif built == "moved":
        lines += ["model = Net().to(torch.device('cpu'))", "model = model.eval()"]
    elif built == "sequential":  # a second model, bound to a variable, rebound afterwards
        lines += ["", "# in: (BS, 3, 12, 12)",
                  f"seq = nn.Sequential(nn.Conv2d(3, CHANNELS, KERNEL), nn.Flatten(), "
                  f"nn.Linear(CHANNELS * {size} * {size}, CLASSES))", "seq = seq.eval()"]
    return "\n".join(lines) + "\n", classes


if given is not None:
    @settings(max_examples=30, deadline=None)
    @given(base=st.sampled_from(["local", "imported", "alias", "meta"]),
           width_from=st.sampled_from(["default", "kwonly", "global"]),
           decorated=st.sampled_from(["none", "plain", "factory"]), annotated=st.booleans(),
           built=st.sampled_from(["class", "instance", "moved", "sequential"]), channels=st.integers(1, 6),
           kernel=st.integers(1, 5), classes=st.integers(1, 5))
    def test_generated_correct_models_verify_without_a_note(warm_client, tmp_path_factory, base, width_from,
                                                            decorated, annotated, built, channels, kernel,
                                                            classes):
        warm_client.failures, warm_client.retry_at = 0, 0.0
        text, _ = generated_model(base, width_from, decorated, annotated, built, channels, kernel, classes)
        assert_agrees(warm_client, text, tmp_path_factory.mktemp("gen") / "net.py", 2 if built == "sequential" else 1)


# ---------------------------------------------------------------------------------------- only what the model needs
HOSTILE = '''import pathlib
import torch.nn as nn

SENTINEL = pathlib.Path({sentinel!r})


def touch(what):
    SENTINEL.write_text(what)
    return 1


# in: (BS, 4)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, {width})

    def forward(self, x):
        return self.fc(x)


{after}
'''
RUNS_NOTHING_ELSE = {
    "rebound": "model = Net()\nmodel = touch('train(model) ran') and model",
    "attribute": "model = Net()\ntrainset = touch('the data loader ran')\nmodel.num_samples = trainset",
    "module-attribute": "nn.x = touch('nn.x = f() ran')\nmodel = Net()",
    "registry": "registry = {}\nregistry[touch('registry[f()] ran')] = 2\nmodel = Net()",
    "class-only": "registry = {}\nregistry[touch('registry[f()] ran')] = 2\nnn.y = touch('nn.y ran')",
    "late-class-attribute": "model = Net()\nNet.x = touch('Net.x = f() ran after the model was built')",
}


@pytest.mark.parametrize("case", list(RUNS_NOTHING_ELSE))
def test_nothing_that_changes_the_model_afterwards_runs(client, tmp_path, case):
    sentinel = tmp_path / "sentinel"
    text = HOSTILE.format(sentinel=str(sentinel), width=3, after=RUNS_NOTHING_ELSE[case])
    assert_agrees(client, text, tmp_path / "net.py")
    assert not sentinel.exists(), sentinel.read_text()


SKIPPED = {
    "class-attribute": ("Net.x = touch('Net.x = f() ran')", 0, "changes Net after it is made"),
    "config-item": ("WIDTH = {'out': 3}\nWIDTH['out'] = touch('WIDTH[...] = f() ran')\nmodel = Net()", 1,
                    "changes WIDTH after it is made"),
    "appended": ("WIDTH = [3]\nWIDTH.append(touch('WIDTH.append(f()) ran'))\nmodel = Net()", 1,
                 "changes WIDTH after it is made"),
    "surgery": ("model = Net()\nmodel.fc = nn.Linear(4, touch('model.fc = ... ran') + 4)", 1,
                "changes the layers of model"),
    "rebound-width": ("WIDTH = 3\nWIDTH = touch('WIDTH = f() ran') + 2\nmodel = Net()", 1,
                      "binds WIDTH again by a call"),
}
"""What follows the model's class, which of those lines verification would have had to run, and why."""


@pytest.mark.parametrize("case", list(SKIPPED))
def test_a_model_that_needs_something_else_run_is_skipped_saying_what(client, tmp_path, case):
    after, blocking, why = SKIPPED[case]
    sentinel = tmp_path / "sentinel"
    width = "WIDTH" if "WIDTH" in after else 3
    text = HOSTILE.format(sentinel=str(sentinel), width=width, after=after)
    if width == "WIDTH":
        text = text.replace("nn.Linear(4, WIDTH)", "nn.Linear(4, WIDTH if isinstance(WIDTH, int) else 3)")
    statement = after.split("\n")[blocking]
    line = text.split("\n").index(statement) + 1
    merged, found, job = verify_text(client, text, tmp_path / "net.py")
    assert job.skipped == {"Net": f"building it as the file does would run line {line} (`{statement[:57]}"
                                  f"{'...' if len(statement) > 60 else statement[57:]}`), which {why}; "
                                  "verification never runs that"}
    assert job.models == [] and found == []
    assert not sentinel.exists(), sentinel.read_text()


def test_a_model_bound_in_the_file_is_built_on_the_meta_device(client, tmp_path):
    """`model = Net()` in the file: the model is still built on the meta device, as the class alone would be
    (a 10 GB Linear on the CPU fails under the worker's 4 GB cap; VGG-16 would take 553 MB)."""
    text = '''import torch.nn as nn


# in: (BS, 50000)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(50000, 50000)

    def forward(self, x):
        return self.fc(x)


model = Net()
model = model.to("cpu")
'''
    merged, found, job = verify_text(client, text, tmp_path / "big.py")
    assert job.models[0]["expr"] == "Net()"
    assert found == [] and merged.models[0].verified


def test_a_top_level_tensor_holds_no_storage(client, tmp_path):
    text = '''import torch
import torch.nn as nn

TABLE = torch.zeros(50000, 50000)  # 10 GB on the CPU
WIDTH = TABLE.shape[1] // 10000


# in: (BS, 4)
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, WIDTH)

    def forward(self, x):
        return self.fc(x)
'''
    merged, found, job = verify_text(client, text, tmp_path / "table.py")
    assert found == [], [f.message for f in found]
    assert merged.models[0].records[-1].output[-1] == 5


# ---------------------------------------------------------------------------------------------- nothing shared
def test_an_edited_workspace_module_is_imported_again(client, tmp_path):
    helper = tmp_path / "helper_w.py"
    helper.write_text("WIDTH = 4\n")
    source = "import torch.nn as nn\nfrom helper_w import WIDTH\nmodel = nn.Sequential(nn.Linear(3, WIDTH))\n"
    models = [{"name": "model", "expr": "nn.Sequential(nn.Linear(3, WIDTH))", "input": [2, 3]}]
    path = str(tmp_path / "net.py")
    assert client.verify(source, path, models, 10)["models"][0]["output"] == [2, 4]
    helper.write_text("WIDTH = 5\n")
    assert client.verify(source, path, models, 10)["models"][0]["output"] == [2, 5]


def test_a_patched_torch_in_one_document_does_not_reach_another(client, tmp_path):
    patched = net("nn.Linear.forward = lambda self, x: x[..., :1]")
    answer = client.verify(patched, str(tmp_path / "patched.py"), NET_MODELS, 10)
    assert answer["models"][0]["output"] == [2, 1]  # the patch ran in its own request
    answer = client.verify(net(), str(tmp_path / "clean.py"), NET_MODELS, 10)
    assert answer["models"][0]["output"] == [2, 2]


def test_a_thread_started_by_a_model_dies_with_its_request(client, tmp_path):
    ticks, started = tmp_path / "ticks", tmp_path / "pid"
    trouble = f'''
        def tick():
            while True:
                with open({str(ticks)!r}, "a") as out:
                    out.write(".")
                time.sleep(0.02)
        threading.Thread(target=tick).start()
        open({str(started)!r}, "w").write(str(os.getpid()))
        time.sleep(0.1)
    '''
    answer = client.verify(net(trouble, "import os\nimport threading\nimport time"), None, NET_MODELS, 10)
    assert answer["models"][0]["ok"]
    assert gone(int(started.read_text())), "the request's process outlived its answer"
    size = ticks.stat().st_size
    assert size > 0
    time.sleep(0.3)
    assert ticks.stat().st_size == size, "the thread kept running after its request"
    check_healthy(client)


def test_each_model_is_built_where_the_file_builds_it(client, tmp_path):
    """A name bound again between two models: each is built with the value it had on its line."""
    text = '''import torch.nn as nn

WIDTH = 3


# in: (BS, 4)
class A(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, WIDTH)

    def forward(self, x):
        return self.fc(x)


a = A()
WIDTH = 5


# in: (BS, 4)
class B(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, WIDTH)

    def forward(self, x):
        return self.fc(x)
'''
    merged, found, job = verify_text(client, text, tmp_path / "two.py")
    assert [m["at"] for m in job.models if "at" in m] == [16]
    assert found == [], [f.message for f in found]
    assert {m.name: (m.verified, m.records[-1].output[-1]) for m in merged.models} == {"A": (True, 3), "B": (True, 5)}
