// A strict reader of JUnit XML as CI systems consume it (Jenkins' JUnit plugin, GitLab, GitHub's test
// reporters): XML 1.0 well-formedness (one root, every element closed in order, attributes quoted and not
// repeated, only the five predefined entities and character references, no markup characters in text), then
// JUnit's shape: <testsuites> of <testsuite name tests failures errors> of <testcase classname name time>,
// each with at most one <failure message type> or <error message type>, and counts that add up.
// Written for the tests (no XML parser is a dependency); it throws on the first problem, with its offset.

export interface XmlElement {
  name: string;
  attributes: Map<string, string>;
  children: XmlElement[];
  text: string;
}

const NAME = /[A-Za-z_][A-Za-z0-9_.-]*/y;
const ENTITY: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decode(raw: string, at: number): string {
  return raw.replace(/&([^;]*);|&/g, (m, ref: string | undefined) => {
    if (ref === undefined) throw new Error(`a bare & at ${at}`);
    if (ref in ENTITY) return ENTITY[ref] as string;
    const num = /^#(x[0-9A-Fa-f]+|[0-9]+)$/.exec(ref);
    if (!num) throw new Error(`unknown entity &${ref}; at ${at}`);
    const cp = (num[1] as string).startsWith('x') ? parseInt((num[1] as string).slice(1), 16) : parseInt(num[1] as string, 10);
    const legal = cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);
    if (!legal) throw new Error(`character reference ${m} is not allowed in XML 1.0 at ${at}`);
    return String.fromCodePoint(cp);
  });
}

const ILLEGAL = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

/** Parses a whole XML document strictly; throws on anything not well-formed. */
export function parseXml(text: string): XmlElement {
  if (ILLEGAL.test(text)) throw new Error('a character XML 1.0 cannot hold');
  let i = 0;
  const skipSpace = (): void => { while (i < text.length && /\s/.test(text[i] as string)) i++; };
  if (text.startsWith('<?xml')) {
    const end = text.indexOf('?>');
    if (end < 0) throw new Error('unclosed XML declaration');
    if (!/^<\?xml version="1\.0"( encoding="UTF-8")?\?>$/.test(text.slice(0, end + 2))) throw new Error('bad XML declaration');
    i = end + 2;
  }
  skipSpace();
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  while (i < text.length) {
    if (text[i] === '<') {
      if (text.startsWith('</', i)) {
        i += 2;
        NAME.lastIndex = i;
        const m = NAME.exec(text);
        if (!m) throw new Error(`bad end tag at ${i}`);
        i += m[0].length;
        skipSpace();
        if (text[i] !== '>') throw new Error(`bad end tag at ${i}`);
        i++;
        const open = stack.pop();
        if (open?.name !== m[0]) throw new Error(`</${m[0]}> closes <${open?.name ?? 'nothing'}> at ${i}`);
        if (stack.length === 0) { skipSpace(); if (i !== text.length) throw new Error(`content after the root at ${i}`); }
        continue;
      }
      i++;
      NAME.lastIndex = i;
      const m = NAME.exec(text);
      if (!m) throw new Error(`bad start tag at ${i}`);
      i += m[0].length;
      const el: XmlElement = { name: m[0], attributes: new Map(), children: [], text: '' };
      for (;;) {
        const before = i;
        skipSpace();
        if (text.startsWith('/>', i) || text[i] === '>') break;
        if (i === before) throw new Error(`attributes must be separated by space at ${i}`);
        NAME.lastIndex = i;
        const a = NAME.exec(text);
        if (!a) throw new Error(`bad attribute at ${i}`);
        i += a[0].length;
        if (text[i] !== '=' || text[i + 1] !== '"') throw new Error(`attribute ${a[0]} not ="quoted" at ${i}`);
        const end = text.indexOf('"', i + 2);
        if (end < 0) throw new Error('unclosed attribute');
        const raw = text.slice(i + 2, end);
        if (raw.includes('<')) throw new Error(`< in attribute ${a[0]} at ${i}`);
        if (el.attributes.has(a[0])) throw new Error(`attribute ${a[0]} repeated at ${i}`);
        el.attributes.set(a[0], decode(raw, i));
        i = end + 1;
      }
      const parent = stack[stack.length - 1];
      if (parent) parent.children.push(el);
      else if (root) throw new Error(`a second root element at ${i}`);
      else root = el;
      if (text.startsWith('/>', i)) {
        i += 2;
        if (stack.length === 0) { skipSpace(); if (i !== text.length) throw new Error(`content after the root at ${i}`); }
      } else {
        i++;
        stack.push(el);
      }
      continue;
    }
    const next = text.indexOf('<', i);
    const raw = text.slice(i, next < 0 ? text.length : next);
    const top = stack[stack.length - 1];
    if (!top) throw new Error(`text outside the root at ${i}`);
    if (raw.includes('>') && raw.includes(']]>')) throw new Error(`]]> in text at ${i}`);
    top.text += decode(raw, i);
    i = next < 0 ? text.length : next;
  }
  if (stack.length) throw new Error(`<${stack[stack.length - 1]?.name}> is not closed`);
  if (!root) throw new Error('no root element');
  return root;
}

export interface JunitCase {
  suite: string;
  classname: string;
  name: string;
  time: number;
  result?: { kind: 'failure' | 'error'; message: string; type: string; text: string };
}

/** Reads JUnit XML strictly (see the file comment); returns its test cases. */
export function readJunit(text: string): JunitCase[] {
  const root = parseXml(text);
  if (root.name !== 'testsuites') throw new Error(`root is <${root.name}>, expected <testsuites>`);
  const count = (el: XmlElement, attr: string): number => {
    const v = el.attributes.get(attr);
    if (v === undefined || !/^\d+$/.test(v)) throw new Error(`<${el.name}> needs a count ${attr}, got ${v}`);
    return Number(v);
  };
  const cases: JunitCase[] = [];
  let failures = 0;
  let errors = 0;
  for (const suite of root.children) {
    if (suite.name !== 'testsuite') throw new Error(`<${suite.name}> in <testsuites>`);
    const name = suite.attributes.get('name');
    if (!name) throw new Error('<testsuite> without a name');
    let f = 0;
    let e = 0;
    for (const tc of suite.children) {
      if (tc.name !== 'testcase') throw new Error(`<${tc.name}> in <testsuite>`);
      const cn = tc.attributes.get('name');
      const classname = tc.attributes.get('classname');
      const time = tc.attributes.get('time');
      if (!cn || !classname || time === undefined || !/^\d+(\.\d+)?$/.test(time)) throw new Error('<testcase> needs name, classname and time');
      if (tc.children.length > 1) throw new Error(`<testcase ${cn}> has ${tc.children.length} results`);
      const r = tc.children[0];
      const c: JunitCase = { suite: name, classname, name: cn, time: Number(time) };
      if (r) {
        if (r.name !== 'failure' && r.name !== 'error') throw new Error(`<${r.name}> in <testcase>`);
        const message = r.attributes.get('message');
        const type = r.attributes.get('type');
        if (message === undefined || type === undefined) throw new Error(`<${r.name}> needs message and type`);
        c.result = { kind: r.name, message, type, text: r.text };
        if (r.name === 'failure') f++; else e++;
      }
      cases.push(c);
    }
    if (count(suite, 'tests') !== suite.children.length || count(suite, 'failures') !== f || count(suite, 'errors') !== e) {
      throw new Error(`<testsuite ${name}> counts do not add up`);
    }
    failures += f;
    errors += e;
  }
  if (count(root, 'tests') !== cases.length || count(root, 'failures') !== failures || count(root, 'errors') !== errors) {
    throw new Error('<testsuites> counts do not add up');
  }
  const names = new Set<string>();
  for (const c of cases) {
    const key = `${c.classname}\0${c.name}`;
    if (names.has(key)) throw new Error(`two test cases named ${c.name} in ${c.classname}`);
    names.add(key);
  }
  return cases;
}
