"""settings.py is the one reader of settings, for the server and the command line: names, spellings, lookup."""

from __future__ import annotations

from pathlib import Path

from cnnshape_ls.settings import settings_for


def write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pyproject.toml").write_text(text)
    return folder / "net.py"


def test_pyproject_names_in_either_spelling(tmp_path: Path) -> None:
    for i, table in enumerate(['batch_name = "N"', 'batchName = "N"']):
        settings = settings_for(write(tmp_path / str(i), f"[tool.cnnshape]\n{table}\n"))
        assert settings.batch_name == "N" and settings.problems == ()
    nested = settings_for(write(tmp_path / "nested", "[tool.cnnshape.verify]\ntimeout_seconds = 3\n"))
    assert nested.verify_timeout_seconds == 3 and nested.problems == ()


def test_a_pyproject_without_the_table_is_passed_over(tmp_path: Path) -> None:
    write(tmp_path, '[tool.cnnshape]\ninput = "(BS, 3, 32, 32)"\n')
    inner = write(tmp_path / "pkg", "[project]\nname = 'pkg'\n")
    assert settings_for(inner).input == "(BS, 3, 32, 32)"
    assert settings_for(inner, stop=tmp_path / "pkg").input is None  # not above the workspace folder


def test_bad_values_are_reported_and_the_default_kept(tmp_path: Path) -> None:
    settings = settings_for(write(tmp_path, '[tool.cnnshape]\nbatch_name = "not a name"\ncolour = 1\n'))
    assert settings.batch_name == "BS"
    assert len(settings.problems) == 2 and any("unknown setting cnnshape.colour" in p for p in settings.problems)
