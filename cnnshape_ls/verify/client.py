"""Talking to the verification worker: start it lazily, keep it warm, kill it when it hangs, restart it
(with backoff) when it dies, and say why once. Each request is served by a fresh process the worker forked
for it (see worker.py): the client waits for that process to say it is ready, so it always knows whom to kill.

Synchronous on purpose: the language server calls it from one worker thread, the command line directly.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WORKER = Path(__file__).resolve().with_name("worker.py")
START_TIMEOUT = 60.0
MAX_BACKOFF = 60.0


class VerifyUnavailable(Exception):
    """The worker cannot run now (no torch, dying repeatedly, backing off): the reason is the message."""


class VerifyBackoff(VerifyUnavailable):
    """The worker died on the last requests in a row: verification waits a while (doubling) before trying again."""


class VerifyTimeout(Exception):
    pass


class VerifyCrashed(Exception):
    pass


def exit_reason(code: int | None) -> str:
    if code is None:
        return "it stopped answering"
    if code < 0:
        try:
            return f"it was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"it was killed by signal {-code}"
    return f"it exited with status {code}"


@dataclass
class WorkerClient:
    python: str = sys.executable
    memory_mb: int = 4096
    process: subprocess.Popen | None = None
    """The worker as started: it imports torch once and forks the process that serves (see worker.py)."""
    child_pid: int | None = None
    """The fresh process that will serve the next request and run the user's code; None until it says it is
    ready (each one serves one request, then exits). ``process.pid`` when nothing is forked."""
    ready: dict = field(default_factory=dict)
    failures: int = 0
    retry_at: float = 0.0
    last_reason: str = ""
    _read_fd: int | None = None
    _buffer: bytes = b""
    _writer: Any = None
    _next_id: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -------------------------------------------------------------- lifecycle
    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> dict:
        """Start the worker if it is not running, or take the serving process it forked after the last one
        died; returns its handshake (torch version, python, pid)."""
        now = time.monotonic()
        if now < self.retry_at:
            raise VerifyBackoff(f"the torch worker keeps dying ({self.last_reason}); "
                                f"retrying in {self.retry_at - now:.0f} s")
        if self.alive:
            self._drain()
        if not self.alive:
            self._spawn()
        if self.child_pid is None:
            try:
                self._await_ready(START_TIMEOUT)
            except (VerifyTimeout, VerifyCrashed) as err:
                self.kill()
                self.note_failure(f"the torch worker did not start: {err}")
                raise VerifyUnavailable(self.last_reason) from err
        if not self.ready.get("torch"):
            raise VerifyUnavailable(f"torch is not installed in {self.python} ({self.ready.get('error', '')}); "
                                    "set cnnshape.python to an environment that has it")
        return self.ready

    def _spawn(self) -> None:
        self.kill()
        to_worker_r, to_worker_w = os.pipe()
        from_worker_r, from_worker_w = os.pipe()
        try:
            self.process = subprocess.Popen(
                [self.python, str(WORKER), "--read-fd", str(to_worker_r), "--write-fd", str(from_worker_w),
                 "--memory-mb", str(self.memory_mb)],
                pass_fds=(to_worker_r, from_worker_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True, cwd=str(WORKER.parent))
        except OSError as err:
            for fd in (to_worker_r, to_worker_w, from_worker_r, from_worker_w):
                os.close(fd)
            self.note_failure(f"cannot start {self.python}: {err}")
            raise VerifyUnavailable(self.last_reason) from err
        os.close(to_worker_r)
        os.close(from_worker_w)
        self._writer = os.fdopen(to_worker_w, "w", encoding="utf-8")
        self._read_fd = from_worker_r
        self._buffer = b""
        self.child_pid = None

    def _await_ready(self, timeout: float) -> None:
        """Read until a serving process says it is ready (skipping news of the one before it)."""
        deadline = time.monotonic() + timeout
        while self.child_pid is None:
            self._event(self._read_line(max(0.0, deadline - time.monotonic())))

    def _event(self, message: dict) -> None:
        if message.get("event") == "ready":
            self.ready = message
            self.child_pid = message.get("pid") or (self.process.pid if self.process else None)
        elif message.get("event") == "exit" and message.get("pid") == self.child_pid:
            self.child_pid = None

    def _drain(self) -> None:
        """Take in what the worker said while idle: serving processes that exited and the one forked after."""
        while True:
            try:
                self._event(self._read_line(0.0))
            except VerifyTimeout:
                return
            except VerifyCrashed:
                self.kill()
                return

    def note_failure(self, reason: str) -> None:
        self.failures += 1
        self.last_reason = reason
        backoff = min(MAX_BACKOFF, 2.0 ** (self.failures - 1)) if self.failures > 1 else 0.0
        self.retry_at = time.monotonic() + backoff

    def _kill_child(self) -> None:
        """Kill the serving process and its process group; the worker forks a fresh one at once."""
        pid = self.child_pid
        self.child_pid = None
        if pid is None or self.process is None or pid == self.process.pid:
            self.kill()
            return
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def kill(self) -> None:
        process = self.process
        if self.child_pid is not None and process is not None and self.child_pid != process.pid:
            try:
                os.killpg(self.child_pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.child_pid = None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                process.kill()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        try:
            if self._writer is not None:
                self._writer.close()
        except OSError:
            pass
        if self._read_fd is not None:
            try:
                os.close(self._read_fd)
            except OSError:
                pass
        self._writer = None
        self._read_fd = None

    def shutdown(self) -> None:
        self.kill()
        self.process = None

    # -------------------------------------------------------------- requests
    def verify(self, source: str, path: str | None, models: list[dict], timeout: float) -> dict:
        """Run ``models`` of ``source`` (already sliced) under torch; raises on timeout or crash."""
        with self._lock:
            self.start()
            self._next_id += 1
            request = {"id": self._next_id, "method": "verify",
                       "params": {"source": source, "path": path, "models": models}}
            serving = self.child_pid
            died = False
            try:
                self._writer.write(json.dumps(request) + "\n")
                self._writer.flush()
                while True:
                    answer = self._read_line(timeout)
                    if answer.get("event") == "exit" and answer.get("pid") == serving:
                        died = True  # the serving process died; the worker forks the next one at once
                        break
                    if answer.get("event"):
                        self._event(answer)
                    elif answer.get("id") == request["id"]:
                        break
            except VerifyTimeout:
                self._kill_child()
                raise
            except (VerifyCrashed, BrokenPipeError, OSError) as err:
                code = self.process.poll() if self.process else None
                if code is None:
                    self.kill()
                reason = exit_reason(code if code is not None else (self.process.returncode if self.process else None))
                self.note_failure(reason)
                raise VerifyCrashed(reason) from err
            if died:
                self.child_pid = None
                reason = exit_reason(answer.get("status"))
                self.note_failure(reason)
                raise VerifyCrashed(reason)
            if self.process is not None and serving != self.process.pid:
                self.child_pid = None  # it exits now; the worker forks a fresh one for the next request
            self.failures = 0
            if "error" in answer:
                raise VerifyCrashed(answer["error"])
            return answer["result"]

    def _read_line(self, timeout: float) -> dict:
        """The next JSON line from the worker, reading the pipe unbuffered so select() tells the truth."""
        deadline = time.monotonic() + timeout
        fd = self._read_fd
        if fd is None:
            raise VerifyCrashed(exit_reason(self.process.poll() if self.process else None))
        while True:
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                if not line.strip():
                    continue
                try:
                    return json.loads(line)
                except ValueError:
                    continue  # half a line a dying process left behind: never trust a line blindly
            remaining = max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([fd], [], [], min(remaining, 0.5))
            if not ready:
                if self.process is not None and self.process.poll() is not None:
                    raise VerifyCrashed(exit_reason(self.process.returncode))
                if time.monotonic() >= deadline:
                    raise VerifyTimeout(f"no answer within {timeout:g} s")
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                if self.process is not None:
                    try:
                        self.process.wait(timeout=2)
                    except subprocess.TimeoutExpired:
                        pass
                raise VerifyCrashed(exit_reason(self.process.poll() if self.process else None))
            self._buffer += chunk
