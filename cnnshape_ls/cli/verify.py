"""``cnnshape check --verify``: the static results, checked by torch in the verification worker."""

from __future__ import annotations

import sys
from typing import IO, Any

from ..analysis.findings import Finding, Span
from ..analysis.result import Analysis


def verify_outcomes(pairs: list[tuple[str, Any]], timeout: float = 10.0, python: str | None = None,
                    stderr: IO[str] | None = None) -> None:
    """Merge torch's answer into each ``(path, outcome)`` whose analysis has models, in place."""
    from ..verify.client import VerifyCrashed, VerifyTimeout, VerifyUnavailable, WorkerClient
    from ..verify.merge import merge_answer, plan

    stderr = stderr or sys.stderr
    client = WorkerClient(python=python or sys.executable)
    try:
        for path, outcome in pairs:
            analysis: Analysis | None = outcome.analysis
            if analysis is None or not analysis.models:
                continue
            program = getattr(outcome, "program", None)
            if program is not None:  # a notebook: the program its code cells make, as analyzed
                text = program.text
            else:
                with open(path, encoding="utf-8", errors="replace") as handle:
                    text = handle.read()
            job = plan(analysis, text)
            if job is None:
                continue
            for name, why in job.skipped.items():
                print(f"cnnshape: {outcome.display}: torch verification skipped {name}: {why}", file=stderr)
            if not job.models:
                continue
            try:
                answer = client.verify(job.source, path, job.models, timeout)
            except VerifyUnavailable as err:
                print(f"cnnshape: torch verification is off: {err}", file=stderr)
                return
            except (VerifyTimeout, VerifyCrashed) as err:
                for spec in job.models:
                    analysis.findings.append(Finding(Span(spec["line"], 0, spec["line"], 0), "information",
                                                     "torch-verify", f"torch verification failed: {err}",
                                                     source="torch", model=spec["name"]))
                continue
            merged, found = merge_answer(analysis, answer, text.split("\n"), client.ready.get("python", ""))
            analysis.models = merged.models
            analysis.findings.extend(found)
    finally:
        client.shutdown()
