// The real implementations behind CliDeps: the protocol core, the notebook format and the language
// features, exactly as the extension uses them. Kept apart from main.ts so that the benchmark and tests can
// import them without starting the command line.
import { version } from '../../package.json';
import { languageService, parseCompatPolicy } from '../language/service';
import { parseCell, parseNotebook, type CellLanguage } from '../notebook/format/index';
import { Schema, type SchemaInfo } from '../qmp/index';
import type { CellProblemLike, CliDeps, NotebookLike } from './cli';
import type { RunItem } from './run';
import { openSession, type OpenOptions } from './session';

function isCellLanguage(language: string): language is CellLanguage {
  return language === 'qmp' || language === 'qmp-shell' || language === 'hmp' || language === 'markdown';
}

/** The cell's runnable items; replies the author expects (`<-`) are documentation and are not sent. */
export function cellItems(source: string, language: string, schema?: object): { items: RunItem[]; problems: CellProblemLike[] } {
  if (!isCellLanguage(language)) return { items: [], problems: [] };
  const parsed = parseCell(source, language, schema instanceof Schema ? schema : undefined);
  const items: RunItem[] = [];
  for (const item of parsed.items) {
    if (item.kind === 'command') items.push({ kind: 'command', input: item.input, name: item.name, offset: item.start });
    else if (item.kind === 'wait') {
      items.push({ kind: 'wait', event: item.event, timeoutMs: item.timeoutMs, offset: item.start, ...(item.data ? { data: item.data } : {}) });
    }
  }
  return { items, problems: parsed.errors.map((e) => ({ start: e.start, end: e.end, severity: 'error', message: e.message })) };
}

export function realDeps(openOptions: OpenOptions = {}): CliDeps {
  return {
    version,
    parseNotebook: (text): NotebookLike => {
      const data = parseNotebook(text);
      return {
        ...(data.profile !== undefined ? { profile: data.profile } : {}), ...(data.compat !== undefined ? { compat: data.compat } : {}), cells: data.cells,
      };
    },
    parseCell: cellItems,
    // One language service per cell language: qmp and qmp-shell cells get the same schema checks.
    diagnose: (source, language, schema, compat) => {
      const policy = compat !== undefined ? parseCompatPolicy(compat) : undefined;
      return languageService(language)?.diagnose(source, {
        schema: schema instanceof Schema ? schema : undefined,
        compat: policy !== undefined && 'policy' in policy ? policy.policy : undefined,
      }) ?? [];
    },
    schemaFromIntrospection: (infos) => Schema.fromIntrospection(infos as SchemaInfo[]),
    connect: (connection, options) => openSession(connection, { ...openOptions, ...options }),
  };
}
