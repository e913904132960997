// Replacing a file the extension writes (exports, imports, a saved SVG, the schema cache) so that a reader never
// sees half of it: on disk, the one atomic writer (src/format/atomicWrite.ts: a private temporary file beside,
// fsync, rename); on any other file system (a remote or virtual workspace), a temporary file beside the target
// through vscode.workspace.fs, then a rename over it.
import * as vscode from 'vscode';
import { writeFileAtomicSync } from '../format/atomicWrite';

export async function writeAtomically(target: vscode.Uri, text: string): Promise<void> {
  if (target.scheme === 'file') {
    writeFileAtomicSync(target.fsPath, text);
    return;
  }
  const temp = target.with({ path: `${target.path}.${process.pid}-${Math.random().toString(36).slice(2)}.tmp` });
  try {
    await vscode.workspace.fs.writeFile(temp, new TextEncoder().encode(text));
    await vscode.workspace.fs.rename(temp, target, { overwrite: true });
  } catch (err) {
    await Promise.resolve(vscode.workspace.fs.delete(temp)).catch(() => undefined);
    throw err;
  }
}
