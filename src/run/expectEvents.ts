// Expected events: `<- {"event": …}` lines written in a cell. The one rule the editor, `qmp-notebook run`
// and `qmp-notebook test` share (the engine applies it, engine.ts; docs/notebook-format.md, "Expected
// events"):
//
// - An expected event matches an event QEMU sent when the two are equal as JSON values after masking, as
//   saved outputs are masked (masks.ts: built-in volatile values plus the notebook's and the cell's masks).
//   The timestamp is never compared, and an empty `data` is the same as none (QEMU leaves it out).
// - They are looked for among every event since the cell's event cursor (the wait rule's cursor, taken before
//   its first command), so an event that comes before the reply of the command that caused it counts.
// - In the written order (each one after the one before), or in any order when the notebook or the cell says
//   `any`; each event QEMU sent fulfils one expectation at most.
// - Events nobody expected are not the concern of this rule (the saved-output comparison reports them).
//
// Linear: each event is looked at once; only events whose name is expected are parsed and masked.
import type { QmpEventRecord } from '../qmp/client';
import { canonicalJson, parseJsonTree } from './jsonTree';
import { maskTree, type Mask } from './masks';
import type { EventExpectations } from './expectations';

/** The canonical masked form of an event's JSON text; undefined when it is not a JSON object. */
export function eventKey(json: string, masks: readonly Mask[]): string | undefined {
  const tree = parseJsonTree(json);
  if (tree?.type !== 'object') return undefined;
  const members = tree.members.filter((m) => m.key !== 'timestamp' && !(m.key === 'data' && m.value.type === 'object' && m.value.members.length === 0));
  return canonicalJson(maskTree({ type: 'object', members }, { masks }));
}

export interface ExpectedEventVerdict {
  /** Index among the cell's expected events. */
  index: number;
  match: boolean;
  /** The event that fulfilled it. */
  actual?: QmpEventRecord;
  /** Arrived, but not where the written order wanted it (order `saved` only). */
  outOfOrder?: boolean;
}

/** Feeds events one at a time, in arrival order, and says which expectations they fulfil. */
export class EventMatcher {
  private readonly names: Set<string>;
  private readonly keys: Set<string>;
  private readonly actual: Array<QmpEventRecord | undefined>;
  /** Order `saved`: the index of the next expected event. */
  private next = 0;
  /** Order `any`: the indexes still open for each key, first written first. */
  private readonly open = new Map<string, number[]>();
  /** Keys of expected events that arrived (bounded by the number of expected events). */
  private readonly seen = new Set<string>();
  private left: number;

  constructor(private readonly expect: EventExpectations) {
    this.names = new Set(expect.events.map((e) => e.event));
    this.keys = new Set(expect.events.map((e) => e.key));
    this.actual = expect.events.map(() => undefined);
    this.left = expect.events.length;
    if (expect.order === 'any') {
      expect.events.forEach((e, i) => {
        const list = this.open.get(e.key);
        if (list) list.push(i);
        else this.open.set(e.key, [i]);
      });
    }
  }

  /** Whether every expected event has arrived. */
  get done(): boolean {
    return this.left === 0;
  }

  /** Looks at one event; returns `done`. */
  feed(e: QmpEventRecord): boolean {
    if (this.left === 0 || !this.names.has(e.event)) return this.left === 0;
    const key = eventKey(e.raw, this.expect.masks);
    if (key === undefined) return false;
    if (this.expect.order === 'any') {
      const list = this.open.get(key);
      const i = list?.shift();
      if (i !== undefined) { this.actual[i] = e; this.left--; }
    } else {
      const want = this.expect.events[this.next];
      if (want?.key === key) {
        this.actual[this.next++] = e;
        this.left--;
      } else if (this.keys.has(key)) {
        this.seen.add(key);
      }
    }
    return this.left === 0;
  }

  verdicts(): ExpectedEventVerdict[] {
    return this.expect.events.map((x, index) => {
      const actual = this.actual[index];
      if (actual) return { index, match: true, actual };
      return this.seen.has(x.key) ? { index, match: false, outOfOrder: true } : { index, match: false };
    });
  }
}
