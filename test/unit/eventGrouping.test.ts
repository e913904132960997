// How a cell's outputs gather events (src/run/eventGrouping.ts): the one rule the run (the controller) and
// reopening a saved file (the serializer) share. The host tier checks both in the editor (test/host/scale.test.ts).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EventGrouping, groupOutputs } from '../../src/run/eventGrouping';
import { parseNotebook, serializeNotebook, type SavedOutput } from '../../src/format';
import { assertLinear } from '../support/linear';

type Item = { event: boolean; n: number };

describe('event grouping', () => {
  test('consecutive events are one group; anything else closes it; order and every item kept', () => {
    fc.assert(fc.property(fc.array(fc.boolean(), { maxLength: 200 }), (kinds) => {
      const items: Item[] = kinds.map((event, n) => ({ event, n }));
      const groups = groupOutputs(items, (i) => i.event);
      // Flattened back, the same items in the same order.
      const flat = groups.flatMap((g) => ('one' in g ? [g.one] : g.events));
      assert.deepEqual(flat, items);
      for (const [k, g] of groups.entries()) {
        if ('one' in g) assert.equal(g.one.event, false);
        else {
          assert.ok(g.events.length > 0 && g.events.every((e) => e.event));
          // Two groups are never side by side: something not an event is between them.
          const next = groups[k + 1];
          assert.ok(next === undefined || 'one' in next);
        }
      }
      // As many outputs as runs of events plus the other items.
      const runs = kinds.filter((e, i) => e && (i === 0 || !kinds[i - 1])).length;
      assert.equal(groups.length, runs + kinds.filter((e) => !e).length);
    }));
  });

  test('the run\'s use: a new group only after something else was shown', () => {
    let made = 0;
    const g = new EventGrouping(() => ({ id: ++made }));
    assert.deepEqual(g.event(), { group: { id: 1 }, opened: true });
    assert.deepEqual(g.event(), { group: { id: 1 }, opened: false });
    g.other();
    g.other();
    assert.deepEqual(g.event(), { group: { id: 2 }, opened: true });
    assert.equal(made, 2);
  });

  test('a saved cell of 10,000 events reads back as one group, the last event last; linear', () => {
    const event = (i: number): string => `{"timestamp": {"seconds": 1, "microseconds": ${i}}, "event": "${i % 2 ? 'RESUME' : 'STOP'}"}`;
    const file = (n: number): string => serializeNotebook({ saveOutputs: true, cells: [{ kind: 'code', language: 'qmp', source: '{ "execute": "query-status" }',
      outputs: [{ kind: 'message', direction: '<-', json: '{"return": {"status": "running", "running": true}}' },
        ...Array.from({ length: n }, (_, i): SavedOutput => ({ kind: 'message', direction: '<-', json: event(i) })),
        { kind: 'message', direction: '<-', json: '{"timestamp": {"seconds": 2, "microseconds": 0}, "event": "RESET", "data": {"guest": true}}' }] }] });
    const isEvent = (o: SavedOutput): boolean => o.kind === 'message' && o.direction === '<-' && o.json.includes('"event"');
    const cell = parseNotebook(file(10_000)).cells[0];
    assert.ok(cell?.kind === 'code');
    const saved = cell.outputs ?? [];
    assert.equal(saved.length, 10_002);
    const groups = groupOutputs(saved, isEvent);
    assert.equal(groups.length, 2, 'the reply, then one group of every event');
    const events = groups[1];
    assert.ok(events !== undefined && 'events' in events);
    assert.equal(events.events.length, 10_001);
    const last = events.events[events.events.length - 1];
    assert.ok(last?.kind === 'message' && last.json.includes('RESET'));
    assertLinear('groupOutputs', (n) => Array.from({ length: n }, (_, i) => ({ event: i % 7 !== 0, n: i })), (items) => groupOutputs(items, (i) => i.event), 20_000);
  });
});
