-- All a user's init.lua needs for cnnshape-ls (editors/nvim on the runtimepath), plus diagnostics as
-- virtual text, which Neovim 0.11 leaves off by default.
vim.opt.runtimepath:prepend(vim.env.CNNSHAPE_NVIM_RTP)
if vim.env.CNNSHAPE_SERVER then  -- where `pipx install .` put the server (docs/editors.md)
  vim.lsp.config("cnnshape", { cmd = { vim.env.CNNSHAPE_SERVER } })
end
vim.lsp.enable("cnnshape")
vim.diagnostic.config({ virtual_text = true })
