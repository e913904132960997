// A live value that the connected QEMU does not have, with a near miss, gets a quick fix like the schema's
// warnings: the whole document after the fix is compared, in qmp and qmp-shell cells.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { LiveKind } from '../../src/qmp/liveRefs';
import type { LiveSnapshot } from '../../src/qmp/liveValues';
import { applyEdits } from '../../src/language/codeActions';
import { languageService, type LiveLookup } from '../../src/language/service';
import { fixtureSchema } from './schemaFixtures';

const schema = fixtureSchema('10.0');
const qmp = languageService('qmp')!;
const shell = languageService('qmp-shell')!;

const nodes = ['n0', 'n1', 'disk0'];
const live: LiveLookup = {
  peek(kind: LiveKind): LiveSnapshot | undefined {
    return kind === 'block-node' ? { kind, items: nodes.map((value) => ({ value, detail: '' })), stale: false, listable: true } : undefined;
  },
};

function fixed(service: NonNullable<ReturnType<typeof languageService>>, text: string, at: number): { titles: string[]; after: string | undefined } {
  const actions = service.codeActions(text, at, at, { schema, live }).filter((a) => a.diagnostic?.code === 'unknown-live-value');
  const preferred = actions.find((a) => a.isPreferred === true);
  return { titles: actions.map((a) => a.title), after: preferred && applyEdits(text, preferred.edits) };
}

describe('quick fix of an unknown live value', () => {
  test('qmp: "nx1" becomes "n1", quoted as JSON', () => {
    const text = '{ "execute": "blockdev-del", "arguments": { "node-name": "nx1" } }';
    const r = fixed(qmp, text, text.indexOf('nx1'));
    assert.deepEqual(r.titles, ["Change to 'n1'"]);
    assert.equal(r.after, '{ "execute": "blockdev-del", "arguments": { "node-name": "n1" } }');
  });

  test('qmp-shell: a bare word stays bare', () => {
    const text = 'query-status\nblockdev-del node-name=dsk0';
    const r = fixed(shell, text, text.indexOf('dsk0'));
    assert.deepEqual(r.titles, ["Change to 'disk0'"]);
    assert.equal(r.after, 'query-status\nblockdev-del node-name=disk0');
  });

  test('no near miss, no fix (the warning stays)', () => {
    const text = '{ "execute": "blockdev-del", "arguments": { "node-name": "completely-different" } }';
    assert.equal(qmp.diagnose(text, { schema, live }).filter((d) => d.code === 'unknown-live-value').length, 1);
    assert.deepEqual(fixed(qmp, text, text.indexOf('completely')).titles, []);
  });
});
