"""Models and helpers of installed packages, read from their source (issue 14): torchvision's classifiers,
the transfer-learning shapes (a new ``fc``, a backbone with a new head), compared with torch.

torchvision 0.28.0 (the release for torch 2.13.0, in the test extras) is read as text by the analysis. For
the truth it is imported: its C extension is built against torch's CUDA libraries and does not load beside
the CPU build of torch, so its import fails registering meta kernels for its detection operators
(``torchvision::nms``); :func:`torchvision_for_truth` imports it without those registrations, which the
classification models never use.
"""

from __future__ import annotations

import importlib.util
import sys
import textwrap
import types
from pathlib import Path

import pytest

pytest.importorskip("torch")
if importlib.util.find_spec("torchvision") is None:
    pytest.skip("torchvision is not installed (pip install -e '.[test]')", allow_module_level=True)

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import cnnshape_ls  # noqa: E402
from cnnshape_ls.analysis.libraries import MODULE, LibrarySources, Location  # noqa: E402

from support import assert_follows_torch_whole, import_torchvision, input_text, torch_truth  # noqa: E402

pytestmark = pytest.mark.torch

SETTINGS = settings(max_examples=12, deadline=None)


@pytest.fixture(scope="module", autouse=True)
def torchvision_for_truth() -> types.ModuleType:
    """torchvision imported for torch's side of the comparison (see the module's docstring)."""
    return import_torchvision()


def analyzed(source: str, model: str, shape: tuple[int, ...], path: Path | None = None) -> dict:
    text = textwrap.dedent(source)
    if path is not None:
        path.write_text(text)
    return cnnshape_ls.analyze(text, path=str(path) if path else None, input=input_text(shape),
                               model=model).to_json()


BACKBONE = """
import torch.nn as nn
from torchvision import models

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.m = models.{name}({arguments})

    def forward(self, x):
        return self.m(x)
"""


@pytest.mark.parametrize("name", ["resnet18", "vgg11", "mobilenet_v2", "densenet121", "alexnet",
                                  "mobilenet_v3_small", "resnext50_32x4d", "shufflenet_v2_x1_0",
                                  "squeezenet1_0", "mnasnet0_5", "convnext_tiny", "efficientnet_b0",
                                  "mobilenet_v3_large", "resnet50"])
def test_torchvision_classifier(name: str) -> None:
    assert_follows_torch_whole(BACKBONE.format(name=name, arguments="weights=None"), (2, 3, 64, 64))


@settings(max_examples=6, deadline=None)
@given(st.sampled_from(["resnet18", "vgg11_bn", "mobilenet_v2", "squeezenet1_1"]), st.integers(2, 200),
       st.integers(64, 96), st.integers(1, 3))
def test_num_classes_and_sizes(name: str, classes: int, size: int, batch: int) -> None:
    assert_follows_torch_whole(BACKBONE.format(name=name, arguments=f"weights=None, num_classes={classes}"),
                         (batch, 3, size, size))


@pytest.mark.parametrize("arguments", ["weights=None", "pretrained=False", "pretrained=True", "weights='IMAGENET1K_V1'",
                                       "weights=models.ResNet18_Weights.IMAGENET1K_V1",
                                       "weights=models.ResNet18_Weights.DEFAULT"])
def test_weights_requested_give_the_same_shapes(arguments: str) -> None:
    """The analysis never downloads anything: the shapes of a pretrained model are its architecture's
    (torch's side is built without weights, whose shapes are the same)."""
    source = BACKBONE.format(name="resnet18", arguments=arguments)
    truth_source = BACKBONE.format(name="resnet18", arguments="weights=None")
    truth = torch_truth(truth_source, "Net()", [2, 3, 64, 64])
    result = analyzed(source, "Net()", (2, 3, 64, 64))
    ours = [(layer["path"], layer["out"]) for layer in result["models"][0]["layers"] if layer["path"]]
    assert ours == [(name, out) for name, out in truth["calls"]]
    assert result["models"][0]["params"] == truth["params"]


@pytest.mark.parametrize("arguments", ["pretrained=True, num_classes=10", "weights='DEFAULT', num_classes=10",
                                       "weights=models.ResNet18_Weights.IMAGENET1K_V1, num_classes=7"])
def test_weights_with_another_class_count_show_no_shape(arguments: str) -> None:
    """torchvision refuses pretrained weights with a class count other than theirs (``ValueError``, through
    its ``handle_legacy_interface`` decorator and ``_ovewrite_named_param``): no shape is shown for it."""
    source = BACKBONE.format(name="resnet18", arguments=arguments)
    with pytest.raises(ValueError):
        torch_side = {}
        exec(compile(textwrap.dedent(source), "<model>", "exec"), torch_side)  # noqa: S102 - the test's own text
        torch_side["Net"]()
    result = analyzed(source, "Net()", (2, 3, 64, 64))
    assert all(m["output"] is None for m in result["models"]), result["models"]
    assert not [layer for m in result["models"] for layer in m["layers"] if layer["path"] and layer["out"]]


@settings(max_examples=10, deadline=None)
@given(st.integers(1, 300), st.sampled_from(["nn.Identity()", "nn.Linear(512, {c})"]), st.booleans())
def test_backbone_with_new_head(classes: int, replaced: str, by_attribute: bool) -> None:
    """A backbone in ``__init__`` whose ``fc`` is replaced, followed by a new head: the head is checked."""
    fc = replaced.format(c=classes)
    width = 512 if fc == "nn.Identity()" else classes
    source = f"""
    import torch.nn as nn
    {"import torchvision" if by_attribute else "from torchvision.models import resnet18"}

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = {"torchvision.models.resnet18" if by_attribute else "resnet18"}(weights=None)
            self.backbone.fc = {fc}
            self.head = nn.Sequential(nn.Linear({width}, 64), nn.ReLU(), nn.Linear(64, {classes}))

        def forward(self, x):
            return self.head(self.backbone(x))
    """
    assert_follows_torch_whole(source, (2, 3, 64, 64))


def test_new_head_of_the_wrong_width_is_an_error() -> None:
    """The replaced ``fc`` makes 10 features; a head that takes 512 is torch's error, on that head."""
    source = """
    import torch.nn as nn
    from torchvision import models

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = models.resnet18(weights=None)
            self.backbone.fc = nn.Linear(512, 10)
            self.head = nn.Linear(512, 2)

        def forward(self, x):
            return self.head(self.backbone(x))
    """
    truth = torch_truth(source, "Net()", [2, 3, 64, 64])
    assert not truth["ok"] and "[2, 10] X [512, 2]" in truth["error"]  # the meta device's words
    result = analyzed(source, "Net()", (2, 3, 64, 64))
    errors = [d for d in result["diagnostics"] if d["severity"] == "error"]
    assert [e["code"] for e in errors] == ["linear-in-features"]
    assert "10 and 512x2" in errors[0]["message"], errors[0]["message"]


@settings(max_examples=8, deadline=None)
@given(st.integers(1, 500), st.sampled_from(["resnet18", "resnet34"]))
def test_top_level_model_with_a_new_fc(classes: int, name: str) -> None:
    """``m = resnet18(weights=None); m.fc = nn.Linear(m.fc.in_features, n)`` at the top level is a model."""
    source = f"""
    import torch
    import torch.nn as nn
    from torchvision.models import {name}

    m = {name}(weights=None)
    m.fc = nn.Linear(m.fc.in_features, {classes})
    """
    truth = torch_truth(source, "m", [2, 3, 64, 64])
    assert truth["ok"], truth
    result = analyzed(source, "m", (2, 3, 64, 64))
    found = result["models"][0]
    assert found["name"] == "m"
    assert [(layer["path"], layer["out"]) for layer in found["layers"] if layer["path"]] == \
        [(n, out) for n, out in truth["calls"]]
    assert found["output"] == [2, classes] and found["params"] == truth["params"]


def test_subclass_of_an_installed_model() -> None:
    source = """
    import torch.nn as nn
    from torchvision.models.resnet import BasicBlock, ResNet

    class Net(ResNet):
        def __init__(self):
            super().__init__(BasicBlock, [1, 1, 1, 1], num_classes=7)
    """
    assert_follows_torch_whole(source, (2, 3, 64, 64))


def test_installed_helper_builds_a_layer() -> None:
    """A helper function of torchvision (``conv3x3``) and a block class used in the user's own model."""
    source = """
    import torch.nn as nn
    from torchvision.models.resnet import Bottleneck, conv3x3

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = conv3x3(3, 256, stride=2)
            self.block = Bottleneck(256, 64)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(256 * Bottleneck.expansion // 4, 5)

        def forward(self, x):
            return self.fc(self.pool(self.block(self.stem(x))).flatten(1))
    """
    assert_follows_torch_whole(source, (2, 3, 32, 32))


# ---------------------------------------------------------------------- where names are found
def test_names_are_located_in_the_package_text() -> None:
    sources = LibrarySources()
    found = sources.locate("torchvision.models.resnet18")
    assert isinstance(found, Location) and found.module == "torchvision.models.resnet"
    assert sources.locate("torchvision.models") is MODULE
    alexnet = sources.locate("torchvision.models.alexnet")  # the function the star import binds, not the module
    assert isinstance(alexnet, Location) and alexnet.module == "torchvision.models.alexnet"
    assert sources.locate("torchvision.models.no_such_model") is None
    assert sources.locate("torchvision.models.resnet18") is found  # looked up once


def test_a_project_virtualenv_is_the_environment(tmp_path: Path) -> None:
    """A ``.venv`` in the project is where names are found (its interpreter is never started)."""
    site = tmp_path / ".venv" / "lib" / "python3.11" / "site-packages"
    (site / "tinynets").mkdir(parents=True)
    (tmp_path / ".venv" / "pyvenv.cfg").write_text("home = /nowhere\n")
    (site / "tinynets" / "__init__.py").write_text("from .nets import *\n")
    (site / "tinynets" / "nets.py").write_text(textwrap.dedent("""
        import torch.nn as nn
        __all__ = ["tiny"]

        def tiny(width=8):
            return nn.Sequential(nn.Conv2d(3, width, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(4))
        """))
    (tmp_path / "pyproject.toml").write_text("")
    source = """
    import torch.nn as nn
    import tinynets

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = tinynets.tiny(width=5)

        def forward(self, x):
            return self.body(x)
    """
    result = analyzed(source, "Net()", (2, 3, 10, 10), path=tmp_path / "net.py")
    layers = [(layer["path"], layer["out"]) for layer in result["models"][0]["layers"] if layer["path"]]
    assert layers[:3] == [("body.0", [2, 5, 8, 8]), ("body.1", [2, 5, 8, 8]), ("body.2", [2, 320])]
    assert result["models"][0]["output"] == [2, 4]


def test_a_file_past_the_size_budget_stays_unknown(tmp_path: Path) -> None:
    from cnnshape_ls.analysis.limits import LIMITS

    site = tmp_path / ".venv" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (tmp_path / ".venv" / "pyvenv.cfg").write_text("home = /nowhere\n")
    filler = "# " + "x" * 100 + "\n"
    (site / "bignets.py").write_text("import torch.nn as nn\n\ndef big():\n    return nn.Conv2d(3, 8, 3)\n"
                                     + filler * (LIMITS.library_file_bytes // len(filler) + 1))
    (tmp_path / "pyproject.toml").write_text("")
    source = """
    import torch.nn as nn
    from bignets import big

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = big()
            self.bn = nn.BatchNorm2d(8)

        def forward(self, x):
            return self.bn(self.conv(x))
    """
    result = analyzed(source, "Net()", (2, 3, 10, 10), path=tmp_path / "net.py")
    assert result["models"][0]["output"] is None
    assert not [d for d in result["diagnostics"] if d["severity"] == "error"]


def test_a_long_top_level_statement_of_a_package_loses_only_itself(tmp_path: Path) -> None:
    """A package that builds a large table at import (timm's pretrained configurations): that statement
    stops at its budget, its name is unknown, and what the module defines after it is still read."""
    site = tmp_path / ".venv" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (tmp_path / ".venv" / "pyvenv.cfg").write_text("home = /nowhere\n")
    (site / "slownets.py").write_text(textwrap.dedent("""
        import torch.nn as nn

        def table(n):
            out = {}
            for i in range(n):
                out['cfg%d' % i] = {'width': i % 7, 'name': str(i)}
            return out

        CFGS = table(100000)

        def head(classes):
            return nn.Linear(16, classes)
        """))
    (tmp_path / "pyproject.toml").write_text("")
    source = """
    import torch.nn as nn
    from slownets import head

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = head(3)

        def forward(self, x):
            return self.fc(x)
    """
    result = analyzed(source, "Net()", (2, 16), path=tmp_path / "net.py")
    assert result["models"][0]["output"] == [2, 3]
    assert not [d for d in result["diagnostics"] if d["code"] == "analysis-budget"]


def test_reading_a_package_imports_neither_it_nor_torch() -> None:
    """The analysis reads torchvision's text: neither torchvision nor torch is imported in its process,
    and jedi only once a package's name is used."""
    import subprocess

    script = textwrap.dedent('''
        import sys
        import cnnshape_ls
        plain = cnnshape_ls.analyze("import torch.nn as nn\\nnet = nn.Sequential(nn.Linear(3, 4))\\n")
        assert "jedi" not in sys.modules
        source = "import torch.nn as nn\\nfrom torchvision import models\\nm = models.resnet18(weights=None)\\n"
        found = cnnshape_ls.analyze(source, input="(2, 3, 64, 64)").to_json()
        assert found["models"][0]["output"] == [2, 1000], found["models"]
        assert not {"torch", "torchvision"} & set(sys.modules), sorted(sys.modules)
        print("ok")
        ''')
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "ok", done.stderr
