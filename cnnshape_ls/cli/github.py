"""``cnnshape check --format github``: GitHub Actions workflow commands, one line per finding.

``::error file=net.py,line=22,col=30,endLine=22,endColumn=41,title=cnnshape linear-in-features::message``
makes GitHub show the finding on the line of the pull request's diff. Positions are 1-based and
``endColumn`` is exclusive, as in SARIF and ruff's ``--output-format github``. Message and property
values are escaped as the Actions toolkit escapes them (``escapeData``, ``escapeProperty``): an
unescaped newline would end the command, and an unescaped ``,`` or ``:`` would end a property.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import PurePath
from typing import IO, Any

from ..analysis.findings import Finding
from .ipynb_lines import Positions

COMMANDS = {"error": "error", "warning": "warning", "information": "notice"}


def escape_data(text: str) -> str:
    """The message after ``::``."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A ``name=value`` property before ``::``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation_path(display: str) -> str:
    """The path as the user named the file, with ``/`` separators; an absolute path under the current folder
    made relative to it (GitHub matches ``file=`` against the checkout, which a workflow runs in)."""
    if os.path.isabs(display):
        try:
            relative = os.path.relpath(display)
        except ValueError:  # another drive
            return PurePath(display).as_posix()
        if not relative.startswith(os.pardir):
            display = relative
    return PurePath(display).as_posix()


def message_text(finding: Finding) -> str:
    """The finding's message, with its preferred fix on a line of its own (as the text report shows it)."""
    if not finding.fixes:
        return finding.message
    fix = finding.fixes[0]
    suffix = " (not applied by --fix)" if fix.elsewhere else ""
    return f"{finding.message}\nfix{suffix}: {fix.title}"


def annotation(finding: Finding, path: str, positions: Positions = Positions()) -> str:
    """The workflow command for ``finding``: on its place in the file (a notebook's in the file's JSON text,
    else on the file as a whole, the message naming the cell)."""
    span = positions.span(finding.span)
    properties = [("file", path)]
    if span is not None:
        properties += [("line", str(span.line)), ("col", str(span.column + 1)),
                       ("endLine", str(span.end_line)), ("endColumn", str(span.end_column + 1))]
    properties.append(("title", f"cnnshape {finding.code}"))
    props = ",".join(f"{name}={escape_property(value)}" for name, value in properties)
    message = positions.message(finding.span, message_text(finding))
    return f"::{COMMANDS.get(finding.severity, 'notice')} {props}::{escape_data(message)}"


def write_github_report(outcomes: Iterable[Any], out: IO[str]) -> None:
    """One workflow command per diagnostic of the analyzed files (``Outcome`` objects); nothing when clean.
    A notebook's findings are placed on the lines of its JSON text that hold the code, and their messages
    name the cell."""
    for outcome in outcomes:
        path = annotation_path(outcome.display)
        positions = Positions(outcome.program, outcome.file_places)
        for finding in outcome.analysis.diagnostics:
            out.write(annotation(finding, path, positions) + "\n")


__all__ = ["annotation", "escape_data", "escape_property", "write_github_report"]
