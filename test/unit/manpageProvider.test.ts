// The documentation provider: the man page is found and read asynchronously, once, on first use, and the unit
// tier reads a fixture (test/fixtures/manpage), never the host's /usr/share/man.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileSchemaCache, manPageDocs, readManPage } from '../../src/language/providers';
import { languageService } from '../../src/language/service';
import { fixtureSchema } from './schemaFixtures';

const root = path.resolve(__dirname, '..', '..', '..');
const FIXTURE = path.join(root, 'test', 'fixtures', 'manpage', 'qemu-qmp-ref-mini.7');

describe('man page provider (fixture)', () => {
  test('parses the fixture: commands, events, members through "The members of" references', async () => {
    const docs = await manPageDocs({ file: FIXTURE }).load();
    assert.ok(docs);
    assert.equal(docs.version, '7.2.99');
    assert.match(docs.command('query-status')?.summary ?? '', /Report whether the guest runs/);
    assert.equal(docs.command('query-status')?.since, '0.14');
    assert.ok(docs.command('query-status')?.examples[0]?.startsWith('-> { "execute": "query-status" }'));
    assert.ok(docs.event('STOP'));
    assert.equal(docs.member('blockdev-add', 'node-name')?.optional, true);
    assert.match(docs.member('blockdev-add', 'filename', { driver: 'file' })?.plain ?? '', /host file to open/);
    assert.equal(docs.member('blockdev-add', 'filename', { driver: 'null-co' }), undefined);
  });

  test('lazy and cached: nothing happens until asked, current() never waits, locate runs once', async () => {
    let located = 0;
    const provider = manPageDocs({ locate: () => { located++; return Promise.resolve(FIXTURE); } });
    assert.equal(located, 0);
    assert.equal(provider.current(), undefined); // starts loading in the background
    const [a, b] = await Promise.all([provider.load(), provider.load()]);
    assert.ok(a);
    assert.equal(a, b);
    assert.equal(provider.current(), a);
    assert.equal(located, 1);
  });

  test('gzip by content, a missing page is undefined (and remembered)', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'qmp-man-'));
    chmodSync(dir, 0o700);
    try {
      const gz = path.join(dir, 'ref.7.gz');
      writeFileSync(gz, gzipSync(readFileSync(FIXTURE)), { mode: 0o600 });
      assert.equal(await readManPage(gz), readFileSync(FIXTURE, 'utf8'));
      assert.ok((await manPageDocs({ file: gz }).load())?.command('query-status'));
      assert.equal(await manPageDocs({ file: path.join(dir, 'missing.7') }).load(), undefined);
      let located = 0;
      const none = manPageDocs({ locate: () => { located++; return Promise.resolve(undefined); } });
      assert.equal(await none.load(), undefined);
      assert.equal(await none.load(), undefined);
      assert.equal(located, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the service shows the documentation in hover and completion', async () => {
    const docs = await manPageDocs({ file: FIXTURE }).load();
    const schema = fixtureSchema('7.2');
    const text = '{"execute": "query-status"}';
    const h = languageService('qmp')?.hover(text, text.indexOf('query') + 2, { schema, docs });
    assert.match(h?.contents ?? '', /Report whether the guest runs/);
    const shell = languageService('qmp-shell')?.hover('query-status', 3, { schema, docs });
    assert.match(shell?.contents ?? '', /Report whether the guest runs/);
  });
});

describe('schema cache store (files)', () => {
  test('round trip, private files, unknown keys are undefined', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'qmp-cache-'));
    try {
      const store = fileSchemaCache(path.join(dir, 'cache'));
      assert.equal(await store.read('sandbox'), undefined);
      await store.write('sandbox', '[1]');
      await store.write('../../evil.name', '[2]');
      assert.equal(await store.read('sandbox'), '[1]');
      assert.equal(await store.read('../../evil.name'), '[2]');
      const { statSync, readdirSync } = await import('node:fs');
      assert.equal(statSync(path.join(dir, 'cache')).mode & 0o777, 0o700);
      for (const f of readdirSync(path.join(dir, 'cache'))) {
        assert.equal(statSync(path.join(dir, 'cache', f)).mode & 0o777, 0o600);
        assert.ok(!f.includes('/') && !f.startsWith('.'), f);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
