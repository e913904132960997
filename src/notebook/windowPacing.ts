// How many finished cells of a Run All may be on their way to the window at once, bounded by time, not by a
// count: delay-based congestion control (as TCP Vegas and LEDBAT pace a connection by its round trip).
//
// What the extension host sends the window (a cell's outputs, its execution's start and end) is handled by the
// window in order. Whatever else goes that way (a completion request, the echo of an edit) waits behind all of
// it: a fixed bound of N cells is a wait of N times however long the window takes per cell, which is seconds on
// a loaded machine and milliseconds on an idle one. Each finished cell's round trip (its outputs handed over →
// the window's answer) says how long that queue is now. The limit grows while the round trip stays within
// `targetMs` of the smallest round trip seen (the window's own time, with nothing queued: the base), and shrinks
// in proportion when it is more, judged once per round of cells by the round's smallest round trip (as Vegas
// does: noise delays some answers, a queue delays all of them). Pure: no vscode; the controller (controller.ts) feeds it and waits on it.
//
// That pacing costs a Run All time (the window would take more at once) and is worth it only while someone waits
// for the window: a user typing, asking for completion or hover, moving the cursor or scrolling. So it applies
// only then (`limitAt`): while nobody interacts a Run All goes at full speed (`idle` cells on their way at once,
// no delay-based limit); an interaction (`interacted`) makes it give way at once, down to `interactive` cells on
// their way (0: paused; never more than the delay-based limit), until `quietMs` passed without another.

export interface WindowPacingOptions {
  /** The queueing delay aimed at: the round trip less the base (ms). */
  targetMs: number;
  /** The limit's bounds (cells on their way at once) and where it starts. */
  min: number;
  max: number;
  initial: number;
  /**
   * Cells on their way at once while nobody interacts (full speed); undefined: the delay-based limit always
   * applies (the pacing before it depended on interaction, kept for the bench's comparison).
   */
  idle?: number | undefined;
  /** While the user interacts: at most this many cells on their way (0: the run pauses), under the delay-based limit. */
  interactive: number;
  /** How long after the last interaction the run goes back to full speed (ms). */
  quietMs: number;
}

/**
 * 128 cells while nobody interacts (the bound before pacing); 1 while the user does, back to full speed 2 s
 * after the last interaction (docs/extension.md, "At scale"). Measured at 1,000 cells with a user typing alone
 * (`{"execute": "query-` and a key every 200 ms, load 2.5–4.5): completion as typed p95 1.4–2.1 s with 500 ms of
 * quiet (each wait for the suggest widget was a quiet spell: the run went back to full speed and the widget's
 * answer queued behind 128 cells), 241–514 ms with 2 s (the same typing with nothing running: 100–158 ms).
 * 1 s: 435 ms. An idle bound of 32 or 64 made Run All 8–13% slower (twice each, beside 128 in one run) and
 * gained nothing while typing; 0 cells while typing (paused) gained nothing either (648 ms), and with no cell
 * running and the next ones pending the window now and then dropped the run's pending executions, which never
 * ran (5 of 9 runs with typing, measured before).
 */
export const defaultPacing: WindowPacingOptions = { targetMs: 100, min: 16, max: 128, initial: 32, idle: 128, interactive: 1, quietMs: 2000 };

/** What a Run All's pacing did: for the log and the scale measurements. */
export interface PacingStats {
  /** The round trips observed, and their p50/p95 (ms). */
  samples: number; roundTripP50Ms: number; roundTripP95Ms: number;
  /** The base round trip now (ms). */
  baseMs: number;
  /** The limit now, and its smallest and largest values so far. */
  limit: number; lowest: number; highest: number;
  /** The interactions noted (what made the run give way), and for how long in all it gave way (ms). */
  interactions: number; gaveWayMs: number;
}

/** The last round trips kept for the statistics (bounded). */
const KEPT = 4096;

export class WindowPacing {
  private value: number;
  private samples = 0;
  /** The smallest round trip seen: the window's own time, with nothing queued in front (Vegas's base). */
  private base = Infinity;
  /** The round being gathered: as many round trips as cells were allowed when it began, and the smallest. */
  private roundCount = 0;
  private roundMin = Infinity;
  /** The round after a shrink is not judged: its cells were sent under the old limit. */
  private skipRound = false;
  /** Whether the limit has shrunk since the (re)start: until then it doubles per round (a slow start). */
  private shrunk = false;
  /** Rounds in a row at the smallest limit whose smallest round trip was over the target (re-basing, below). */
  private floorRounds = 0;
  private lowest: number;
  private highest: number;
  private readonly kept: number[] = [];
  /** When the user last interacted (ms, the caller's clock); -Infinity: never. */
  private lastInteraction = -Infinity;
  private interactions = 0;
  /** The time given way so far, the spells before the current one (ms), and when the current one began. */
  private gaveWay = 0;
  private spellStart = -Infinity;

  constructor(private readonly options: WindowPacingOptions = defaultPacing) {
    const idleOk = options.idle === undefined || (Number.isInteger(options.idle) && options.idle >= 1);
    if (!(options.min >= 1 && options.max >= options.min && options.targetMs > 0 && idleOk
      && Number.isInteger(options.interactive) && options.interactive >= 0 && options.quietMs >= 0)) {
      throw new RangeError(`invalid pacing options ${JSON.stringify(options)}`);
    }
    this.value = Math.min(options.max, Math.max(options.min, options.initial));
    this.lowest = this.highest = this.limit;
  }

  /** How many finished cells may be on their way to the window at once now. */
  get limit(): number {
    return Math.floor(this.value);
  }

  /**
   * The user interacted at `now` (ms, any monotonic clock the caller keeps to): the run gives way from now until
   * `quietMs` passed without another.
   */
  interacted(now: number): void {
    if (!Number.isFinite(now)) return;
    this.interactions++;
    if (!this.interacting(now)) {
      // A new spell: the one before it (ended quietMs after its last interaction) is counted whole.
      if (Number.isFinite(this.spellStart)) this.gaveWay += Math.max(0, this.lastInteraction + this.options.quietMs - this.spellStart);
      this.spellStart = now;
    }
    this.lastInteraction = Math.max(this.lastInteraction, now);
  }

  /** When the user last interacted (the caller's clock); -Infinity: never. */
  get lastInteractionAt(): number {
    return this.lastInteraction;
  }

  /** Whether an interaction was within `quietMs` before `now`. */
  interacting(now: number): boolean {
    return now - this.lastInteraction < this.options.quietMs;
  }

  /** When the run goes back to full speed if nothing else happens (ms; `now` or earlier when not giving way). */
  quietAt(now: number): number {
    return this.interacting(now) ? this.lastInteraction + this.options.quietMs : now;
  }

  /**
   * How many finished cells may be on their way to the window at `now`: `idle` while nobody interacts; while the
   * user does, the delay-based limit, at most `interactive` (0: none, the run waits until quietAt).
   */
  limitAt(now: number): number {
    const { idle, interactive } = this.options;
    if (!this.interacting(now)) return idle ?? this.limit;
    return Math.min(this.limit, interactive);
  }

  /** The window's own round trip as last measured (ms); Infinity before the first. */
  get baseMs(): number {
    return this.base;
  }

  /**
   * A finished cell's round trip through the window (ms). The limit is judged once per round (as many round
   * trips as cells allowed), by the round's smallest round trip: one slow answer (the window drawing something
   * else, a garbage collection) is noise, a queue of ours delays every answer of the round.
   */
  observe(roundTripMs: number): void {
    if (!Number.isFinite(roundTripMs) || roundTripMs < 0) return;
    this.samples++;
    if (this.kept.length >= KEPT) this.kept.splice(0, KEPT / 2);
    this.kept.push(roundTripMs);
    if (roundTripMs < this.base) this.base = roundTripMs;
    this.roundMin = Math.min(this.roundMin, roundTripMs);
    if (++this.roundCount < this.limit) return;
    const queued = this.roundMin - this.base;
    const roundMin = this.roundMin;
    this.roundCount = 0;
    this.roundMin = Infinity;
    if (this.skipRound) {
      this.skipRound = false;
      return;
    }
    const { targetMs, min, max } = this.options;
    if (queued <= targetMs) {
      this.floorRounds = 0;
      // Until the first shrink, far under the target: doubled (a slow start); else one more cell, as Vegas grows.
      this.value = Math.min(max, this.value + (!this.shrunk && queued <= targetMs / 2 ? this.value : 1));
    } else if (this.value > min) {
      // In proportion to how far over, at most halved.
      this.value = Math.max(min, this.value * Math.max(0.5, targetMs / queued));
      this.shrunk = true;
      this.skipRound = true;
    } else if (++this.floorRounds >= 2) {
      // At the smallest limit the queue is as short as pacing can make it: when two rounds there are still over
      // the target, the window itself has become slower (a loaded machine), and their round trip is its own
      // time now: the new base, from which the limit grows again as at the start. Without this the run would
      // crawl at the smallest limit for good.
      this.base = roundMin;
      this.shrunk = false;
      this.floorRounds = 0;
    }
    this.lowest = Math.min(this.lowest, this.limit);
    this.highest = Math.max(this.highest, this.limit);
  }

  stats(now = -Infinity): PacingStats {
    const current = Number.isFinite(this.spellStart) ? Math.max(0, Math.min(Math.max(now, this.spellStart), this.lastInteraction + this.options.quietMs) - this.spellStart) : 0;
    const sorted = [...this.kept].sort((a, b) => a - b);
    const q = (p: number): number => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? 0 : 0);
    return {
      samples: this.samples, roundTripP50Ms: q(0.5), roundTripP95Ms: q(0.95), baseMs: Number.isFinite(this.baseMs) ? this.baseMs : 0,
      limit: this.limit, lowest: this.lowest, highest: this.highest, interactions: this.interactions, gaveWayMs: Math.round(this.gaveWay + current),
    };
  }
}
