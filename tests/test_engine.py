"""The engine without torch: discovery, input sources, symbols, findings, fixes, robustness."""

from __future__ import annotations

import sys
import textwrap

import pytest

import cnnshape_ls
from cnnshape_ls.analysis import dims
from cnnshape_ls.analysis.inputs import parse_shape

from support import apply_edits


def analyze(source: str, **kw):
    return cnnshape_ls.analyze(textwrap.dedent(source), **kw)


def layer_outs(analysis, model: str | None = None) -> list:
    models = [m for m in analysis.models if model is None or m.name == model]
    return [(r.path, r.output) for m in models for r in m.layers]


LENET = """
import torch.nn as nn
import torch.nn.functional as F

class LeNet(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, num_classes)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.view(-1, 16 * 5 * 5)
        return self.fc2(F.relu(self.fc1(x)))
"""


def test_never_imports_torch() -> None:
    before = "torch" in sys.modules
    analyze(LENET, input="(BS, 3, 32, 32)")
    assert before or "torch" not in sys.modules


def test_shapes_with_a_symbolic_batch() -> None:
    result = analyze(LENET, input="(BS, 3, 32, 32)")
    model = result.model("LeNet")
    assert model is not None and model.input_source == "cli"
    outs = dict((p, tuple(dims.to_text(d) for d in s)) for p, s in layer_outs(result) if p)
    assert outs["conv1"] == ("BS", "6", "28", "28")
    assert outs["conv2"] == ("BS", "16", "10", "10")
    assert outs["fc2"] == ("BS", "10")
    assert not result.errors


def test_json_follows_the_contract() -> None:
    data = analyze(LENET, input="(BS, 3, 32, 32)", path="lenet.py").to_json()
    assert set(data) == {"path", "models", "diagnostics"}
    model = data["models"][0]
    assert {"name", "line", "input", "input_source", "output", "params", "layers"} <= set(model)
    assert model["input"] == ["BS", 3, 32, 32]
    layer = model["layers"][0]
    assert {"path", "op", "line", "def_line", "in", "out", "params"} <= set(layer)
    assert layer == {"path": "conv1", "op": "Conv2d", "line": 15, "def_line": 8, "in": ["BS", 3, 32, 32],
                     "out": ["BS", 6, 28, 28], "params": 456}
    functional = [entry for entry in model["layers"] if entry["path"] is None]
    assert {"F.relu", "x.view"} <= {entry["op"] for entry in functional}


@pytest.mark.parametrize("text, expected", [
    ("(BS, 3, 32, 32)", ("BS", 3, 32, 32)),
    ("[B,1,28,28]", ("BS", 1, 28, 28)),
    ("3x32x32", ("BS", 3, 32, 32)),
    ("(2, 3, 32, 32)", (2, 3, 32, 32)),
    ("(N, C, H, W)", ("BS", "C", "H", "W")),
])
def test_input_shapes_are_read_as_people_write_them(text: str, expected: tuple) -> None:
    shape = parse_shape(text, "BS")
    assert tuple(d if isinstance(d, int) else str(d) for d in shape) == expected


@pytest.mark.parametrize("header, source", [
    ("# in: (BS, 3, 32, 32)\n", "annotation"),
    ('"""Input: [B, 3, 32, 32]"""\n', "docstring"),
])
def test_input_from_the_source(header: str, source: str) -> None:
    result = analyze(header + textwrap.dedent(LENET).replace("class LeNet", "class LeNet", 1).lstrip("\n")
                     if source == "docstring" else textwrap.dedent(LENET).replace(
                         "class LeNet", header + "class LeNet"))
    model = result.model("LeNet")
    assert model.input_source == source
    assert [dims.to_text(d) for d in model.input] == ["BS", "3", "32", "32"]


def test_input_from_a_call_and_from_summary() -> None:
    call = analyze(LENET + "\nmodel = LeNet()\nout = model(torch.randn(4, 3, 32, 32))\n")
    assert call.model("LeNet").input_source == "call"
    assert [dims.to_text(d) for d in call.model("LeNet").input] == ["BS", "3", "32", "32"]
    summary = analyze(LENET + "\nmodel = LeNet()\nsummary(model, (3, 32, 32))\n")
    assert summary.model("LeNet").input_source == "call"
    assert [dims.to_text(d) for d in summary.model("LeNet").input] == ["BS", "3", "32", "32"]


def test_input_from_example_input_array_and_config() -> None:
    example = "super().__init__()\n        self.example_input_array = torch.rand(1, 3, 32, 32)"
    lit = "import torch\n" + LENET.replace("super().__init__()", example)
    assert analyze(lit).model("LeNet").input_source == "example_input_array"
    configured = analyze(LENET, config_input={"LeNet": "(BS, 3, 32, 32)"})
    assert configured.model("LeNet").input_source == "config"


def test_seed_001_solves_the_input_size() -> None:
    result = analyze("""
        import torch.nn as nn
        simple_model = nn.Sequential(
            nn.Conv2d(3, 32, kernel_size=7, stride=2),
            nn.ReLU(inplace=True),
            nn.Flatten(),
            nn.Linear(5408, 10),
        )
    """)
    model = result.model("simple_model")
    assert model.input_source == "inferred"
    assert [dims.to_text(d) for d in model.input] == ["BS", "3", "32", "32"]
    note = next(f for f in result.findings if f.code == "input-unknown")
    assert "31x31 or 32x32" in note.message


def test_unknown_sizes_stay_readable_symbols() -> None:
    result = analyze("""
        import torch.nn as nn
        net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.MaxPool2d(2))
    """)
    outs = [tuple(dims.to_text(d) for d in s) for _, s in layer_outs(result)]
    assert outs[0] == ("BS", "8", "(H - 3)//2 + 1", "(W - 3)//2 + 1")
    assert not result.errors


def test_one_root_cause_gives_one_error_with_a_fix_torch_runs() -> None:
    source = textwrap.dedent(LENET).replace("16 * 5 * 5, 120", "16 * 6 * 6, 120").replace(
        "x.view(-1, 16 * 5 * 5)", "x.view(-1, 16 * 6 * 6)")
    result = cnnshape_ls.analyze(source, input="(BS, 3, 32, 32)")
    errors = result.errors
    assert len(errors) == 1 and errors[0].code == "view-invalid"
    assert errors[0].message == "shape '[-1, 576]' is invalid for input of size 400*BS"
    fixed = apply_edits(source, cnnshape_ls.analyze(source, input="(BS, 3, 32, 32)").to_json()
                        ["diagnostics"][-1]["fixes"][0]["edits"])
    assert "x.view(-1, 16 * 5 * 5)" in fixed and "nn.Linear(16 * 5 * 5, 120)" in fixed
    assert not cnnshape_ls.analyze(fixed, input="(BS, 3, 32, 32)").errors


def test_fix_keeps_the_users_style() -> None:
    source = textwrap.dedent("""
        import torch.nn as nn
        # in: (BS, 1, 28, 28)
        net = nn.Sequential(nn.Conv2d(1, 32, 7, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(5408, 10))
    """)
    data = cnnshape_ls.analyze(source).to_json()
    error = next(d for d in data["diagnostics"] if d["severity"] == "error")
    assert error["code"] == "linear-in-features"
    assert error["message"] == "mat1 and mat2 shapes cannot be multiplied (BSx3872 and 5408x10)"
    assert error["fixes"][0]["title"] == "Change in_features to 3872 (32 * 11 * 11)"
    assert "nn.Linear(32 * 11 * 11, 10)" in apply_edits(source, error["fixes"][0]["edits"])


def test_forgotten_flatten_gets_one_inserted() -> None:
    source = textwrap.dedent("""
        import torch.nn as nn
        # in: (BS, 1, 28, 28)
        net = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Linear(8 * 13 * 13, 10))
    """)
    error = cnnshape_ls.analyze(source).to_json()["diagnostics"][-1]
    fixed = apply_edits(source, error["fixes"][0]["edits"])
    assert "nn.Flatten(), nn.Linear(8 * 13 * 13, 10)" in fixed
    assert not cnnshape_ls.analyze(fixed).errors


def test_stale_comment_and_dropped_pixels() -> None:
    result = analyze("""
        import torch.nn as nn
        # in: (BS, 3, 32, 32)
        net = nn.Sequential(
            nn.Conv2d(3, 8, 7, stride=2),  # out: (BS, 8, 14, 14)
            nn.ReLU(),
        )
    """)
    stale = next(f for f in result.findings if f.code == "stale-comment")
    assert stale.severity == "warning" and stale.fixes[0].edits[0].new_text == "(BS, 8, 13, 13)"
    note = next(f for f in result.findings if f.code == "floor-division")
    assert "(32 + 2*0 - 1*(7 - 1) - 1) / 2 + 1 = 13.5 -> 13" in note.message


def test_models_in_a_file_that_does_not_parse_keep_their_shapes() -> None:
    broken = textwrap.dedent(LENET).replace("x = x.view(-1, 16 * 5 * 5)", "x = x.view(-1, 16 * 5 *")
    other = "\n\nclass Other(nn.Module):\n    def __init__(self):\n        super().__init__()\n" \
            "        self.c = nn.Conv2d(3, 8, 3)\n\n    def forward(self, x):\n        return self.c(x)\n"
    result = cnnshape_ls.analyze(broken + other, input="(BS, 3, 32, 32)")
    names = [m.name for m in result.models]
    assert names == ["LeNet", "Other"]
    assert [dims.to_text(d) for d in result.model("Other").output] == ["BS", "8", "30", "30"]
    assert result.model("LeNet").layers[0].output is not None
    assert any(f.code == "syntax-error" for f in result.findings)


@pytest.mark.parametrize("source", [
    "x = " + "(" * 400 + "1" + ")" * 400,
    "X = 10 ** 10 ** 10\nY = 'a' * 10 ** 12\n",
    "import torch.nn as nn\nclass N(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
    "        self.l = nn.ModuleList()\n        for i in range(10**8):\n            self.l.append(nn.ReLU())\n"
    "        while True:\n            pass\n    def forward(self, x):\n        return self.forward(x)\n",
    "def f(n):\n    return f(n + 1)\nX = f(1)\n",
    "\x00\x01 def ((( class",
    "".join("    " * i + f"class C{i}:\n" for i in range(90)) + "    " * 90 + "pass\n",
])
def test_pathological_input_never_raises(source: str) -> None:
    result = cnnshape_ls.analyze(source)
    result.to_json()


def test_several_models_and_import_styles() -> None:
    result = analyze("""
        from torch import nn as tnn
        from torch.nn import Conv2d
        import torch

        first = tnn.Sequential(Conv2d(1, 4, 3), tnn.ReLU())
        second = torch.nn.Sequential(torch.nn.Linear(10, 5))
    """, input="(BS, 1, 8, 8)")
    assert [m.name for m in result.models] == ["first", "second"]
    assert [dims.to_text(d) for d in result.model("first").output] == ["BS", "4", "6", "6"]


def test_model_selected_with_arguments() -> None:
    source = LENET + "\nmodel = LeNet(3)\n"
    result = analyze(source, model="LeNet(num_classes=5)", input="(BS, 3, 32, 32)")
    assert [dims.to_text(d) for d in result.models[0].output] == ["BS", "5"]
    instantiated = analyze(source, input="(BS, 3, 32, 32)")
    assert [dims.to_text(d) for d in instantiated.model("model").output] == ["BS", "3"]


def test_symbolic_dims_pickled_in_another_process_hash_as_local_ones() -> None:
    """``cnnshape check`` analyzes folders in worker processes: their dimensions (hashed once and
    cached) must meet equal local ones in sets and dicts."""
    import pickle
    import subprocess

    code = ("import pickle, sys; from cnnshape_ls.analysis import dims; "
            "e = dims.add(dims.floordiv(dims.sub(dims.sym('H'), 3), 2), 1); hash(e); "
            "sys.stdout.buffer.write(pickle.dumps(e))")
    for seed in ("1", "2"):
        sent = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True,
                              env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}).stdout
        local = dims.add(dims.floordiv(dims.sub(dims.sym("H"), 3), 2), 1)
        assert pickle.loads(sent) in {local}


def test_a_defect_in_one_model_loses_that_model_only(monkeypatch) -> None:
    """The analysis never raises: an internal error becomes a note on that model, the others are shown."""
    from cnnshape_ls.analysis import engine

    real = engine.analyze_model

    def broken(src, env, cand, options):
        if cand.name == "bad":
            raise KeyError("boom")
        return real(src, env, cand, options)

    monkeypatch.setattr(engine, "analyze_model", broken)
    result = cnnshape_ls.analyze("import torch.nn as nn\nbad = nn.Sequential(nn.Linear(2, 3))\n"
                                 "good = nn.Sequential(nn.Linear(2, 3))\n", input="(BS, 2)")
    assert [m.name for m in result.models] == ["good"]
    assert [(f.code, f.span.line) for f in result.findings] == [("analysis-error", 2)]


def test_floor_division_of_a_sum_without_a_constant() -> None:
    """(H + W) // 2 once raised KeyError in the symbolic arithmetic, and with it the whole analysis."""
    source = textwrap.dedent("""\
        import torch.nn as nn
        class N(nn.Module):
            def __init__(self):
                super().__init__()
                self.c = nn.Conv2d(3, 4, 3)
                self.p = nn.AdaptiveAvgPool2d(1)
            def forward(self, x):
                n = (x.size(2) + x.size(3)) // 2
                return self.p(self.c(x)).view(-1, n)
        """)
    result = cnnshape_ls.analyze(source)
    assert [m.name for m in result.models] == ["N"]
    assert any(f.code == "view-invalid" for f in result.findings)


def test_solving_for_the_input_skips_sizes_no_window_fits() -> None:
    """Four stride-2 convolutions and a 4x4 one: 256 * ((s//16 - 3))**2 is 256 for s = 32 too (-1 * -1),
    but only inputs of 64 and more let every window fit."""
    source = textwrap.dedent("""\
        import torch.nn as nn
        net = nn.Sequential(
            nn.Conv2d(3, 8, 4, 2, 1), nn.Conv2d(8, 8, 4, 2, 1), nn.Conv2d(8, 8, 4, 2, 1), nn.Conv2d(8, 8, 4, 2, 1),
            nn.Conv2d(8, 256, 4, 1), nn.Flatten(), nn.Linear(256, 20),
        )
        """)
    result = cnnshape_ls.analyze(source)
    assert result.models[0].input[2:] == (64, 64)
    assert not [f for f in result.findings if f.severity == "error"]


def test_the_first_layer_after_a_reshape_says_nothing_of_the_input() -> None:
    """x.reshape(-1, 1, 300) before a Conv1d: a stated (2, 300) is the input as it is, with its batch."""
    source = textwrap.dedent("""\
        import torch.nn as nn
        class CNN(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv1 = nn.Conv1d(1, 4, 3, padding=1)
            def forward(self, x):
                x = x.reshape((-1, 1, 300))
                return self.conv1(x)
        """)
    stated = cnnshape_ls.analyze(source, input="(2, 300)").to_json()
    assert stated["models"][0]["output"] == [2, 4, 300]
    guessed = cnnshape_ls.analyze(source).to_json()
    assert not [d for d in guessed["diagnostics"] if d["severity"] == "error"]


def test_list_reverse_in_place() -> None:
    source = textwrap.dedent("""\
        import torch.nn as nn
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                dims = [8, 16, 32]
                self.enc = nn.Conv2d(3, dims[-1], 3, padding=1)
                dims.reverse()
                self.dec = nn.Conv2d(dims[0], dims[1], 3, padding=1)
            def forward(self, x):
                return self.dec(self.enc(x))
        """)
    result = cnnshape_ls.analyze(source, input="(2, 3, 8, 8)").to_json()
    assert result["models"][0]["output"] == [2, 16, 8, 8]
    assert not [d for d in result["diagnostics"] if d["severity"] == "error"]


def test_a_forward_of_two_inputs_guesses_nothing_from_the_second() -> None:
    """The first layer is applied to style_code, not to the first argument: it says nothing of content_code."""
    source = textwrap.dedent("""\
        import torch.nn as nn
        class Decoder(nn.Module):
            def __init__(self):
                super().__init__()
                self.mlp = nn.Linear(8, 16)
                self.model = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(16, 3, 3))
            def forward(self, content_code, style_code):
                params = self.mlp(style_code)
                return self.model(content_code)
        """)
    result = cnnshape_ls.analyze(source)
    assert not [f for f in result.findings if f.severity == "error"]


def test_the_input_made_float_still_tells_the_rank_and_a_flatten_of_one_channel() -> None:
    """x.float() keeps the input's layout (its first layer still implies the input), and a tensor made from
    a flattened one-channel image is not taken for a flatten of the batch."""
    source = textwrap.dedent("""\
        import torch.nn as nn
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(1, 1, 3)
                self.fc = nn.Linear(64, 10)
            def forward(self, x):
                x = self.conv(x.float())
                return self.fc(x.flatten(1).relu())
        """)
    result = cnnshape_ls.analyze(source)
    assert result.models[0].input[:2] == (dims.sym("BS"), 1)
    assert result.models[0].input_source == "inferred"
    assert not [f for f in result.findings if f.code in ("analysis-error", "view-invalid")]
    assert [tuple(r.output) for r in result.models[0].records if r.op == "Linear"] == [(dims.sym("BS"), 10)]


def test_a_view_with_every_size_written_out_needs_no_input_shape() -> None:
    """PointNet's ``torch.from_numpy(np.eye(k)...).view(1, k * k).repeat(B, 1)``: whatever the analysis cannot
    see, a view to sizes all written out gives them (torch gives them or fails); one with -1 stays unknown."""
    source = (
        "import numpy as np\nimport torch\nimport torch.nn as nn\n\n\n"
        "class Net(nn.Module):\n"
        "    def forward(self, x):\n"
        "        iden = torch.from_numpy(np.eye(3).flatten()).view(1, 3 * 3).repeat(x.size(0), 1)\n"
        "        rest = torch.from_numpy(np.eye(3)).view(-1, 3)\n"
        "        return x + iden, rest\n"
    )
    records = {r.op: r.output for r in cnnshape_ls.analyze(source, input="(2, 9)", model="Net()").models[0].records}
    assert records["torch.from_numpy(np.eye(3).flatten()).view"] == (1, 9)
    assert records["torch.from_numpy(np.eye(3).flatten()).view(1, 3 * 3).repeat"][1:] == (9,)
    assert records["torch.from_numpy(np.eye(3)).view"] is None
