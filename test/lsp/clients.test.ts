// Real third-party LSP clients against the built server: Debian's Neovim (built-in client, headless) and Emacs
// with eglot (batch mode), each configured by the snippet docs/lsp.md prints (extracted from the page here,
// verbatim, with `qmp-notebook` on PATH). Each opens a .qmp notebook in a subfolder of the project, asks for
// completion and hover, waits for diagnostics, then types prefixes and accepts items as a person does, and
// writes what it got to a JSON file this test reads. Both install through scripts/setup.sh; each run is
// bounded in time.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildCli, repoRoot } from '../support/cliBundle';

const CLIENT_TIMEOUT_MS = 120_000;

interface Typed { prefix: string; want: string; offered: string[]; line?: string }
interface ClientResult {
  typed?: Typed[];
  root?: string;
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
    '```qmp-shell',
    'query-status',
    '```',
    '',
  ];
  /** Typing cases: [line, the prefix typed, the item accepted, the line after accepting]. */
  const typing: Array<[number, string, string, string]> = [
    [3, '{"execute": "query-sta', 'query-status', '{"execute": "query-status"'],
    [3, '{"execute": "blockdev-add", "arguments": {"driver": "nu', 'null-co', '{"execute": "blockdev-add", "arguments": {"driver": "null-co"'],
    [3, '{"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-na', 'node-name', '{"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": ""'],
    [11, 'blockdev-add driver=n', 'null-co', 'blockdev-add driver=null-co'],
    [11, 'query-sta', 'query-status', 'query-status'],
  ];

  /** The first fenced block of `lang` after the heading `heading` in docs/lsp.md. */
  const snippet = (heading: string, lang: string): string => {
    const doc = readFileSync(path.join(repoRoot, 'docs', 'lsp.md'), 'utf8');
    const at = doc.indexOf(heading);
    assert.ok(at >= 0, `docs/lsp.md has no ${heading}`);
    const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)\\n```').exec(doc.slice(at));
    assert.ok(m !== null, `no ${lang} block under ${heading}`);
    return m[1] as string;
  };

  before(async () => {
    cli = await buildCli();
    dir = mkdtempSync(path.join(os.tmpdir(), 'qmp-lsp-clients-'));
    // The workspace names its schema in .qmp-notebook.json (a file inside the workspace: read, never executed).
    copyFileSync(path.join(repoRoot, 'test', 'fixtures', 'qemu-10.0', 'query-qmp-schema.json'), path.join(dir, 'schema.json'));
    writeFileSync(path.join(dir, '.qmp-notebook.json'), JSON.stringify({ schemaFile: 'schema.json' }));
    // The notebook is in a subfolder; the clients start from another folder, so the root is found from the file.
    mkdirSync(path.join(dir, 'notes', 'deep'), { recursive: true });
    mkdirSync(path.join(dir, 'elsewhere'));
    writeFileSync(path.join(dir, 'notes', 'deep', 'demo.qmp'), lines.join('\n'));
    const bin = path.join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(path.join(bin, 'qmp-notebook'), `#!/bin/sh\nexec '${process.execPath}' '${cli}' "$@"\n`);
    chmodSync(path.join(bin, 'qmp-notebook'), 0o755);
    writeFileSync(path.join(dir, 'snippet.lua'), snippet('### Neovim', 'lua'));
    writeFileSync(path.join(dir, 'snippet.el'), snippet('### Emacs', 'elisp'));
    env = {
      ...process.env, PATH: `${bin}:${process.env['PATH'] ?? ''}`, QMP_LSP_TYPING: JSON.stringify(typing.map(([l, p, w]) => [l, p, w])), HOME: dir, XDG_CONFIG_HOME: path.join(dir, '.config'), XDG_DATA_HOME: path.join(dir, '.local'), XDG_STATE_HOME: path.join(dir, '.state'),
      QMP_LSP_NODE: process.execPath, QMP_LSP_CLI: cli, QMP_LSP_ROOT: dir, QMP_LSP_FILE: path.join(dir, 'notes', 'deep', 'demo.qmp'),
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
    // One server for the project: rooted where .qmp-notebook.json is, not where the editor started.
    assert.equal(path.resolve(r.root ?? ''), path.resolve(dir));
    // Typing: the wanted item is offered for the prefix, and accepting it gives the expected line.
    assert.equal(r.typed?.length, typing.length);
    typing.forEach(([, prefix, want, line], i) => {
      const t = r.typed?.[i] as Typed;
      assert.ok(t.offered.includes(want), `${prefix}: ${want} not offered (${JSON.stringify(t.offered.slice(0, 8))})`);
      assert.equal(t.line, line, `${prefix} then ${want}`);
    });
  };

  it('Neovim (headless, built-in client)', () => {
    const out = path.join(dir, 'nvim.json');
    env['QMP_LSP_OUT'] = out;
    const r = spawnSync('nvim', ['--headless', '--clean', '-n', '-c', `luafile ${path.join(dir, 'snippet.lua')}`,
      '-c', `luafile ${path.join(repoRoot, 'test', 'lsp', 'clients', 'nvim-client.lua')}`],
    { env, cwd: path.join(dir, 'elsewhere'), encoding: 'utf8', timeout: CLIENT_TIMEOUT_MS });
    assert.equal(r.error, undefined, String(r.error));
    let result: ClientResult;
    try {
      result = JSON.parse(readFileSync(out, 'utf8')) as ClientResult;
    } catch (err) {
      assert.fail(`nvim wrote no result (${String(err)}); status ${r.status}; stderr: ${r.stderr}`);
    }
    assert.equal(result.initialized, true);
    assert.equal((result as { filetype?: string }).filetype, 'qmp');
    assert.equal((result as { omnifunc?: string }).omnifunc, 'v:lua.vim.lsp.omnifunc');
    check(result);
  });

  it('Emacs (batch, eglot)', () => {
    const out = path.join(dir, 'emacs.json');
    env['QMP_LSP_OUT'] = out;
    // The project: a version-controlled folder (eglot roots at the project.el root).
    mkdirSync(path.join(dir, '.git'), { recursive: true });
    const r = spawnSync('emacs', ['--batch', '-l', 'eglot', '-l', path.join(dir, 'snippet.el'), '-l', path.join(repoRoot, 'test', 'lsp', 'clients', 'eglot-client.el')],
      { env, cwd: path.join(dir, 'elsewhere'), encoding: 'utf8', timeout: CLIENT_TIMEOUT_MS });
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
