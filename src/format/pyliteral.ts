// Python literals as QEMU's qmp-shell accepts them in a `key=value` value that starts with `{` or `[` and is
// not JSON: it runs `ast.literal_eval` (after turning the names `null`/`true`/`false` into None/True/False)
// and sends `json.dumps` of the result. This module does the same in one pass and returns the JSON text, or
// why qmp-shell could not send the value:
//
//   {'driver': 'file', 'filename': "a.qcow2",}   -> {"driver":"file","filename":"a.qcow2"}
//   [1, 0x10, 1_000, -2, True, None, (3, 4)]     -> [1,16,1000,-2,true,null,[3,4]]
//   {1: 'a', None: 'b', 1.5: 'c'}                -> {"1":"a","null":"b","1.5":"c"}  (json.dumps' key rule)
//
// Refused as qmp-shell cannot send them either: sets, bytes, complex numbers, f-strings, names other than
// True/False/None/true/false/null, expressions. Floats are written as Python writes them (`2.0`), so an
// integer member still refuses `2.0`, as QEMU would. Nesting deeper than MAX_NESTING is refused before
// parsing (the caller checks), so the recursion here is bounded.

export type PyResult = { json: string } | { error: string };

class PyError extends Error {}

const DIGITS: Record<string, RegExp> = {
  x: /^[0-9a-fA-F](_?[0-9a-fA-F])*$/, o: /^[0-7](_?[0-7])*$/, b: /^[01](_?[01])*$/,
};

/** Python's repr of a float, as json.dumps writes it (integral values keep `.0`). */
function floatJson(n: number): string {
  if (!Number.isFinite(n)) throw new PyError('infinite or NaN numbers are not JSON');
  if (Number.isInteger(n)) return Math.abs(n) < 1e16 ? `${String(n)}.0` : n.toExponential().replace(/e\+?/, 'e+').replace('e+-', 'e-');
  return String(n);
}

export function pythonLiteralToJson(text: string): PyResult {
  let i = 0;
  const n = text.length;
  const space = (): void => {
    while (i < n && /\s/.test(text[i] ?? '')) i++;
  };
  function fail(message: string): never {
    throw new PyError(`${message} at character ${i + 1}`);
  }

  function stringLiteral(): string {
    let raw = false;
    while (i < n && /[rRuUbBfF]/.test(text[i] ?? '')) {
      const p = (text[i] ?? '').toLowerCase();
      if (p === 'b') fail('bytes are not JSON');
      if (p === 'f') fail('an f-string is not a literal');
      if (p === 'r') raw = true;
      i++;
    }
    const q = text[i] ?? '';
    if (q !== "'" && q !== '"') fail('expected a string');
    if (text.startsWith(q.repeat(3), i)) fail('triple-quoted strings are not supported');
    i++;
    let out = '';
    for (;;) {
      if (i >= n || text[i] === '\n') fail('unterminated string');
      const c = text[i] as string;
      if (c === q) {
        i++;
        return out;
      }
      if (c !== '\\') {
        out += c;
        i++;
        continue;
      }
      const e = text[i + 1];
      if (e === undefined) fail('unterminated string');
      if (raw) {
        out += `\\${e}`;
        i += 2;
        continue;
      }
      i += 2;
      switch (e) {
        case '\\': out += '\\'; break;
        case "'": out += "'"; break;
        case '"': out += '"'; break;
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'a': out += '\x07'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'v': out += '\v'; break;
        case '\n': break;
        case 'x': case 'u': case 'U': {
          const len = e === 'x' ? 2 : e === 'u' ? 4 : 8;
          const hex = text.slice(i, i + len);
          if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(hex)) fail(`invalid \\${e} escape`);
          const cp = parseInt(hex, 16);
          if (cp > 0x10ffff) fail(`invalid \\${e} escape`);
          out += String.fromCodePoint(cp);
          i += len;
          break;
        }
        default:
          if (/[0-7]/.test(e)) {
            let oct: string = e;
            while (oct.length < 3 && /[0-7]/.test(text[i] ?? '')) oct += text[i++] ?? '';
            out += String.fromCodePoint(parseInt(oct, 8));
          } else if (e === 'N') {
            fail('\\N{…} escapes are not supported');
          } else {
            out += `\\${e}`; // Python keeps unknown escapes as written.
          }
      }
    }
  }

  /** A number token (no sign); returns JSON text. */
  function numberLiteral(): string {
    const m = /^(?:0[xXoObB][0-9a-fA-F_]+|(?:\d[\d_]*)?\.?[\d_]*(?:[eE][+-]?[\d_]+)?)[jJ]?/.exec(text.slice(i, i + 400));
    const tok = m?.[0] ?? '';
    if (tok === '' || tok === '.') fail('expected a value');
    i += tok.length;
    if (/[jJ]$/.test(tok)) fail('complex numbers are not JSON');
    if (/^0[xXoObB]/.test(tok)) {
      const base = (tok[1] ?? '').toLowerCase();
      const digits = tok.slice(2);
      if (!(DIGITS[base]?.test(digits) ?? false) && !(digits.startsWith('_') && (DIGITS[base]?.test(digits.slice(1)) ?? false))) fail(`invalid number '${tok}'`);
      return BigInt(`0${base}${digits.replace(/_/g, '')}`).toString();
    }
    // Underscores only between digits.
    if (/(^_|_$|__|_\.|\._|_[eE]|[eE][+-]?_)/.test(tok)) fail(`invalid number '${tok}'`);
    const plain = tok.replace(/_/g, '');
    if (/^\d+$/.test(plain)) {
      if (/^0\d/.test(plain) && !/^0+$/.test(plain)) fail(`leading zeros in '${tok}' are not allowed in Python`);
      return BigInt(plain).toString();
    }
    if (!/^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(plain)) fail(`invalid number '${tok}'`);
    return floatJson(Number(plain));
  }

  /** A dict key: json.dumps writes str keys as they are and int, float, bool and None keys as text. */
  function keyText(json: string): string {
    if (json.startsWith('"')) return json;
    if (json.startsWith('{') || json.startsWith('[')) fail('a dict key must be a string or a number');
    return JSON.stringify(json);
  }

  function value(): string {
    space();
    const c = text[i];
    if (c === undefined) fail('expected a value');
    if (c === '{') return dictOrSet();
    if (c === '[') return sequence('[', ']');
    if (c === '(') return sequence('(', ')');
    if (c === '-' || c === '+') {
      i++;
      space();
      if (!/[\d.]/.test(text[i] ?? '')) fail(`expected a number after '${c}'`);
      const num = numberLiteral();
      if (c === '+') return num;
      return num.startsWith('-') ? num.slice(1) : num === '0' ? '0' : `-${num}`;
    }
    if (/[\d.]/.test(c ?? '')) return numberLiteral();
    if (c === "'" || c === '"' || (/[rRuUbBfF]/.test(c) && /^[rRuUbBfF]{1,2}['"]/.test(text.slice(i, i + 3)))) {
      // Adjacent string literals concatenate, as in Python.
      let s = stringLiteral();
      for (;;) {
        const save = i;
        space();
        const d = text[i];
        if (d === "'" || d === '"' || (d !== undefined && /^[rRuU]{1,2}['"]/.test(text.slice(i, i + 3)))) s += stringLiteral();
        else {
          i = save;
          break;
        }
      }
      return JSON.stringify(s);
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i, i + 100))?.[0];
    if (word !== undefined) {
      const map: Record<string, string> = { True: 'true', False: 'false', None: 'null', true: 'true', false: 'false', null: 'null' };
      const json = map[word];
      if (json === undefined) fail(`'${word}' is not a literal`);
      i += word.length;
      return json;
    }
    return fail(`unexpected '${c}'`);
  }

  function sequence(open: string, close: string): string {
    i++;
    const items: string[] = [];
    let commas = 0;
    for (;;) {
      space();
      if (text[i] === close) {
        i++;
        // `(x)` is x itself, `(x,)` a tuple.
        if (open === '(' && items.length === 1 && commas === 0) return items[0] as string;
        return `[${items.join(',')}]`;
      }
      if (items.length > commas) fail(`expected ',' or '${close}'`);
      items.push(value());
      space();
      if (text[i] === ',') {
        i++;
        commas++;
      }
    }
  }

  function dictOrSet(): string {
    i++;
    // A repeated key keeps its first place and its last value, as a Python dict does.
    const members = new Map<string, string>();
    let isSet = false;
    let count = 0;
    let commas = 0;
    for (;;) {
      space();
      if (text[i] === '}') {
        i++;
        if (isSet) fail('a set is not JSON (qmp-shell cannot send it)');
        return `{${[...members].map(([k, v]) => `${k}:${v}`).join(',')}}`;
      }
      if (count > commas) fail("expected ',' or '}'");
      const key = value();
      count++;
      space();
      if (text[i] === ':') {
        if (isSet) fail("expected ',' or '}'");
        i++;
        members.set(keyText(key), value());
      } else {
        if (members.size > 0) fail("expected ':'");
        isSet = true;
      }
      space();
      if (text[i] === ',') {
        i++;
        commas++;
      }
    }
  }

  try {
    const json = value();
    space();
    if (i < n) fail('unexpected text after the value');
    return { json };
  } catch (e) {
    if (e instanceof PyError) return { error: e.message };
    throw e;
  }
}
