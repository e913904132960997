// How many finished cells of a Run All may be on their way to the window at once, bounded by time, not by a
// count: delay-based congestion control (as TCP Vegas and LEDBAT pace a connection by its round trip).
//
// What the extension host sends the window (a cell's outputs, its execution's start and end) is handled by the
// window in order. Whatever else goes that way (a completion request, the echo of an edit) waits behind all of
// it: a fixed bound of N cells is a wait of N times however long the window takes per cell, which is seconds on
// a loaded machine and milliseconds on an idle one. Each finished cell's round trip (its outputs handed over →
// the window's answer) says how long that queue is now. The limit grows while the round trip stays within
// `targetMs` of the smallest round trip seen (the window's own time, with nothing queued: the base), and shrinks
// in proportion when it is more, once per window of cells (the cells sent before the shrink were measured
// against the old limit). Pure: no vscode; the controller (controller.ts) feeds it and waits on it.

export interface WindowPacingOptions {
  /** The queueing delay aimed at: the round trip less the base (ms). */
  targetMs: number;
  /** The limit's bounds (cells on their way at once) and where it starts. */
  min: number;
  max: number;
  initial: number;
}

export const defaultPacing: WindowPacingOptions = { targetMs: 50, min: 4, max: 128, initial: 16 };

/** What a Run All's pacing did: for the log and the scale measurements. */
export interface PacingStats {
  /** The round trips observed, and their p50/p95 (ms). */
  samples: number; roundTripP50Ms: number; roundTripP95Ms: number;
  /** The base round trip now (ms). */
  baseMs: number;
  /** The limit now, and its smallest and largest values so far. */
  limit: number; lowest: number; highest: number;
}

/** The last round trips kept for the statistics (bounded). */
const KEPT = 4096;

export class WindowPacing {
  private value: number;
  private samples = 0;
  /** `samples` when the limit last shrank: it shrinks at most once per window of cells. */
  private shrunkAt = -Infinity;
  /** `samples` when the cells sent before the last shrink have all come back. */
  private drainedAt = 0;
  /** The smallest round trip seen: the window's own time, with nothing queued in front (Vegas's base). */
  private base = Infinity;
  /** Round trips observed in a row at the smallest limit, and the smallest of them (re-basing, below). */
  private atFloor = 0;
  private floorMin = Infinity;
  private lowest: number;
  private highest: number;
  private readonly kept: number[] = [];

  constructor(private readonly options: WindowPacingOptions = defaultPacing) {
    if (!(options.min >= 1 && options.max >= options.min && options.targetMs > 0)) {
      throw new RangeError(`invalid pacing options ${JSON.stringify(options)}`);
    }
    this.value = Math.min(options.max, Math.max(options.min, options.initial));
    this.lowest = this.highest = this.limit;
  }

  /** How many finished cells may be on their way to the window at once now. */
  get limit(): number {
    return Math.floor(this.value);
  }

  /** The window's own round trip as last measured (ms); Infinity before the first. */
  get baseMs(): number {
    return this.base;
  }

  /** A finished cell's round trip through the window (ms). */
  observe(roundTripMs: number): void {
    if (!Number.isFinite(roundTripMs) || roundTripMs < 0) return;
    this.samples++;
    if (this.kept.length >= KEPT) this.kept.splice(0, KEPT / 2);
    this.kept.push(roundTripMs);
    if (roundTripMs < this.base) this.base = roundTripMs;
    const queued = roundTripMs - this.base;
    const { targetMs, min, max } = this.options;
    if (queued <= targetMs / 2 && this.shrunkAt === -Infinity) {
      // Until the first shrink, far under the target: one more cell per cell (the limit doubles per round trip,
      // as a slow start does).
      this.value = Math.min(max, this.value + 1);
    } else if (queued <= targetMs) {
      // Near it: one more cell per window of cells (per round trip), as Vegas grows.
      this.value = Math.min(max, this.value + 1 / this.value);
    } else if (this.samples - this.shrunkAt >= this.limit && this.value > min) {
      // In proportion to how far over (at most halved), once per window. The cells sent under the old limit are
      // still to come back, with the old queue's round trips.
      this.drainedAt = this.samples + this.limit;
      this.value = Math.max(min, this.value * Math.max(0.5, targetMs / queued));
      this.shrunkAt = this.samples;
    }
    // At the smallest limit the queue is as short as pacing can make it: the round trips there, once the cells
    // sent before the last shrink are back, are the window's own time now. When the smallest of two windows of
    // them is still over the target, the window itself has become slower (a loaded machine): that is the base
    // from now on. Without this the run would crawl at the smallest limit for good.
    if (this.limit === min && this.samples >= this.drainedAt) {
      this.floorMin = Math.min(this.floorMin, roundTripMs);
      if (++this.atFloor >= 2 * min) {
        if (this.floorMin - this.base > targetMs) {
          // A new base: grown again from the floor as at the start (slow start).
          this.base = this.floorMin;
          this.shrunkAt = -Infinity;
        }
        this.atFloor = 0;
        this.floorMin = Infinity;
      }
    } else {
      this.atFloor = 0;
      this.floorMin = Infinity;
    }
    this.lowest = Math.min(this.lowest, this.limit);
    this.highest = Math.max(this.highest, this.limit);
  }

  stats(): PacingStats {
    const sorted = [...this.kept].sort((a, b) => a - b);
    const q = (p: number): number => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] ?? 0 : 0);
    return {
      samples: this.samples, roundTripP50Ms: q(0.5), roundTripP95Ms: q(0.95), baseMs: Number.isFinite(this.baseMs) ? this.baseMs : 0,
      limit: this.limit, lowest: this.lowest, highest: this.highest,
    };
  }
}
