// Live values must not warn about what the notebook itself creates: for every creating row of the table
// (src/qmp/liveRefs.ts), a command that makes a name followed in the same cell by every command that uses a
// name of that kind (or one it implies: the QOM path of an object or a device, a device's backend, a block
// job's id) gets no "has no" warning, in qmp and qmp-shell cells, while the use alone is warned about.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { alsoCreated, liveRefs, type LiveKind, type LiveRef } from '../../src/qmp/liveRefs';
import type { LiveSnapshot } from '../../src/qmp/liveValues';
import { languageService, namesCreatedBy, type LiveLookup } from '../../src/language/service';
import { liveDiagnostics } from '../../src/language/live';
import { fixtureSchema } from './schemaFixtures';

const schema = fixtureSchema('10.0');

/** A connected QEMU that holds nothing at all: every kind listed freshly and empty. */
const empty: LiveLookup = {
  peek(kind: LiveKind): LiveSnapshot {
    return { kind, items: [], stale: false, listable: kind !== 'netdev' };
  },
};

/** Arguments with `value` at `path` (a `*` becomes a one-element array) and `extra` members beside. */
function argsWith(path: readonly string[], value: string, extra: Record<string, string> = {}): Record<string, unknown> {
  const build = (i: number): unknown => {
    if (i === path.length) return value;
    const seg = path[i] as string;
    return seg === '*' ? [build(i + 1)] : { [seg]: build(i + 1) };
  };
  const top = build(0) as Record<string, unknown>;
  return { ...extra, ...top };
}

const cmd = (command: string, args: Record<string, unknown>): string => JSON.stringify({ execute: command, arguments: args });
const warnings = (text: string, created?: ReadonlyMap<LiveKind, ReadonlySet<string>>): string[] =>
  liveDiagnostics('qmp', text, empty, created).filter((d) => d.code === 'unknown-live-value').map((d) => d.message);

interface Case { maker: LiveRef; user: LiveRef; made: string; used: string; extra: Record<string, string> }

/** Every (creating row, using row) pair whose kinds meet, directly or through what the creation implies. */
function cases(): Case[] {
  const out: Case[] = [];
  for (const maker of liveRefs.filter((r) => r.role === 'new')) {
    for (const kind of maker.kinds) {
      const extra: Record<string, string> = maker.command === 'object-add' ? { 'qom-type': 'iothread' } : {};
      if (maker.scopeMember !== undefined) extra[maker.scopeMember] = 'parent0';
      const names = [{ kind, value: 'x0' }, ...alsoCreated(maker.command, kind, 'x0', (m) => extra[m])];
      for (const user of liveRefs.filter((r) => r.role === 'ref')) {
        const hit = names.find((n) => user.kinds.includes(n.kind));
        if (!hit) continue;
        out.push({ maker, user, made: 'x0', used: hit.value, extra });
      }
    }
  }
  return out;
}

describe('names created earlier in the same cell count as existing', () => {
  const all = cases();

  test('the table has creating rows for every kind the issue named, so the class is covered', () => {
    const pairs = new Set(all.map((c) => `${c.maker.command}>${c.user.command}`));
    for (const p of ['blockdev-add>blockdev-del', 'object-add>qom-get', 'object-add>object-del', 'device_add>device_del', 'chardev-add>chardev-remove',
      'block-commit>block-job-cancel', 'block-dirty-bitmap-add>block-dirty-bitmap-remove', 'object-add>x-blockdev-set-iothread']) {
      assert.ok(pairs.has(p), p);
    }
  });

  test('create-then-use in one qmp cell: no warning; the use alone: a warning (every pair of the table)', () => {
    for (const c of all) {
      const scopeExtra: Record<string, string> = c.user.scopeMember !== undefined ? { [c.user.scopeMember]: c.extra[c.maker.scopeMember ?? ''] ?? 'parent0' } : {};
      const use = cmd(c.user.command, argsWith(c.user.path, c.used, scopeExtra));
      const make = cmd(c.maker.command, argsWith(c.maker.path, c.made, c.extra));
      const label = `${c.maker.command} ${c.maker.path.join('.')} then ${c.user.command} ${c.user.path.join('.')}=${c.used}`;
      // Only warnings about the name itself (a scope member such as a bitmap's node is another matter).
      const about = (ws: string[]): string[] => ws.filter((w) => w.includes(`'${c.used}'`));
      assert.deepEqual(about(warnings(`${make}\n${use}`)), [], label);
      // The same through earlier cells (namesCreatedBy), implied names included.
      const created = namesCreatedBy([{ command: c.maker.command, args: argsWith(c.maker.path, c.made, c.extra) }]);
      assert.deepEqual(about(warnings(use, created)), [], `${label} (earlier cell)`);
      // Not vacuous: a use before the creation, or alone, is warned about, unless the kind is not listable
      // or its parent is unknown to the session (nothing to check against).
      if (c.user.kinds.includes('netdev') || c.user.scopeMember !== undefined) continue;
      assert.equal(about(warnings(use)).length, 1, `${label}: alone`);
      assert.equal(about(warnings(`${use}\n${make}`)).length, 1, `${label}: used before it is made`);
    }
  });

  test('the issue\'s cells: blockdev-add then blockdev-del, object-add then /objects/ID, in qmp and qmp-shell', () => {
    const qmp = languageService('qmp')!;
    const shell = languageService('qmp-shell')!;
    const has = (ds: Array<{ code?: string }>): boolean => ds.some((d) => d.code === 'unknown-live-value');
    const blockdev = '{ "execute": "blockdev-add", "arguments": { "driver": "null-co", "node-name": "n0" } }\n' +
      '{ "execute": "blockdev-del", "arguments": { "node-name": "n0" } }';
    assert.equal(has(qmp.diagnose(blockdev, { schema, live: empty })), false);
    const object = '{ "execute": "object-add", "arguments": { "qom-type": "iothread", "id": "io0" } }\n' +
      '{ "execute": "qom-get", "arguments": { "path": "/objects/io0", "property": "poll-max-ns" } }\n' +
      '{ "execute": "qom-list", "arguments": { "path": "/objects/io0/child" } }';
    assert.equal(has(qmp.diagnose(object, { schema, live: empty })), false);
    assert.equal(has(shell.diagnose('blockdev-add driver=null-co node-name=n0\nblockdev-del node-name=n0', { schema, live: empty })), false);
    assert.equal(has(shell.diagnose('object-add qom-type=iothread id=io0\nqom-list path=/objects/io0', { schema, live: empty })), false);
    // A name removed earlier in the cell may be made again without a "taken" warning.
    const taken: LiveLookup = { peek: (kind) => ({ kind, items: kind === 'block-node' ? [{ value: 'n0' }] : [], stale: false, listable: true }) };
    const again = '{ "execute": "blockdev-del", "arguments": { "node-name": "n0" } }\n{ "execute": "blockdev-add", "arguments": { "driver": "null-co", "node-name": "n0" } }';
    assert.deepEqual(qmp.diagnose(again, { schema, live: taken }).filter((d) => d.code === 'live-name-taken'), []);
    assert.equal(qmp.diagnose('{ "execute": "blockdev-add", "arguments": { "driver": "null-co", "node-name": "n0" } }', { schema, live: taken })
      .filter((d) => d.code === 'live-name-taken').length, 1);
  });
});
