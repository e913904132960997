// The machine records (`run --json`, `shell --json`, `qmp.runCell`: schemas/transcript.schema.json) as the
// door-parity tests compare them: parsed from a `--json` stream, and reduced to what does not depend on
// timing, the client's ids or where the cell sits (so that two doors' records of the same cell are equal).

export type TranscriptRec = Record<string, unknown>;

/** The records of a `--json` stream, after its format line (which must be there). */
export function jsonRecords(stdout: string): TranscriptRec[] {
  const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as TranscriptRec);
  const first = lines[0];
  if (first?.['type'] !== 'transcript' || first['format'] !== 1) throw new Error(`not a transcript: ${stdout.slice(0, 200)}`);
  return lines.slice(1);
}

/** The parts of a record that do not depend on timing, the client's ids or the cell's place. */
export function recordShape(r: TranscriptRec): TranscriptRec {
  const { at: _a, ms: _m, cell: _c, line: _l, id: _i, sent: _s, actual: _x, reply: _r, event: _e, ...rest } = r;
  return { ...rest, ...(typeof r['event'] === 'string' ? { event: r['event'] } : {}) };
}

/** Asserts that every record is valid under schemas/transcript.schema.json (the documented machine interface). */
export async function assertValidRecords(records: readonly TranscriptRec[]): Promise<void> {
  const { readFileSync } = await import('node:fs');
  const path = await import('node:path');
  const { default: Ajv2020 } = await import('ajv/dist/2020');
  const schema = JSON.parse(readFileSync(path.join(__dirname, '..', '..', '..', 'schemas', 'transcript.schema.json'), 'utf8')) as object;
  const validate = new Ajv2020({ strict: false }).compile(schema);
  for (const r of records) {
    if (!validate(r)) throw new Error(`${JSON.stringify(r)} is not a valid transcript record: ${JSON.stringify(validate.errors)}`);
  }
}
