// The language server's configuration: the user's initializationOptions are trusted, a workspace's
// .qmp-notebook.json is not (read only, validated, no connections without the user's consent, no files outside
// the workspace, no FIFOs or devices), and schema files are validated before use.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { cacheDirs, isInside, loadCachedSchema, loadSchemaFile, parseTcp, readRegularFile, resolveConfig, schemaFromJson, WORKSPACE_FILE } from '../../src/lsp/config';

describe('lsp configuration', () => {
  let dir: string;
  before(() => { dir = mkdtempSync(path.join(os.tmpdir(), 'qmp-lsp-cfg-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const workspace = (name: string, file: unknown): string => {
    const ws = path.join(dir, name);
    mkdirSync(ws, { recursive: true });
    writeFileSync(path.join(ws, WORKSPACE_FILE), typeof file === 'string' ? file : JSON.stringify(file));
    return ws;
  };

  it('takes the user\'s keys over the workspace\'s, and resolves relative paths against the workspace', () => {
    const ws = workspace('a', { schemaFile: 'ws.json', socket: 'ws.sock' });
    writeFileSync(path.join(ws, 'ws.json'), '[]');
    const c = resolveConfig({ schemaFile: '/abs/user.json', tcp: 'localhost:4444' }, ws);
    assert.deepEqual(c.schemaFile, { path: '/abs/user.json', from: 'user' });
    assert.deepEqual(c.connection, { kind: 'tcp', host: 'localhost', port: 4444, from: 'user' });
    const w = resolveConfig(undefined, ws);
    assert.deepEqual(w.schemaFile, { path: path.join(ws, 'ws.json'), from: 'workspace', root: ws });
  });

  it('reads .qmp-notebook.json by the workspace rule: a symlink out of the workspace is not followed, and no message quotes a file', () => {
    const secret = path.join(dir, 'outside-secret');
    writeFileSync(secret, 'root:*:20202:0:99999:7:::\n');
    const settings = path.join(dir, 'outside-settings.json');
    writeFileSync(settings, JSON.stringify({ schemaFile: 'x.json', sandbox: true }));
    for (const target of [secret, settings]) {
      const ws = path.join(dir, `link-${path.basename(target)}`);
      mkdirSync(ws, { recursive: true });
      symlinkSync(target, path.join(ws, WORKSPACE_FILE));
      writeFileSync(path.join(ws, 'x.json'), '[]');
      const c = resolveConfig({ trustWorkspaceConnections: true }, ws);
      assert.equal(c.schemaFile, undefined);
      assert.equal(c.connection, undefined);
      assert.match(c.warnings.join('\n'), /\.qmp-notebook\.json is not inside the workspace/);
      assert.doesNotMatch(c.warnings.join('\n'), /root:|20202|outside-/);
    }
    // A secret inside the workspace that is not JSON: where it stops being JSON, never what it holds.
    const ws = path.join(dir, 'inner-secret');
    mkdirSync(ws, { recursive: true });
    writeFileSync(path.join(ws, 'shadow'), 'root:*:20202:0:99999:7:::\n');
    symlinkSync(path.join(ws, 'shadow'), path.join(ws, WORKSPACE_FILE));
    const c = resolveConfig({}, ws);
    assert.match(c.warnings.join('\n'), /not JSON \(\w+ at line 1, column 1\)/);
    assert.doesNotMatch(c.warnings.join('\n'), /root|20202/);
    // A symlink to a JSON file inside the workspace is followed.
    const ok = path.join(dir, 'inner-link');
    mkdirSync(path.join(ok, 'conf'), { recursive: true });
    writeFileSync(path.join(ok, 'conf', 'settings.json'), JSON.stringify({ schemaFile: 'conf/settings.json' }));
    symlinkSync(path.join(ok, 'conf', 'settings.json'), path.join(ok, WORKSPACE_FILE));
    assert.equal(resolveConfig({}, ok).schemaFile?.path, path.join(ok, 'conf', 'settings.json'));
  });

  it('reads a workspace schemaFile by the same rule when loading it (a link swapped in later is refused), and never quotes it', () => {
    const ws = path.join(dir, 'swap');
    mkdirSync(ws, { recursive: true });
    writeFileSync(path.join(ws, 'schema.json'), 'root:*:20202:0:99999:7:::');
    assert.throws(() => loadSchemaFile(path.join(ws, 'schema.json'), ws), (err: Error) => /not JSON \(\w+ at line 1/.test(err.message) && !/root|20202/.test(err.message));
    const secret = path.join(dir, 'swap-secret.json');
    writeFileSync(secret, '[{"name": "x", "meta-type": "command"}]');
    rmSync(path.join(ws, 'schema.json'));
    symlinkSync(secret, path.join(ws, 'schema.json'));
    assert.throws(() => loadSchemaFile(path.join(ws, 'schema.json'), ws), /schema\.json is not inside the workspace/);
    // The user's own schemaFile is theirs to name anywhere, but its errors do not quote it either.
    writeFileSync(path.join(dir, 'user-bad.json'), 'secret-text');
    assert.throws(() => loadSchemaFile(path.join(dir, 'user-bad.json')), (err: Error) => !/secret-text/.test(err.message));
  });

  it('uses a workspace connection only when the user trusts workspace connections', () => {
    const kinds = [{ socket: 'q.sock' }, { tcp: '127.0.0.1:1' }, { sandbox: true }, { storageDaemon: true }, { guestAgent: 'qga.sock' },
      { guestAgent: '127.0.0.1:2' }, { libvirt: 'vm1' }, { libvirt: 'vm1', connect: 'qemu:///system' }];
    for (const conn of kinds) {
      const tag = Object.entries(conn).flat().join('-').replace(/[^A-Za-z0-9]/g, '_');
      const ws = workspace(`conn-${tag}`, conn);
      const untrusted = resolveConfig({}, ws);
      assert.equal(untrusted.connection, undefined);
      assert.ok(untrusted.warnings.some((w) => /trustWorkspaceConnections/.test(w)));
      // The workspace cannot trust itself.
      const self = workspace(`self-${tag}`, { ...conn, trustWorkspaceConnections: true });
      assert.equal(resolveConfig({}, self).connection, undefined);
      const trusted = resolveConfig({ trustWorkspaceConnections: true }, ws).connection;
      assert.equal(trusted?.from, 'workspace');
      assert.equal(trusted?.kind, 'tcp' in conn ? 'tcp' : 'socket' in conn ? 'unix' : 'sandbox' in conn ? 'sandbox' : 'storageDaemon' in conn ? 'storage-daemon' : 'guestAgent' in conn ? 'guest-agent' : 'libvirt');
      // A relative guest-agent socket is the workspace's own.
      if (trusted?.kind === 'guest-agent' && trusted.target.kind === 'unix') assert.equal(trusted.target.path, path.join(ws, 'qga.sock'));
      // The user's own connection wins over the workspace's, trusted or not.
      assert.deepEqual(resolveConfig({ trustWorkspaceConnections: true, sandbox: true }, ws).connection, { kind: 'sandbox', from: 'user' });
    }
  });

  it('reads every kind of connection with the CLI\'s names, resolving relative socket paths against the workspace', () => {
    const ws = path.join(dir, 'kinds');
    mkdirSync(ws, { recursive: true });
    const cases: Array<[Record<string, unknown>, unknown]> = [
      [{ socket: 'q.sock' }, { kind: 'unix', path: path.join(ws, 'q.sock') }],
      [{ socket: '/run/q.sock' }, { kind: 'unix', path: '/run/q.sock' }],
      [{ tcp: '[::1]:4444' }, { kind: 'tcp', host: '::1', port: 4444 }],
      [{ sandbox: true }, { kind: 'sandbox' }],
      [{ storageDaemon: true }, { kind: 'storage-daemon' }],
      [{ guestAgent: 'qga.sock' }, { kind: 'guest-agent', target: { kind: 'unix', path: path.join(ws, 'qga.sock') } }],
      [{ guestAgent: 'run/qga.sock' }, { kind: 'guest-agent', target: { kind: 'unix', path: path.join(ws, 'run', 'qga.sock') } }],
      [{ guestAgent: '/var/run/qga.sock' }, { kind: 'guest-agent', target: { kind: 'unix', path: '/var/run/qga.sock' } }],
      [{ guestAgent: 'localhost:4000' }, { kind: 'guest-agent', target: { kind: 'tcp', host: 'localhost', port: 4000 } }],
      [{ libvirt: 'vm1' }, { kind: 'libvirt', domain: 'vm1' }],
      [{ libvirt: 'vm 1', connect: 'qemu:///system' }, { kind: 'libvirt', domain: 'vm 1', uri: 'qemu:///system' }],
      [{ sandbox: false, socket: 'q.sock' }, { kind: 'unix', path: path.join(ws, 'q.sock') }],
      [{ storageDaemon: false }, undefined],
    ];
    for (const [options, expected] of cases) {
      const c = resolveConfig(options, ws);
      assert.deepEqual(c.connection, expected === undefined ? undefined : { ...(expected as object), from: 'user' }, JSON.stringify(options));
      assert.deepEqual(c.warnings, [], JSON.stringify(options));
    }
    // Without a workspace, a relative path is resolved against the working directory.
    assert.deepEqual(resolveConfig({ guestAgent: 'qga.sock' }, undefined).connection, { kind: 'guest-agent', target: { kind: 'unix', path: path.resolve('qga.sock') }, from: 'user' });
  });

  it('refuses two connections, bad values and virsh-hostile domain names with a warning in the configuration\'s words, and connects to nothing', () => {
    const ws = path.join(dir, 'kinds-bad');
    mkdirSync(ws, { recursive: true });
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ socket: 'a', tcp: 'h:1' }, /initializationOptions: give only one of "socket", "tcp"; no connection is used/],
      [{ sandbox: true, storageDaemon: true }, /give only one of "sandbox", "storageDaemon"/],
      [{ guestAgent: 'qga.sock', libvirt: 'vm1' }, /give only one of "guestAgent", "libvirt"/],
      [{ storageDaemon: true, guestAgent: 'h:1', libvirt: 'vm' }, /give only one of "storageDaemon", "guestAgent", "libvirt"/],
      [{ tcp: 'nohost' }, /"tcp" expects HOST:PORT/],
      [{ tcp: 'h:70000' }, /"tcp" expects HOST:PORT/],
      [{ connect: 'qemu:///system' }, /"connect" only applies to "libvirt"/],
      [{ socket: 'q.sock', connect: 'qemu:///system' }, /"connect" only applies to "libvirt"/],
      [{ libvirt: '--help' }, /"libvirt": .*starts with '-'/],
      [{ libvirt: '--domain=other' }, /"libvirt": .*starts with '-'/],
      [{ libvirt: 'a/b' }, /"libvirt": .*contains '\/'/],
      [{ libvirt: 'a\nb' }, /"libvirt": .*one line/],
      [{ libvirt: 'vm1', connect: '-c' }, /"connect" must be a libvirt URI/],
      [{ libvirt: 'vm1', connect: 'qemu:///system\n--x' }, /"connect" must be a libvirt URI/],
      [{ storageDaemon: 'yes' }, /"storageDaemon" must be true or false/],
      [{ guestAgent: 7 }, /"guestAgent" must be a non-empty string/],
      [{ libvirt: '' }, /"libvirt" must be a non-empty string/],
    ];
    for (const [options, warning] of cases) {
      const c = resolveConfig(options, ws);
      assert.equal(c.connection, undefined, JSON.stringify(options));
      assert.match(c.warnings.join('\n'), warning, JSON.stringify(options));
    }
    // The same rules apply to the workspace file, with its name in the warning.
    const file = workspace('kinds-bad-ws', { libvirt: '-x' });
    const c = resolveConfig({ trustWorkspaceConnections: true }, file);
    assert.equal(c.connection, undefined);
    assert.match(c.warnings.join('\n'), /\.qmp-notebook\.json: "libvirt": .*starts with '-'/);
  });

  it('ignores user-only keys in the workspace file', () => {
    const ws = workspace('useronly', { manPage: '/etc/passwd', qemuBinary: '/tmp/evil', cacheDir: '/', trustWorkspaceConnections: true });
    const c = resolveConfig({}, ws);
    assert.deepEqual(c.user, {});
    assert.equal(c.warnings.filter((w) => /only the editor's own configuration/.test(w)).length, 4);
  });

  it('refuses a workspace schemaFile outside the workspace, also through a symlink', () => {
    const outside = path.join(dir, 'outside.json');
    writeFileSync(outside, '[]');
    const ws = workspace('escape', { schemaFile: '../outside.json' });
    assert.equal(resolveConfig({}, ws).schemaFile, undefined);
    const ws2 = workspace('symlink', { schemaFile: 'link.json' });
    symlinkSync(outside, path.join(ws2, 'link.json'));
    assert.equal(resolveConfig({}, ws2).schemaFile, undefined);
    assert.equal(isInside(ws2, path.join(ws2, 'link.json')), false);
    const ws3 = workspace('abs', { schemaFile: '/etc/hostname' });
    assert.equal(resolveConfig({}, ws3).schemaFile, undefined);
  });

  it('never blocks on a FIFO or reads a device, and says why', () => {
    const fifo = path.join(dir, 'fifo');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    assert.throws(() => readRegularFile(fifo, 1024), /not a regular file/);
    assert.throws(() => readRegularFile('/dev/zero', 1024), /not a regular file/);
    const ws = path.join(dir, 'fifo-ws');
    mkdirSync(ws);
    assert.equal(spawnSync('mkfifo', [path.join(ws, WORKSPACE_FILE)]).status, 0);
    const c = resolveConfig({}, ws);
    assert.ok(c.warnings.some((w) => /not a regular file/.test(w)));
    const big = path.join(dir, 'big');
    writeFileSync(big, 'x'.repeat(2048));
    assert.throws(() => readRegularFile(big, 1024), /larger than/);
  });

  it('reports malformed workspace files and values without throwing', () => {
    for (const bad of ['{', '[]', '"x"', 'null', '{"schemaFile": 5, "sandbox": "yes", "tcp": "nohost"}']) {
      const c = resolveConfig({}, workspace(`bad-${bad.length}-${bad.charCodeAt(1)}`, bad));
      assert.equal(c.schemaFile, undefined);
      assert.equal(c.connection, undefined);
      if (bad !== 'null') assert.ok(c.warnings.length > 0, bad);
    }
  });

  it('parses host:port strictly (property: never throws, ports in range)', () => {
    assert.deepEqual(parseTcp('[::1]:4444'), { host: '::1', port: 4444 });
    assert.equal(parseTcp('host:0'), undefined);
    assert.equal(parseTcp('host:65536'), undefined);
    fc.assert(fc.property(fc.string(), (s) => {
      const r = parseTcp(s);
      if (r !== undefined) assert.ok(r.port >= 1 && r.port <= 65535 && r.host !== '');
    }));
  });

  it('validates schema files: a reply, its return array, or the cache format; never a non-schema', () => {
    const infos = [{ name: 'query-status', 'meta-type': 'command', 'arg-type': '0', 'ret-type': '0' }, { name: '0', 'meta-type': 'object', members: [] }];
    assert.ok(schemaFromJson(infos, 'x').command('query-status'));
    assert.ok(schemaFromJson({ return: infos }, 'x').command('query-status'));
    for (const bad of [{}, [], [1], [{ name: 1 }], { return: [{ name: 'a', 'meta-type': 'object' }] }, 'text', null]) {
      assert.throws(() => schemaFromJson(bad, 'x'), /x: /);
    }
  });

  it('finds the extension\'s cache under the usual folders and picks the newest valid file', () => {
    const dirs = cacheDirs(path.join(dir, 'home'), { XDG_CONFIG_HOME: path.join(dir, 'cfg') });
    assert.ok(dirs.includes(path.join(dir, 'cfg', 'Code', 'User', 'globalStorage', 'qmp-notebook.qmp-notebook', 'schemas')));
    const cache = dirs[0] as string;
    mkdirSync(cache, { recursive: true });
    const infos = [{ name: 'cont', 'meta-type': 'command', 'arg-type': '0', 'ret-type': '0' }, { name: '0', 'meta-type': 'object', members: [] }];
    writeFileSync(path.join(cache, 'a.json'), JSON.stringify({ format: 1, profile: 'a', schema: infos }));
    writeFileSync(path.join(cache, 'broken.json'), '{');
    const found = loadCachedSchema(dirs);
    assert.equal(found?.profile, 'a');
    assert.ok(found?.schema.command('cont'));
    assert.equal(loadCachedSchema(dirs, 'nobody'), undefined);
  });
});
