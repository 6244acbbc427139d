"""``.gitignore`` matching, read from the files themselves: git is never run.

Running ``git`` in a repository runs what its ``.git/config`` says (``core.fsmonitor`` is a command), so
the folder walk reads the ignore files itself, with git's rules (``gitignore(5)``):

- blank lines and lines starting with ``#`` are skipped; ``\\`` escapes the next character; trailing
  spaces are dropped unless escaped;
- ``!`` re-includes what an earlier pattern excluded (not inside an excluded folder: the walk never
  enters one);
- a trailing ``/`` matches folders only;
- a pattern with a ``/`` at its start or in its middle is relative to the folder of its ``.gitignore``;
  without one it matches a name at any depth below that folder;
- ``*`` and ``?`` match within one path component, ``[...]`` a character class, ``**`` any number of
  components (leading ``**/``, trailing ``/**``, inner ``/**/``);
- the last matching pattern decides; a deeper ``.gitignore`` is read after (and so wins over) the ones
  above it, and ``.git/info/exclude`` comes first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Rule:
    pattern: str
    """The line as written (for messages)."""
    regex: re.Pattern[str]
    """Matches the path relative to ``base``, POSIX separators."""
    negated: bool
    folders_only: bool


@dataclass(frozen=True)
class RuleSet:
    base: str
    """The POSIX path, relative to the walk's repository root, of the folder the rules are relative to
    (``""`` for the root)."""
    rules: tuple[Rule, ...]


def parse_lines(lines: list[str]) -> tuple[Rule, ...]:
    return tuple(rule for rule in (parse_line(line) for line in lines) if rule is not None)


def parse_line(line: str) -> Rule | None:
    """One line of a ``.gitignore``; ``None`` for blanks, comments and patterns that match nothing."""
    line = line.rstrip("\r\n")
    while line.endswith(" ") and not line.endswith("\\ "):
        line = line[:-1]
    if not line or line.startswith("#"):
        return None
    written = line
    negated = line.startswith("!")
    if negated:
        line = line[1:]
    folders_only = line.endswith("/") and not line.endswith("\\/")
    line = line.rstrip("/") if folders_only else line
    if not line:
        return None
    anchored = "/" in line
    line = line.lstrip("/")
    if not line:
        return None
    body = _translate(line if anchored else "**/" + line)
    return Rule(written, re.compile(f"^{body}$", re.DOTALL), negated, folders_only)


def _translate(pattern: str) -> str:
    """A glob of ``/``-separated components as a regular expression over a whole relative path."""
    parts = pattern.split("/")
    out: list[str] = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out.append(".*" if last else "(?:.*/)?")
            continue
        out.append(_component(part))
        if not last:
            out.append("/")
    return "".join(out)


def _component(part: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(part):
        ch = part[i]
        if ch == "\\" and i + 1 < len(part):
            out.append(re.escape(part[i + 1]))
            i += 2
            continue
        if ch == "*":
            while i + 1 < len(part) and part[i + 1] == "*":
                i += 1  # "**" inside a component is an ordinary "*"
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = _class_end(part, i)
            if end is None:
                out.append(re.escape(ch))
            else:
                inner = part[i + 1:end]
                negate = inner[:1] in ("!", "^")
                inner = inner[1:] if negate else inner
                inner = inner.replace("\\", "\\\\").replace("[", "\\[")
                out.append(f"[{'^/' if negate else ''}{inner}]")
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def _class_end(part: str, start: int) -> int | None:
    """Where the ``]`` closing the class opened at ``start`` is (a ``]`` first in the class is literal)."""
    i = start + 1
    if i < len(part) and part[i] in "!^":
        i += 1
    if i < len(part) and part[i] == "]":
        i += 1
    end = part.find("]", i)
    return end if end >= 0 else None


def read_rules(path: Path) -> tuple[Rule, ...]:
    """The rules of one ignore file; an unreadable file has none."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ()
    return parse_lines(text.splitlines())


def repository_root(folder: Path) -> Path | None:
    """The work tree ``folder`` is in (the nearest folder at or above it holding ``.git``), or ``None``."""
    folder = folder.resolve()
    for candidate in (folder, *folder.parents):
        if (candidate / ".git").exists():
            return candidate
    return None


class IgnoreStack:
    """The rule sets that apply below a folder, outermost first."""

    def __init__(self, sets: tuple[RuleSet, ...] = ()) -> None:
        self.sets = sets

    @classmethod
    def above(cls, folder: Path) -> tuple[IgnoreStack, Path | None]:
        """The rules that apply to what is under ``folder`` from its repository's ``.git/info/exclude`` and
        the ``.gitignore`` files of the folders from the root down to ``folder`` (not its own: the walk reads
        that). Outside a work tree there are none."""
        root = repository_root(folder)
        if root is None:
            return cls(), None
        sets = []
        git = root / ".git"
        if git.is_dir():
            exclude = read_rules(git / "info" / "exclude")
            if exclude:
                sets.append(RuleSet("", exclude))
        relative = folder.resolve().relative_to(root)
        current = root
        for depth, name in enumerate(("", *relative.parts)):
            current = current / name if name else current
            if depth == len(relative.parts):
                break  # the folder's own .gitignore: read by the walk
            rules = read_rules(current / ".gitignore")
            if rules:
                sets.append(RuleSet(current.relative_to(root).as_posix() if current != root else "", rules))
        return cls(tuple(sets)), root

    def with_file(self, base: str, path: Path) -> IgnoreStack:
        rules = read_rules(path)
        return IgnoreStack(self.sets + (RuleSet(base, rules),)) if rules else self

    def ignored(self, path: str, is_folder: bool) -> bool:
        """Whether ``path`` (POSIX, relative to the repository root) is ignored: the last match decides."""
        decision = False
        for ruleset in self.sets:
            if ruleset.base:
                if not path.startswith(ruleset.base + "/"):
                    continue
                relative = path[len(ruleset.base) + 1:]
            else:
                relative = path
            for rule in ruleset.rules:
                if rule.folders_only and not is_folder:
                    continue
                if rule.regex.match(relative):
                    decision = not rule.negated
        return decision


__all__ = ["IgnoreStack", "Rule", "RuleSet", "parse_line", "parse_lines", "repository_root"]
