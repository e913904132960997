// `qmp-notebook import FILE… -o OUT.qmp [--format F] [--mon 0x…]`: recordings of other tools as one notebook
// (src/import/import.ts). Files are read line by line (a libvirt log of gigabytes is not held in memory); the
// notebook is written atomically (temp file beside + rename, mode 0600 for a new file). What was not imported
// is reported on standard error with line numbers. Exit 0, 1 when some lines could not be read (the notebook
// is written all the same), 2 for a usage error, a file that cannot be read, or a log that needs --mon.
import { closeSync, openSync, readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import * as path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { serializeNotebook, type CellData } from '../format';
import { writeFileAtomicSync } from '../format/atomicWrite';
import { detectFormat, importLines, ImportError, IMPORT_FORMATS, type ImportFormat, type ImportReport } from './import';

export const IMPORT_USAGE = [
  'usage: qmp-notebook import FILE… -o OUT.qmp [--format FORMAT] [--domain NAME | --mon 0xADDRESS] [--all]',
  '  Reads QMP sessions other tools recorded and writes them as one notebook: each command a cell, its',
  '  replies and events the saved outputs (`qmp-notebook test OUT.qmp` runs it again).',
  '  FORMAT (guessed from the file when not given):',
  '    libvirt            libvirtd\'s log with monitor debugging (QEMU_MONITOR_SEND_MSG/RECV_REPLY/RECV_EVENT)',
  '    qmp-shell-log      qmp-shell\'s log (qmp-shell -l FILE)',
  '    qmp-shell-history  qmp-shell\'s history (~/.qmp-shell_history): commands only',
  '    iotests            a QEMU iotests .out file (its placeholders become masks)',
  '    arrows             any text with QEMU\'s -> / <- notation (documentation, mails)',
  '  --domain picks the domain of a libvirt log that holds several, when the log shows its start (the monitor',
  '  is named in libvirt\'s start-up query-chardev reply); --mon picks a monitor by its address.',
  '  The commands libvirt sends to probe a monitor when it opens it (about 410 when a domain starts: query-*,',
  '  qom-list, qom-get…) are left out, and counted; --all keeps them.',
].join('\n');

/** The lines of a file, read as a stream (bounded memory). */
function* fileLines(file: string): Generator<string> {
  const fd = openSync(file, 'r');
  try {
    const decoder = new StringDecoder('utf8');
    const buf = Buffer.alloc(64 * 1024);
    let rest = '';
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      const text = rest + decoder.write(buf.subarray(0, n));
      const parts = text.split('\n');
      rest = parts.pop() as string;
      yield* parts;
    }
    rest += decoder.end();
    if (rest !== '') yield rest;
  } finally {
    closeSync(fd);
  }
}

/** The first lines of a file (at most 64 KiB of it), to guess its format. */
async function head(file: string): Promise<string[]> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead).toString('utf8').split('\n').slice(0, 200);
  } finally {
    await fh.close();
  }
}

function formatReport(file: string, report: ImportReport, err: (line: string) => void): void {
  for (const p of report.problems) err(`qmp-notebook import: ${file}:${p.line}: ${p.message}`);
  if (report.skipped.length > 0) {
    const ranges = report.skipped.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(', ');
    err(`qmp-notebook import: ${file}: lines not QMP messages, skipped: ${ranges}`);
  }
  for (const n of report.notes) err(`qmp-notebook import: ${file}: ${n}`);
}

/** What importing some files gave: the notebook's text, what to tell the user, and how many lines could not be read. */
export interface ImportedFiles {
  text: string;
  /** The report, line by line, each starting with `qmp-notebook import: ` (problems with FILE:LINE, skipped ranges, notes, counts). */
  messages: string[];
  problems: number;
  cells: number;
}

export interface ImportFilesOptions {
  format?: string | undefined;
  monitor?: string | undefined;
  domain?: string | undefined;
  all?: boolean | undefined;
}

/** Why files could not be imported (a usage problem, an unreadable file, a log that needs --domain): exit 2. */
export class ImportFailure extends Error {
  /** What the files before the failing one reported. */
  messages: readonly string[] = [];
}

/**
 * Imports files into one notebook's text: each file read line by line (bounded memory), its format guessed
 * unless given, several files one after another under a line naming each. The CLI and the editor's
 * "QMP: Import…" both call this.
 */
export async function importFiles(files: readonly string[], options: ImportFilesOptions = {}): Promise<ImportedFiles> {
  const { format, monitor, domain, all } = options;
  if (format !== undefined && !(IMPORT_FORMATS as readonly string[]).includes(format)) throw new ImportFailure(`unknown format "${format}"`);
  const messages: string[] = [];
  const err = (line: string): void => { messages.push(line); };
  const cells: CellData[] = [];
  const masks = new Set<string>();
  let problems = 0;
  const fail = (message: string): ImportFailure => Object.assign(new ImportFailure(message), { messages });
  for (const file of files) {
    let fmt = format as ImportFormat | undefined;
    try {
      fmt ??= detectFormat(await head(file), path.basename(file));
    } catch (e) {
      throw fail(`cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
    }
    if (fmt === undefined) throw fail(`${file}: no QMP messages recognised; say what it is with --format (${IMPORT_FORMATS.join(', ')})`);
    let result;
    try {
      result = importLines(fileLines(file), { format: fmt, monitor, domain, all });
    } catch (e) {
      if (e instanceof ImportError) throw fail(`${file}: ${e.message}`);
      throw fail(`cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
    }
    formatReport(file, result.report, err);
    problems += result.report.problems.length;
    if (files.length > 1) cells.push({ kind: 'markdown', language: 'markdown', source: `Imported from \`${path.basename(file)}\` (${fmt}).` });
    cells.push(...result.notebook.cells);
    for (const m of result.notebook.masks ?? []) masks.add(m);
    err(`qmp-notebook import: ${file} (${fmt}): ${result.cells} cells`);
  }
  const text = serializeNotebook({ saveOutputs: true, ...(masks.size > 0 ? { masks: [...masks].sort() } : {}), cells });
  return { text, messages, problems, cells: cells.length };
}

export async function importMain(args: readonly string[], out: (text: string) => void, err: (line: string) => void): Promise<number> {
  let output: string | undefined;
  let format: string | undefined;
  let monitor: string | undefined;
  let domain: string | undefined;
  let all = false;
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    const value = (name: string): string | undefined => (a === name ? args[++i] : a.startsWith(`${name}=`) ? a.slice(name.length + 1) : undefined);
    if (a === '--help' || a === '-h') { out(`${IMPORT_USAGE}\n`); return 0; }
    if (a === '-o' || a === '--output' || a.startsWith('--output=')) output = value(a === '-o' ? '-o' : '--output');
    else if (a === '--format' || a.startsWith('--format=')) format = value('--format');
    else if (a === '--mon' || a.startsWith('--mon=')) monitor = value('--mon');
    else if (a === '--domain' || a.startsWith('--domain=')) domain = value('--domain');
    else if (a === '--all') all = true;
    else if (a.startsWith('-')) { err(`qmp-notebook import: unknown option ${a}\n${IMPORT_USAGE}`); return 2; }
    else files.push(a);
  }
  if (format !== undefined && !(IMPORT_FORMATS as readonly string[]).includes(format)) {
    err(`qmp-notebook import: unknown format "${format}"\n${IMPORT_USAGE}`);
    return 2;
  }
  if (files.length === 0 || output === undefined || output === '') {
    err(`qmp-notebook import: ${files.length === 0 ? 'give the files to import' : 'say where to write the notebook with -o OUT.qmp'}\n${IMPORT_USAGE}`);
    return 2;
  }
  let imported: ImportedFiles;
  try {
    imported = await importFiles(files, { format, monitor, domain, all });
  } catch (e) {
    if (e instanceof ImportFailure) {
      for (const m of e.messages) err(m);
      err(`qmp-notebook import: ${e.message}`);
      return 2;
    }
    throw e;
  }
  for (const m of imported.messages) err(m);
  try {
    writeFileAtomicSync(output, imported.text, { mode: 0o600 });
  } catch (e) {
    err(`qmp-notebook import: cannot write ${output}: ${e instanceof Error ? e.message : String(e)}`);
    return 2;
  }
  return imported.problems > 0 ? 1 : 0;
}
