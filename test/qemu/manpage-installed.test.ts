// The qemu-qmp-ref(7) reader on the man page installed with QEMU (the qemu tier has QEMU, and its manual):
// read at test time, no copy of QEMU's text is committed. Moved out of the unit tier, which must not depend on
// the host.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { performance } from 'node:perf_hooks';
import { findQmpManPage, loadQmpManPage, readManPageFile } from '../../src/language/manpage';
import { fixtureSchema } from '../unit/schemaFixtures';

describe('qemu-qmp-ref(7) reader on the installed man page', () => {
  const file = findQmpManPage();

  test('finds the installed page, reads it gzipped and plain alike', (t) => {
    assert.ok(file, 'qemu-qmp-ref(7) is installed with QEMU 7.2');
    const dir = mkdtempSync(path.join(tmpdir(), 'qmp-man-'));
    chmodSync(dir, 0o700);
    try {
      // The fixture is generated here from the installed page: a plain and a gzipped copy.
      const text = readManPageFile(file);
      writeFileSync(path.join(dir, 'ref.7'), text, { mode: 0o600 });
      writeFileSync(path.join(dir, 'ref.7.gz'), gzipSync(text), { mode: 0o600 });
      const t0 = performance.now();
      const plain = loadQmpManPage(path.join(dir, 'ref.7'));
      t.diagnostic(`parsed in ${(performance.now() - t0).toFixed(1)} ms`);
      const gz = loadQmpManPage(path.join(dir, 'ref.7.gz'));
      assert.ok(plain && gz);
      assert.equal(plain.entities().length, gz.entities().length);
      assert.equal(loadQmpManPage(path.join(dir, 'missing.7')), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('documents every command and event of the 7.2 schema', () => {
    const docs = loadQmpManPage();
    assert.ok(docs);
    assert.match(docs.version ?? '', /^7\.2\./);
    const schema = fixtureSchema('7.2');
    for (const c of schema.commands()) assert.ok(docs.command(c.name), c.name);
    for (const e of schema.events()) assert.ok(docs.event(e.name), e.name);
    const status = docs.command('query-status');
    assert.ok(status && status.summary.length > 5);
    assert.match(status.since ?? '', /^\d+\.\d+/);
    assert.ok(status.examples.some((x) => x.startsWith('-> { "execute": "query-status" }')));
    assert.ok(!/\\f|\\-|\\\(/.test(status.markdown), 'no roff escapes left');
    // blockdev-add documents its arguments on BlockdevOptions and its variants.
    assert.equal(docs.member('blockdev-add', 'node-name')?.optional, true);
    assert.equal(docs.member('blockdev-add', 'size', { driver: 'null-co' })?.type, 'int');
    assert.ok(docs.member('SHUTDOWN', 'reason'));
    assert.ok((docs.type('RunState')?.members.length ?? 0) > 10);
  });
});
