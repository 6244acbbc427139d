-- Headless Neovim with editors/nvim on the runtimepath and nothing else. Usage:
--   nvim --headless --clean --cmd "set rtp^=editors/nvim" -l nvim_probe.lua FILE REPORT.json [enable|legacy]
-- Starts cnnshape-ls the way a user would (vim.lsp.enable, or setup() as on Neovim 0.10), then reads back
-- what Neovim draws and does: inlay hint extmarks, diagnostics, hover, the preferred code action (applied
-- and written), :CnnshapeAnnotate. Writes REPORT.json; the assertions are in test_neovim.py.
local file, report_path, mode = arg[1], arg[2], arg[3] or "enable"
local report = { mode = mode, errors = {} }
local uv = vim.uv or vim.loop
local t0 = uv.hrtime()
local function log(msg)
  io.stdout:write(string.format("[nvim %.1fs] %s\n", (uv.hrtime() - t0) / 1e9, msg))
end
local function save()
  local f = assert(io.open(report_path, "w"))
  f:write(vim.json.encode(report))
  f:close()
end
local function fail(what)
  table.insert(report.errors, what)
  log("FAIL " .. what)
end

local v = vim.version()
report.nvim = string.format("%d.%d.%d", v.major, v.minor, v.patch)

-- Settings as a user writes them (the test passes them as JSON): the same names as in VS Code.
local settings = vim.env.CNNSHAPE_PROBE_SETTINGS and vim.json.decode(vim.env.CNNSHAPE_PROBE_SETTINGS) or nil
if mode == "legacy" then
  require("cnnshape").setup({ legacy = true, settings = settings and { cnnshape = settings } or nil })
else
  if settings then
    vim.lsp.config("cnnshape", { settings = { cnnshape = settings } })
  end
  if vim.env.CNNSHAPE_SERVER then
    -- the executable `pipx install .` made, as docs/editors.md says to point the config at it
    vim.lsp.config("cnnshape", { cmd = { vim.env.CNNSHAPE_SERVER } })
  end
  vim.lsp.enable("cnnshape")
end
vim.cmd.edit(vim.fn.fnameescape(file))
local bufnr = vim.api.nvim_get_current_buf()
report.filetype = vim.bo[bufnr].filetype

local client
local started = vim.wait(30000, function()
  client = require("cnnshape").client(bufnr)
  return client ~= nil and client.initialized and client.server_capabilities ~= nil
    and client.server_capabilities.inlayHintProvider ~= nil
end, 50)
if not started then
  fail("the cnnshape client did not attach and initialize")
  save()
  vim.cmd("qall!")
end
report.client = { name = client.name, cmd = client.config.cmd, server = client.server_info,
  offset_encoding = client.offset_encoding }
report.inlay_hints_enabled = vim.lsp.inlay_hint.is_enabled({ bufnr = bufnr })
report.hint_highlight = vim.api.nvim_get_hl(0, { name = "LspInlayHint", link = false })
log("attached: " .. vim.inspect(client.config.cmd))

-- The hints as Neovim draws them: virtual text extmarks in the inlay hint namespace.
local function hint_extmarks()
  vim.cmd("redraw!")
  local ns = vim.api.nvim_get_namespaces()["nvim.lsp.inlayhint"] or vim.api.nvim_get_namespaces()["vim_lsp_inlayhint"]
  if not ns then
    return {}
  end
  local out = {}
  for _, m in ipairs(vim.api.nvim_buf_get_extmarks(bufnr, ns, 0, -1, { details = true })) do
    local text = {}
    for _, chunk in ipairs(m[4].virt_text or {}) do
      table.insert(text, chunk[1])
    end
    table.insert(out, { line = m[2], col = m[3], text = table.concat(text), pos = m[4].virt_text_pos })
  end
  return out
end
local marks = {}
vim.wait(30000, function()
  marks = hint_extmarks()
  return #marks >= 5
end, 100)
report.hints = marks
log(#marks .. " hint extmarks")

-- A file with no error (CNNSHAPE_PROBE_HOVER set: the shared-blocks test) waits for none and fixes none.
local hover_at = vim.env.CNNSHAPE_PROBE_HOVER
local expects_error = hover_at == nil

-- Diagnostics, pushed or pulled, as vim.diagnostic holds them.
vim.wait(expects_error and 30000 or 0, function()
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    if d.severity == vim.diagnostic.severity.ERROR then
      return true
    end
  end
  return false
end, 100)
report.diagnostics = {}
for _, d in ipairs(vim.diagnostic.get(bufnr)) do
  table.insert(report.diagnostics, { lnum = d.lnum, col = d.col, end_col = d.end_col, severity = d.severity,
    message = d.message, code = d.code, source = d.source })
end
log(#report.diagnostics .. " diagnostics")

-- Hover on conv1's Conv2d (line 10), or where CNNSHAPE_PROBE_HOVER ("line,character", 0-based) says.
local hover_line, hover_char = 9, 20
if hover_at then
  hover_line, hover_char = hover_at:match("(%d+),(%d+)")
  hover_line, hover_char = tonumber(hover_line), tonumber(hover_char)
end
local hover = vim.lsp.buf_request_sync(bufnr, "textDocument/hover", {
  textDocument = { uri = vim.uri_from_bufnr(bufnr) }, position = { line = hover_line, character = hover_char } },
  10000)
for _, r in pairs(hover or {}) do
  if r.result and r.result.contents then
    local c = r.result.contents
    report.hover = type(c) == "table" and (c.value or vim.json.encode(c)) or c
  end
end

if not expects_error then
  report.done = true
  save()
  vim.cmd("qall!")
end

-- The preferred quick fix on fc2's in_features (line 19), applied as a user would, then :write.
vim.api.nvim_win_set_cursor(0, { 19, 22 })
local before = vim.api.nvim_buf_get_lines(bufnr, 18, 19, false)[1]
vim.lsp.buf.code_action({
  context = { only = { "quickfix" } },
  filter = function(action)
    report.actions = report.actions or {}
    table.insert(report.actions, { title = action.title, kind = action.kind, preferred = action.isPreferred })
    return action.isPreferred == true
  end,
  apply = true,
})
vim.wait(10000, function()
  return vim.api.nvim_buf_get_lines(bufnr, 18, 19, false)[1] ~= before
end, 50)
report.fixed_line = vim.api.nvim_buf_get_lines(bufnr, 18, 19, false)[1]
vim.cmd("silent write")
-- The error goes once the server has analyzed the new text.
report.error_cleared = vim.wait(15000, function()
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    if d.severity == vim.diagnostic.severity.ERROR then
      return false
    end
  end
  return true
end, 100)
log("fixed: " .. tostring(report.fixed_line))

-- :CnnshapeAnnotate (the server's source.annotate.cnnshape action); then throw the change away.
local ok, err = pcall(vim.cmd, "CnnshapeAnnotate")
if not ok then
  fail("CnnshapeAnnotate: " .. tostring(err))
end
vim.wait(10000, function()
  return (vim.api.nvim_buf_get_lines(bufnr, 10, 11, false)[1] or ""):find("# out:", 1, true) ~= nil
end, 50)
report.annotated = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
vim.cmd("silent edit!")

-- The server's own command, cnnshape.annotate, through workspace/executeCommand and workspace/applyEdit.
local answered = false
client:exec_cmd({ title = "annotate", command = "cnnshape.annotate", arguments = { vim.uri_from_bufnr(bufnr) } },
  { bufnr = bufnr }, function(e, result)
    report.command_annotate = { error = e and e.message or vim.NIL, result = result or vim.NIL }
    answered = true
  end)
vim.wait(10000, function()
  return answered and (not report.command_annotate.result or report.command_annotate.result == vim.NIL
    or report.command_annotate.result.applied ~= true or vim.bo[bufnr].modified)
end, 50)
report.command_annotate_modified = vim.bo[bufnr].modified
vim.cmd("silent edit!")

-- :CnnshapeSummary: the table `cnnshape check` prints, once, in a float (and nothing in the messages).
local messages_before = vim.fn.execute("messages")
local cnnshape = require("cnnshape")
vim.cmd("CnnshapeSummary")
vim.wait(10000, function()
  return cnnshape.summary_window ~= nil and vim.api.nvim_win_is_valid(cnnshape.summary_window)
end, 50)
local floats = 0
for _, win in ipairs(vim.api.nvim_list_wins()) do
  if vim.api.nvim_win_get_config(win).relative ~= "" then
    floats = floats + 1
  end
end
report.summary_floats = floats
if cnnshape.summary_window and vim.api.nvim_win_is_valid(cnnshape.summary_window) then
  report.summary = vim.api.nvim_buf_get_lines(vim.api.nvim_win_get_buf(cnnshape.summary_window), 0, -1, false)
  report.summary_height = vim.api.nvim_win_get_height(cnnshape.summary_window)
end
report.summary_messages = vim.fn.execute("messages") ~= messages_before

-- The code lens over the model runs the same command: vim.lsp.codelens.run() on its line shows the float.
if cnnshape.summary_window and vim.api.nvim_win_is_valid(cnnshape.summary_window) then
  vim.api.nvim_win_close(cnnshape.summary_window, true)
end
vim.api.nvim_set_current_buf(bufnr)
vim.lsp.codelens.refresh({ bufnr = bufnr })
local lenses = {}
vim.wait(10000, function()
  lenses = vim.lsp.codelens.get(bufnr)
  return #lenses > 0
end, 50)
if #lenses > 0 then
  vim.api.nvim_win_set_cursor(0, { lenses[1].range.start.line + 1, 0 })
  vim.lsp.codelens.run()
  vim.wait(10000, function()
    return cnnshape.summary_window ~= nil and vim.api.nvim_win_is_valid(cnnshape.summary_window)
  end, 50)
  if vim.api.nvim_win_is_valid(cnnshape.summary_window) then
    report.lens_summary = vim.api.nvim_buf_get_lines(vim.api.nvim_win_get_buf(cnnshape.summary_window), 0, 1, false)[1]
  end
end

-- Quit as a user would; Neovim stops the server (the test checks no process is left).
report.done = true
save()
vim.cmd("qall!")
