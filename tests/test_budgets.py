"""No input stalls the analysis or takes the memory (issue 13, part 5).

Each reproducer runs in its own process, under a memory limit and a generous timeout (each used to take
60 s or more, or gigabytes): it must finish, the value past the budget must be unknown (never a wrong
shape, never a false error), and an information finding (``analysis-budget``) must say so where it is.
"""

from __future__ import annotations

import json
import random
import resource
import subprocess
import sys
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnshape_ls import analyze
from cnnshape_ls.analysis import dims
from cnnshape_ls.analysis.findings import Edit, Span
from cnnshape_ls.analysis.limits import BUDGET_CODE, LIMITS, TooLarge, text_fits
from cnnshape_ls.server import convert

MEMORY_LIMIT = 1024 * 1024 * 1024
TIMEOUT = 30  # seconds; each of these took 60 s or more before


def check(tmp_path, source: str, name: str = "hostile.py") -> dict:
    """``cnnshape check --format json`` in a process limited to 1 GB; its file entry."""
    path = tmp_path / name
    path.write_text(source)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    done = subprocess.run([sys.executable, "-m", "cnnshape_ls.cli", "check", "--no-verify", "--format", "json",
                           str(path)], capture_output=True, text=True, timeout=TIMEOUT, preexec_fn=limit)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    return json.loads(done.stdout)["files"][0]


def budget_notes(entry: dict) -> list[dict]:
    notes = [d for d in entry["diagnostics"] if d["code"] == BUDGET_CODE]
    assert all(d["severity"] == "information" for d in notes)
    return notes


def errors(entry: dict) -> list[dict]:
    return [d for d in entry["diagnostics"] if d["severity"] == "error"]


def squaring(times: int) -> str:
    return "import torch.nn as nn\n\nclass Net(nn.Module):\n    def __init__(self, a, b):\n" \
           "        super().__init__()\n        m = a + b + 1\n" + "        m = m * m + m\n" * times + \
           "        self.fc = nn.Linear(m, 3)\n\n    def forward(self, x):\n        return self.fc(x)\n"


@pytest.mark.parametrize("times", [7, 8])
def test_squaring_expression_finishes_unknown_with_a_note(tmp_path, times):
    entry = check(tmp_path, squaring(times))
    notes = budget_notes(entry)
    assert notes and all(7 <= n["line"] <= 6 + times for n in notes), notes
    assert "symbolic size" in notes[0]["message"]
    assert not errors(entry)
    (net,) = entry["models"]
    fc = [layer for layer in net["layers"] if layer["path"] == "fc"]
    assert all(layer["out"] is None or layer["out"][-1] == 3 for layer in fc)  # unknown in, never a wrong size


def test_squaring_below_the_budget_is_still_exact():
    source = squaring(2).replace("self.fc = nn.Linear(m, 3)", "self.fc = nn.Linear(m, 3)\n        self.m = m")
    result = analyze(source)
    assert not [f for f in result.findings if f.code == BUDGET_CODE]


def test_inheritance_chain_of_600_classes(tmp_path):
    head = ("import torch.nn as nn\n\n# in: (BS, 3)\nclass C0(nn.Module):\n    def __init__(self):\n"
            "        super().__init__()\n        self.fc = nn.Linear(3, 3)\n\n    def forward(self, x):\n"
            "        return self.fc(x)\n")
    chain = "".join(f"class C{i}(C{i - 1}):\n    pass\n" for i in range(1, 600))
    entry = check(tmp_path, head + chain)
    notes = budget_notes(entry)
    assert notes and "base classes" in notes[0]["message"]
    depth = LIMITS.inheritance_depth
    by_name = {m["name"]: m for m in entry["models"]}
    assert by_name[f"C{depth - 1}"]["output"] == ["BS", 3]  # within the budget: analyzed as before
    assert f"C{depth}" not in by_name  # past it: unknown, not guessed
    assert not errors(entry)


def test_diamond_inheritance_does_not_explode(tmp_path):
    head = ("import torch.nn as nn\n\nclass C0(nn.Module):\n    def forward(self, x):\n        return x\n"
            "class C1(C0):\n    pass\n")
    chain = "".join(f"class C{i}(C{i - 1}, C{i - 2}):\n    pass\n" for i in range(2, 300))
    entry = check(tmp_path, head + chain)
    assert budget_notes(entry)


@pytest.mark.parametrize("line", [
    "s = '{:>3000000000}'.format(1)",
    "s = '{:.3000000000f}'.format(1.5)",
    "s = '%3000000000d' % 1",
    "s = '%*d' % (3000000000, 1)",
    "s = '{0}' * 5000\ns = s.format('y' * 90000)",
    "s = 'ab' * 40000\nt = f'{s}{s}{s}{s}{s}{s}{s}{s}'",
])
def test_giant_strings_are_unknown_with_a_note(tmp_path, line):
    entry = check(tmp_path, line + "\n")
    notes = budget_notes(entry)
    assert notes and "string" in notes[0]["message"]


@pytest.mark.parametrize("source", [
    "l = [1]\n" + "l = l + l\n" * 40,
    "l = [1]\nfor i in range(40):\n    l.extend(l)\n",
    "l = [1]\nfor i in range(40):\n    l += l\n",
    "l = [1]\nfor i in range(40):\n    l = l * 2\n",
])
def test_doubling_lists_are_unknown_with_a_note(tmp_path, source):
    """In a function the file calls (loops at the top level are not run: they are training loops)."""
    body = textwrap.indent(source, "    ")
    entry = check(tmp_path, f"def grow():\n{body}    return l\n\nl = grow()\nn = len(l)\n")
    notes = budget_notes(entry)
    assert notes and "list" in notes[0]["message"]


@pytest.mark.parametrize("use", ["same = t == u", "d = {t: 1}", "d = {}\nd[t] = 1", "x = sorted([t, u])",
                                 "x = max([t, u])", "d = {}\nx = d.get(t)", "d = dict([(t, 1)])"])
def test_exponentially_nested_values_are_not_compared(tmp_path, use):
    """``t = (t, t)`` sixty times is 2**60 items in a few bytes: comparing or hashing it never ends."""
    body = textwrap.indent("t = (1,)\nu = (1,)\n" + "t = (t, t)\nu = (u, u)\n" * 60 + use + "\nreturn 1\n", "    ")
    entry = check(tmp_path, f"def f():\n{body}\nv = f()\n")
    assert budget_notes(entry)


def test_the_doubled_list_is_unknown_not_wrong():
    """A length past the budget is unknown: a layer sized by it has no shape, and no error is reported."""
    source = textwrap.dedent("""\
        import torch.nn as nn

        # in: (BS, 3)
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                sizes = [3]
                for i in range(40):
                    sizes = sizes + sizes
                self.fc = nn.Linear(len(sizes), 4)

            def forward(self, x):
                return self.fc(x)
        """)
    result = analyze(source)
    assert [f for f in result.findings if f.code == BUDGET_CODE]
    assert not result.errors
    (net,) = result.models
    assert all(r.output is None or r.output[-1] == 4 for r in net.records)


def long_loop_model(name: str) -> str:
    return (f"class {name}(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
            "        self.fc = nn.Linear(4, 2)\n        for i in range(1000):\n            for j in range(1000):\n"
            "                k = i + j\n\n    def forward(self, x):\n        return self.fc(x)\n\n")


def test_steps_per_model_and_per_file(tmp_path):
    """Forty models that each take their whole budget: the file's budget ends the analysis, with notes."""
    source = "import torch.nn as nn\n\n" + "".join(long_loop_model(f"Net{i}") for i in range(40))
    entry = check(tmp_path, source)
    messages = [n["message"] for n in budget_notes(entry)]
    assert any(f"{LIMITS.steps_per_model:,} steps" in m for m in messages)
    assert any("for the whole file" in m for m in messages)
    assert not errors(entry)


def test_a_model_within_its_budget_is_analyzed_after_a_long_one():
    source = "import torch.nn as nn\n\n" + long_loop_model("Slow") + textwrap.dedent("""\
        # in: (BS, 8)
        class Fine(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(8, 2)

            def forward(self, x):
                return self.fc(x)
        """)
    result = analyze(source)
    fine = next(m for m in result.models if m.name == "Fine")
    assert fine.output == (dims.sym("BS"), 2)


# ------------------------------------------------------------------------------ the budgets themselves
def test_symbolic_size_budget():
    m = dims.add(dims.add(dims.sym("a"), dims.sym("b")), 1)
    with pytest.raises(TooLarge):
        for _ in range(10):
            m = dims.add(dims.mul(m, m), m)
    assert isinstance(m, dims.Expr) and m.size <= LIMITS.expression_size


def test_symbolic_coefficient_budget():
    with pytest.raises(TooLarge):
        dims.mul(dims.sym("H"), LIMITS.int_magnitude * 10)
    with pytest.raises(TooLarge):
        dims.add(dims.add(dims.sym("H"), 1), LIMITS.int_magnitude * 10)


def test_a_too_large_size_is_a_rule_that_cannot_tell():
    from cnnshape_ls.analysis.layers import CannotTell
    assert issubclass(TooLarge, CannotTell)


@pytest.mark.parametrize("template, values, fits", [
    ("conv{}_{}", (1, 2), True),
    ("{:>3000000000}", (1,), False),
    ("{:>{}}", (1, 5), False),
    ("{:" + "9" * 5000 + "}", (1,), False),
    ("{0}" * 5000, ("y" * 90000,), False),
    ("%d-%s", (1, "a"), True),
])
def test_text_fits(template, values, fits):
    percent = "%" in template
    assert text_fits(template, values, percent=percent) is fits


@given(st.lists(st.sampled_from(["{}", "{:>5}", "%d", "x", "{:.2f}", "%5s"]), max_size=8),
       st.lists(st.one_of(st.integers(-10 ** 6, 10 ** 6), st.text(max_size=30)), min_size=1, max_size=4))
@settings(max_examples=200, deadline=None)
def test_text_fits_never_lets_a_long_result_through(parts, values):
    """Whatever it lets through formats to a string within the budget."""
    template = "".join(parts)
    for percent in (False, True):
        if not text_fits(template, values, percent=percent):
            continue
        try:
            out = template % tuple(values) if percent else template.format(*values)
        except Exception:  # noqa: BLE001 - formatting that raises is unknown anyway
            continue
        assert len(out) <= LIMITS.sequence_length


# ------------------------------------------------------------------------------ code actions: linear
def _quadratic_non_overlapping(edits: list[Edit]) -> list[Edit]:
    """The former algorithm: every edit against every one taken."""
    taken: list[Edit] = []
    for edit in edits:
        if any(convert._overlap(edit.span, t.span) for t in taken):
            continue
        taken.append(edit)
    return sorted(taken, key=lambda e: (e.span.line, e.span.column))


def _random_edits(rng: random.Random, n: int) -> list[Edit]:
    out = []
    for _ in range(n):
        line = rng.randint(1, 6)
        col = rng.randint(0, 6)
        end_line = line + rng.choice([0, 0, 0, 1])
        end_col = rng.randint(0, 6) if end_line > line else col + rng.choice([0, 0, 1, 2, 3])
        out.append(Edit(Span(line, col, end_line, end_col), "x"))
    return out


@pytest.mark.parametrize("seed", range(300))
def test_non_overlapping_keeps_what_it_kept(seed):
    edits = _random_edits(random.Random(seed), random.Random(seed).randint(0, 25))
    assert convert.non_overlapping(edits) == _quadratic_non_overlapping(edits)


def test_non_overlapping_is_linear(monkeypatch):
    """10,000 layers' edits: a bounded number of overlap tests per edit, not one per edit taken."""
    calls = 0
    overlap = convert._overlap

    def counting(a, b):
        nonlocal calls
        calls += 1
        return overlap(a, b)

    monkeypatch.setattr(convert, "_overlap", counting)
    edits = [Edit(Span(line, 10, line, 10), "  # out: (BS, 4)") for line in range(1, 10_001)]
    assert len(convert.non_overlapping(edits)) == 10_000
    assert calls <= 4 * len(edits)
