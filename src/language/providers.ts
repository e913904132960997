// The I/O the language features need, behind small interfaces that callers pass in: the QMP reference
// documentation (qemu-qmp-ref(7)) and the schema cache. The plain-Node implementations here serve the CLI and
// a language server; the extension may pass its own (e.g. one that honours workspace trust). Nothing here runs
// at import time, nothing blocks the event loop: the man page is found and read asynchronously, once, on first
// request, and the result (or its absence) is kept.

import { execFile } from 'node:child_process';
import { constants as fsConstants, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { parseQmpManPage, type QmpDocs, type QmpManPageName } from './manpage';
import { writeFileAtomicSync } from '../format/atomicWrite';

const gunzipAsync = promisify(gunzip);

/** Where documentation comes from. `current()` never waits: hot paths (hover, completion) use it. */
export interface DocsProvider {
  /** Loads the documentation on the first call (later calls share the same promise); undefined when there is none. */
  load(): Promise<QmpDocs | undefined>;
  /** The documentation if already loaded, else undefined (and loading starts in the background). */
  current(): QmpDocs | undefined;
}

/** Where the schema of a profile is kept between sessions (the `query-qmp-schema` reply as JSON text). */
export interface SchemaCacheStore {
  /** The cached text for `key`, or undefined when there is none or it cannot be read. */
  read(key: string): Promise<string | undefined>;
  /** Stores `text` under `key`; private to the user (0700 directory, 0600 file), written atomically. */
  write(key: string, text: string): Promise<void>;
}

export interface ManPageOptions {
  /** A man page file to read (roff, gzip-compressed or not) instead of looking up qemu-qmp-ref(7). */
  file?: string | undefined;
  /** How to find the installed page; defaults to `man -w qemu-qmp-ref`, then the usual path. Tests pass a fixture. */
  locate?: () => Promise<string | undefined>;
  /** Which reference page (default qemu-qmp-ref). */
  page?: QmpManPageName | undefined;
  /** Upper bound for `man -w`, in ms (default 5000). */
  timeoutMs?: number;
}

/** The man page's usual locations when `man` is not installed. */
const usualPaths = (page: QmpManPageName): string[] => [`/usr/share/man/man7/${page}.7.gz`, `/usr/share/man/man7/${page}.7`];

/**
 * Finds an installed reference page asynchronously (qemu-qmp-ref(7) by default; the storage daemon's and the
 * guest agent's have their own): `man -w` (bounded), then the usual paths.
 */
export async function locateQmpManPage(timeoutMs = 5000, page: QmpManPageName = 'qemu-qmp-ref'): Promise<string | undefined> {
  const fromMan = await new Promise<string | undefined>((resolve) => {
    try {
      execFile('man', ['-w', page], { encoding: 'utf8', timeout: timeoutMs }, (err, stdout) => {
        resolve(err === null ? stdout.trim().split('\n')[0] || undefined : undefined);
      });
    } catch {
      resolve(undefined);
    }
  });
  if (fromMan !== undefined) return fromMan;
  for (const p of usualPaths(page)) {
    try {
      await fs.access(p, fsConstants.R_OK);
      return p;
    } catch {
      // Not there; try the next.
    }
  }
  return undefined;
}

/** Reads a man page file, gunzipping it when it is gzip-compressed (by content, not by name). */
export async function readManPage(file: string): Promise<string> {
  const buf = await fs.readFile(file);
  const data = buf[0] === 0x1f && buf[1] === 0x8b ? await gunzipAsync(buf) : buf;
  return data.toString('utf8');
}

/** A `DocsProvider` over qemu-qmp-ref(7): lazy, asynchronous, cached (a failure is remembered as "none"). */
export function manPageDocs(options: ManPageOptions = {}): DocsProvider {
  let loaded: QmpDocs | undefined;
  let pending: Promise<QmpDocs | undefined> | undefined;
  const load = (): Promise<QmpDocs | undefined> => {
    pending ??= (async () => {
      try {
        const file = options.file ?? await (options.locate ?? (() => locateQmpManPage(options.timeoutMs, options.page)))();
        if (file === undefined) return undefined;
        loaded = parseQmpManPage(await readManPage(file));
        return loaded;
      } catch {
        return undefined;
      }
    })();
    return pending;
  };
  return {
    load,
    current: () => {
      if (loaded === undefined) void load();
      return loaded;
    },
  };
}

/** A `SchemaCacheStore` of files in `dir` (created 0700), one `<key>.json` per key (the key made file-safe). */
export function fileSchemaCache(dir: string): SchemaCacheStore {
  const fileFor = (key: string): string => path.join(dir, `${encodeURIComponent(key).replace(/\./g, '%2E')}.json`);
  return {
    async read(key) {
      try {
        return await fs.readFile(fileFor(key), 'utf8');
      } catch {
        return undefined;
      }
    },
    async write(key, text) {
      await fs.mkdir(dir, { recursive: true, mode: 0o700 });
      writeFileAtomicSync(fileFor(key), text);
    },
  };
}
