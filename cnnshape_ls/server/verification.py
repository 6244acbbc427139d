"""Scheduling torch verification from the language server.

After an analysis lands and the document has been quiet for ``cnnshape.verify.delayMs``, its models run
under torch in the worker process (on a thread of their own, never the event loop's). A result for a version
that is no longer current is dropped. Trouble (a hang, a crash, a missing module, no torch) is reported once
and never costs the user a hint: hints and hovers keep answering from the static snapshot meanwhile.
"""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from lsprotocol import types

from ..analysis.findings import Finding, Span
from ..verify.client import VerifyBackoff, VerifyCrashed, VerifyTimeout, VerifyUnavailable, WorkerClient
from ..verify.merge import merge_answer, plan
from .state import DocumentState, Snapshot
from .text import analyzable

UNTRUSTED_NOTICE = (
    "cnnshape: torch verification is off because your editor has not said this workspace is trusted "
    "(verification runs the model code). Hints and diagnostics work as usual. To turn it on, trust the folder: "
    "VS Code: Workspace Trust; Neovim (editors/nvim): :trust the project folder, then restart the server; "
    "Emacs 30 (cnnshape-eglot.el): add the folder to trusted-content, then M-x eglot-reconnect; any other "
    "client: send \"workspaceTrusted\": true in the cnnshape section of its initializationOptions (not in "
    "workspace settings or pyproject.toml, which the repository itself could write).")

UNTRUSTED_LOG = "cnnshape: torch verification is off: the editor says this workspace is not trusted"


@dataclass
class Verifier:
    server: Any
    client: WorkerClient | None = None
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="cnnshape-verify"))
    tasks: dict[str, asyncio.Task] = field(default_factory=dict)
    announced: set[str] = field(default_factory=set)

    @staticmethod
    def enabled(settings) -> bool:
        return settings.verify_enabled and settings.trusted

    def schedule(self, state: DocumentState, snapshot: Snapshot) -> None:
        previous = self.tasks.get(state.uri)
        if previous is not None and not previous.done():
            previous.cancel()
        if not self.enabled(snapshot.settings):
            if snapshot.settings.verify_enabled and snapshot.settings.workspace_trusted is None:
                # the editor said nothing about trust: say once why torch stays off and how to turn it on
                self.announce(UNTRUSTED_NOTICE, types.MessageType.Info, popup=True)
            elif snapshot.settings.verify_enabled:  # the editor said untrusted, and shows it its own way
                self.announce(UNTRUSTED_LOG, types.MessageType.Info)
            return
        self.tasks[state.uri] = asyncio.ensure_future(self.run(state, snapshot))

    def worker(self, settings) -> WorkerClient:
        python = settings.python or __import__("sys").executable
        if self.client is None or self.client.python != python or self.client.memory_mb != settings.verify_memory_mb:
            if self.client is not None:
                self.client.shutdown()
            self.client = WorkerClient(python=python, memory_mb=settings.verify_memory_mb)
        return self.client

    def start_warm(self, settings) -> None:
        """Start the worker (torch import and warm-up) while the user is still reading, not on first use."""
        if not self.enabled(settings):
            return
        client = self.worker(settings)
        loop = asyncio.get_running_loop()

        def warm() -> None:
            try:
                client.start()
            except VerifyUnavailable:
                pass

        loop.run_in_executor(self.executor, warm)

    async def run(self, state: DocumentState, snapshot: Snapshot) -> None:
        try:
            await asyncio.sleep(snapshot.settings.verify_delay_ms / 1000)
        except asyncio.CancelledError:
            return
        if state.snapshot is not snapshot:
            return
        job = plan(snapshot.analysis, analyzable(snapshot.text))  # the text the analysis parsed (BOM, surrogates)
        if job is None:
            return
        notes = [self.skipped_note(snapshot, name, why) for name, why in job.skipped.items()]
        answer: dict | None = None
        if job.models:
            client = self.worker(snapshot.settings)
            token = await self.progress_begin(len(job.models))
            loop = asyncio.get_running_loop()
            try:
                answer = await loop.run_in_executor(
                    self.executor, client.verify, job.source, state.path, job.models,
                    snapshot.settings.verify_timeout_seconds)
            except asyncio.CancelledError:
                return
            except VerifyTimeout:
                notes += [self.model_note(snapshot, m, f"torch verification stopped after "
                                                   f"{snapshot.settings.verify_timeout_seconds:g} s: building or "
                                                   "running this model took too long (the worker was restarted)")
                          for m in job.models]
                self.server.log(f"verification of {state.uri} timed out", types.MessageType.Warning)
            except VerifyCrashed as err:
                notes += [self.model_note(snapshot, m, f"torch verification failed: the torch worker died ({err}); "
                                                   "it was restarted for the next edit") for m in job.models]
                self.announce(f"cnnshape: the torch worker died ({err})", types.MessageType.Warning)
            except VerifyBackoff as err:  # a model that kills the worker on every edit: a note, not a popup each time
                notes += [self.model_note(snapshot, m, f"torch verification is paused: {err}") for m in job.models]
            except VerifyUnavailable as err:
                self.announce(f"cnnshape: torch verification is off: {err}", types.MessageType.Info, popup=True)
            finally:
                self.progress_end(token)
        if state.snapshot is not snapshot:
            return  # the document changed meanwhile: this result is obsolete
        state.snapshot = self.merged(snapshot, answer, notes)
        await self.server.on_verified(state, state.snapshot)

    # -------------------------------------------------------------- merging into the snapshot
    def merged(self, snapshot: Snapshot, answer: dict | None, notes: list[Finding]) -> Snapshot:
        findings = [n for n in notes if n is not None]
        analysis = snapshot.analysis
        if answer is not None:
            python = self.client.ready.get("python", "") if self.client else ""
            analysis, found = merge_answer(analysis, answer, snapshot.lines, python)
            findings += found
        return replace(snapshot, analysis=analysis, extra_findings=findings, previous=None, made_hints=None)

    def skipped_note(self, snapshot: Snapshot, name: str, why: str) -> Finding | None:
        model = next((m for m in snapshot.analysis.models if m.name == name), None)
        if model is None:
            return None
        return Finding(Span(model.line, 0, model.line, 0), "information", "torch-skipped",
                       f"torch verification skipped {name}: {why}", source="torch", model=name)

    def model_note(self, snapshot: Snapshot, spec: dict, message: str) -> Finding:
        line = spec.get("line", 1)
        return Finding(Span(line, 0, line, 0), "information", "torch-verify", message, source="torch",
                       model=spec.get("name"))

    # -------------------------------------------------------------- reporting
    def announce(self, message: str, kind: types.MessageType, popup: bool = False) -> None:
        if message in self.announced:
            return
        self.announced.add(message)
        self.server.log(message, kind)
        if popup:
            self.server.window_show_message(types.ShowMessageParams(type=kind, message=message))

    async def progress_begin(self, count: int) -> str | None:
        if not self.server.supports("window", "work_done_progress"):
            return None
        token = f"cnnshape-verify-{uuid.uuid4().hex[:8]}"
        try:
            await asyncio.wait_for(self.server.work_done_progress.create_async(token), 2)
            self.server.work_done_progress.begin(token, types.WorkDoneProgressBegin(
                title="cnnshape", message=f"checking {count} model{'s' * (count > 1)} with torch", cancellable=False))
        except Exception:  # noqa: BLE001 - progress is a courtesy
            return None
        return token

    def progress_end(self, token: str | None) -> None:
        if token is None:
            return
        try:
            self.server.work_done_progress.end(token, types.WorkDoneProgressEnd(message="done"))
        except Exception:  # noqa: BLE001
            pass

    def shutdown(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        if self.client is not None:
            self.client.shutdown()
        self.executor.shutdown(wait=False, cancel_futures=True)
