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
    from ..verify.merge import plan

    stderr = stderr or sys.stderr
    client = WorkerClient(python=python or sys.executable)
    try:
        for path, outcome in pairs:
            analysis: Analysis | None = outcome.analysis
            if analysis is None or not analysis.models:
                continue
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
            merge_answer(analysis, answer, text)
    finally:
        client.shutdown()


def merge_answer(analysis: Analysis, answer: dict, text: str) -> None:
    from dataclasses import replace

    from ..verify.merge import merge_model

    lines = text.split("\n")
    by_name = {m["name"]: m for m in answer.get("models", [])}
    models = []
    for model in analysis.models:
        result = by_name.get(model.name)
        if result is None:
            models.append(model)
            continue
        if not result.get("ok") and (result.get("error") or {}).get("stage") == "build":
            analysis.findings.append(Finding(Span(model.line, 0, model.line, 0), "information", "torch-build",
                                             f"torch could not build {model.name}: {result['error'].get('message')}",
                                             source="torch", model=model.name))
            models.append(model)
            continue
        verdict = merge_model(model, result, analysis.findings, lines)
        models.append(replace(model, records=verdict.records, verified=verdict.ok and not verdict.corrected))
        analysis.findings.extend(verdict.findings)
    for problem in answer.get("problems", []):
        line = problem.get("line") or 1
        analysis.findings.append(Finding(Span(line, 0, line, 0), "information", "torch-import"
                                         if problem.get("kind") == "import" else "torch-verify",
                                         f"torch verification: {problem['message']}", source="torch"))
    analysis.models = models
