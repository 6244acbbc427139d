"""A place of the same file that bears on an error, in ``cnnshape check``'s JSON (``related`` with the
file's path) and text (``see: file:line:column: why``)."""

from __future__ import annotations

import json

from cnnshape_ls.cli import main

VIEW = """\
import torch.nn as nn


class Net(nn.Module):  # in: (BS, 1, 28, 28)
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(32 * 13 * 13, 10)

    def forward(self, x):
        x = self.pool(self.conv1(x).relu())
        x = x.view(-1, 32 * 13 * 13)
        return self.fc1(x)
"""


def test_the_linear_a_wrong_view_agrees_with(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.py").write_text(VIEW)
    assert main(["check", "--format", "json", "--no-verify", "net.py"]) == 1
    (diag,) = [d for d in json.loads(capsys.readouterr().out)["files"][0]["diagnostics"] if d["severity"] == "error"]
    assert (diag["line"], diag["code"]) == (13, "view-invalid")
    related = {r["line"]: r for r in diag["related"]}
    assert sorted(related) == [7, 9]
    assert (related[9]["path"], related[9]["column"]) == ("net.py", 30)
    # and the conv whose padding=1 would make the 13x13 map the view and fc1 were written for (a second fix)
    assert related[7]["message"].startswith("padding=0 here makes the map 32x12x12")
    assert main(["check", "--no-verify", "net.py"]) == 1
    text = capsys.readouterr().out
    assert "    see: net.py:9:30: fc1's in_features (5408) agrees with the view: the fix changes both" in text
