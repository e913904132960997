// Exports a notebook for tools outside the editor, as a Jupyter user expects "Download as": a qmp-shell script
// (QEMU's python/qemu/qmp/qmp_shell.py syntax), JSON lines for `socat - UNIX-CONNECT:qmp.sock`, and Markdown
// or HTML for a bug report (cells with their saved outputs). Pure functions of the notebook data: the editor's
// "QMP: Export Notebook…" and "Copy as…", and `qmp-notebook export`, all call them.
//
// What each format cannot say is said as a comment where the format has them (qmp-shell: `#` lines) and left
// out where it has none (JSON lines): waits for events and `<-` expectations are never sent by either tool.
import { parseTree, type Node } from 'jsonc-parser';
import { parseCell, type CellData, type CommandItem, type NotebookData } from '../format';

export type ExportFormat = 'qmp-shell' | 'jsonl' | 'markdown' | 'html' | 'virsh' | 'python' | 'socat';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['qmp-shell', 'jsonl', 'markdown', 'html', 'virsh', 'python', 'socat'];

/** The file name extension of each format. */
export const EXPORT_EXTENSIONS: Readonly<Record<ExportFormat, string>> = {
  'qmp-shell': '.qmp-shell', jsonl: '.jsonl', markdown: '.md', html: '.html', virsh: '.sh', python: '.py', socat: '.sh',
};

/** A short description of each format, for pickers and help. */
export const EXPORT_DESCRIPTIONS: Readonly<Record<ExportFormat, string>> = {
  'qmp-shell': 'a script for QEMU\'s qmp-shell (one command a line)',
  jsonl: 'JSON lines for socat (qmp_capabilities first, one command a line)',
  markdown: 'Markdown for a bug report (cells and their saved outputs)',
  html: 'a standalone HTML page for a bug report',
  virsh: 'virsh qemu-monitor-command lines for a libvirt domain (HMP cells with --hmp)',
  python: 'a Python script on qemu.qmp (asyncio, with the event waits)',
  socat: 'a socat one-liner with the capabilities handshake (ncat alternative in a comment)',
};

/** Options of the formats that need them. */
export interface ExportOptions {
  /** virsh: the libvirt domain (default: the shell variable $DOMAIN). */
  domain?: string | undefined;
  /** socat, python: the QMP socket (default: the shell variable $QMP_SOCKET / the first argument). */
  socket?: string | undefined;
}

/** The code cells' commands, waits and expectations, in order; cells whose text does not parse are skipped with a note. */
/** The comment lines that head a cell in a script: which cell it is, and why nothing follows when it does not parse. */
function cellHeading(cell: CellData, index: number, errors: number, indent = ''): string[] {
  const head = [`${indent}# cell ${index + 1} (${cell.language})`];
  if (errors > 0) head.push(`${indent}# not exported: the cell has ${errors} problem${errors === 1 ? '' : 's'}`);
  return head;
}

function cellItems(cell: CellData): { items: ReturnType<typeof parseCell>['items']; errors: number } {
  if (cell.kind !== 'code') return { items: [], errors: 0 };
  const parsed = parseCell(cell.source, cell.language);
  return { items: parsed.errors.length > 0 ? [] : parsed.items, errors: parsed.errors.length };
}

/** A command as one JSON line, as QEMU reads it (the author's id kept, exact literals). */
export function commandJson(c: CommandItem): string {
  return c.json;
}

// What QEMU's own qmp-shell (python/qemu/qmp/qmp_shell.py, 7.2 to 10.0) reads, measured against it
// (test/qemu/interop.test.ts): a line is split into tokens at whitespace outside quotes; each `key=value` value
// is `int()` if Python's int() takes it, `true`/`false` in any case a boolean, JSON (or a Python literal) when it
// starts with `{` or `[`, and otherwise the text as it is, quotes included. So a string with a space or a quote,
// a fraction and null have no qmp-shell spelling, a JSON value must have no space outside its strings, and there
// are no comments, options (`--oob`, `--id`) or ids. What it cannot say is written as a comment with the JSON; a
// comment line is one qmp-shell refuses ("Expected a key=value pair") and never sends, since the word after
// its `#` has no `=`.

/** What Python's int() may take (any Unicode digit, underscores, a sign): never written bare as a string. */
const PYTHON_INT = /^[+-]?[\p{Nd}_]+$/u;
/** A JSON integer as QEMU writes one: qmp-shell's int() reads it exactly, at any size. */
const JSON_INT = /^-?\d+$/;

/** A string value as qmp-shell reads it back as the same string, or undefined when it has no spelling. */
function shellString(s: string): string | undefined {
  if (s === '') return '';
  const bare = !/[\s"'{}[\]=#;\\]/.test(s) && !PYTHON_INT.test(s) && !/^(true|false)$/i.test(s) && !s.startsWith('-');
  return bare ? s : undefined;
}

/** JSON text with the whitespace outside its strings removed (one qmp-shell token), every literal as written. */
function compactJson(text: string): string {
  let out = '';
  let inString = false;
  let escape = false;
  for (const c of text) {
    if (inString) {
      out += c;
      if (escape) escape = false;
      else if (c === '\\') escape = true;
      else if (c === '"') inString = false;
    } else if (c === '"') { inString = true; out += c; }
    else if (!/\s/.test(c)) out += c;
  }
  return out;
}

/** One `key=value` per member of the arguments, from their exact JSON text (numbers keep every digit). */
function shellArgs(argumentsText: string | undefined): string[] | undefined {
  if (argumentsText === undefined) return [];
  const root = parseTree(argumentsText);
  if (root?.type !== 'object') return undefined;
  const out: string[] = [];
  for (const prop of root.children ?? []) {
    const [k, v] = prop.children ?? [];
    if (k === undefined || v === undefined) return undefined;
    const key = String(k.value);
    // A key qmp-shell would split (a dot nests, `=` ends the key, quotes and spaces split the token) cannot be written.
    if (key === '' || /[.=\s"'#;]/.test(key) || key.startsWith('-')) return undefined;
    const value = shellValue(argumentsText, v);
    if (value === undefined) return undefined;
    out.push(`${key}=${value}`);
  }
  return out;
}

/**
 * A value as qmp-shell reads it back, or undefined: a string bare, an integer or a boolean as its JSON text,
 * an object or array as its exact JSON text made one token. A fraction or null at the top has no qmp-shell
 * spelling (qmp-shell would send the text as a string).
 */
function shellValue(text: string, v: Node): string | undefined {
  const raw = text.slice(v.offset, v.offset + v.length);
  switch (v.type) {
    case 'string': return shellString(String(v.value));
    case 'boolean': return raw;
    case 'number': return JSON_INT.test(raw) ? raw : undefined;
    case 'object': case 'array': return compactJson(raw);
    default: return undefined;
  }
}

/** A comment line: one `#` line, whatever the text (JSON on it never spans lines). */
function shellComment(text: string): string {
  return `# ${text.replace(/[\r\n\u2028\u2029]+/g, ' ')}`;
}

/**
 * A command as a qmp-shell line (QEMU's qmp-shell), or as a comment with its JSON when qmp-shell cannot send
 * it as written. A command's own id is left out (qmp-shell sends none; the reply is the same but for its id).
 */
export function commandShell(c: CommandItem): string {
  if (c.name === 'qmp_capabilities') return shellComment('qmp_capabilities: qmp-shell negotiates it itself');
  const args = shellArgs(c.argumentsText ?? (c.input.arguments !== undefined ? JSON.stringify(c.input.arguments) : undefined));
  const canSay = args !== undefined && !c.oob && c.input.control === undefined && /^[A-Za-z][\w-]*$/.test(c.name) && c.name !== 'wait-event';
  if (!canSay) return shellComment(`qmp-shell cannot send this command${c.oob ? ' (out of band)' : ''}; as JSON: ${c.json}`);
  const line = [c.name, ...args].join(' ');
  return c.input.idText !== undefined ? `${shellComment(`its id ${c.input.idText} is left out: qmp-shell sends none`)}\n${line}` : line;
}

/** Every command of a notebook (or of some cells) as a qmp-shell script. */
export function toQmpShell(cells: readonly CellData[]): string {
  const lines: string[] = [
    '# Exported from a QMP notebook for QEMU\'s qmp-shell (python/qemu/qmp/qmp_shell.py): qmp-shell SOCKET < FILE, or paste line by line.',
    '# qmp-shell has no comments: it answers each # line with "Error while parsing command line" and sends nothing.',
  ];
  cells.forEach((cell, i) => {
    if (cell.kind !== 'code') return;
    const { items, errors } = cellItems(cell);
    lines.push('', ...cellHeading(cell, i, errors));
    for (const item of items) {
      if (item.kind === 'command') lines.push(commandShell(item));
      else if (item.kind === 'wait') lines.push(shellComment(`then wait for the event ${item.event}${item.data ? ` with ${JSON.stringify(item.data)}` : ''} (at most ${item.timeoutMs} ms); an empty line prints the events qmp-shell has`));
      else lines.push(shellComment(`expected: <- ${JSON.stringify(item.value)}`));
    }
  });
  return `${lines.join('\n')}\n`;
}

/** Every command as JSON lines, `qmp_capabilities` first (socat sends the file as it is, after QEMU's greeting). */
export function toJsonLines(cells: readonly CellData[], options: { capabilities?: boolean } = {}): string {
  const lines = options.capabilities === false ? [] : ['{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}'];
  for (const cell of cells) {
    for (const item of cellItems(cell).items) if (item.kind === 'command') lines.push(commandJson(item));
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** A fence longer than any backtick run in the text. */
function fence(text: string): string {
  const longest = Math.max(2, ...(text.match(/`+/g) ?? []).map((r) => r.length));
  return '`'.repeat(longest + 1);
}

/** A cell's saved outputs as `->`/`<-` lines. */
function outputLines(cell: CellData): string {
  return (cell.outputs ?? []).map((o) => (o.kind === 'message' ? `${o.direction} ${o.json}` : o.text)).join('\n');
}

/** The notebook as Markdown for a bug report: prose as it is, code cells fenced with their language, outputs under them. */
export function toMarkdown(data: NotebookData, title?: string): string {
  const parts: string[] = [];
  if (title !== undefined) parts.push(`# ${title}`);
  if (data.profile !== undefined) parts.push(`Run on the connection profile \`${data.profile}\`.`);
  for (const cell of data.cells) {
    if (cell.kind === 'markdown') {
      parts.push(cell.source.trim());
      continue;
    }
    // GitHub highlights JSON; qmp-shell and HMP are plain text there.
    const lang = cell.language === 'qmp' ? 'json' : 'text';
    const f = fence(cell.source);
    parts.push(`${f}${lang}\n${cell.source.replace(/\n+$/, '')}\n${f}`);
    const out = outputLines(cell);
    if (out !== '') {
      const g = fence(out);
      parts.push(`Output:\n\n${g}text\n${out}\n${g}`);
    }
  }
  return `${parts.filter((p) => p !== '').join('\n\n')}\n`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

/**
 * The notebook as one HTML page with no scripts and no outside resources: prose kept as its Markdown text
 * (wrapped), code and outputs in preformatted blocks that wrap too.
 */
export function toHtml(data: NotebookData, title = 'QMP notebook'): string {
  const body: string[] = [`<h1>${escapeHtml(title)}</h1>`];
  if (data.profile !== undefined) body.push(`<p>Run on the connection profile <code>${escapeHtml(data.profile)}</code>.</p>`);
  for (const cell of data.cells) {
    if (cell.kind === 'markdown') {
      body.push(`<div class="prose">${escapeHtml(cell.source.trim())}</div>`);
      continue;
    }
    body.push(`<pre class="cell" data-language="${escapeHtml(cell.language)}">${escapeHtml(cell.source.replace(/\n+$/, ''))}</pre>`);
    const out = outputLines(cell);
    if (out !== '') body.push(`<pre class="output">${escapeHtml(out)}</pre>`);
  }
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<title>${escapeHtml(title)}</title>`,
    '<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}'
      + '.prose{white-space:pre-wrap}pre{white-space:pre-wrap;overflow-wrap:anywhere;padding:.6em;border-radius:4px}'
      + '.cell{background:#f3f3f3;border-left:3px solid #4a7}.output{background:#fafafa;border-left:3px solid #999}</style>',
    '</head>',
    '<body>',
    ...body,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/** Text inside POSIX shell single quotes. */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** The text of an HMP command item (its only argument, `command-line`), when it is one. */
function hmpLine(c: CommandItem): string | undefined {
  const args = c.input.arguments;
  const line = c.name === 'human-monitor-command' ? args?.['command-line'] : undefined;
  return typeof line === 'string' && args !== undefined && Object.keys(args).length === 1 ? line : undefined;
}

/**
 * `virsh qemu-monitor-command` lines, one per command. libvirt negotiates the handshake and puts its own ids
 * on the commands; HMP cells go out with `--hmp`; out-of-band commands and event waits have no virsh spelling
 * and are written as comments.
 */
export function toVirsh(cells: readonly CellData[], options: ExportOptions = {}): string {
  const domain = options.domain !== undefined ? shellQuote(options.domain) : '"$DOMAIN"';
  const lines: string[] = ['#!/bin/sh', '# Exported from a QMP notebook: the commands through libvirt (virsh qemu-monitor-command).'];
  if (options.domain === undefined) lines.push(': "${DOMAIN:?set DOMAIN to the libvirt domain}"');
  cells.forEach((cell, i) => {
    if (cell.kind !== 'code') return;
    const { items, errors } = cellItems(cell);
    lines.push('', ...cellHeading(cell, i, errors));
    for (const item of items) {
      if (item.kind === 'command') {
        const hmp = cell.language === 'hmp' ? hmpLine(item) : undefined;
        if (item.name === 'qmp_capabilities') lines.push('# qmp_capabilities: libvirt negotiates it itself');
        else if (item.oob) lines.push(`# virsh cannot send out of band; as JSON:\n# ${item.json}`);
        else if (hmp !== undefined) lines.push(`virsh qemu-monitor-command ${domain} --hmp ${shellQuote(hmp)}`);
        else lines.push(`virsh qemu-monitor-command ${domain} ${shellQuote(item.json)}`);
      } else if (item.kind === 'wait') {
        lines.push(`# then the event ${item.event} (at most ${item.timeoutMs} ms); to see it, run before the command: virsh qemu-monitor-event ${domain} --event ${item.event} --timeout ${Math.ceil(item.timeoutMs / 1000)}`);
      } else lines.push(`# expected: <- ${JSON.stringify(item.value)}`);
    }
  });
  return `${lines.join('\n')}\n`;
}

/** A Python string literal holding the text (what JSON.stringify writes is a valid Python string literal). */
const py = (text: string): string => JSON.stringify(text);

const PYTHON_PRELUDE = [
  '#!/usr/bin/env python3',
  '"""Exported from a QMP notebook: its commands on qemu.qmp (asyncio).',
  '',
  'usage: python3 SCRIPT.py [SOCKET | HOST:PORT]',
  '"""',
  'import asyncio',
  'import json',
  'import sys',
  '',
  'from qemu.qmp import ExecuteError, QMPClient',
  '',
  '',
  'async def send(qmp, command, arguments=None, oob=False):',
  '    """Sends a command (arguments as JSON text, so big integers stay exact) and prints the reply."""',
  '    args = json.loads(arguments) if arguments is not None else None',
  '    try:',
  '        reply = await qmp.execute(command, args, oob=oob)',
  '        print("<-", json.dumps({"return": reply}))',
  '    except ExecuteError as err:',
  '        print("<-", json.dumps({"error": {"class": err.error_class, "desc": str(err)}}))',
  '',
  '',
  'async def wait(listener, name, data, timeout):',
  '    """Prints the next event NAME whose data has the given members; fails after timeout seconds."""',
  '    async def match():',
  '        while True:',
  '            event = await listener.get()',
  '            got = event.get("data", {})',
  '            if event["event"] == name and all(got.get(k) == v for k, v in (data or {}).items()):',
  '                return event',
  '    event = await asyncio.wait_for(match(), timeout)',
  '    print("<-", json.dumps(dict(event)))',
  '',
  '',
  'async def main(address):',
  '    qmp = QMPClient("qmp-notebook-export")',
  '    await qmp.connect(address)',
  '    try:',
];

/**
 * A Python script on qemu.qmp (QEMU's python/qemu/qmp): connects (the library negotiates the capabilities),
 * sends each command with its exact arguments, prints each reply in QEMU's `<-` notation, and waits for each
 * `wait-event` with its timeout through an event listener opened before the cell's commands.
 */
export function toPython(cells: readonly CellData[], options: ExportOptions = {}): string {
  const out: string[] = [...PYTHON_PRELUDE];
  let statements = 0;
  cells.forEach((cell, i) => {
    if (cell.kind !== 'code') return;
    const { items, errors } = cellItems(cell);
    out.push(...cellHeading(cell, i, errors, '        '));
    if (errors > 0) return;
    const names = [...new Set(items.flatMap((it) => (it.kind === 'wait' ? [it.event] : [])))];
    const indent = names.length > 0 ? '            ' : '        ';
    if (names.length > 0) { out.push(`        with qmp.listener((${names.map(py).join(', ')},)) as listener:`); statements++; }
    for (const item of items) {
      if (item.kind === 'command') {
        if (item.name === 'qmp_capabilities') { out.push(`${indent}pass  # qmp_capabilities: the library negotiates it`); continue; }
        out.push(`${indent}await send(qmp, ${py(item.name)}, ${item.argumentsText !== undefined ? py(item.argumentsText) : 'None'}${item.oob ? ', oob=True' : ''})`);
        statements++;
      } else if (item.kind === 'wait') {
        out.push(`${indent}await wait(listener, ${py(item.event)}, ${item.data ? `json.loads(${py(JSON.stringify(item.data))})` : 'None'}, ${item.timeoutMs / 1000})`);
      } else out.push(`${indent}# expected: <- ${JSON.stringify(item.value)}`);
    }
  });
  if (statements === 0) out.push('        pass');
  out.push(
    '    finally:',
    '        await qmp.disconnect()',
    '',
    '',
    'def address_of(text):',
    '    host, sep, port = text.rpartition(":")',
    '    return (host, int(port)) if sep and port.isdigit() and "/" not in text else text',
    '',
    '',
    'if __name__ == "__main__":',
    `    asyncio.run(main(address_of(sys.argv[1] if len(sys.argv) > 1 else ${py(options.socket ?? 'qmp.sock')})))`,
  );
  return `${out.join('\n')}\n`;
}

/**
 * One socat command: the capabilities handshake and every command as JSON lines on standard input, QEMU's
 * greeting, replies and events on standard output; `-t` keeps reading after the last command for the
 * longest wait of the notebook.
 */
export function toSocat(cells: readonly CellData[], options: ExportOptions = {}): string {
  const lines = toJsonLines(cells).split('\n').filter((l) => l !== '');
  let longest = 0;
  for (const cell of cells) for (const item of cellItems(cell).items) if (item.kind === 'wait') longest = Math.max(longest, item.timeoutMs);
  const seconds = Math.max(2, Math.ceil(longest / 1000) + 1);
  const socket = options.socket !== undefined ? shellQuote(options.socket) : '"$QMP_SOCKET"';
  const input = `printf '%s\\n' ${lines.map(shellQuote).join(' ')}`;
  return [
    '# Exported from a QMP notebook: the commands through socat (QEMU\'s greeting, then one reply or event a line).',
    ...(options.socket === undefined ? ['# Set QMP_SOCKET to the QMP socket path first.'] : []),
    `# With ncat instead: ${input} | ncat -U ${socket} -i ${seconds}`,
    `${input} | socat -t ${seconds} - UNIX-CONNECT:${socket}`,
    '',
  ].join('\n');
}

/** A notebook (or some of its cells) in a format. */
export function exportNotebook(data: NotebookData, format: ExportFormat, title?: string, options: ExportOptions = {}): string {
  switch (format) {
    case 'qmp-shell': return toQmpShell(data.cells);
    case 'jsonl': return toJsonLines(data.cells);
    case 'markdown': return toMarkdown(data, title);
    case 'html': return toHtml(data, title);
    case 'virsh': return toVirsh(data.cells, options);
    case 'python': return toPython(data.cells, options);
    case 'socat': return toSocat(data.cells, options);
  }
}
