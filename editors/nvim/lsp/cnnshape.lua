-- cnnshape-ls for Neovim 0.11+: PyTorch tensor shapes as inlay hints, shape errors with quick fixes.
--
-- With this folder (editors/nvim) on the 'runtimepath':
--     vim.lsp.enable("cnnshape")
-- Change anything with vim.lsp.config("cnnshape", { ... }), e.g. the settings (the same names as in VS Code,
-- sent both as initializationOptions and as the answer to workspace/configuration):
--     vim.lsp.config("cnnshape", { settings = { cnnshape = { batchName = "N", hints = { style = "arrow" } } } })
-- The interpreter: vim.g.cnnshape_python, else $VIRTUAL_ENV / $CONDA_PREFIX, else python3 on the PATH; it
-- needs `pip install cnnshape-ls`. Neovim 0.10: require("cnnshape").setup() (see README.md).
return require("cnnshape").config()
