"""Parsing by top-level statement (what the language server does as the user types) gives the tree,
problems and blanked lines that parsing the whole buffer gives, and re-parses only what changed."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnshape_ls.analysis.source import (
    ChunkCache,
    _chunks_with_text,
    _parse_by_chunks,
    parse_tolerant,
    split_lines,
    top_level_chunks,
)

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted([*ROOT.glob("tests/corpus/*.py"), *ROOT.glob("tests/models/*.py"), *ROOT.glob("docs/examples/*.py"),
                *ROOT.glob("cnnshape_ls/**/*.py")])

TRICKY = {
    "decorators": "import functools\n\n@functools.cache\n# a comment between\n@staticmethod\ndef f():\n    return 1\n",
    "docstring with lines in column 0": 'x = """\nInput: [B, 3, 32, 32]\nclass Not:\n"""\ny = 2\n',
    "unindented continuation": "import torch.nn as nn\nmodel = nn.Sequential(\nnn.Conv2d(3, 8, 3),\nnn.ReLU(),\n)\n",
    "future import after a docstring": '"""Doc."""\nfrom __future__ import annotations\nimport os\n',
    "if / elif / else at top level": "if a:\n    b = 1\nelif c:\n    b = 2\nelse:\n    b = 3\n",
    "try / except / finally": "try:\n    import torch\nexcept ImportError:\n    torch = None\nfinally:\n    pass\n",
    "backslash continuation": "total = 1 + \\\n2\nz = 3\n",
    "brackets inside strings": "a = ')'\nb = '(('\nc = [1,\n2]\nd = 4\n",
    "comment lines in column 0 inside a class": "class A:\n    x = 1\n# a comment\n    y = 2\n",
    "closing bracket in column 0": "m = dict(\n    a=1,\n)\nn = 2\n",
    "single-quoted triple string": "s = '''\nz = 1\n'''\nt = 2\n",
}


def dump(src) -> str:
    return ast.dump(src.tree, include_attributes=True)


def same_as_whole(text: str, cache: ChunkCache | None = None) -> None:
    chunked = parse_tolerant(text, "<t>", cache if cache is not None else ChunkCache())
    whole = parse_tolerant(text, "<t>")
    assert dump(chunked) == dump(whole)
    assert chunked.problems == whole.problems
    assert chunked.blanked == whole.blanked


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_files_parse_the_same_by_chunks(path: Path) -> None:
    same_as_whole(path.read_text())


@pytest.mark.parametrize("name", sorted(TRICKY))
def test_tricky_layouts_parse_the_same(name: str) -> None:
    text = TRICKY[name]
    same_as_whole(text)
    assert dump(parse_tolerant(text, "<t>", ChunkCache())) == ast.dump(ast.parse(text), include_attributes=True)


def test_a_file_splits_into_many_chunks() -> None:
    text = (ROOT / "tests/models/m07_resnet_cifar.py").read_text()
    chunks = top_level_chunks(split_lines(text))
    assert len(chunks) > 5
    assert chunks[0][0] == 0 and chunks[-1][1] == len(split_lines(text))
    assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:]))
    lines = split_lines(text)
    assert [text for _, _, text in _chunks_with_text(lines)] == ["\n".join(lines[a:b]) for a, b in chunks]


def test_an_edit_reparses_only_its_own_chunk() -> None:
    text = (ROOT / "tests/models/m07_resnet_cifar.py").read_text()
    cache = ChunkCache()
    before = parse_tolerant(text, "<t>", cache)
    lines = split_lines(text)
    target = next(i for i, line in enumerate(lines) if "nn.Conv2d(" in line)
    lines[target] = lines[target].replace("nn.Conv2d(", "nn.Conv2d( ", 1)
    after = parse_tolerant("\n".join(lines), "<t>", cache)
    changed = [a for a, b in zip(before.tree.body, after.tree.body) if a is not b]
    assert len(after.tree.body) == len(before.tree.body)
    assert len(changed) == 1 and changed[0].lineno <= target + 1 <= changed[0].end_lineno
    same_as_whole("\n".join(lines), cache)


def test_the_cache_keeps_only_the_current_chunks() -> None:
    cache = ChunkCache()
    parse_tolerant("a = 1\nb = 2\n", "<t>", cache)
    parse_tolerant("a = 1\nb = 3\n", "<t>", cache)
    assert sorted(text for _, text in cache.parsed) == ["a = 1", "b = 3\n"]


MUTATIONS = st.sampled_from(["delete line", "delete char", "insert char", "duplicate line"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FILES[:80]), MUTATIONS, st.integers(0, 10 ** 6), st.integers(0, 10 ** 6),
       st.sampled_from(list("()[]{}:,'\"#\\ \nxs1=")))
def test_half_typed_buffers_parse_the_same_by_chunks(path: Path, mutation: str, at: int, col: int,
                                                     char: str) -> None:
    """Typing: the document's cache holds the last version. A buffer that parses comes out exactly as
    a whole parse; one that does not has problems exactly when a whole parse has, and every top-level
    statement that parses on its own is kept as it is (a repair never blanks another statement's lines)."""
    text = path.read_text()
    cache = ChunkCache()
    parse_tolerant(text, "<t>", cache)
    lines = split_lines(text)
    i = at % len(lines)
    line = lines[i]
    j = col % (len(line) + 1)
    if mutation == "delete line":
        del lines[i]
    elif mutation == "duplicate line":
        lines.insert(i, line)
    elif mutation == "delete char":
        lines[i] = line[:j] + line[j + 1:]
    else:
        lines[i] = line[:j] + char + line[j:]
    edited = "\n".join(lines)
    chunked = parse_tolerant(edited, "<t>", cache)
    whole = parse_tolerant(edited, "<t>")
    assert bool(chunked.problems) == bool(whole.problems)
    edited_lines = split_lines(edited)
    if not whole.problems or _parse_by_chunks(edited_lines, "<t>", ChunkCache()) is None:
        # parses, or a chunk ends inside an unclosed bracket or string: the chunks may be wrong there,
        # and the whole buffer is parsed instead
        assert dump(chunked) == dump(whole)
        return
    kept = {(n.lineno, ast.dump(n, include_attributes=True)) for n in chunked.tree.body}
    for begin, end in top_level_chunks(edited_lines):
        alone = "\n" * begin + "\n".join(edited_lines[begin:end])
        try:
            tree = ast.parse(alone)
        except SyntaxError:
            continue
        if any(begin < p.line <= end for p in chunked.problems):
            continue  # a chunk that parses alone but not where it is (an unclosed bracket above it)
        for node in tree.body:
            assert (node.lineno, ast.dump(node, include_attributes=True)) in kept


@pytest.mark.parametrize("path", sorted(ROOT.glob("tests/models/*.py"))[:20], ids=lambda p: p.name)
def test_an_unclosed_bracket_being_typed_parses_as_the_whole_does(path: Path) -> None:
    """``nn.Conv2d(`` typed and not yet closed: the chunk runs to the end of the buffer, and its repair is the
    whole parse's (the chunks above it are reused)."""
    text = path.read_text()
    lines = split_lines(text)
    i, match = next((i, m) for i, line in enumerate(lines) for m in [re.search(r"nn\.\w+\(", line)] if m)
    lines[i] = lines[i][:match.end()]
    cache = ChunkCache()
    parse_tolerant(text, "<t>", cache)
    edited = "\n".join(lines)
    assert _parse_by_chunks(split_lines(edited), "<t>", ChunkCache()) is not None
    same_as_whole(edited, cache)
