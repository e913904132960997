// The client reads compact lines without the byte scan while nothing is partly read, and hands everything
// else to the streaming reader. These cases mix the two within one read, which is what pipelining and
// `-qmp-pretty` produce, and check that every reply still reaches its own command.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { connectToFake, type FakeSession } from '../support/fakeTransport';

const sessions: FakeSession[] = [];
after(async () => { for (const s of sessions) await s.close(); });

async function connected(): Promise<FakeSession> {
  const session = await connectToFake();
  sessions.push(session);
  return session;
}

describe('reading replies', () => {
  test('several compact replies, a pretty one and a cut one in the same reads', async () => {
    const { client, conn } = await connected();
    const replies = [0, 1, 2, 3, 4].map((i) => client.send({ execute: 'query-status', arguments: { n: i } }));
    const cmds: Array<{ idText?: string | undefined }> = [];
    for (let i = 0; i < 5; i++) cmds.push(await conn.next());
    const id = (i: number): string => cmds[i]?.idText ?? 'null';
    const compact = (i: number): string => `{"return": {"n": ${i}}, "id": ${id(i)}}\r\n`;
    const pretty = (i: number): string => `{\r\n    "return": {\r\n        "n": ${i}\r\n    },\r\n    "id": ${id(i)}\r\n}\r\n`;
    // Read 1: two compact lines, then a pretty object, then the first half of a compact line.
    const third = compact(3);
    conn.write(compact(1) + compact(0) + pretty(2) + third.slice(0, 9));
    // Read 2: the rest of that line, and an event and a reply on one line each.
    conn.write(third.slice(9) + '{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}\r\n' + compact(4));
    const got = await Promise.all(replies);
    assert.deepEqual(got.map((r) => (r.ok ? (r.value as { n: number }).n : -1)), [0, 1, 2, 3, 4]);
    assert.deepEqual(got.map((r) => r.idText), [0, 1, 2, 3, 4].map(id));
    assert.equal(client.eventHistory().at(-1)?.event, 'STOP');
  });

  test('a line that looks compact but is not one object falls back to the byte scan', async () => {
    const { client, conn } = await connected();
    const a = client.send({ execute: 'a' });
    const b = client.send({ execute: 'b' });
    const ca = await conn.next();
    const cb = await conn.next();
    // Two objects on one line: JSON.parse refuses the line, the streaming reader splits it.
    conn.write(`{"return": 1, "id": ${ca.idText}}{"return": 2, "id": ${cb.idText}}\r\n`);
    const [ra, rb] = await Promise.all([a, b]);
    assert.deepEqual([ra.ok && ra.value, rb.ok && rb.value], [1, 2]);
  });
});
