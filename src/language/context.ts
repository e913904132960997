// The vocabulary of the language services: what a service may use besides the text. Shared by service.ts and
// the qmp-shell services (shellDiagnostics.ts) so that neither imports the other.
import type { Schema } from '../qmp/schema';
import type { CompatPolicy } from './diagnostics';
import type { QmpDocs } from './manpage';
import type { CreatedNames, LiveLookup } from './live';

/** What the notebook around a cell tells about named replies (namedReplies.ts). */
export interface NamedContext {
  /** The names the cells above define, each with the last command of its cell (for the schema's return type). */
  above: ReadonlyMap<string, { command?: string | undefined; cell: number }>;
  /** Names only cells below define (a use would run before them). */
  below?: { has(name: string): boolean } | undefined;
  /** The raw text of the last reply saved under a name, when its cell has run. */
  reply?(name: string): string | undefined;
}

/** Everything a service may use besides the text. Every member is optional: an empty context checks syntax. */
export interface LanguageContext {
  /** The schema of the QEMU the cell will run on; undefined checks only the syntax and the protocol shape. */
  schema?: Schema | undefined;
  /** False when the session did not negotiate the `oob` capability; undefined when unknown (not connected). */
  oobNegotiated?: boolean | undefined;
  /**
   * QEMU's `-compat` input policy. With `deprecatedInput: 'reject'` (or `'crash'`) a deprecated command,
   * member or value is an error instead of a warning; the same for `unstableInput`. Default: accept both.
   */
  compat?: CompatPolicy | undefined;
  /** The QMP reference documentation, already loaded (see `DocsProvider.current()`); hover and completion use it. */
  docs?: QmpDocs | undefined;
  /** The schema came from the cache rather than from the running QEMU (hover says so). */
  cached?: boolean | undefined;
  /** What the schema is when it is not a QEMU's (e.g. "bundled QEMU 10.0 (not connected)"): hover says so. */
  schemaLabel?: string | undefined;
  /** The device types the connected QEMU lists (`qom-list-types`), offered for device_add's `driver`. */
  deviceTypes?: readonly string[] | undefined;
  /**
   * The connected session's cached live values (block nodes, device ids, jobs…: docs/live-values.md). With it,
   * completion offers them, diagnostics warn about unknown names and hover says what a name is. Fetch what
   * `liveNeeds` names first: the service only reads the cache.
   */
  live?: LiveLookup | undefined;
  /** Names earlier cells of the notebook create (`namesCreatedBy`): known, even before they run. */
  created?: CreatedNames | undefined;
  /** The named replies of the notebook around the cell (namedReplies.ts): completion, a warning, hover. */
  named?: NamedContext | undefined;
}
