// Literals that JavaScript cannot hold exactly reach QEMU as the author wrote them: the notebook format keeps
// the arguments' source text and the client sends it in place of JSON.stringify(arguments).
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { parseCell } from '../../src/format';
import { connectToFake, type FakeSession } from '../support/fakeTransport';

const sessions: FakeSession[] = [];
after(async () => { for (const s of sessions) await s.close(); });

describe('exact arguments', () => {
  test('an integer beyond 2^53 in a cell is sent digit for digit', async () => {
    const session = await connectToFake();
    sessions.push(session);
    const { client, conn } = session;

    const cell = '{ "execute": "qom-set", "arguments": { "path": "/x", "property": "p", "value": 18446744073709551615 }, // max u64\n "id": 9007199254740993 }';
    const { items, errors } = parseCell(cell, 'qmp');
    assert.deepEqual(errors, []);
    const item = items[0];
    assert.ok(item && item.kind === 'command');
    assert.equal(item.input.argumentsText, '{"path":"/x","property":"p","value":18446744073709551615}');

    const pending = client.send(item.input);
    const received = await conn.next();
    assert.match(received.text, /"value":18446744073709551615[},]/);
    assert.equal(received.idText, '9007199254740993');
    conn.reply(received, {});
    const reply = await pending;
    assert.equal(reply.idText, '9007199254740993');
    assert.equal(reply.ok, true);
  });

  test('ordinary arguments are not duplicated as text', () => {
    const { items } = parseCell('{"execute": "stop", "arguments": {"a": 1, "b": "x"}}', 'qmp');
    const item = items[0];
    assert.ok(item && item.kind === 'command');
    assert.equal(item.input.argumentsText, undefined);
    assert.deepEqual(item.input.arguments, { a: 1, b: 'x' });
  });
});
