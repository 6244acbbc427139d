-- cnnshape-ls for Neovim: the client configuration (lsp/cnnshape.lua), what happens at attach (inlay hints
-- on, buffer commands), and setup() for Neovim 0.10, which has no vim.lsp.config / vim.lsp.enable.
local M = {}

local has_011 = vim.fn.has("nvim-0.11") == 1

--- The interpreter that runs `python -m cnnshape_ls`.
function M.python()
  if type(vim.g.cnnshape_python) == "string" and vim.g.cnnshape_python ~= "" then
    return vim.fn.expand(vim.g.cnnshape_python)
  end
  for _, prefix in ipairs({ vim.env.VIRTUAL_ENV, vim.env.CONDA_PREFIX }) do
    if prefix and prefix ~= "" then
      for _, exe in ipairs({ prefix .. "/bin/python", prefix .. "/Scripts/python.exe" }) do
        if vim.fn.executable(exe) == 1 then
          return exe
        end
      end
    end
  end
  return vim.fn.executable("python3") == 1 and "python3" or "python"
end

--- The `cnnshape` settings section of a client configuration (never a Lua list: {} would be sent as []).
local function section(config)
  local s = config and config.settings and config.settings.cnnshape
  if type(s) ~= "table" or vim.tbl_isempty(s) then
    return vim.empty_dict()
  end
  return s
end

local ROOT_MARKERS = { "pyproject.toml", "setup.py", "setup.cfg", "requirements.txt", ".git" }
-- Files whose trusted content (`:trust` while editing them) trusts the project folder they are in.
local TRUST_MARKERS = { ".nvim.lua", ".nvimrc", ".exrc", "pyproject.toml", "setup.py", "setup.cfg", "requirements.txt" }

--- The trust database of vim.secure ($XDG_STATE_HOME/nvim/trust, written by `:trust`): path -> hash.
local function trust_database()
  local db = {}
  local f = io.open(vim.fn.stdpath("state") .. "/trust", "r")
  if not f then
    return db
  end
  for line in f:lines() do
    local hash, file = line:match("^(%S+) (.+)$")
    if hash and file then
      db[file] = hash
    end
  end
  f:close()
  return db
end

--- Whether Neovim's trust database trusts the project at `root`: the folder itself (`:trust` in a listing of
--- it, Neovim 0.11) or one of its marker files (.nvim.lua, pyproject.toml, ...) as it is now (`:trust`
--- while editing it: the hash must still match). Reads the database like vim.secure.read, but never prompts.
function M.trusted(root)
  local real = type(root) == "string" and root ~= "" and vim.uv.fs_realpath(root) or nil
  if not real then
    return false
  end
  local db = trust_database()
  if db[real] == "directory" then
    return true
  end
  for _, marker in ipairs(TRUST_MARKERS) do
    local path = real .. "/" .. marker
    local hash = db[path]
    if hash and hash ~= "!" and hash ~= "directory" then
      local f = io.open(path, "rb")
      if f then
        local contents = f:read("*a")
        f:close()
        if contents and vim.fn.sha256(contents) == hash then
          return true
        end
      end
    end
  end
  return false
end

--- The project folder of a starting client.
local function root_of(params, config)
  if type(config.root_dir) == "string" then
    return config.root_dir
  end
  local uri = params.rootUri
  if type(uri) == "string" and uri ~= "" then
    return vim.uri_to_fname(uri)
  end
  return nil
end

--- The client configuration: what lsp/cnnshape.lua returns, and what setup() starts on Neovim 0.10.
function M.config()
  return {
    cmd = { M.python(), "-m", "cnnshape_ls" },
    filetypes = { "python" },
    root_markers = ROOT_MARKERS,
    settings = { cnnshape = vim.empty_dict() },
    -- The same settings reach the server as initializationOptions and through workspace/configuration, and
    -- the initializationOptions say whether the project is trusted: torch verification runs the model code,
    -- so the server runs it only when `workspaceTrusted` is true. It comes from Neovim's trust database
    -- (`:trust`), unless your own init_options set cnnshape.workspaceTrusted.
    before_init = function(params, config)
      local options = params.initializationOptions
      if options == nil or options == vim.NIL then
        options = { cnnshape = section(config) }
      else
        options = vim.tbl_extend("force", {}, options) -- a copy: config.init_options is shared by every client
      end
      local given = type(options.cnnshape) == "table" and options.cnnshape or {}
      if type(given.workspaceTrusted) ~= "boolean" then
        options.cnnshape = vim.tbl_extend("force", {}, given, { workspaceTrusted = M.trusted(root_of(params, config)) })
      end
      params.initializationOptions = options
    end,
  }
end

--- Send workspace/executeCommand for a cnnshape command of the server.
--- (A request, not client:exec_cmd, which would call the vim.lsp.commands handler below for showSummary.)
local function exec(client, bufnr, command, arguments, on_result)
  local params = { command = command, arguments = arguments }
  local handler = function(err, result)
    if err then
      vim.notify("cnnshape: " .. command .. ": " .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
    elseif on_result then
      on_result(result)
    end
  end
  if has_011 then
    client:request("workspace/executeCommand", params, handler, bufnr)
  else
    client.request("workspace/executeCommand", params, handler, bufnr)
  end
end

local function cnnshape_client(bufnr)
  local get = vim.lsp.get_clients or vim.lsp.get_active_clients
  return get({ bufnr = bufnr, name = "cnnshape" })[1]
end

--- A terminal colour for the inlay hints when the colour scheme gives them none. Neovim's default links
--- LspInlayHint to NonText, which has only a gui colour: without 'termguicolors' (tmux, xterm) the hints
--- would draw in the normal foreground, like code the user wrote. Grey 244 reads as an annotation on a dark
--- or a light background; a colour scheme that sets one keeps it.
function M.hint_highlight()
  local hl = vim.api.nvim_get_hl(0, { name = "LspInlayHint", link = false })
  if hl.ctermfg ~= nil then
    return
  end
  hl.ctermfg = 244
  hl.cterm = vim.tbl_extend("force", hl.cterm or {}, { italic = true })
  hl.default = nil
  vim.api.nvim_set_hl(0, "LspInlayHint", hl)
end

--- The summary `cnnshape check` prints (the per-layer table of each model), once, in a float.
function M.show_summary(client, bufnr, model)
  local args = { vim.uri_from_bufnr(bufnr) }
  if model and model ~= "" then
    table.insert(args, model)
  end
  exec(client, bufnr, "cnnshape.showSummary", args, function(text)
    if type(text) ~= "string" or text == "" then
      vim.notify("cnnshape: no model found in this buffer", vim.log.levels.INFO)
      return
    end
    local lines = vim.split(text, "\n", { plain = true })
    local width = 0
    for _, line in ipairs(lines) do
      width = math.max(width, vim.fn.strdisplaywidth(line))
    end
    if M.summary_window and vim.api.nvim_win_is_valid(M.summary_window) then
      vim.api.nvim_win_close(M.summary_window, true) -- one summary at a time
    end
    -- A float in the middle of the editor, as tall as the table (the whole table when the screen has room),
    -- focused so it can be scrolled; q or <Esc> closes it, as leaving it does.
    local buf = vim.api.nvim_create_buf(false, true)
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
    vim.bo[buf].modifiable = false
    vim.bo[buf].bufhidden = "wipe"
    local w = math.max(20, math.min(width + 1, vim.o.columns - 4))
    local h = math.max(1, math.min(#lines, vim.o.lines - 4))
    M.summary_window = vim.api.nvim_open_win(buf, true, {
      relative = "editor", row = math.max(0, math.floor((vim.o.lines - h) / 2) - 1),
      col = math.max(0, math.floor((vim.o.columns - w) / 2)), width = w, height = h,
      style = "minimal", border = "rounded", title = " cnnshape summary ", title_pos = "center",
    })
    for _, key in ipairs({ "q", "<Esc>" }) do
      vim.keymap.set("n", key, "<cmd>close<cr>", { buffer = buf, nowait = true, desc = "close the summary" })
    end
    local win = M.summary_window
    vim.api.nvim_create_autocmd("WinLeave", { buffer = buf, once = true, callback = function()
      vim.schedule(function() -- not from inside WinLeave, which may not change the layout
        if vim.api.nvim_win_is_valid(win) then
          vim.api.nvim_win_close(win, true)
        end
      end)
    end })
  end)
end

--- What happens when the server attaches to a buffer: inlay hints on, and the buffer's commands.
function M.on_attach(client, bufnr)
  if vim.g.cnnshape_inlay_hints ~= false and vim.lsp.inlay_hint and vim.lsp.inlay_hint.enable then
    vim.lsp.inlay_hint.enable(true, { bufnr = bufnr })
  end
  M.hint_highlight()
  vim.api.nvim_buf_create_user_command(bufnr, "CnnshapeAnnotate", function()
    -- The server's "Annotate layer shapes" source action: `# out:` comments on every layer line (u undoes it).
    vim.lsp.buf.code_action({ context = { only = { "source.annotate.cnnshape" }, diagnostics = {} }, apply = true })
  end, { desc = "cnnshape: write # out: comments on every layer line" })
  vim.api.nvim_buf_create_user_command(bufnr, "CnnshapeSummary", function(opts)
    M.show_summary(client, bufnr, opts.args)
  end, { nargs = "?", desc = "cnnshape: the per-layer summary of the models (optional: the model's name)" })
  vim.api.nvim_buf_create_user_command(bufnr, "CnnshapeFixAll", function()
    vim.lsp.buf.code_action({ context = { only = { "source.fixAll.cnnshape" }, diagnostics = {} }, apply = true })
  end, { desc = "cnnshape: apply every preferred shape fix of the buffer" })
end

-- The server's code lens runs cnnshape.showSummary, whose answer is the table: show it (vim.lsp.codelens.run()
-- looks here before asking the server, which would answer to no one).
vim.lsp.commands["cnnshape.showSummary"] = function(command, ctx)
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  if client then
    M.show_summary(client, ctx.bufnr, (command.arguments or {})[2])
  end
end

local group = vim.api.nvim_create_augroup("cnnshape", { clear = true })
-- A new colour scheme may again leave the hints without a terminal colour.
vim.api.nvim_create_autocmd("ColorScheme", { group = group, callback = function()
  if M.client_attached then
    M.hint_highlight()
  end
end })
-- An autocommand rather than config.on_attach, so that a user's own on_attach does not replace it.
vim.api.nvim_create_autocmd("LspAttach", {
  group = group,
  callback = function(ev)
    local client = vim.lsp.get_client_by_id(ev.data.client_id)
    if client and client.name == "cnnshape" then
      M.client_attached = true
      M.on_attach(client, ev.buf)
    end
  end,
})

--- Neovim 0.10 (or `legacy = true`): start the server with vim.lsp.start for every Python buffer.
--- Neovim 0.11+: the same as vim.lsp.config("cnnshape", opts) and vim.lsp.enable("cnnshape").
function M.setup(opts)
  opts = vim.deepcopy(opts or {})
  local legacy = opts.legacy
  opts.legacy = nil
  if has_011 and vim.lsp.enable and not legacy then
    if next(opts) then
      vim.lsp.config("cnnshape", opts)
    end
    vim.lsp.enable("cnnshape")
    return
  end
  local config = vim.tbl_deep_extend("force", M.config(), opts)
  local filetypes, markers = config.filetypes, config.root_markers
  config.filetypes, config.root_markers = nil, nil
  config.name = "cnnshape"
  local function start(bufnr)
    local file = vim.api.nvim_buf_get_name(bufnr)
    if vim.bo[bufnr].buftype ~= "" then
      return
    end
    local root = (vim.fs.root and vim.fs.root(bufnr, markers)) or vim.fs.dirname(file)
    vim.lsp.start(vim.tbl_extend("force", config, { root_dir = root }), { bufnr = bufnr })
  end
  vim.api.nvim_create_autocmd("FileType", {
    group = vim.api.nvim_create_augroup("cnnshape.start", { clear = true }),
    pattern = filetypes,
    callback = function(ev)
      start(ev.buf)
    end,
  })
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) and vim.tbl_contains(filetypes, vim.bo[bufnr].filetype) then
      start(bufnr)
    end
  end
end

M.client = cnnshape_client

return M
