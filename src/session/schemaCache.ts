// The last schema seen for each profile, kept in the extension's global storage so that completion and
// diagnostics work before (and without) a connection. One JSON file per profile:
// `{ "format": 1, "profile": ..., "version": {...}, "savedAt": ISO date, "schema": [SchemaInfo...] }`.
// The masked type numbers inside are only valid together with that exact schema, which is why the whole reply
// is stored with the QEMU version that sent it and always replaced as a whole.
import * as vscode from 'vscode';
import type { QemuVersion } from './ports';

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
    await vscode.workspace.fs.createDirectory(this.dir);
    const text = JSON.stringify({ format: cacheFormat, profile, version, savedAt: new Date().toISOString(), schema });
    await vscode.workspace.fs.writeFile(this.fileFor(profile), Buffer.from(text, 'utf8'));
  }
}
