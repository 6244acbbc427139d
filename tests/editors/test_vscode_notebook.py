"""VS Code on a Jupyter notebook (code-server's own notebook editor, no kernel): the seed split over cells, its
input stated by a call in a later cell. The extension (built and packaged as in test_vscode.py) shows the
# out: hints in the model's cell, the squiggle and its hover, and the quick fix from the Ctrl+. menu writes
into that cell; saved, the notebook on disk has the fix and keeps its outputs. Screenshots go to docs/images/."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
from test_vscode import USER_SETTINGS, _free_port, _wait_healthy, vsix  # noqa: F401 - vsix: the fixture

from editor_support import HERE, ROOT, Session, Tools, kill_group, save_image

sys.path.insert(0, str(ROOT / "tests"))
from notebook_corpus import MANIFEST, convert  # noqa: E402

SHOTS = ["vscode-notebook-hints.png", "vscode-notebook-diagnostic.png", "vscode-notebook-quickfix.png"]


def test_vscode_notebook_cells(editor_tools: Tools, vsix: Path, session: Session, tmp_path: Path) -> None:  # noqa: F811
    entry = next(e for e in MANIFEST if e["id"] == "s01")
    converted = convert((ROOT / "tests" / "corpus" / entry["file"]).read_text(), entry)
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    notebook = workspace / "model.ipynb"
    nbformat.write(converted.notebook, str(notebook))
    model_cell, fix_line = converted.places[entry["fix_line"]]

    user_data, extensions = tmp_path / "cs-user-data", tmp_path / "cs-extensions"
    (user_data / "User").mkdir(parents=True)
    extensions.mkdir()
    installed = session.run([editor_tools.code_server, "--user-data-dir", str(user_data), "--extensions-dir",
                             str(extensions), "--install-extension", str(vsix)], timeout=120, cwd=tmp_path)
    assert installed.returncode == 0 and "successfully installed" in installed.stdout, installed.stdout
    (user_data / "User" / "settings.json").write_text(json.dumps(
        {**USER_SETTINGS, "cnnshape.python": sys.executable, "notebook.lineNumbers": "on",
         "workbench.editorAssociations": {"*.ipynb": "jupyter-notebook"},
         "cnnshape-ls.trace.server": "verbose"}, indent=2))
    port = _free_port()
    log_path = tmp_path / "code-server.log"
    with open(log_path, "w") as log:
        server = session.popen([editor_tools.code_server, "--bind-addr", f"127.0.0.1:{port}", "--auth", "none",
                                "--user-data-dir", str(user_data), "--extensions-dir", str(extensions),
                                "--disable-telemetry", "--disable-update-check", "--disable-getting-started-override",
                                "--disable-workspace-trust", str(workspace)],
                               stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    report_path = tmp_path / "report.json"
    try:
        _wait_healthy(port, server)
        config = {
            "url": f"http://127.0.0.1:{port}/?folder={workspace}", "chromium": editor_tools.chromium,
            "file": notebook.name, "filePath": str(notebook), "shots": str(tmp_path / "shots"),
            "outdir": str(tmp_path), "report": str(report_path),
            "hintLine": "('relu1'", "hint": "# out: (BS, 8, 30, 30)",
            "fixTitle": "Change in_features to 127", "fixedText": "nn.Linear(127, 64)",
        }
        (tmp_path / "drive.json").write_text(json.dumps(config))
        drive = session.run(["node", str(HERE / "vscode_notebook_drive.js"), str(tmp_path / "drive.json")],
                            timeout=300, env={**session.env, "NODE_PATH": editor_tools.playwright_node_path},
                            cwd=tmp_path)
        print(drive.stdout[-6000:])
    finally:
        kill_group(server.pid)
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    assert drive.returncode == 0 and report.get("ok"), (
        f"the VS Code notebook run failed: {report.get('errors')}\nsteps: {report.get('steps')}\n"
        f"driver output:\n{drive.stdout[-4000:]}\ncode-server log:\n{log_path.read_text(errors='replace')[-3000:]}")

    # the hints in the model's cell: the shapes the call in a later cell gives
    lines = report["hints"]["lines"]
    for marker, hint in {"('relu1'": "# out: (BS, 8, 30, 30)", "('flatten'": "# out: (BS, 576)",
                         "('fc1'": "# out: (BS, 127)"}.items():
        assert hint in next((text for text in lines if marker in text), ""), (marker, lines)
    # the squiggle and torch's words in its hover
    assert report["squigglesBefore"] >= 1
    assert "mat1 and mat2 shapes cannot be multiplied (BSx127 and 128x64)" in report["diagnostic"]
    # the quick fix, preferred and applied in the cell; the saved notebook has it and keeps its outputs
    assert report["quickfix"]["focused"] == "Change in_features to 127"
    saved = nbformat.read(str(notebook), as_version=4)
    assert saved.cells[model_cell - 1].source.split("\n")[fix_line - 1] == "    ('fc2', nn.Linear(127, 64)),"
    outputs = [c.outputs for c in saved.cells if c.cell_type == "code" and c.outputs]
    assert outputs and outputs[0][0]["text"] == "torch.Size([2, 10])\n"
    for name in SHOTS:
        assert (tmp_path / "shots" / name).is_file(), name
        save_image(tmp_path / "shots" / name, name)
