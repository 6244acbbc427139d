"""A small run of the hostile-buffer fuzz (``tests/benchmarks/fuzz_hostile.py``, which runs 500).

Thirty buffers through the command line and the language server: nothing crashes, the server stays
under 1 GB, and every answer comes (within a generous time here; the benchmark holds the 5 s figure).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from fuzz_hostile import FAMILIES, RSS_LIMIT_MB, hostile_buffers, run_cli, run_server  # noqa: E402

COUNT = 30
GENEROUS = 30.0


def test_every_family_is_in_the_small_run():
    families = {family for family, _ in hostile_buffers(COUNT, seed=1)}
    assert set(FAMILIES) | {"mixed"} == families


def test_hostile_buffers_through_the_command_line(tmp_path):
    report = run_cli(hostile_buffers(COUNT, seed=1), tmp_path)
    assert not report.crashes(), [o.crashed for o in report.crashes()]
    assert report.slowest() < GENEROUS


@pytest.mark.asyncio
async def test_hostile_buffers_through_the_server(tmp_path):
    report = await run_server(hostile_buffers(COUNT, seed=1), tmp_path)
    assert len(report.outcomes) == COUNT
    assert not report.crashes(), [o.crashed for o in report.crashes()]
    assert report.slowest() < GENEROUS
    assert report.peak_rss_mb < RSS_LIMIT_MB
