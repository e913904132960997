// qmp-shell cells get the same checks as qmp cells, at the column of the shell text, with quick fixes that
// edit shell syntax (the language service for 'qmp-shell').
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { languageService, type Diagnostic, type LanguageContext } from '../../src/language/service';
import { applyEdits } from '../../src/language/codeActions';
import { fixtureSchema } from './schemaFixtures';

const shell = languageService('qmp-shell');
if (shell === undefined) throw new Error('no qmp-shell service');
const ctx: LanguageContext = { schema: fixtureSchema('7.2') };

/** [code, the text it marks, severity] of each diagnostic. */
function found(text: string, c: LanguageContext = ctx): [string, string, string][] {
  return shell?.diagnose(text, c).map((d) => [d.code, text.slice(d.start, d.end), d.severity]) ?? [];
}

function only(text: string, code: string, c: LanguageContext = ctx): Diagnostic {
  const ds = shell?.diagnose(text, c).filter((d) => d.code === code) ?? [];
  assert.equal(ds.length, 1, `${text}: ${JSON.stringify(shell?.diagnose(text, c))}`);
  return ds[0] as Diagnostic;
}

/** The text after applying the preferred quick fix of the only diagnostic with `code`. */
function fixed(text: string, code: string, title?: RegExp): string {
  const d = only(text, code);
  const actions = shell?.codeActions(text, d.start, d.end, ctx, [d]) ?? [];
  const action = title !== undefined ? actions.find((a) => title.test(a.title)) : actions.find((a) => a.isPreferred === true);
  assert.ok(action, `no fix for ${code} in ${text}: ${JSON.stringify(actions.map((a) => a.title))}`);
  return applyEdits(text, action.edits);
}

describe('qmp-shell diagnostics (QEMU 7.2 schema)', () => {
  test('the examples of issue 9: unknown command, missing member, unknown member, bad union tag', () => {
    assert.deepEqual(found('query-verison'), [['unknown-command', 'query-verison', 'error']]);
    assert.match(only('query-verison', 'unknown-command').message, /did you mean 'query-version'/);
    assert.deepEqual(found('blockdev-del'), [['missing-member', 'blockdev-del', 'error']]);
    assert.deepEqual(found('block_resize node-name=n1 sise=10 size=1'), [['unknown-member', 'sise', 'error']]);
    assert.deepEqual(found('blockdev-add driver=nul-co node-name=x'), [['bad-tag', 'nul-co', 'error']]);
  });

  test('problems inside a JSON value are marked where they are written', () => {
    assert.deepEqual(found('blockdev-add driver=null-co node-name=x cache={"direkt": true}'), [['unknown-member', '"direkt"', 'error']]);
    assert.deepEqual(found('blockdev-add driver=null-co node-name=x cache.direkt=true'), [['unknown-member', 'direkt', 'error']]);
  });

  test('OOB misuse, unknown events, transactions and wait lines', () => {
    assert.deepEqual(found('query-status --oob'), [['oob-not-allowed', '--oob', 'error']]);
    assert.deepEqual(found('query-status --oob', { ...ctx, oobNegotiated: false }).map((f) => f[0]).sort(), ['oob-not-allowed', 'oob-not-negotiated']);
    assert.deepEqual(found('wait-event STOPP'), [['unknown-event', 'STOPP', 'error']]);
    assert.deepEqual(found('transaction(\n block-dirty-bitmap-add node=n1 nam=b0 name=b1\n)'), [['unknown-member', 'nam', 'error']]);
    assert.deepEqual(found('query-status\nwait-event STOP\ndevice_del id=kbd0'), []);
  });

  test('without a schema only the shell syntax is checked', () => {
    assert.deepEqual(found('query-verison\nblockdev-del', {}), []);
    assert.deepEqual(found('x v={oops', {}), [['shell-syntax', 'v={oops', 'error']]);
  });

  test('deprecated and unstable input are warnings, and errors under -compat …-input=reject', () => {
    const line = 'nbd-server-remove name=x';
    assert.deepEqual(found(line), [['deprecated', 'nbd-server-remove', 'warning']]);
    const reject: LanguageContext = { ...ctx, compat: { deprecatedInput: 'reject' } };
    assert.deepEqual(found(line, reject), [['deprecated', 'nbd-server-remove', 'error']]);
    assert.match(only(line, 'deprecated', reject).message, /deprecated-input=reject/);
    assert.deepEqual(found('x-colo-lost-heartbeat'), [['unstable', 'x-colo-lost-heartbeat', 'warning']]);
    assert.deepEqual(found('x-colo-lost-heartbeat', { ...ctx, compat: { unstableInput: 'reject' } }), [['unstable', 'x-colo-lost-heartbeat', 'error']]);
    // The other policy does not change the verdict.
    assert.deepEqual(found('x-colo-lost-heartbeat', reject), [['unstable', 'x-colo-lost-heartbeat', 'warning']]);
  });

  test('quick fixes edit shell syntax', () => {
    assert.equal(fixed('query-verison', 'unknown-command'), 'query-version');
    assert.equal(fixed('block_resize node-name=n1 sise=10', 'unknown-member'), 'block_resize node-name=n1 size=10');
    assert.equal(fixed('block_resize node-name=n1 sise=10 size=1', 'unknown-member', /Remove/), 'block_resize node-name=n1 size=1');
    assert.equal(fixed('blockdev-add driver=nul-co node-name=x', 'bad-tag'), 'blockdev-add driver=null-co node-name=x');
    assert.equal(fixed('blockdev-add driver=null-co node-name=x cache={"direkt": true}', 'unknown-member'), 'blockdev-add driver=null-co node-name=x cache={"direct": true}');
    assert.equal(fixed('device_del', 'missing-member'), 'device_del id=');
    assert.equal(fixed('query-status --oob', 'oob-not-allowed'), 'query-status');
    assert.equal(fixed('wait-event STOPP', 'unknown-event'), 'wait-event STOP');
  });

  test('the qmp and qmp-shell spellings of one command get the same verdicts', () => {
    const qmp = languageService('qmp');
    const pairs: [string, string][] = [
      ['blockdev-add driver=nul-co node-name=x', '{"execute": "blockdev-add", "arguments": {"driver": "nul-co", "node-name": "x"}}'],
      ['block_resize node-name=n1 sise=10', '{"execute": "block_resize", "arguments": {"node-name": "n1", "sise": 10}}'],
      ['blockdev-del', '{"execute": "blockdev-del"}'],
      ['query-verison', '{"execute": "query-verison"}'],
    ];
    for (const [s, j] of pairs) {
      assert.deepEqual(shell.diagnose(s, ctx).map((d) => [d.code, d.message]), qmp?.diagnose(j, ctx).map((d) => [d.code, d.message]), s);
    }
  });

  test('hints mark deprecated commands', () => {
    assert.deepEqual(shell.hints('query-status\nnbd-server-remove name=x', ctx).map((h) => [h.kind, h.command]), [['deprecated', 'nbd-server-remove']]);
  });
});
