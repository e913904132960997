// The comparison rules of a notebook and of a cell: masks, events that may come or not, and whether events
// must come in order. One home for them, used by the engine (expected events written in cells, engine.ts)
// and by `qmp-notebook test` / Run as Test (saved outputs, src/testing/compare.ts). docs/testing-notebooks.md
// describes the front matter and the `test:` directives.
import { parseMask, type Mask } from './masks';

export interface TestRules {
  masks: Mask[];
  /** Event names that may come or not without failing the cell. */
  ignoreEvents: Set<string>;
  eventOrder: 'saved' | 'any';
}

/** The rules of a notebook's front matter; `errors` name the masks that do not parse. */
export function notebookRules(front: { masks?: readonly string[]; ignoreEvents?: readonly string[]; eventOrder?: 'saved' | 'any' }): { rules: TestRules; errors: string[] } {
  const errors: string[] = [];
  const masks: Mask[] = [];
  for (const t of front.masks ?? []) {
    const m = parseMask(t);
    if ('error' in m) errors.push(m.error);
    else masks.push(m);
  }
  return { rules: { masks, ignoreEvents: new Set(front.ignoreEvents ?? []), eventOrder: front.eventOrder ?? 'saved' }, errors };
}

/** `// test: any-order`, `# test: ignore-events RTC_CHANGE, BALLOON_CHANGE`, `// test: mask return.uptime`. */
const DIRECTIVE = /^[ \t]*(?:\/\/|#)[ \t]*test:[ \t]*(.*?)[ \t]*$/;

/**
 * A cell's own rules: the notebook's, plus what the cell's directive comments add. A directive is a comment
 * line (`//`, or `#` in qmp-shell and hmp cells) starting with `test:`.
 */
export function cellRules(source: string, base: TestRules): { rules: TestRules; errors: string[] } {
  const rules: TestRules = { masks: [...base.masks], ignoreEvents: new Set(base.ignoreEvents), eventOrder: base.eventOrder };
  const errors: string[] = [];
  // Cheap exit for the common cell without directives (the runner plans every cell).
  if (!source.includes('test:')) return { rules, errors };
  const lines = source.split('\n');
  lines.forEach((line, i) => {
    const m = DIRECTIVE.exec(line);
    if (!m) return;
    const body = m[1] as string;
    const [word = '', ...rest] = body.split(/[ \t]+/);
    const arg = body.slice(word.length).trim();
    if (word === 'any-order' && rest.length === 0) rules.eventOrder = 'any';
    else if (word === 'saved-order' && rest.length === 0) rules.eventOrder = 'saved';
    else if (word === 'ignore-events' && arg !== '') for (const e of arg.split(/[\s,]+/)) { if (e) rules.ignoreEvents.add(e); }
    else if (word === 'mask' && arg !== '') {
      const mask = parseMask(arg);
      if ('error' in mask) errors.push(`line ${i + 1}: ${mask.error}`);
      else rules.masks.push(mask);
    } else {
      errors.push(`line ${i + 1}: unknown test directive '${body}' (expected any-order, saved-order, ignore-events NAME…, mask PATH|/PATTERN/)`);
    }
  });
  return { rules, errors };
}

/** A notebook's test settings as its front matter writes them (before the masks are parsed). */
export interface TestFront {
  masks?: string[];
  ignoreEvents?: string[];
  eventOrder?: 'saved' | 'any';
  /** Where the notebook is tested (NotebookData.testOn). */
  testOn?: 'fresh' | 'live-session';
}

/**
 * The test settings of a notebook's metadata as the editor holds its front matter (`masks`, `ignoreEvents`,
 * `eventOrder`, `testOn`); what does not have the right shape is left out.
 */
export function metadataFront(md: Readonly<Record<string, unknown>> | undefined): TestFront {
  const strings = (v: unknown): string[] | undefined => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? v as string[] : undefined);
  const front: TestFront = {};
  const masks = strings(md?.['masks']);
  const ignoreEvents = strings(md?.['ignoreEvents']);
  const order = md?.['eventOrder'];
  if (masks) front.masks = masks;
  if (ignoreEvents) front.ignoreEvents = ignoreEvents;
  if (order === 'any' || order === 'saved') front.eventOrder = order;
  const on = md?.['testOn'];
  if (on === 'fresh' || on === 'live-session') front.testOn = on;
  return front;
}

/** The rules of a notebook's metadata; masks that do not parse are skipped (`qmp-notebook test` reports them). */
export function metadataRules(md: Readonly<Record<string, unknown>> | undefined): TestRules {
  return notebookRules(metadataFront(md)).rules;
}
