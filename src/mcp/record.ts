// The audit trail of an agent's session: a `.qmp` notebook a person reads, re-runs, or keeps as a regression
// test. Every command the agent had sent is a code cell with QEMU's replies and events as saved outputs (in their
// stable, masked form: src/testing/savedOutput.ts, the form `qmp-notebook test --update` saves); what was refused
// or only looked at (validations that failed, refusals, screenshots, waits) is a markdown note. The file is
// written through the format's serializer (src/format) after every change, atomically (a private temp
// file beside it, then rename), so a crash leaves the last complete notebook.
import { mkdirSync } from 'node:fs';
import { writeFileAtomicSync } from '../format/atomicWrite';
import path from 'node:path';
import { serializeNotebook, type CellData, type CodeLanguage, type NotebookData, type SavedOutput } from '../format/index';
import { stableOutputs } from '../testing/savedOutput';
import type { VolatileDir } from '../testing/masks';

/** A recording holds at most this many cells, or this much text; then the next cell starts a new file (`…-2.qmp`). */
export const MAX_RECORDED_CELLS = 1000;
export const MAX_RECORDING_CHARS = 8 * 1024 * 1024;

export interface RecordedCell {
  /** Adds outputs (events that came after the cell ended) and writes the file again. */
  append(outputs: readonly SavedOutput[]): void;
}

export class AuditRecorder {
  private data: NotebookData;
  private part = 1;
  private written: string | undefined;
  /** The volatile directories of the session (a sandbox's private directory), masked when saved. */
  dirs: VolatileDir[] = [];
  /** Called when writing fails (the session goes on; the message says where). */
  onError: (message: string) => void = () => undefined;

  constructor(private readonly file: string, private readonly header: { profile: string; title: string }) {
    this.data = this.fresh();
  }

  /** The file being written now. */
  get path(): string {
    return this.part === 1 ? this.file : this.file.replace(/(\.qmp)?$/, `-${this.part}.qmp`);
  }

  private fresh(): NotebookData {
    return { profile: this.header.profile, saveOutputs: true, cells: [{ kind: 'markdown', language: 'markdown', source: this.header.title }] };
  }

  private room(): void {
    if (this.data.cells.length < MAX_RECORDED_CELLS && (this.written?.length ?? 0) < MAX_RECORDING_CHARS) return;
    this.part++;
    this.data = this.fresh();
    this.written = undefined;
  }

  /** A markdown note. */
  note(markdown: string): void {
    this.room();
    this.data.cells.push({ kind: 'markdown', language: 'markdown', source: markdown });
    this.write();
  }

  /** A code cell the agent ran, with what it got. */
  cell(language: CodeLanguage, source: string, outputs: readonly SavedOutput[]): RecordedCell {
    this.room();
    const cell: CellData = { kind: 'code', language, source, outputs: this.stable(outputs) };
    const data = this.data;
    data.cells.push(cell);
    this.write();
    return {
      append: (more) => {
        if (more.length === 0) return;
        cell.outputs = [...(cell.outputs ?? []), ...this.stable(more)];
        if (data === this.data) this.write();
      },
    };
  }

  private stable(outputs: readonly SavedOutput[]): SavedOutput[] {
    return stableOutputs(outputs, { dirs: this.dirs });
  }

  /** Writes the notebook: temp file beside it (0600), then rename. */
  private write(): void {
    const file = this.path;
    const text = serializeNotebook(this.data);
    if (text === this.written) return;
    try {
      mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
      writeFileAtomicSync(file, text);
      this.written = text;
    } catch (err) {
      this.onError(`cannot write the recording ${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
