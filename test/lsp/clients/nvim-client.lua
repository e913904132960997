-- Drives Neovim's built-in LSP client (0.7+) against `qmp-notebook lsp`, headless, configured by the snippet of
-- docs/lsp.md (the test loads it first, verbatim). The test (test/lsp/clients.test.ts) sets QMP_LSP_* and reads
-- the JSON this writes. It asks for completion and hover, waits for diagnostics, then types like a person: a
-- prefix in insert mode, <C-x><C-o> (the snippet's omnifunc), the wanted item picked with <C-n> and <C-y>.
-- Typing needs Neovim's main loop, so the steps run from timers. Every wait is bounded.
local env = vim.env
local result = { errors = {}, typed = {} }
local function finish()
  local f = io.open(env.QMP_LSP_OUT, 'w')
  f:write(vim.fn.json_encode(result))
  f:close()
  vim.cmd('qa!')
end
local function fail(err)
  table.insert(result.errors, tostring(err))
  finish()
end
-- A bound on the whole run.
vim.defer_fn(function() fail('timed out') end, 100000)

local function keys(s) return vim.api.nvim_replace_termcodes(s, true, false, true) end

-- Polls `pred` every 50 ms until it holds (then calls `next`) or `secs` pass (then fails with `what`).
local function poll(pred, secs, what, next)
  local deadline = vim.loop.now() + secs * 1000
  local function step()
    local ok, v = pcall(pred)
    if ok and v then return next() end
    if vim.loop.now() > deadline then return fail('no ' .. what) end
    vim.defer_fn(step, 50)
  end
  step()
end

local ok, err = pcall(function()
  vim.o.completeopt = 'menuone,noselect'
  vim.cmd('edit ' .. vim.fn.fnameescape(env.QMP_LSP_FILE))
  local bufnr = vim.api.nvim_get_current_buf()
  result.filetype = vim.bo[bufnr].filetype
  result.omnifunc = vim.bo[bufnr].omnifunc
  local function client()
    local _, c = next(vim.lsp.buf_get_clients(bufnr))
    return c
  end
  poll(function() local c = client() return c ~= nil and c.initialized == true end, 20, 'initialized client', function()
    result.initialized = true
    local c = client()
    result.root = c.config.root_dir
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
    poll(function() return #vim.diagnostic.get(bufnr) >= 2 end, 20, 'diagnostics', function()
      result.diagnostics = {}
      for _, d in ipairs(vim.diagnostic.get(bufnr)) do
        table.insert(result.diagnostics, { lnum = d.lnum, col = d.col, message = d.message, code = d.code })
      end
      -- Typing: each case is {line (0-based), prefix, the item to accept}.
      local cases = vim.fn.json_decode(env.QMP_LSP_TYPING)
      local original = vim.api.nvim_buf_get_lines(bufnr, 0, -1, false)
      local k = 0
      local function next_case()
        k = k + 1
        local case = cases[k]
        if case == nil then
          local id = c.id
          vim.lsp.stop_client(id)
          return poll(function() return vim.lsp.get_client_by_id(id) == nil end, 5, 'client stop', finish)
        end
        vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, original)
        vim.api.nvim_buf_set_lines(bufnr, case[1], case[1] + 1, false, { case[2] })
        vim.api.nvim_win_set_cursor(0, { case[1] + 1, 0 })
        local entry = { prefix = case[2], want = case[3], offered = {} }
        table.insert(result.typed, entry)
        vim.api.nvim_feedkeys(keys('A<C-x><C-o>'), 'n', false)
        poll(function() return vim.fn.pumvisible() == 1 or #vim.fn.complete_info({ 'items' }).items > 0 end, 10, 'completion menu for ' .. case[2], function()
          local items = vim.fn.complete_info({ 'items' }).items
          local pick = nil
          for i, item in ipairs(items) do
            table.insert(entry.offered, item.abbr)
            if item.abbr == case[3] and pick == nil then pick = i end
          end
          if pick == nil then
            vim.api.nvim_feedkeys(keys('<C-e><Esc>'), 'n', false)
          else
            vim.api.nvim_feedkeys(keys(string.rep('<C-n>', pick) .. '<C-y><Esc>'), 'n', false)
          end
          poll(function() return vim.fn.mode() == 'n' end, 5, 'normal mode', function()
            entry.line = vim.api.nvim_buf_get_lines(bufnr, case[1], case[1] + 1, false)[1]
            next_case()
          end)
        end)
      end
      next_case()
    end)
  end)
end)
if not ok then fail(err) end
