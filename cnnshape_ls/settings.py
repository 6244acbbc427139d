"""Settings: one set of names read from pyproject.toml, initializationOptions and workspace/configuration.

Later sources win. A bad value gets one clear message and the default, never an
exception. The one reader of settings: the language server and the command line
(which puts its flags on top) both call :func:`settings_for`. Names are the
contract's (``batchName``, ``verify.timeoutSeconds``); the snake_case spelling
TOML files often use (``batch_name``) means the same.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    try:
        import tomli as tomllib
    except ImportError:
        tomllib = None


@dataclass(frozen=True)
class Settings:
    input: Any = None
    """A shape string, or a table of model name -> shape string."""
    batch_name: str = "BS"
    hints_enabled: bool = True
    hints_style: str = "comment"
    code_lens_enabled: bool = True
    verify_enabled: bool = True
    verify_timeout_seconds: float = 10.0
    verify_delay_ms: int = 500
    verify_memory_mb: int = 4096
    python: str | None = None
    workspace_trusted: bool = True
    """False when the client marks the workspace untrusted: nothing of the user's is executed then."""
    problems: tuple[str, ...] = field(default=(), compare=False)
    """Messages about values that were ignored."""


# setting name (as in the contract, without "cnnshape.") -> (field, type check, description)
FIELDS: dict[str, tuple[str, type | tuple, str]] = {
    "input": ("input", (str, dict), "a shape such as \"(BS, 3, 32, 32)\", or a table of model name -> shape"),
    "batchName": ("batch_name", str, "a name such as \"BS\""),
    "hints.enabled": ("hints_enabled", bool, "true or false"),
    "hints.style": ("hints_style", str, "\"comment\" or \"arrow\""),
    "codeLens.enabled": ("code_lens_enabled", bool, "true or false"),
    "verify.enabled": ("verify_enabled", bool, "true or false"),
    "verify.timeoutSeconds": ("verify_timeout_seconds", (int, float), "a number of seconds"),
    "verify.delayMs": ("verify_delay_ms", int, "a number of milliseconds"),
    "verify.memoryMb": ("verify_memory_mb", int, "a number of megabytes"),
    "python": ("python", str, "the path of a Python interpreter"),
    "workspaceTrusted": ("workspace_trusted", bool, "true or false"),
}
CHOICES = {"hints.style": ("comment", "arrow")}
PYTHON_NAMES = ("batchName",)  # written into shapes: must be a name such as BS
NUMBERS = ("verify.timeoutSeconds", "verify.delayMs", "verify.memoryMb")  # positive; a delay may be 0


def camel_case(key: Any) -> Any:
    """``batch_name`` -> ``batchName``: pyproject.toml tables are often written in snake_case."""
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), key) if isinstance(key, str) else key


def has_table(path: Path) -> bool:
    """Whether a pyproject.toml has a ``[tool.cnnshape]`` table (or cannot be read: that is worth a message)."""
    if tomllib is None:
        return False
    try:
        with open(path, "rb") as handle:
            tool = tomllib.load(handle).get("tool")
    except (OSError, ValueError):
        return True
    return isinstance(tool, dict) and "cnnshape" in tool


def flatten(section: Any, prefix: str = "") -> dict[str, Any]:
    """``{"verify": {"enabled": true}}`` -> ``{"verify.enabled": true}``; the input table stays whole."""
    out: dict[str, Any] = {}
    if not isinstance(section, dict):
        return out
    for key, value in section.items():
        name = f"{prefix}{camel_case(key)}"
        if isinstance(value, dict) and name != "input":
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


def merge(base: Settings, section: Any, origin: str) -> Settings:
    """Apply one source of settings; unknown names and bad values are reported and skipped."""
    if section is None:
        return base
    problems = list(base.problems)
    if not isinstance(section, dict):
        problems.append(f"{origin}: the cnnshape settings should be an object, got {type(section).__name__}")
        return replace(base, problems=tuple(problems))
    changes: dict[str, Any] = {}
    for name, value in flatten(section).items():
        name = name.removeprefix("cnnshape.")
        spec = FIELDS.get(name)
        if spec is None:
            problems.append(f"{origin}: unknown setting cnnshape.{name} (ignored)")
            continue
        attr, kind, wanted = spec
        if value is None:
            continue
        if isinstance(value, bool) and kind in (int, (int, float)) or not isinstance(value, kind):
            problems.append(f"{origin}: cnnshape.{name} should be {wanted}, got {value!r}; using the default")
            continue
        if name in CHOICES and value not in CHOICES[name]:
            problems.append(f"{origin}: cnnshape.{name} should be {wanted}, got {value!r}; using the default")
            continue
        if name in PYTHON_NAMES and not value.isidentifier():
            problems.append(f"{origin}: cnnshape.{name} should be {wanted}, got {value!r}; using the default")
            continue
        if name == "input" and isinstance(value, dict) and not all(isinstance(v, str) for v in value.values()):
            problems.append(f"{origin}: cnnshape.input table values should be shape strings; using the default")
            continue
        if name in NUMBERS and (value < 0 or (value == 0 and name != "verify.delayMs")):
            problems.append(f"{origin}: cnnshape.{name} should be positive, got {value!r}; using the default")
            continue
        changes[attr] = value
    return replace(base, problems=tuple(problems), **changes)


def find_pyproject(start: Path, stop: Path | None = None) -> Path | None:
    """The nearest pyproject.toml at or above ``start`` (not above ``stop``) with a ``[tool.cnnshape]`` table;
    one without it is passed over, as ruff does for ``[tool.ruff]``."""
    folder = start if start.is_dir() else start.parent
    for candidate in (folder, *folder.parents):
        path = candidate / "pyproject.toml"
        if path.is_file() and has_table(path):
            return path
        if stop is not None and candidate == stop:
            break
    return None


def from_pyproject(path: Path | None, base: Settings | None = None) -> Settings:
    base = base or Settings()
    if path is None or tomllib is None:
        return base
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except (OSError, ValueError) as err:
        return replace(base, problems=base.problems + (f"{path}: cannot read [tool.cnnshape]: {err}",))
    section = data.get("tool", {}).get("cnnshape")
    return merge(base, section, str(path)) if section is not None else base


def settings_for(document: Path | None, init_options: Any = None, client_section: Any = None,
                 stop: Path | None = None) -> Settings:
    """pyproject.toml, then the client's initializationOptions, then its workspace/configuration."""
    settings = Settings()
    if document is not None:
        settings = from_pyproject(find_pyproject(document, stop), settings)
    if isinstance(init_options, dict) and "cnnshape" in init_options:
        init_options = init_options["cnnshape"]
    settings = merge(settings, init_options, "initializationOptions")
    return merge(settings, client_section, "workspace/configuration")
