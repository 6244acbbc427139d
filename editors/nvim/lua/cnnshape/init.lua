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
local function exec(client, bufnr, command, arguments, on_result)
  local cmd = { title = command, command = command, arguments = arguments }
  local handler = function(err, result)
    if err then
      vim.notify("cnnshape: " .. command .. ": " .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
    elseif on_result then
      on_result(result)
    end
  end
  if has_011 then
    client:exec_cmd(cmd, { bufnr = bufnr }, handler)
  else
    client.request("workspace/executeCommand", { command = command, arguments = arguments }, handler, bufnr)
  end
end

local function cnnshape_client(bufnr)
  local get = vim.lsp.get_clients or vim.lsp.get_active_clients
  return get({ bufnr = bufnr, name = "cnnshape" })[1]
end

--- What happens when the server attaches to a buffer: inlay hints on, and the buffer's commands.
function M.on_attach(client, bufnr)
  if vim.g.cnnshape_inlay_hints ~= false and vim.lsp.inlay_hint and vim.lsp.inlay_hint.enable then
    vim.lsp.inlay_hint.enable(true, { bufnr = bufnr })
  end
  local uri = vim.uri_from_bufnr(bufnr)
  vim.api.nvim_buf_create_user_command(bufnr, "CnnshapeAnnotate", function()
    -- The server's "Annotate layer shapes" source action: `# out:` comments on every layer line (u undoes it).
    vim.lsp.buf.code_action({ context = { only = { "source.annotate.cnnshape" }, diagnostics = {} }, apply = true })
  end, { desc = "cnnshape: write # out: comments on every layer line" })
  vim.api.nvim_buf_create_user_command(bufnr, "CnnshapeSummary", function(opts)
    local args = { uri }
    if opts.args ~= "" then
      table.insert(args, opts.args)
    end
    exec(client, bufnr, "cnnshape.showSummary", args, function(text)
      if type(text) == "string" and text ~= "" then
        vim.lsp.util.open_floating_preview(vim.split(text, "\n"), "markdown", { border = "rounded" })
      end
    end)
  end, { nargs = "?", desc = "cnnshape: the model summary (optional: the model's name)" })
  vim.api.nvim_buf_create_user_command(bufnr, "CnnshapeFixAll", function()
    vim.lsp.buf.code_action({ context = { only = { "source.fixAll.cnnshape" }, diagnostics = {} }, apply = true })
  end, { desc = "cnnshape: apply every preferred shape fix of the buffer" })
end

local group = vim.api.nvim_create_augroup("cnnshape", { clear = true })
-- An autocommand rather than config.on_attach, so that a user's own on_attach does not replace it.
vim.api.nvim_create_autocmd("LspAttach", {
  group = group,
  callback = function(ev)
    local client = vim.lsp.get_client_by_id(ev.data.client_id)
    if client and client.name == "cnnshape" then
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
