// scripts/setup-family.sh takes the Debian mirror for the QEMU 10.0 chroot from apt's own configuration only
// (deb822 *.sources and one-line lists), and fails with a clear message when there is none: no host is built in.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from '../support/cliBundle';

const script = path.join(repoRoot, 'scripts', 'setup-family.sh');
const root = mkdtempSync(path.join(tmpdir(), 'qmp-apt-'));
after(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
function mirror(files: Record<string, string>, list = ''): { code: number | null; out: string; err: string } {
  const dir = path.join(root, String(n++));
  const parts = path.join(dir, 'sources.list.d');
  mkdirSync(parts, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(parts, name), text);
  const sourcesList = path.join(dir, 'sources.list');
  if (list) writeFileSync(sourcesList, list);
  const r = spawnSync('bash', [script, '--print-mirror'], {
    encoding: 'utf8', env: { ...process.env, QMP_APT_SOURCELIST: sourcesList, QMP_APT_SOURCEPARTS: `${parts}/` },
  });
  return { code: r.status, out: r.stdout.trim(), err: r.stderr };
}

describe('setup-family.sh: the mirror comes from apt', () => {
  test('deb822: the first enabled deb source that is not a security archive, continuation lines included', () => {
    assert.equal(mirror({ 'debian.sources': [
      'Types: deb', '# a comment', 'URIs: http://security.example/debian-security', 'Suites: bookworm-security', 'Components: main', '',
      'Types: deb deb-src', 'URIs:', ' http://mirror.example/debian', 'Suites: bookworm', 'Components: main', ''].join('\n') }).out,
    'http://mirror.example/debian');
    assert.equal(mirror({ 'a.sources': 'Enabled: no\nTypes: deb\nURIs: http://off.example/debian\nSuites: x\n\nTypes: deb\nURIs: https://on.example/debian\nSuites: x\n' }).out,
      'https://on.example/debian');
  });

  test('one-line lists, with [options]; deb-src and security lines are not mirrors', () => {
    assert.equal(mirror({ 'only-src.sources': 'Types: deb-src\nURIs: http://src.example/debian\nSuites: x\n' },
      'deb-src http://src.example/debian bookworm main\ndeb http://security.example/debian-security bookworm-security main\n' +
      'deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://list.example/debian bookworm main\n').out, 'http://list.example/debian');
    assert.equal(mirror({ 'extra.list': 'deb http://parts.example/debian bookworm main\n' }).out, 'http://parts.example/debian');
  });

  test('no source: exit 1 with what was looked at and what to do; no host is built into the script', () => {
    const r = mirror({ 'nodesource.sources.disabled': 'Types: deb\nURIs: http://x.example/\n' });
    assert.equal(r.code, 1);
    assert.equal(r.out, '');
    assert.match(r.err, /apt has no Debian 'deb' source to take a mirror from .*QMP_SKIP_QEMU10=1/s);
    assert.doesNotMatch(readFileSync(script, 'utf8'), /deb\.debian\.org|https?:\/\/[a-z0-9.-]+\.(?:org|com|net)\//);
  });
});
