"""A document's caches (parsed statements, models' results) never change what the analysis says: after
any sequence of edits, the cached analysis equals a fresh one of the same text."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnshape_ls.analysis import Options, analyze_source, dims
from cnnshape_ls.analysis.cache import ModelCache
from cnnshape_ls.analysis.source import split_lines

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted([*ROOT.glob("tests/corpus/*.py"), *ROOT.glob("tests/models/*.py")])


def everything(analysis) -> str:
    """The JSON form, plus what it leaves out: where size arguments are written (torch's fixes use them),
    hover texts and the findings' fixes."""
    extra = [[(r.line, r.def_line, sorted((k, tuple(vars(v).values())) for k, v in r.arg_spans.items()),
               r.params_text, tuple(r.explain)) for r in m.records] for m in analysis.models]
    return json.dumps(analysis.to_json(), sort_keys=True) + repr(extra)


EDITS = st.sampled_from(["blank line", "comment", "digit", "delete line", "undo"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FILES), st.lists(st.tuples(EDITS, st.integers(0, 10 ** 6)), min_size=1, max_size=6))
def test_cached_analysis_equals_a_fresh_one(path: Path, edits: list[tuple[str, int]]) -> None:
    cache = ModelCache()
    lines = split_lines(path.read_text())
    history = [list(lines)]
    analyze_source("\n".join(lines), str(path), Options(cache=cache))
    for edit, at in edits:
        i = at % len(lines)
        if edit == "blank line":
            lines.insert(i, "")
        elif edit == "comment":
            lines[i] += "  # note"
        elif edit == "digit":
            j = next((k + 1 for k, c in enumerate(lines[i]) if c.isdigit()), None)
            if j is None:
                continue
            lines[i] = lines[i][:j] + "1" + lines[i][j:]
        elif edit == "delete line" and len(lines) > 1:
            del lines[i]
        elif edit == "undo" and len(history) > 1:
            history.pop()
            lines = list(history[-1])
        history.append(list(lines))
        text = "\n".join(lines)
        cached = analyze_source(text, str(path), Options(cache=cache))
        # a new cache parses by chunks too, as the server does (tests/test_source_chunks.py compares
        # that with a whole parse); what is compared here is reuse against none
        fresh = analyze_source(text, str(path), Options(cache=ModelCache()))
        assert everything(cached) == everything(fresh)


def test_a_block_edited_refreshes_the_model_a_factory_builds_with_it() -> None:
    """``def ResNet18(): return ResNet(BasicBlock, ...)``: ResNet's own text never names BasicBlock, yet
    its analysis reads it (and a line added above it moves ResNet's findings inside BasicBlock)."""
    text = (ROOT / "tests/models/m07_resnet_cifar.py").read_text()
    for edited in ("\n" + text, text.replace("nn.Conv2d(planes, planes,", "nn.Conv2d(planes, 2 * planes,", 1)):
        assert edited != text
        edited_after(text, edited)


def edited_after(text: str, edited: str):
    """The analysis of ``edited`` with the document's caches warm from ``text``; it must equal a fresh one."""
    cache = ModelCache()
    analyze_source(text, "m.py", Options(cache=cache))
    cached = analyze_source(edited, "m.py", Options(cache=cache))
    assert everything(cached) == everything(analyze_source(edited, "m.py", Options()))
    return cached


def test_a_call_in_a_function_that_shows_the_input_is_read() -> None:
    text = ("import torch\nimport torch.nn as nn\n\nnet = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten())\n\n\n"
            "def main():\n    net(torch.randn(2, 3, 32, 32))\n")
    cached = edited_after(text, text.replace("32, 32", "16, 16"))
    assert cached.models[0].input[2:] == (16, 16)


def test_a_block_passed_to_a_model_at_top_level_is_read() -> None:
    """``model = Net(Block)``: Net's text never names Block, the statement that builds it does."""
    text = ("import torch.nn as nn\n\n\nclass Block(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
            "        self.conv = nn.Conv2d(3, 8, 3)\n\n    def forward(self, x):\n        return self.conv(x)\n\n\n"
            "class Net(nn.Module):\n    def __init__(self, block):\n        super().__init__()\n"
            "        self.body = block()\n\n    def forward(self, x):\n        return self.body(x)\n\n\n"
            "# in: (BS, 3, 16, 16)\nmodel = Net(Block)\n")
    cached = edited_after(text, text.replace("nn.Conv2d(3, 8, 3)", "nn.Conv2d(3, 4, 3)"))
    assert next(m for m in cached.models if m.name == "Net").output == (dims.sym("BS"), 4, 14, 14)


def test_a_changed_header_comment_input_is_not_served_from_the_cache() -> None:
    """``# Input: [B, 3, 32, 32]`` opening the file states the input: editing it changes the analysis."""
    path = ROOT / "tests" / "corpus" / "s04_lightning_cnn.py"
    text = path.read_text()
    assert "# Input: [B, 3, 32, 32]" in text
    cache = ModelCache()
    analyze_source(text, str(path), Options(cache=cache))
    edited = text.replace("# Input: [B, 3, 32, 32]", "# Input: [B, 31, 32, 32]")
    cached = analyze_source(edited, str(path), Options(cache=cache))
    assert everything(cached) == everything(analyze_source(edited, str(path), Options(cache=ModelCache())))
    assert cached.models[0].input[1] == 31
