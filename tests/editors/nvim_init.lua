-- All a user's init.lua needs for cnnshape-ls (editors/nvim on the runtimepath), plus diagnostics as
-- virtual text, which Neovim 0.11 leaves off by default.
vim.opt.runtimepath:prepend(vim.env.CNNSHAPE_NVIM_RTP)
vim.lsp.enable("cnnshape")
vim.diagnostic.config({ virtual_text = true })
