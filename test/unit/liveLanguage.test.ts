// The live-value language features (src/language/live.ts through the language service): completion, warnings
// and hovers from a session's cached values, in qmp and qmp-shell cells.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LiveKind } from '../../src/qmp/liveRefs';
import type { LiveSnapshot } from '../../src/qmp/liveValues';
import { languageService, liveNeeds, namesCreatedBy, type LiveLookup } from '../../src/language/service';
import { fixtureSchema } from './schemaFixtures';
import { assertLinear } from '../support/linear';

const schema = fixtureSchema('10.0');
const qmp = languageService('qmp')!;
const shell = languageService('qmp-shell')!;

function lookup(values: Partial<Record<string, string[]>>, stale = false): LiveLookup {
  return {
    peek(kind: LiveKind, scope?: string): LiveSnapshot | undefined {
      const v = values[scope !== undefined ? `${kind}@${scope}` : kind];
      return v === undefined ? undefined : { kind, items: v.map((value) => ({ value, detail: `${kind} detail` })), stale, listable: kind !== 'netdev' };
    },
  };
}
const live = lookup({ 'block-node': ['n0', 'n1', 'disk0'], 'dirty-bitmap@n0': ['b0'], 'qdev-id': ['kbd0'], chardev: ['c0'] });

/** Text with a `|` cursor marker → [text, offset]. */
function at(marked: string): [string, number] {
  const i = marked.indexOf('|');
  return [marked.slice(0, i) + marked.slice(i + 1), i];
}

describe('live values in the language service', () => {
  test('completion offers the live values of the member, in qmp cells', () => {
    const [text, offset] = at('{ "execute": "blockdev-del", "arguments": { "node-name": "|" } }');
    const items = qmp.complete(text, offset, { schema, live }).items;
    assert.deepEqual(items.filter((i) => i.kind === 'value').map((i) => i.label), ['n0', 'n1', 'disk0']);
    assert.match(items[0]?.detail ?? '', /block node/);
    // A bitmap is listed per node: the sibling `node` scopes it.
    const [t2, o2] = at('{ "execute": "block-dirty-bitmap-remove", "arguments": { "node": "n0", "name": | } }');
    assert.deepEqual(qmp.complete(t2, o2, { schema, live }).items.map((i) => i.label), ['b0']);
    assert.equal(qmp.complete(t2, o2, { schema, live }).items[0]?.insertText, '"b0"');
  });

  test('completion offers the live values in qmp-shell cells, and nothing where a name is new', () => {
    const [text, offset] = at('device_del id=|');
    assert.deepEqual(shell.complete(text, offset, { schema, live }).items.filter((i) => i.kind === 'value').map((i) => i.label), ['kbd0']);
    const [t2, o2] = at('blockdev-add driver=null-co node-name=|');
    assert.deepEqual(shell.complete(t2, o2, { schema, live }).items.filter((i) => i.kind === 'value'), []);
  });

  test('what must be fetched first: the kinds at the cursor, or every kind a cell names', () => {
    const [text, offset] = at('{ "execute": "device_del", "arguments": { "id": "k|" } }');
    assert.deepEqual(liveNeeds('qmp', text, offset).map((n) => n.kind), ['qdev-id', 'qom-path']);
    const cell = '{ "execute": "blockdev-del", "arguments": { "node-name": "x" } }\n{ "execute": "chardev-remove", "arguments": { "id": "y" } }';
    assert.deepEqual(liveNeeds('qmp', cell).map((n) => n.kind), ['block-node', 'chardev']);
  });

  test('an unknown name is a warning with did-you-mean; known names and names made earlier are not', () => {
    const text = '{ "execute": "blockdev-del", "arguments": { "node-name": "n2" } }';
    const d = qmp.diagnose(text, { schema, live }).filter((x) => x.code === 'unknown-live-value');
    assert.equal(d.length, 1);
    assert.equal(d[0]?.severity, 'warning');
    assert.match(d[0]?.message ?? '', /no block node 'n2' \(did you mean 'n0'\?\)/);
    assert.equal(text.slice(d[0]!.start, d[0]!.end), '"n2"');
    const ok = '{ "execute": "blockdev-del", "arguments": { "node-name": "n1" } }';
    assert.equal(qmp.diagnose(ok, { schema, live }).filter((x) => x.code === 'unknown-live-value').length, 0);
    const created = namesCreatedBy([{ command: 'blockdev-add', args: { driver: 'null-co', 'node-name': 'n2' } }]);
    assert.equal(qmp.diagnose(text, { schema, live, created }).filter((x) => x.code === 'unknown-live-value').length, 0);
  });

  test('a malformed named reference in a live value has its error, not a warning about QEMU\'s names too', () => {
    for (const [language, text] of [['qmp', '{ "execute": "blockdev-del", "arguments": { "node-name": "{{st.return" } }'], ['qmp-shell', 'device_del id={{st.return']] as const) {
      const d = languageService(language)?.diagnose(text, { schema, live }) ?? [];
      assert.deepEqual(d.filter((x) => x.code === 'unknown-live-value'), [], `${language}: ${JSON.stringify(d)}`);
      assert.ok(d.some((x) => x.severity === 'error'), `${language}: ${JSON.stringify(d)}`);
    }
  });

  test('the same checks in qmp-shell cells, at the value', () => {
    const text = 'query-status\nblockdev-del node-name=dsk0';
    const d = shell.diagnose(text, { schema, live }).filter((x) => x.code === 'unknown-live-value');
    assert.equal(d.length, 1);
    assert.equal(text.slice(d[0]!.start, d[0]!.end), 'dsk0');
    assert.match(d[0]?.message ?? '', /did you mean 'disk0'/);
  });

  test('a name that is taken is a warning for the command that would create it', () => {
    const d = qmp.diagnose('{ "execute": "blockdev-add", "arguments": { "driver": "null-co", "node-name": "n0" } }', { schema, live });
    assert.equal(d.filter((x) => x.code === 'live-name-taken').length, 1);
  });

  test('no warnings without a session, from stale values, or for kinds no query lists', () => {
    const text = '{ "execute": "blockdev-del", "arguments": { "node-name": "zz" } }';
    assert.equal(qmp.diagnose(text, { schema }).filter((x) => x.code === 'unknown-live-value').length, 0);
    assert.equal(qmp.diagnose(text, { schema, live: lookup({ 'block-node': ['n0'] }, true) }).filter((x) => x.code === 'unknown-live-value').length, 0);
    assert.equal(qmp.diagnose(text, { schema, live: lookup({}) }).filter((x) => x.code === 'unknown-live-value').length, 0);
    const netdev = '{ "execute": "netdev_del", "arguments": { "id": "zz" } }';
    assert.equal(qmp.diagnose(netdev, { schema, live: lookup({ netdev: [] }) }).filter((x) => x.code === 'unknown-live-value').length, 0);
  });

  test('hover says what a live name is', () => {
    const [text, offset] = at('{ "execute": "chardev-remove", "arguments": { "id": "c|0" } }');
    const h = qmp.hover(text, offset, { schema, live });
    assert.match(h?.contents ?? '', /\*\*c0\*\*: chardev in the connected QEMU/);
    assert.match(h?.contents ?? '', /chardev detail/);
  });

  test('linear in the number of references', () => {
    const line = (i: number): string => `{ "execute": "blockdev-del", "arguments": { "node-name": "x${i}" } }`;
    const cell = (n: number): string => Array.from({ length: n }, (_, i) => line(i)).join('\n');
    assertLinear('live-value diagnostics', cell, (text) => qmp.diagnose(text, { schema, live }), 250);
  });
});

describe('device_add members from the driver\'s properties', () => {
  const props = lookup({ 'device-property@usb-kbd': ['port', 'display', 'usb_version'] });
  test('a qmp key in device_add arguments offers the driver\'s properties not given yet', () => {
    const [text, offset] = at('{ "execute": "device_add", "arguments": { "driver": "usb-kbd", "port": "1", "|" } }');
    const items = qmp.complete(text, offset, { schema, live: props }).items.filter((i) => i.kind === 'property' && /usb-kbd/.test(i.detail ?? ''));
    assert.deepEqual(items.map((i) => i.label).sort(), ['display', 'usb_version']);
    assert.deepEqual(liveNeeds('qmp', text, offset), [{ kind: 'device-property', scope: 'usb-kbd' }]);
  });
  test('a qmp-shell word without = after device_add driver=… offers them as key=', () => {
    const [text, offset] = at('device_add driver=usb-kbd id=k0 |');
    const items = shell.complete(text, offset, { schema, live: props }).items.filter((i) => /usb-kbd/.test(i.detail ?? ''));
    assert.deepEqual(items.map((i) => i.insertText).sort(), ['display=', 'port=', 'usb_version=']);
  });
  test('no driver yet, or another command: nothing from the live properties', () => {
    const [text, offset] = at('{ "execute": "device_add", "arguments": { "|" } }');
    assert.equal(qmp.complete(text, offset, { schema, live: props }).items.filter((i) => /usb-kbd/.test(i.detail ?? '')).length, 0);
    const [t2, o2] = at('device_del |');
    assert.equal(shell.complete(t2, o2, { schema, live: props }).items.filter((i) => /usb-kbd/.test(i.detail ?? '')).length, 0);
  });
});
