// The last schema seen for each profile, kept in the extension's global storage so that completion and
// diagnostics work before (and without) a connection. One JSON file per profile:
// `{ "format": 1, "profile": ..., "version": {...}, "savedAt": ISO date, "schema": [SchemaInfo...] }`.
// The masked type numbers inside are only valid together with that exact schema, which is why the whole reply
// is stored with the QEMU version that sent it and always replaced as a whole.
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import * as vscode from 'vscode';
import type { QemuVersion } from './ports';
import { writeAtomically } from './writeAtomically';

export interface CachedSchema {
  profile: string;
  version: QemuVersion | undefined;
  savedAt: string;
  schema: unknown[];
}

const cacheFormat = 1;

export class SchemaCache {
  private readonly dir: vscode.Uri;

  constructor(globalStorage: vscode.Uri) {
    this.dir = vscode.Uri.joinPath(globalStorage, 'schemas');
  }

  fileFor(profile: string): vscode.Uri {
    // Profile names are free text; encoding keeps them one file name without path separators.
    return vscode.Uri.joinPath(this.dir, `${encodeURIComponent(profile)}.json`);
  }

  /** The cached schema of a profile, or undefined when there is none or it cannot be read. */
  async load(profile: string): Promise<CachedSchema | undefined> {
    let bytes: Uint8Array;
    try {
      bytes = await vscode.workspace.fs.readFile(this.fileFor(profile));
    } catch {
      return undefined;
    }
    try {
      const parsed: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
      if (typeof parsed !== 'object' || parsed === null) return undefined;
      const rec = parsed as Record<string, unknown>;
      if (rec['format'] !== cacheFormat || !Array.isArray(rec['schema'])) return undefined;
      return {
        profile,
        version: rec['version'] as QemuVersion | undefined,
        savedAt: typeof rec['savedAt'] === 'string' ? rec['savedAt'] : '',
        schema: rec['schema'],
      };
    } catch {
      return undefined;
    }
  }

  async save(profile: string, version: QemuVersion | undefined, schema: unknown[]): Promise<void> {
    const text = JSON.stringify({ format: cacheFormat, profile, version, savedAt: new Date().toISOString(), schema });
    const file = this.fileFor(profile);
    if (file.scheme !== 'file') {
      await vscode.workspace.fs.createDirectory(this.dir);
      await writeAtomically(file, text);
      return;
    }
    // Files the extension creates are private to the user (a schema tells what a QEMU build can do), and a
    // reader never sees half a file: write a 0600 temporary file in a 0700 folder, then rename it.
    await mkdir(this.dir.fsPath, { recursive: true, mode: 0o700 });
    await chmod(this.dir.fsPath, 0o700);
    const temporary = `${file.fsPath}.${process.pid}.tmp`;
    await writeFile(temporary, text, { encoding: 'utf8', mode: 0o600 });
    await rename(temporary, file.fsPath);
  }
}
