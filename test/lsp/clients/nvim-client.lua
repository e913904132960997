-- Drives Neovim's built-in LSP client (0.7+) against `qmp-notebook lsp`, headless. The test
-- (test/lsp/clients.test.ts) sets QMP_LSP_* and reads the JSON this writes. Every wait is bounded.
local env = vim.env
local result = { errors = {} }
local function finish()
  local f = io.open(env.QMP_LSP_OUT, 'w')
  f:write(vim.fn.json_encode(result))
  f:close()
  vim.cmd('qa!')
end
local ok, err = pcall(function()
  vim.cmd('edit ' .. vim.fn.fnameescape(env.QMP_LSP_FILE))
  local bufnr = vim.api.nvim_get_current_buf()
  local client_id = vim.lsp.start_client({
    name = 'qmp-notebook',
    cmd = { env.QMP_LSP_NODE, env.QMP_LSP_CLI, 'lsp', '--stdio' },
    root_dir = env.QMP_LSP_ROOT,
  })
  vim.lsp.buf_attach_client(bufnr, client_id)
  result.initialized = vim.wait(20000, function()
    local c = vim.lsp.get_client_by_id(client_id)
    return c ~= nil and c.initialized == true
  end, 50)
  local uri = vim.uri_from_bufnr(bufnr)
  local line = tonumber(env.QMP_LSP_LINE)
  local completion = vim.lsp.buf_request_sync(bufnr, 'textDocument/completion',
    { textDocument = { uri = uri }, position = { line = line, character = tonumber(env.QMP_LSP_COMPLETE_CHAR) } }, 20000)
  result.completion = {}
  for _, r in pairs(completion or {}) do
    local items = r.result and (r.result.items or r.result) or {}
    for _, item in ipairs(items) do table.insert(result.completion, item.label) end
  end
  local hover = vim.lsp.buf_request_sync(bufnr, 'textDocument/hover',
    { textDocument = { uri = uri }, position = { line = line, character = tonumber(env.QMP_LSP_HOVER_CHAR) } }, 20000)
  for _, r in pairs(hover or {}) do
    if r.result and r.result.contents then result.hover = r.result.contents.value or r.result.contents end
  end
  vim.wait(20000, function() return #vim.diagnostic.get(bufnr) > 0 end, 50)
  result.diagnostics = {}
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    table.insert(result.diagnostics, { lnum = d.lnum, col = d.col, message = d.message, code = d.code })
  end
  vim.lsp.stop_client(client_id)
  vim.wait(5000, function() return vim.lsp.get_client_by_id(client_id) == nil end, 50)
end)
if not ok then table.insert(result.errors, tostring(err)) end
finish()
