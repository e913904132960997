// Colours and the progress line, for a person at a terminal only. Colours follow no-color.org: none when
// NO_COLOR is set to anything but the empty string, when TERM is dumb, or when the stream is not a terminal
// (a pipe, a file, CI logs), so what a script reads never holds escape codes. The progress line is drawn on
// standard error, and only on a terminal (main.ts).

export interface Style {
  red(text: string): string;
  green(text: string): string;
  cyan(text: string): string;
  bold(text: string): string;
  yellow(text: string): string;
}

const wrap = (open: number, close: number) => (text: string): string => `\x1b[${open}m${text}\x1b[${close}m`;

const COLORS: Style = { red: wrap(31, 39), green: wrap(32, 39), cyan: wrap(36, 39), yellow: wrap(33, 39), bold: wrap(1, 22) };
const PLAIN: Style = { red: (t) => t, green: (t) => t, cyan: (t) => t, yellow: (t) => t, bold: (t) => t };

/** Whether to colour a stream: a terminal, NO_COLOR unset or empty, TERM not dumb. */
export function wantColor(isTTY: boolean | undefined, env: Readonly<Record<string, string | undefined>>): boolean {
  return isTTY === true && (env['NO_COLOR'] ?? '') === '' && env['TERM'] !== 'dumb';
}

export function style(color: boolean | undefined): Style {
  return color ? COLORS : PLAIN;
}

/** A unified diff's lines coloured: removed red, added green, hunk headers cyan. */
export function colorDiffLine(line: string, s: Style): string {
  if (line.startsWith('--- ') || line.startsWith('+++ ')) return s.bold(line);
  if (line.startsWith('@@')) return s.cyan(line);
  if (line.startsWith('-')) return s.red(line);
  if (line.startsWith('+')) return s.green(line);
  return line;
}
