// The command line's npm tarball (scripts/pack-cli.mjs) installs with no registry at all and runs: its
// package.json names no dependencies, because the bundle holds them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(__dirname, '..', '..', '..');

test('npm install --offline of the packed CLI works with no registry reachable, and qmp-notebook runs', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'qmp-pack-test-'));
  try {
    const packed = spawnSync(process.execPath, [path.join(root, 'scripts', 'pack-cli.mjs'), '--out', dir], { cwd: root, encoding: 'utf8' });
    assert.equal(packed.status, 0, packed.stderr);
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    assert.ok(tarball, readdirSync(dir).join(', '));
    const prefix = path.join(dir, 'prefix');
    // A registry nobody listens on, an empty cache: any fetch would fail the install.
    const env = { ...process.env, npm_config_registry: 'http://127.0.0.1:9/', npm_config_cache: path.join(dir, 'cache'), npm_config_update_notifier: 'false' };
    const install = spawnSync('npm', ['install', '--offline', '--global', '--no-audit', '--no-fund', '--prefix', prefix, path.join(dir, tarball)], { env, encoding: 'utf8' });
    assert.equal(install.status, 0, `${install.stdout}\n${install.stderr}`);
    const bin = path.join(prefix, 'bin', 'qmp-notebook');
    const version = spawnSync(bin, ['--version'], { encoding: 'utf8' });
    assert.equal(version.status, 0, version.stderr);
    assert.match(version.stdout, /^qmp-notebook \d+\.\d+\.\d+\n$/);
    const help = spawnSync(bin, ['shell', '--help'], { encoding: 'utf8' });
    assert.match(help.stdout, /^Usage:\n {2}qmp-notebook shell /);
    // The language server and the MCP server are files of their own beside cli.js, shipped and loaded for
    // their subcommand only.
    const installed = path.join(prefix, 'lib', 'node_modules', 'qmp-notebook', 'dist');
    assert.deepEqual(readdirSync(installed).sort(), ['cli-lsp.js', 'cli-mcp.js', 'cli.js']);
    for (const sub of ['lsp', 'mcp']) {
      const usage = spawnSync(bin, [sub, '--help'], { encoding: 'utf8' });
      assert.equal(usage.status, 0, usage.stderr);
      assert.match(usage.stdout + usage.stderr, new RegExp(`Usage: qmp-notebook ${sub} `));
    }
    rmSync(path.join(installed, 'cli-lsp.js'));
    const without = spawnSync(bin, ['lsp', '--help'], { encoding: 'utf8' });
    assert.equal(without.status, 2, 'cli.js does not carry the language server itself');
    assert.match(without.stderr, /^qmp-notebook: cannot load the language server: Cannot find module '.*cli-lsp\.js'( imported from \S+)?\n$/);
    const still = spawnSync(bin, ['--version'], { encoding: 'utf8' });
    assert.equal(still.status, 0, 'every other subcommand runs without it');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
