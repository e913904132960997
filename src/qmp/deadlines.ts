// One timer for the time limits of many commands. A command's time limit used to be a setTimeout of its own,
// created when it was sent and cleared when its reply came: two timer-list operations per command on the path
// from one reply to the next command (npm run bench, round trip and runner rows). Here every limit is an entry
// of one min-heap ordered by (deadline, order of arming), served by a single Node timer armed for the earliest
// deadline. Cancelling is O(1): the entry is marked dead and dropped when it reaches the top, and the heap is
// compacted when dead entries outnumber live ones, so memory stays proportional to the live limits. While no
// limit is live the timer is unref'd: it never keeps the process alive on its own, as a cleared timer would not.
//
// A limit fires when the timer fires at or after its deadline (within the 1 ms granularity of Node's timers,
// which may fire a fraction of a millisecond early); limits due together fire in the order they were armed.

/** Largest delay Node's timers honour; a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Node's timers count whole milliseconds: a limit this close to its deadline is due. */
const GRANULARITY_MS = 1;

export interface DeadlineEntry {
  /** performance.now() at which it is due. */
  readonly at: number;
  readonly seq: number;
  live: boolean;
  readonly fire: () => void;
}

export class Deadlines {
  private heap: DeadlineEntry[] = [];
  private liveCount = 0;
  private seq = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** The deadline the timer is armed for (Infinity: none). */
  private timerAt = Infinity;
  private readonly now: () => number;

  constructor(now?: () => number) {
    // The global `performance` is a lazy getter in Node: read it once.
    const clock = performance;
    this.now = now ?? (() => clock.now());
  }

  /** Live limits (for tests). */
  get size(): number {
    return this.liveCount;
  }

  /** Entries held, dead ones included (for tests: bounded by a constant times the live ones). */
  get held(): number {
    return this.heap.length;
  }

  /** Calls `fire` once, `ms` from now, unless cancelled first. */
  add(ms: number, fire: () => void): DeadlineEntry {
    const entry: DeadlineEntry = { at: this.now() + Math.max(0, ms), seq: this.seq++, live: true, fire };
    this.push(entry);
    this.liveCount++;
    if (entry.at < this.timerAt) this.arm(entry.at);
    else this.timer?.ref();
    return entry;
  }

  /** The limit will not fire. Idempotent. */
  cancel(entry: DeadlineEntry): void {
    if (!entry.live) return;
    entry.live = false;
    this.liveCount--;
    if (this.liveCount === 0) {
      // Everything held is dead: dropped at once; the armed timer stays (it is re-used) but holds nothing up.
      this.heap.length = 0;
      this.timer?.unref();
    } else if (this.heap.length > 64 && this.heap.length > 4 * this.liveCount) {
      this.compact();
    }
  }

  /** Cancels every limit and stops the timer. */
  clear(): void {
    for (const e of this.heap) e.live = false;
    this.heap = [];
    this.liveCount = 0;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  private arm(at: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    const delay = Math.min(MAX_TIMER_MS, Math.max(1, Math.ceil(at - this.now())));
    this.timer = setTimeout(() => this.onTimer(), delay);
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const due: DeadlineEntry[] = [];
    const limit = this.now() + GRANULARITY_MS;
    while (this.heap.length > 0) {
      const top = this.heap[0] as DeadlineEntry;
      if (top.live && top.at > limit) break;
      this.pop();
      if (top.live) {
        top.live = false;
        this.liveCount--;
        due.push(top);
      }
    }
    if (this.liveCount === 0) this.heap.length = 0;
    else this.arm((this.heap[0] as DeadlineEntry).at);
    // Fired after the heap is consistent: a callback may arm or cancel limits.
    for (const e of due) e.fire();
  }

  private compact(): void {
    const live = this.heap.filter((e) => e.live);
    live.sort(before);
    // A sorted array is a valid min-heap.
    this.heap = live;
  }

  private push(e: DeadlineEntry): void {
    const h = this.heap;
    let i = h.length;
    h.push(e);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = h[parent] as DeadlineEntry;
      if (before(p, e) <= 0) break;
      h[i] = p;
      i = parent;
    }
    h[i] = e;
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop() as DeadlineEntry;
    if (h.length === 0) return;
    let i = 0;
    const n = h.length;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && before(h[r] as DeadlineEntry, h[l] as DeadlineEntry) < 0 ? r : l;
      if (before(h[c] as DeadlineEntry, last) >= 0) break;
      h[i] = h[c] as DeadlineEntry;
      i = c;
    }
    h[i] = last;
  }
}

function before(a: DeadlineEntry, b: DeadlineEntry): number {
  return a.at < b.at ? -1 : a.at > b.at ? 1 : a.seq - b.seq;
}
