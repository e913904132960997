// JSON that reaches the client exactly as QEMU wrote it. The language server's `qmp.runCell` returns the same
// records as `qmp-notebook run --json`, whose lines embed QEMU's own texts (replies, events, ids) so that
// integers beyond 2^53 keep every digit (src/cli/run.ts, jsonLine). Parsing such a line back into a JavaScript
// object would round those integers, so a record travels as `RawJson` (its text) and the server's writer
// serialises messages with `stringifyExact`, which writes a RawJson's text where the value goes.
import { randomUUID } from 'node:crypto';

/** A JSON text written as it is by `stringifyExact` (plain `JSON.stringify` gets its parsed, lossy value). */
export class RawJson {
  constructor(readonly text: string) {}

  toJSON(): unknown {
    return JSON.parse(this.text);
  }
}

/**
 * `JSON.stringify(value)`, except that each RawJson is written as its own text. Linear: one native stringify
 * with a placeholder per RawJson, then one pass that puts the texts in.
 */
export function stringifyExact(value: unknown): string {
  const raws: string[] = [];
  const tag = `qmp-raw-json-${randomUUID()}-`;
  const text = JSON.stringify(value, function (this: Record<string, unknown>, key: string, v: unknown) {
    const original = this[key];
    if (original instanceof RawJson) {
      raws.push(original.text);
      return tag + String(raws.length - 1);
    }
    return v;
  });
  if (raws.length === 0) return text;
  const placeholder = new RegExp(`"${tag}(\\d+)"`, 'g');
  return text.replace(placeholder, (_m, i: string) => raws[Number(i)] ?? 'null');
}
