// How a cell's outputs gather events, decided in one place for the run (the controller, as events arrive) and
// for reopening a saved file (the serializer, from its `<-` event lines): events that come one after another,
// with nothing else shown between them, are ONE output (an event group). Anything else shown in the cell
// closes the open group, and the next event opens a new one. So a flood of events is one output whether it is
// being run or read back, and a cell never nears VS Code's 500 outputs because of events.

/** The open event group of one cell's outputs; `open` makes a new group (any type: the caller's). */
export class EventGrouping<G> {
  private current: G | undefined;

  constructor(private readonly open: () => G) {}

  /** An event: the group it goes into, and whether that group was opened by it (a new output). */
  event(): { group: G; opened: boolean } {
    if (this.current !== undefined) return { group: this.current, opened: false };
    const group = this.open();
    this.current = group;
    return { group, opened: true };
  }

  /** Anything but an event was shown: the next event opens a new group. */
  other(): void {
    this.current = undefined;
  }
}

/**
 * A cell's saved outputs in the order shown, with each run of consecutive events gathered: an item is either
 * one output that is not an event, or the events of one group (in order). Linear.
 */
export function groupOutputs<T>(items: readonly T[], isEvent: (item: T) => boolean): Array<{ events: T[] } | { one: T }> {
  const out: Array<{ events: T[] } | { one: T }> = [];
  const grouping = new EventGrouping<T[]>(() => {
    const events: T[] = [];
    out.push({ events });
    return events;
  });
  for (const item of items) {
    if (isEvent(item)) grouping.event().group.push(item);
    else {
      grouping.other();
      out.push({ one: item });
    }
  }
  return out;
}
