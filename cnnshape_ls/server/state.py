"""What the server knows about each open document, and how analyses are scheduled.

Handlers answer from :attr:`DocumentState.snapshot`, the last analysis that landed;
a new version is analyzed off the event loop after a short quiet time, and a
result whose version is no longer current is dropped. While a buffer is half
typed, models that vanished from the new analysis keep their last good hints.

Analyses of different documents run side by side (a pool of threads); one
document's analyses run one at a time, in order (they share its cache). So a long
analysis holds back only later versions of its own document, never another
document or a handler.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from ..analysis import Analysis, Options, analyze_source
from ..analysis.cache import ModelCache
from ..analysis.source import split_lines
from ..display import LineHint, line_hints
from ..notebook import Program
from ..settings import Settings
from .text import analyzable


@dataclass
class Snapshot:
    """One analysis of one version; its hints are made when first asked for (diagnostics go out first)."""

    version: int | None
    text: str
    lines: list[str]
    analysis: Analysis
    settings: Settings
    extra_findings: list = field(default_factory=list)
    """Findings of torch verification for this version (source ``torch``)."""
    previous: Snapshot | None = field(default=None, repr=False)
    """The snapshot before, until this one's hints are made (they keep its hints of vanished models)."""
    made_hints: list[LineHint] | None = field(default=None, repr=False)
    cells: Program | None = None
    """For a notebook: the program its cells made (``text`` is that program), and where each cell is in it."""

    @property
    def hints(self) -> list[LineHint]:
        if self.made_hints is None:
            fresh = line_hints(self.analysis, self.lines, self.settings.hints_style, self.settings.batch_name)
            self.made_hints = carry_over(self.previous, self.analysis, self.lines, fresh)
            self.previous = None
        return self.made_hints

    @property
    def findings(self) -> list:
        """Static findings and torch's, in order."""
        return sorted([*self.analysis.diagnostics, *self.extra_findings], key=lambda f: (f.span.line, f.span.column))


@dataclass
class DocumentState:
    uri: str
    path: str | None
    snapshot: Snapshot | None = None
    pending: asyncio.Task | None = None
    landed: asyncio.Event = field(default_factory=asyncio.Event)
    latest_version: int | None = None
    running: asyncio.Future | None = None
    """This document's analysis under way in the pool (the next one waits for it: they share ``cache``)."""
    cache: ModelCache = field(default_factory=ModelCache)
    """Models whose text did not change are not analyzed again."""


def carry_over(previous: Snapshot | None, fresh: Analysis, lines: list[str], hints: list[LineHint]) -> list[LineHint]:
    """Keep the last good hints of models the new buffer no longer yields (half-typed code)."""
    if previous is None:
        return hints
    present = {m.name for m in fresh.models}
    taken = {h.line for h in hints}
    kept = []
    for hint in previous.hints:
        if hint.model in present:
            continue
        old_text = previous.lines[hint.line - 1] if 0 < hint.line <= len(previous.lines) else None
        for delta in (0, -1, 1, -2, 2, -3, 3):
            line = hint.line + delta
            if 0 < line <= len(lines) and lines[line - 1] == old_text and line not in taken:
                kept.append(replace(hint, line=line))
                taken.add(line)
                break
    return sorted(hints + kept, key=lambda h: h.line)


def analyze(text: str, path: str | None, settings: Settings, loader: Any = None,
            cache: ModelCache | None = None) -> Analysis:
    options = Options(config_input=settings.input, batch_name="BS", module_loader=loader, cache=cache)
    return analyze_source(analyzable(text), path, options)


ANALYSIS_THREADS = 4
"""Documents analyzed at once; more wait for a thread (each document's own analyses run one at a time)."""
FIRST_SNAPSHOT_WAIT = 3.0
"""Seconds a request waits for a document's first analysis before answering without it."""


class Scheduler:
    """Debounced analysis per document, documents side by side on a few threads; obsolete results are
    dropped."""

    def __init__(self, delay_seconds: float = 0.002, threads: int = ANALYSIS_THREADS) -> None:
        self.delay = delay_seconds
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="cnnshape-analysis")

    def schedule(self, state: DocumentState, version: int | None, get_text: Callable[[], str | Program],
                 settings: Settings, on_landed: Callable[[DocumentState, Snapshot], Any],
                 on_error: Callable[[BaseException], Any], loader: Any = None) -> None:
        state.latest_version = version
        if state.pending is not None and not state.pending.done():
            state.pending.cancel()
        state.landed.clear()
        state.pending = asyncio.ensure_future(self._run(state, version, get_text, settings, on_landed, on_error,
                                                        loader))

    async def _run(self, state: DocumentState, version: int | None, get_text: Callable[[], str | Program],
                   settings: Settings, on_landed, on_error, loader) -> None:
        try:
            await asyncio.sleep(self.delay)
            got = get_text()  # a notebook's cells give the program they make
            text, cells = (got.text, got) if isinstance(got, Program) else (got, None)
            loop = asyncio.get_running_loop()

            def job() -> Analysis | None:
                if state.latest_version != version:
                    return None  # a newer version is queued: do not spend time on this one
                return analyze(text, state.path, settings, loader, state.cache)

            while state.running is not None and not state.running.done():
                await asyncio.wait([state.running])  # this document's analysis before: never cancelled with us
            if state.latest_version != version:
                return
            state.running = loop.run_in_executor(self.executor, job)
            analysis = await asyncio.shield(state.running)
            if analysis is None or state.latest_version != version:
                return
            lines = split_lines(text)
            previous = state.snapshot
            if previous is not None and previous.made_hints is None:
                previous.previous = None  # keep one snapshot back, not a chain of unseen ones
            snapshot = Snapshot(version, text, lines, analysis, settings, previous=previous, cells=cells)
            state.snapshot = snapshot
            state.landed.set()
            result = on_landed(state, snapshot)
            if asyncio.iscoroutine(result):
                await result
        except asyncio.CancelledError:
            pass
        except Exception as err:  # noqa: BLE001 - logged, never shown as a popup
            state.landed.set()
            on_error(err)

    async def wait(self, state: DocumentState, timeout: float = FIRST_SNAPSHOT_WAIT) -> Snapshot | None:
        """The snapshot of the latest version, waiting for an analysis under way."""
        if state.pending is not None and not state.pending.done():
            try:
                await asyncio.wait_for(asyncio.shield(state.landed.wait()), timeout)
            except asyncio.TimeoutError:
                pass
        return state.snapshot

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
