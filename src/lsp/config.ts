// Where the language server gets its schema and its QEMU from. Two places use the same keys: the editor's
// `initializationOptions` (the user's own configuration, trusted) and `.qmp-notebook.json` at the root of the
// workspace (data from a repository, possibly hostile). From the workspace file only `schemaFile` is used by
// default, read and validated, never executed; its connection keys (`socket`, `tcp`, `sandbox`, `storageDaemon`,
// `guestAgent`, `libvirt` with `connect`: the CLI's options, read by the kernel's one reader endpointFromOptions)
// connect or start a process only when the user's own options say `"trustWorkspaceConnections": true`, as VS
// Code's workspace trust does for the extension. See docs/lsp.md.

import { closeSync, constants as fsConstants, fstatSync, openSync, readdirSync, readSync, realpathSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type ParseError, parse as parseJsonc, printParseErrorCode } from 'jsonc-parser';
import { Schema, type SchemaInfo } from '../qmp/index';
import { libvirtDomainNameProblem } from '../endpoints/index';
import { describeEndpoint, endpointFromOptions, parseHostPort, type Endpoint, type EndpointOptions } from '../kernel/endpoint';

export interface LspSettings {
  schemaFile?: string;
  socket?: string;
  tcp?: string;
  sandbox?: boolean;
  /** A private qemu-storage-daemon, started for the server (the CLI's --storage-daemon). */
  storageDaemon?: boolean;
  /** A guest agent's socket path or host:port (the CLI's --guest-agent). */
  guestAgent?: string;
  /** A libvirt domain's name (the CLI's --libvirt), with `connect` its libvirt URI (--connect). */
  libvirt?: string;
  connect?: string;
}

/** Options only the user's own configuration may set. */
export interface UserOnlySettings {
  trustWorkspaceConnections?: boolean;
  /** The qemu-qmp-ref(7) file for hover text; default the one `man -w` finds. */
  manPage?: string;
  /** The QEMU binary a sandbox starts. */
  qemuBinary?: string;
  /** The profile whose cached schema to use; default the newest cache file. */
  cacheProfile?: string;
  /** Directory of the extension's schema cache, when it is not in a standard place. */
  cacheDir?: string;
}

/** What the server connects to: the kernel's endpoint description (every kind the CLI reaches). */
export type Connection = Endpoint;

/** The configuration key of each of the CLI's connection options. */
const CONNECTION_KEYS = {
  socket: 'socket', tcp: 'tcp', sandbox: 'sandbox', 'storage-daemon': 'storageDaemon', 'guest-agent': 'guestAgent', libvirt: 'libvirt', connect: 'connect',
} as const satisfies Record<string, keyof LspSettings>;

export interface ResolvedConfig {
  /** The schema file to read, absolute, and who named it (a workspace's is read by readWorkspaceFile from `root`). */
  schemaFile?: { path: string; from: 'user' | 'workspace'; root?: string };
  connection?: Connection & { from: 'user' | 'workspace' };
  user: UserOnlySettings;
  /** Why a setting was not used (shown in the log, never fatal). */
  warnings: string[];
}

export const WORKSPACE_FILE = '.qmp-notebook.json';
/** A workspace file is small; anything bigger is not read. */
const WORKSPACE_FILE_MAX = 64 * 1024;
/** The largest schema file read (QEMU 10.0's reply is about 0.5 MB). */
export const SCHEMA_FILE_MAX = 32 * 1024 * 1024;

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Picks the known keys out of a JSON value, with their types checked; everything else is ignored. */
export function readSettings(raw: unknown, warnings: string[], where: string): LspSettings & UserOnlySettings {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    if (raw !== undefined && raw !== null) warnings.push(`${where}: expected an object`);
    return {};
  }
  const o = raw as Record<string, unknown>;
  const out: LspSettings & UserOnlySettings = {};
  for (const key of ['schemaFile', 'socket', 'tcp', 'guestAgent', 'libvirt', 'connect', 'manPage', 'qemuBinary', 'cacheProfile', 'cacheDir'] as const) {
    if (o[key] === undefined) continue;
    const v = str(o[key]);
    if (v === undefined) warnings.push(`${where}: "${key}" must be a non-empty string`);
    else out[key] = v;
  }
  for (const key of ['sandbox', 'storageDaemon', 'trustWorkspaceConnections'] as const) {
    if (o[key] === undefined) continue;
    if (typeof o[key] !== 'boolean') warnings.push(`${where}: "${key}" must be true or false`);
    else out[key] = o[key];
  }
  return out;
}

/** `host:port` (IPv6 in brackets) or undefined: the kernel's parser (the CLI's --tcp). */
export function parseTcp(text: string): { host: string; port: number } | undefined {
  return parseHostPort(text);
}

/**
 * The connection the settings name, read by the kernel's reader of the CLI's options (so the same values are
 * accepted and refused), with the configuration's own key names in its messages. A relative socket path (of
 * `socket` or `guestAgent`) is resolved against `base`; a libvirt domain name virsh would misread is refused.
 * Anything wrong (two connections, a bad value) is a warning and no connection.
 */
function connectionOf(s: LspSettings, base: string, warnings: string[], where: string): Connection | undefined {
  const options: EndpointOptions = {};
  for (const [option, key] of Object.entries(CONNECTION_KEYS) as [keyof typeof CONNECTION_KEYS, keyof LspSettings][]) {
    const v = s[key];
    if (v !== undefined) (options as Record<string, string | boolean>)[option] = v;
  }
  const read = endpointFromOptions(options);
  const refuse = (why: string): undefined => {
    warnings.push(`${where}: ${why}; no connection is used`);
    return undefined;
  };
  if (!read.ok) {
    return refuse(read.message.replace(/--([a-z-]+)/g, (m, n: string) => n in CONNECTION_KEYS ? `"${CONNECTION_KEYS[n as keyof typeof CONNECTION_KEYS]}"` : m));
  }
  const e = read.endpoint;
  if (e === undefined) return undefined;
  if (e.kind === 'unix') return { kind: 'unix', path: path.resolve(base, e.path) };
  if (e.kind === 'guest-agent' && e.target.kind === 'unix') return { kind: 'guest-agent', target: { kind: 'unix', path: path.resolve(base, e.target.path) } };
  if (e.kind === 'libvirt') {
    const bad = libvirtDomainNameProblem(e.domain);
    if (bad !== undefined) return refuse(`"libvirt": ${bad}`);
    if (e.uri !== undefined && (e.uri === '' || e.uri.startsWith('-') || /\p{Cc}/u.test(e.uri))) {
      return refuse('"connect" must be a libvirt URI (such as qemu:///system): one line, not starting with \'-\'');
    }
  }
  return e;
}

/** Reads at most `max` bytes of a regular file; throws a clear Error otherwise. Never blocks on a FIFO. */
export function readRegularFile(file: string, max: number, flags = 0): string {
  // O_NONBLOCK: opening a FIFO or device named by a hostile file must not hang the server.
  const fd = openSync(file, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | flags);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(`${file} is not a regular file`);
    if (st.size > max) throw new Error(`${file} is larger than ${max} bytes`);
    const buf = Buffer.alloc(st.size);
    let n = 0;
    while (n < st.size) {
      const r = readSync(fd, buf, n, st.size - n, n);
      if (r === 0) break;
      n += r;
    }
    return buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** Whether `file` (symlinks resolved) lies inside `root` (symlinks resolved). */
export function isInside(root: string, file: string): boolean {
  let r: string;
  let f: string;
  try {
    r = realpathSync(root);
    f = realpathSync(file);
  } catch {
    return false;
  }
  return within(r, f);
}

function within(realRoot: string, realFile: string): boolean {
  const rel = path.relative(realRoot, realFile);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/**
 * The one rule for every file a workspace can name (`.qmp-notebook.json` itself, its `schemaFile`): after
 * symlinks are resolved it lies inside the workspace root, it is a regular file (never a FIFO or device:
 * opened non-blocking, and the resolved path is opened without following a link swapped in meanwhile), and it
 * holds at most `max` bytes. Errors name the file as the workspace wrote it and never its target or content.
 * Undefined when the file does not exist.
 */
export function readWorkspaceFile(root: string, name: string, max: number): string | undefined {
  const shown = path.isAbsolute(name) ? name : path.relative(root, path.resolve(root, name)) || name;
  let realRoot: string;
  let real: string;
  try {
    realRoot = realpathSync(root);
    real = realpathSync(path.resolve(root, name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${shown} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`, { cause: err });
  }
  if (!within(realRoot, real)) throw new Error(`${shown} is not inside the workspace (after symlinks are resolved); ignored`);
  try {
    return readRegularFile(real, max, fsConstants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code !== undefined ? code : (err as Error).message.replace(real, '').trim();
    throw new Error(`${shown} ${code !== undefined ? `cannot be read (${why})` : why}; ignored`, { cause: err });
  }
}

/**
 * Parses JSON text; an error says where the text stops being JSON (line and column, and what the parser
 * expected) and never quotes it: the file may be a symlink to something secret that happens to lie inside
 * the workspace, and the message goes to the client's log.
 */
export function parseJsonQuietly(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    const errors: ParseError[] = [];
    parseJsonc(text, errors, { allowTrailingComma: false, disallowComments: true });
    const e = errors[0];
    if (e === undefined) throw new Error(`${what}: not JSON`);
    let line = 1;
    let lineStart = 0;
    for (let i = 0; i < e.offset && i < text.length; i++) {
      if (text.charCodeAt(i) === 10) {
        line++;
        lineStart = i + 1;
      }
    }
    throw new Error(`${what}: not JSON (${printParseErrorCode(e.error)} at line ${line}, column ${e.offset - lineStart + 1})`);
  }
}

/**
 * Merges the user's options and the workspace file. The user's keys win; the workspace's schemaFile must lie
 * inside the workspace; the workspace's connection is used only when the user trusts workspace connections.
 */
export function resolveConfig(initOptions: unknown, workspaceRoot: string | undefined): ResolvedConfig {
  const warnings: string[] = [];
  const user = readSettings(initOptions, warnings, 'initializationOptions');
  const userOnly: UserOnlySettings = {
    ...(user.trustWorkspaceConnections !== undefined ? { trustWorkspaceConnections: user.trustWorkspaceConnections } : {}),
    ...(user.manPage !== undefined ? { manPage: user.manPage } : {}),
    ...(user.qemuBinary !== undefined ? { qemuBinary: user.qemuBinary } : {}),
    ...(user.cacheProfile !== undefined ? { cacheProfile: user.cacheProfile } : {}),
    ...(user.cacheDir !== undefined ? { cacheDir: user.cacheDir } : {}),
  };
  const out: ResolvedConfig = { user: userOnly, warnings };
  const cwd = workspaceRoot ?? process.cwd();
  if (user.schemaFile !== undefined) out.schemaFile = { path: path.resolve(cwd, user.schemaFile), from: 'user' };
  const userConn = connectionOf(user, cwd, warnings, 'initializationOptions');
  if (userConn !== undefined) out.connection = { ...userConn, from: 'user' };

  if (workspaceRoot === undefined) return out;
  let text: string | undefined;
  try {
    text = readWorkspaceFile(workspaceRoot, WORKSPACE_FILE, WORKSPACE_FILE_MAX);
  } catch (err) {
    warnings.push((err as Error).message);
  }
  if (text === undefined) return out;
  let raw: unknown;
  try {
    raw = parseJsonQuietly(text, WORKSPACE_FILE);
  } catch (err) {
    warnings.push(`${(err as Error).message}; ignored`);
    return out;
  }
  const ws = readSettings(raw, warnings, WORKSPACE_FILE);
  for (const key of ['trustWorkspaceConnections', 'manPage', 'qemuBinary', 'cacheDir'] as const) {
    if (ws[key] !== undefined) warnings.push(`${WORKSPACE_FILE}: "${key}" is ignored here; only the editor's own configuration may set it`);
  }
  if (out.schemaFile === undefined && ws.schemaFile !== undefined) {
    const p = path.resolve(workspaceRoot, ws.schemaFile);
    if (isInside(workspaceRoot, p)) out.schemaFile = { path: p, from: 'workspace', root: workspaceRoot };
    else warnings.push(`${WORKSPACE_FILE}: "schemaFile" must name an existing file inside the workspace; ignored`);
  }
  const wsConn = connectionOf(ws, workspaceRoot, warnings, WORKSPACE_FILE);
  if (out.connection === undefined && wsConn !== undefined) {
    if (user.trustWorkspaceConnections === true) out.connection = { ...wsConn, from: 'workspace' };
    else warnings.push(`${WORKSPACE_FILE}: its ${wsConn.kind === 'sandbox' || wsConn.kind === 'storage-daemon' ? wsConn.kind.replace('-', ' ') : 'connection'} (${describeEndpoint(wsConn)}) is not used: set "trustWorkspaceConnections": true in the editor's initializationOptions to allow it`);
  }
  return out;
}

/** Validates a `query-qmp-schema` reply (or its `return` array) and builds the model; throws a clear Error. */
export function schemaFromJson(value: unknown, what: string): Schema {
  const rec = value as Record<string, unknown> | null;
  const infos: unknown = Array.isArray(value) ? value
    : typeof value === 'object' && value !== null && Array.isArray(rec?.['return']) ? rec?.['return']
      : typeof value === 'object' && value !== null && Array.isArray(rec?.['schema']) ? rec?.['schema'] : undefined;
  if (!Array.isArray(infos)) throw new Error(`${what}: expected a query-qmp-schema reply or its "return" array`);
  let commands = 0;
  infos.forEach((info: unknown, i) => {
    if (typeof info !== 'object' || info === null || Array.isArray(info)) throw new Error(`${what}: element ${i} is not an object`);
    const o = info as Record<string, unknown>;
    if (typeof o['name'] !== 'string' || typeof o['meta-type'] !== 'string') {
      throw new Error(`${what}: element ${i} has no "name" and "meta-type"`);
    }
    if (o['meta-type'] === 'command') commands++;
  });
  if (commands === 0) throw new Error(`${what}: no commands in the schema`);
  return Schema.fromIntrospection(infos as SchemaInfo[]);
}

/**
 * Reads and validates a schema file. With `workspaceRoot`, the file was named by the workspace and is read by
 * the workspace rule (readWorkspaceFile: checked again at reading, not only when the configuration was read).
 */
export function loadSchemaFile(file: string, workspaceRoot?: string): Schema {
  const text = workspaceRoot !== undefined ? readWorkspaceFile(workspaceRoot, file, SCHEMA_FILE_MAX) : readRegularFile(file, SCHEMA_FILE_MAX);
  if (text === undefined) throw new Error(`${file} does not exist`);
  return schemaFromJson(parseJsonQuietly(text, file), file);
}

/** The extension's id (publisher.name): its global storage folder is named after it. */
const EXTENSION_ID = 'qmp-notebook.qmp-notebook';

/** Where VS Code and its relatives keep the extension's schema cache (src/session/schemaCache.ts). */
export function cacheDirs(home = os.homedir(), env: NodeJS.ProcessEnv = process.env): string[] {
  const config = env['XDG_CONFIG_HOME'] ?? path.join(home, '.config');
  const data = env['XDG_DATA_HOME'] ?? path.join(home, '.local', 'share');
  const mac = path.join(home, 'Library', 'Application Support');
  const appData = env['APPDATA'];
  const products = ['Code', 'Code - Insiders', 'Code - OSS', 'VSCodium'];
  const roots = [
    ...products.map((p) => path.join(config, p)),
    ...products.map((p) => path.join(mac, p)),
    ...(appData !== undefined ? products.map((p) => path.join(appData, p)) : []),
    path.join(data, 'code-server'),
  ];
  return roots.map((r) => path.join(r, 'User', 'globalStorage', EXTENSION_ID, 'schemas'));
}

export interface CachedSchemaFile {
  file: string;
  profile: string;
  savedAt: string;
  schema: Schema;
}

/**
 * The schema the extension cached: the named profile's, or the newest of all. Files in the extension's format
 * `{format: 1, profile, version, savedAt, schema: [...]}`; unreadable or malformed files are skipped.
 */
export function loadCachedSchema(dirs: readonly string[], profile?: string): CachedSchemaFile | undefined {
  const candidates: { file: string; mtime: number }[] = [];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      if (!name.endsWith('.json')) continue;
      if (profile !== undefined && name !== `${encodeURIComponent(profile)}.json`) continue;
      const file = path.join(dir, name);
      try {
        candidates.push({ file, mtime: statSync(file).mtimeMs });
      } catch {
        /* vanished */
      }
    }
  }
  candidates.sort((a, b) => b.mtime - a.mtime);
  for (const c of candidates) {
    try {
      const rec = JSON.parse(readRegularFile(c.file, SCHEMA_FILE_MAX)) as Record<string, unknown>;
      if (rec['format'] !== 1 || !Array.isArray(rec['schema'])) continue;
      return {
        file: c.file,
        profile: typeof rec['profile'] === 'string' ? rec['profile'] : decodeURIComponent(path.basename(c.file, '.json')),
        savedAt: typeof rec['savedAt'] === 'string' ? rec['savedAt'] : '',
        schema: schemaFromJson(rec['schema'], c.file),
      };
    } catch {
      continue;
    }
  }
  return undefined;
}
