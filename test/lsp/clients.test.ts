// Real third-party LSP clients against the built server: Debian's Neovim (built-in client, headless) and Emacs
// with eglot (batch mode). Each opens a .qmp notebook, asks for completion and hover, waits for diagnostics
// and writes what it got to a JSON file this test reads. Both install through scripts/setup.sh; each run is
// bounded in time.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildCli, repoRoot } from '../support/cliBundle';

const CLIENT_TIMEOUT_MS = 120_000;

interface ClientResult {
  completion?: string[];
  hover?: string;
  diagnostics?: { lnum: number; message: string; code?: string }[];
  errors: string[];
  initialized?: boolean;
}

describe('real LSP clients against qmp-notebook lsp', () => {
  let cli: string;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  const lines = [
    '# Real clients',
    '',
    '```qmp',
    '{"execute": "query-sta"}',
    '```',
    '',
    '```qmp',
    '{"execute": "qurey-status"}',
    '```',
    '',
  ];

  before(async () => {
    cli = await buildCli();
    dir = mkdtempSync(path.join(os.tmpdir(), 'qmp-lsp-clients-'));
    // The workspace names its schema in .qmp-notebook.json (a file inside the workspace: read, never executed).
    copyFileSync(path.join(repoRoot, 'test', 'fixtures', 'qemu-10.0', 'query-qmp-schema.json'), path.join(dir, 'schema.json'));
    writeFileSync(path.join(dir, '.qmp-notebook.json'), JSON.stringify({ schemaFile: 'schema.json' }));
    writeFileSync(path.join(dir, 'demo.qmp'), lines.join('\n'));
    env = {
      ...process.env, HOME: dir, XDG_CONFIG_HOME: path.join(dir, '.config'), XDG_DATA_HOME: path.join(dir, '.local'), XDG_STATE_HOME: path.join(dir, '.state'),
      QMP_LSP_NODE: process.execPath, QMP_LSP_CLI: cli, QMP_LSP_ROOT: dir, QMP_LSP_FILE: path.join(dir, 'demo.qmp'),
      QMP_LSP_LINE: '3', QMP_LSP_COMPLETE_CHAR: String('{"execute": "query-sta'.length), QMP_LSP_HOVER_CHAR: '5',
    };
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const check = (r: ClientResult): void => {
    assert.deepEqual(r.errors, []);
    assert.ok(r.completion?.includes('query-status'), `completion: ${JSON.stringify(r.completion?.slice(0, 10))}`);
    assert.match(r.hover ?? '', /execute/);
    // Both cells name unknown commands (the first is being typed); the second is on line 7 (0-based).
    const d = [...(r.diagnostics ?? [])].sort((a, b) => a.lnum - b.lnum);
    assert.deepEqual(d.map((x) => [x.lnum, x.code]), [[3, 'unknown-command'], [7, 'unknown-command']], JSON.stringify(d));
    assert.match(d[1]?.message ?? '', /qurey-status.*query-status/);
  };

  it('Neovim (headless, built-in client)', () => {
    const out = path.join(dir, 'nvim.json');
    env['QMP_LSP_OUT'] = out;
    const r = spawnSync('nvim', ['--headless', '--clean', '-n', '-c', `luafile ${path.join(repoRoot, 'test', 'lsp', 'clients', 'nvim-client.lua')}`],
      { env, cwd: dir, encoding: 'utf8', timeout: CLIENT_TIMEOUT_MS });
    assert.equal(r.error, undefined, String(r.error));
    let result: ClientResult;
    try {
      result = JSON.parse(readFileSync(out, 'utf8')) as ClientResult;
    } catch (err) {
      assert.fail(`nvim wrote no result (${String(err)}); status ${r.status}; stderr: ${r.stderr}`);
    }
    assert.equal(result.initialized, true);
    check(result);
  });

  it('Emacs (batch, eglot)', () => {
    const out = path.join(dir, 'emacs.json');
    env['QMP_LSP_OUT'] = out;
    const r = spawnSync('emacs', ['--batch', '-l', path.join(repoRoot, 'test', 'lsp', 'clients', 'eglot-client.el')],
      { env, cwd: dir, encoding: 'utf8', timeout: CLIENT_TIMEOUT_MS });
    assert.equal(r.error, undefined, String(r.error));
    let result: ClientResult;
    try {
      result = JSON.parse(readFileSync(out, 'utf8')) as ClientResult;
    } catch (err) {
      assert.fail(`emacs wrote no result (${String(err)}); status ${r.status}; stderr: ${r.stderr}`);
    }
    check(result);
  });
});
