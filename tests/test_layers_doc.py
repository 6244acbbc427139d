"""docs/layers.md is generated from the rule table and must be kept current."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnshape_ls.analysis.layers import ALL_RULES
from cnnshape_ls.analysis.layers.docs import PAGE, main, render_layers_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_page_is_the_repository_page() -> None:
    assert PAGE == ROOT / "docs" / "layers.md"


def test_layers_doc_is_current() -> None:
    assert PAGE.read_text(encoding="utf-8") == render_layers_markdown(), \
        "docs/layers.md is stale: run python -m cnnshape_ls.analysis.layers.docs"


def test_every_rule_is_listed() -> None:
    text = render_layers_markdown()
    for rule in ALL_RULES:
        assert f"| `{rule.op}` |" in text
        assert rule.formula.replace("|", "\\|") in text


def test_the_page_writer_takes_options(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stopped:
        main(["--help"])
    assert stopped.value.code == 0 and "--output" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []  # --help writes nothing (it once wrote a file named --help)
    assert main(["--output", str(tmp_path / "layers.md")]) == 0
    assert (tmp_path / "layers.md").read_text(encoding="utf-8") == render_layers_markdown()
