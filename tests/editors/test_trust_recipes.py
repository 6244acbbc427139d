"""Each editor recipe maps the editor's own trust mechanism onto ``workspaceTrusted``.

Neovim: the trust database of ``vim.secure`` (what ``:trust`` writes); Emacs 30: ``trusted-content``. The
editors run headless on the plugin code and print the ``initializationOptions`` the server would get; no
server is started (what the server does with them: tests/lsp/test_settings.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from editor_support import CACHE, ROOT

NVIM_PROBE = r"""
vim.opt.runtimepath:prepend(vim.env.CNNSHAPE_NVIM)
local cnnshape = require("cnnshape")
local root = vim.env.PROJECT
local function options(extra, params)
  local config = vim.tbl_extend("force", cnnshape.config(), { root_dir = root }, extra or {})
  params = params or { rootUri = vim.uri_from_fname(root) }
  config.before_init(params, config)
  return params.initializationOptions
end
local function trust(path)  -- as :trust does it, on a buffer of the folder or file
  local buf = vim.fn.bufadd(path)
  vim.fn.bufload(buf)
  assert(vim.secure.trust({ action = "allow", bufnr = buf }))
end
local out = {}
out.nothing = options()
local shared = { cnnshape = { input = "(BS, 3, 8, 8)" } }
out.user_init = options({ init_options = shared },
                        { rootUri = vim.uri_from_fname(root), initializationOptions = shared })
out.shared_after = vim.deepcopy(shared)
trust(root .. "/pyproject.toml")
out.marker = options({ settings = { cnnshape = { batchName = "N" } } })
local f = io.open(root .. "/pyproject.toml", "a"); f:write("# changed after :trust\n"); f:close()
out.marker_changed = options()
trust(root)
out.folder = options()
io.stdout:write(vim.json.encode(out) .. "\n")
vim.cmd("qa!")
"""

EMACS_PROBE = r"""
(add-to-list 'load-path (getenv "CNNSHAPE_EMACS"))
(require 'cnnshape-eglot)
(let* ((root (getenv "PROJECT"))
       (out (list :nothing (cnnshape-eglot-initialization-options root))))
  (setq trusted-content (list (file-name-as-directory (abbreviate-file-name root))))
  (setq out (append out (list :folder (cnnshape-eglot-initialization-options root))))
  ;; entries are abbreviated file names, as `trusted-content' asks: "~/" for everything in the home folder
  (setq trusted-content (list (abbreviate-file-name (file-name-directory (directory-file-name root)))))
  (setq out (append out (list :parent (cnnshape-eglot-initialization-options root))))
  (setq trusted-content (list (concat root "/model.py")))
  (setq out (append out (list :one_file (cnnshape-eglot-initialization-options root))))
  (setq trusted-content nil cnnshape-settings '(:batchName "N"))
  (setq out (append out (list :settings (cnnshape-eglot-initialization-options root))))
  (princ (json-serialize out :false-object :json-false :null-object nil)))
"""


def nvim_binary() -> str | None:
    found = shutil.which("nvim")
    if found:
        return found
    candidates = sorted(CACHE.glob("nvim-*/bin/nvim"))
    return str(candidates[-1]) if candidates else None


def test_neovim_maps_its_trust_database(tmp_path: Path) -> None:
    nvim = nvim_binary()
    if nvim is None:
        pytest.skip("Neovim is not installed (tests/editors/install.sh installs it)")
    version = subprocess.run([nvim, "--version"], capture_output=True, text=True).stdout
    if "NVIM v0.1" in version and not any(f"NVIM v0.{n}" in version for n in (11, 12, 13, 14)):
        pytest.skip("directory trust needs Neovim 0.11")
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    probe = tmp_path / "probe.lua"
    probe.write_text(NVIM_PROBE)
    env = {**os.environ, "CNNSHAPE_NVIM": str(ROOT / "editors" / "nvim"), "PROJECT": str(project),
           "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "XDG_DATA_HOME": str(tmp_path / "data")}
    result = subprocess.run([nvim, "--headless", "--clean", "-l", str(probe)], capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["nothing"] == {"cnnshape": {"workspaceTrusted": False}}
    assert out["user_init"] == {"cnnshape": {"input": "(BS, 3, 8, 8)", "workspaceTrusted": False}}
    assert out["shared_after"] == {"cnnshape": {"input": "(BS, 3, 8, 8)"}}  # the user's table is not changed
    assert out["marker"] == {"cnnshape": {"batchName": "N", "workspaceTrusted": True}}
    assert out["marker_changed"] == {"cnnshape": {"workspaceTrusted": False}}  # trusted content changed
    assert out["folder"] == {"cnnshape": {"workspaceTrusted": True}}
    assert (tmp_path / "state" / "nvim" / "trust").read_text().count("\n") == 2


def test_emacs_maps_trusted_content(tmp_path: Path) -> None:
    emacs = shutil.which("emacs")
    if emacs is None:
        pytest.skip("Emacs is not installed (tests/editors/install.sh installs it)")
    version = subprocess.run([emacs, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    if not any(f"GNU Emacs {n}" in version for n in range(30, 40)):
        pytest.skip("trusted-content is new in Emacs 30")
    project = tmp_path / "project"
    project.mkdir()
    probe = tmp_path / "probe.el"
    probe.write_text(EMACS_PROBE)
    env = {**os.environ, "CNNSHAPE_EMACS": str(ROOT / "editors" / "emacs"), "PROJECT": str(project),
           "HOME": str(tmp_path)}
    result = subprocess.run([emacs, "--batch", "-Q", "-l", str(probe)], capture_output=True, text=True, env=env,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["nothing"] == {"cnnshape": {"workspaceTrusted": False}}
    assert out["folder"] == {"cnnshape": {"workspaceTrusted": True}}
    assert out["parent"] == {"cnnshape": {"workspaceTrusted": True}}
    assert out["one_file"] == {"cnnshape": {"workspaceTrusted": False}}  # one trusted file is not the project
    assert out["settings"] == {"cnnshape": {"batchName": "N", "workspaceTrusted": False}}
