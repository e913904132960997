// The vocabulary of the events a cell expects, shared by the plan (plan.ts) and the matcher (expectEvents.ts)
// so that neither imports the other.
import type { Mask } from './masks';

/** An event written in the cell as `<- {"event": …}`: the cell expects QEMU to send it. */
export interface ExpectedEvent {
  /** The event's name. */
  event: string;
  /** The `<-` text as the author wrote it (without the arrow). */
  text: string;
  /** The masked canonical form it is compared in (expectEvents.ts). */
  key: string;
  offset: number;
  /** 0-based line in the cell (the CLI rewrites it to the 1-based line in the file, as for steps). */
  line: number;
}

/** The events a cell expects and how they are compared (docs/notebook-format.md, "Expected events"). */
export interface EventExpectations {
  /** In the order written; events the rules declare ignorable are left out. */
  events: ExpectedEvent[];
  /** `saved`: they must arrive in the order written; `any`: in any order. */
  order: 'saved' | 'any';
  masks: readonly Mask[];
  /** How long they are awaited after the cell's last step: its longest wait timeout, else 10 s. */
  timeoutMs: number;
}
