// QEMU's -compat input policy: how it is written (QEMU's own option syntax), where it comes from (the
// notebook's front matter), and what it changes (deprecated/unstable input becomes an error).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNotebook, serializeNotebook } from '../../src/format';
import { languageService, parseCompatPolicy } from '../../src/language/service';
import { fixtureSchema } from './schemaFixtures';

describe('-compat policy', () => {
  test('parsed as QEMU spells it', () => {
    assert.deepEqual(parseCompatPolicy('deprecated-input=reject,unstable-input=crash'), { policy: { deprecatedInput: 'reject', unstableInput: 'crash' } });
    assert.deepEqual(parseCompatPolicy('deprecated-output=hide,deprecated-input=accept'), { policy: { deprecatedInput: 'accept' } });
    assert.deepEqual(parseCompatPolicy(''), { policy: {} });
    assert.match((parseCompatPolicy('deprecated-input=no') as { error: string }).error, /accept, reject or crash/);
    assert.match((parseCompatPolicy('bogus=1') as { error: string }).error, /unknown -compat key 'bogus'/);
    assert.match((parseCompatPolicy('deprecated-input=reject,deprecated-input=accept') as { error: string }).error, /twice/);
  });

  test('the front matter key compat round-trips; an invalid one is not front matter', () => {
    const text = '---\nprofile: sandbox\ncompat: deprecated-input=reject,unstable-input=reject\n---\n\n```qmp\n{"execute": "stop"}\n```\n';
    const data = parseNotebook(text);
    assert.equal(data.compat, 'deprecated-input=reject,unstable-input=reject');
    assert.equal(serializeNotebook(data), text);
    assert.equal(parseNotebook('---\ncompat: deprecated-input=sometimes\n---\n').compat, undefined);
  });

  test('qmp cells: deprecated members and values are errors under reject, warnings otherwise', () => {
    const qmp = languageService('qmp');
    const schema = fixtureSchema('7.2');
    const text = '{"execute": "nbd-server-remove", "arguments": {"name": "x"}}';
    assert.deepEqual(qmp?.diagnose(text, { schema }).map((d) => [d.code, d.severity]), [['deprecated', 'warning']]);
    assert.deepEqual(qmp?.diagnose(text, { schema, compat: { deprecatedInput: 'crash' } }).map((d) => [d.code, d.severity]), [['deprecated', 'error']]);
    assert.match(qmp?.diagnose(text, { schema, compat: { deprecatedInput: 'crash' } })[0]?.message ?? '', /QEMU aborts/);
  });
});
