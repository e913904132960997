// `qmp-notebook export --to qmp-shell|jsonl|markdown|html|virsh|python|socat FILE`: a notebook in another format, on standard
// output (redirect it to a file; nothing is written beside the notebook). Exit 0, or 2 for a usage error or a
// file that cannot be read.
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { decodeNotebookBytes, parseNotebook } from '../format';
import { EXPORT_DESCRIPTIONS, EXPORT_FORMATS, exportNotebook, type ExportFormat, type ExportOptions } from './export';

export const EXPORT_USAGE = [
  'usage: qmp-notebook export --to FORMAT FILE [--domain NAME] [--socket PATH]',
  '  FORMAT is one of:',
  ...EXPORT_FORMATS.map((f) => `    ${f.padEnd(10)} ${EXPORT_DESCRIPTIONS[f]}`),
  '  --domain names the libvirt domain of the virsh format; --socket the QMP socket of socat and python.',
  '  The result goes to standard output.',
].join('\n');

export async function exportMain(args: readonly string[], out: (text: string) => void, err: (line: string) => void): Promise<number> {
  let to: string | undefined;
  const options: ExportOptions = {};
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--help' || a === '-h') {
      out(`${EXPORT_USAGE}\n`);
      return 0;
    }
    if (a === '--to') to = args[++i];
    else if (a.startsWith('--to=')) to = a.slice(5);
    else if (a === '--domain' || a === '--socket') options[a === '--domain' ? 'domain' : 'socket'] = args[++i];
    else if (a.startsWith('--domain=')) options.domain = a.slice(9);
    else if (a.startsWith('--socket=')) options.socket = a.slice(9);
    else if (a.startsWith('-') && a !== '-') {
      err(`qmp-notebook export: unknown option ${a}\n${EXPORT_USAGE}`);
      return 2;
    } else files.push(a);
  }
  if (to === undefined || !(EXPORT_FORMATS as readonly string[]).includes(to)) {
    err(`qmp-notebook export: ${to === undefined ? 'say which format with --to' : `unknown format "${to}"`}\n${EXPORT_USAGE}`);
    return 2;
  }
  if (files.length !== 1) {
    err(`qmp-notebook export: give one notebook file\n${EXPORT_USAGE}`);
    return 2;
  }
  const file = files[0] as string;
  let bytes: Uint8Array;
  try {
    bytes = await readFile(file);
  } catch (e) {
    err(`qmp-notebook export: cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
    return 2;
  }
  const { text, warnings } = decodeNotebookBytes(bytes);
  for (const w of warnings) err(`qmp-notebook export: ${file}: ${w.message}`);
  out(exportNotebook(parseNotebook(text), to as ExportFormat, path.basename(file), options));
  return 0;
}
