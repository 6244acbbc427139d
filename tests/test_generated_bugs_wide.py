"""Wider generated shape bugs (tests/bugs_wide.py): a regression floor on the combined rate.

Runs the generator of tests/bugs_wide.py on kinds 1-8 and 10 (kind 9, a changed
kernel_size / stride / padding, and kind 11, a map too small for a window, have
floors of their own below) with the same fixed seed and cap as the report, and asserts
that the share of kept mutations with an error finding on the mutated line whose
``fixes[0]`` makes torch run is not below the floor.

Measured (torch 2.13 CPU): 518/539 = 96.1% over kinds 1-8 and 10 (91.1% at stop 14, 81.6% before issue 15,
74.5% before fixes were checked), 60 kept mutations per kind except kind 5 (59); MIN_RATE is that figure rounded down to
the nearest 5%. Kinds 4-7 change a producer (out_channels, out_features, a swap, a cat branch); the error
stays where torch fails and the producer's line is a related place of the finding, which counts as on the
mutated line (bugs_wide also prints the strict figure, the error's own range only).
The kinds where the line to change is the consumer's (1-3, 8, 10) must reach
the 95% bar of issue 2 (measured 299/300). Runtime about 25 s.
For the per-kind table and the failing examples: python tests/bugs_wide.py
"""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

import bugs_wide  # noqa: E402  (tests/ is on sys.path, see conftest.py)

pytestmark = pytest.mark.torch

KINDS = (1, 2, 3, 4, 5, 6, 7, 8, 10)
CAP = 60  # kept mutations per kind, as in the report
MIN_RATE = 0.95  # measured 96.1% (518/539) at stop 15 (91.1% at stop 14), rounded down to the nearest 5%
CONSUMER_KINDS = (1, 2, 3, 8, 10)
CONSUMER_MIN_RATE = 0.95


@pytest.fixture(scope="module")
def results():
    return bugs_wide.run(KINDS, CAP, bugs_wide.SEED)


def test_consumer_size_bugs_reach_the_bar(results):
    ok, n = bugs_wide.overall(results, CONSUMER_KINDS)
    assert n > 0
    assert ok / n >= CONSUMER_MIN_RATE, (
        f"on-line + first-fix rate {ok}/{n} = {ok / n:.1%} < {CONSUMER_MIN_RATE:.0%}\n\n"
        f"{bugs_wide.report(results, max_examples=3)}")


def test_wide_generated_bugs_on_line_and_first_fix(results, capsys):
    ok, n = bugs_wide.overall(results, KINDS)
    text = bugs_wide.report(results, max_examples=3)
    with capsys.disabled():
        print(f"\nwide generated bugs: on-line + first-fix {ok}/{n} = {ok / n:.1%} (floor {MIN_RATE:.0%})" if n else "")
    assert n > 0, "no mutation was rejected by torch"
    for k in KINDS:
        assert results[k]["records"], f"kind {k} ({bugs_wide.KINDS[k]}) kept no mutation"
    assert ok / n >= MIN_RATE, f"on-line + first-fix rate {ok}/{n} = {ok / n:.1%} < {MIN_RATE:.0%}\n\n{text}"


# Kind 11, output too small (issue 15): torch fails at a window larger than its input, often after the mutated
# layer (an earlier pool's kernel or stride). The error stays where torch fails; the earlier window a fix changes
# is a related place of it (fixes_map.py), which counts as on the mutated line.
# Measured (torch 2.13 CPU, 60 kept): first fix runs 59/60 = 98.3% (0% before issue 15, 93.3% before
# fixes_map.py), on-line + first fix 58/60 = 96.7% (41.7% before fixes_map.py). Runtime about 45 s.
TOO_SMALL = 11
TOO_SMALL_MIN_ANY_FIX = 0.95
TOO_SMALL_MIN_ON_LINE_FIX = 0.95


def test_output_too_small_first_fix_runs():
    results = bugs_wide.run((TOO_SMALL,), CAP, bugs_wide.SEED)
    records = results[TOO_SMALL]["records"]
    assert records, "no output-too-small mutation was rejected by torch"
    text = bugs_wide.report(results, max_examples=3)
    assert bugs_wide.rate(records, "any_fixed") >= TOO_SMALL_MIN_ANY_FIX, text
    assert bugs_wide.rate(records, "fixed") >= TOO_SMALL_MIN_ON_LINE_FIX, text


# Kind 9: a conv's or a pool's kernel_size / stride / padding changed, so that a later Linear (or a hard-coded
# view before it) no longer fits. torch fails at the Linear (or view), where the error stays with its own fix
# first; the window whose argument made the map the wrong size is a related place with a second, checked fix
# (fixes_map.py). Measured (torch 2.13 CPU, 60 kept): on-line + first fix 59/60 = 98.3% (0% before: the error
# never pointed at the window). Runtime about 40 s.
WINDOW = 9
WINDOW_MIN_ON_LINE_FIX = 0.95


def test_the_window_that_made_the_map_the_wrong_size_is_named():
    results = bugs_wide.run((WINDOW,), CAP, bugs_wide.SEED)
    records = results[WINDOW]["records"]
    assert records, "no kernel/stride/padding mutation was rejected by torch"
    text = bugs_wide.report(results, max_examples=3)
    assert bugs_wide.rate(records, "fixed") >= WINDOW_MIN_ON_LINE_FIX, text
    assert bugs_wide.rate(records, "any_fixed") == 1.0, text


# Kinds 12 (residual adds whose branches differ) and 13 (a block's input channels after a cat), issue 15:
# measured 7/7 and 17/17 on-line + first fix (0 before: flagged, never fixed). Few mutations of the test
# models qualify, so the floor leaves room for one miss in each.
NEW_KINDS = (12, 13)
NEW_KINDS_MIN_RATE = 0.85


def test_residual_and_cat_block_kinds_first_fix():
    results = bugs_wide.run(NEW_KINDS, CAP, bugs_wide.SEED)
    for k in NEW_KINDS:
        assert results[k]["records"], f"kind {k} ({bugs_wide.KINDS[k]}) kept no mutation"
    ok, n = bugs_wide.overall(results, NEW_KINDS)
    assert ok / n >= NEW_KINDS_MIN_RATE, f"{ok}/{n}\n\n{bugs_wide.report(results, max_examples=3)}"
