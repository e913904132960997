// The qemu-qmp-ref(7) reader: hand-written roff for each construct, and the installed man page (read at test
// time; no copy of QEMU's text is committed).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { performance } from 'node:perf_hooks';
import { findQmpManPage, loadQmpManPage, parseQmpManPage, readManPageFile, roffInline } from '../../src/language/manpage';
import { fixtureSchema } from './schemaFixtures';

const SNIPPET = [
  '.\\" a comment',
  '.TH "QEMU-QMP-REF" "7" "Jan 1, 2030" "9.9.9" "QEMU"',
  '.SH NAME',
  'qemu-qmp-ref \\- test',
  '.SS \\fBWidgetBase\\fP (Object)',
  '.sp',
  'Common widget members.',
  '.SS Members',
  '.INDENT 0.0',
  '.TP',
  '.B \\fBkind\\fP: \\fBWidgetKind\\fP',
  'what it is',
  '.TP',
  '.B \\fBlabel\\fP: \\fBstring\\fP (optional)',
  'a \\fIshort\\fP label, e.g. \\(dqx\\(dq; it\\(aqs \\-1 if unset',
  '.UNINDENT',
  '.SS \\fBWidgetRound\\fP (Object)',
  '.SS Members',
  '.INDENT 0.0',
  '.TP',
  '.B \\fBradius\\fP: \\fBint\\fP',
  'the radius',
  '.UNINDENT',
  '.SS \\fBWidgetSquare\\fP (Object)',
  '.SS Members',
  '.INDENT 0.0',
  '.TP',
  '.B \\fBradius\\fP: \\fBnumber\\fP',
  'not a circle',
  '.UNINDENT',
  '.SS \\fBwidget\\-add\\fP (Command)',
  '.sp',
  'Adds a widget.',
  '.sp',
  'Second paragraph.',
  '.SS Arguments',
  '.INDENT 0.0',
  '.TP',
  '.B The members of \\fBWidgetBase\\fP',
  '.TP',
  '.B The members of \\fBWidgetSquare\\fP when \\fBkind\\fP is \\fB\\(dqsquare\\(dq\\fP',
  '.TP',
  '.B The members of \\fBWidgetRound\\fP when \\fBkind\\fP is \\fB\\(dqround\\(dq\\fP',
  '.UNINDENT',
  '.SS Returns',
  '.INDENT 0.0',
  '.IP \\(bu 2',
  'nothing on success',
  '.IP \\(bu 2',
  'GenericError if \\fBkind\\fP is wrong',
  '.UNINDENT',
  '.SS Since',
  '.sp',
  '9.9',
  '.SS Example',
  '.INDENT 0.0',
  '.INDENT 3.5',
  '.sp',
  '.nf',
  '.ft C',
  '\\-> { \\(dqexecute\\(dq: \\(dqwidget\\-add\\(dq,',
  '     \\(dqarguments\\(dq: { \\(dqkind\\(dq: \\(dqround\\(dq, \\(dqradius\\(dq: 2 } }',
  '<\\- { \\(dqreturn\\(dq: {} }',
  '.ft P',
  '.fi',
  '.UNINDENT',
  '.UNINDENT',
  '.SS \\fBWIDGET_ADDED\\fP (Event)',
  '.sp',
  'Emitted when a widget appears.',
  '.SS Arguments',
  '.INDENT 0.0',
  '.TP',
  '.B \\fBid\\fP: \\fBstring\\fP',
  'Not documented',
  '.UNINDENT',
  '.SS Chapter heading',
  '.sp',
  'This prose belongs to no entity.',
  '',
].join('\n');

describe('qemu-qmp-ref(7) reader on hand-written roff', () => {
  const docs = parseQmpManPage(SNIPPET);

  test('entities by kind, the header version, summary and Since', () => {
    assert.equal(docs.version, '9.9.9');
    assert.deepEqual(docs.entities().map((e) => `${e.kind}:${e.name}`),
      ['object:WidgetBase', 'object:WidgetRound', 'object:WidgetSquare', 'command:widget-add', 'event:WIDGET_ADDED']);
    const cmd = docs.command('widget-add');
    assert.equal(cmd?.summary, 'Adds a widget.');
    assert.equal(cmd?.since, '9.9');
    assert.equal(docs.command('WIDGET_ADDED'), undefined);
    assert.equal(docs.event('WIDGET_ADDED')?.summary, 'Emitted when a widget appears.');
    assert.ok(!docs.event('WIDGET_ADDED')?.plain.includes('belongs to no entity'));
  });

  test('members with types, optional, escapes, and markdown vs plain', () => {
    const label = docs.member('WidgetBase', 'label');
    assert.equal(label?.type, 'string');
    assert.equal(label?.optional, true);
    assert.equal(label?.plain, 'a short label, e.g. "x"; it\'s -1 if unset');
    assert.equal(label?.markdown, 'a *short* label, e.g. "x"; it\'s -1 if unset');
    assert.equal(docs.member('WidgetBase', 'kind')?.optional, false);
  });

  test('members through "The members of" references, choosing the variant by tag', () => {
    assert.equal(docs.member('widget-add', 'label')?.type, 'string');
    assert.equal(docs.member('widget-add', 'radius', { kind: 'round' })?.type, 'int');
    assert.equal(docs.member('widget-add', 'radius', { kind: 'square' })?.type, 'number');
    assert.equal(docs.member('widget-add', 'nothing'), undefined);
    const cmd = docs.command('widget-add');
    assert.deepEqual(cmd?.includes.map((i) => [i.type, i.when?.value]), [['WidgetBase', undefined], ['WidgetSquare', 'square'], ['WidgetRound', 'round']]);
  });

  test('examples and markdown rendering', () => {
    const cmd = docs.command('widget-add');
    assert.deepEqual(cmd?.examples, [
      '-> { "execute": "widget-add",\n     "arguments": { "kind": "round", "radius": 2 } }\n<- { "return": {} }',
    ]);
    const md = cmd?.markdown ?? '';
    assert.match(md, /^\*\*widget-add\*\* \(Command\)/);
    assert.match(md, /Adds a widget\.\n\nSecond paragraph\./);
    assert.match(md, /- GenericError if `kind` is wrong/);
    assert.match(md, /```\n-> \{ "execute": "widget-add",/);
    assert.match(md, /\*Since:\* 9\.9/);
  });

  test('roffInline decodes escapes and fonts', () => {
    assert.equal(roffInline('\\fBa\\-b\\fP and \\fIc\\fR \\(em \\e \\%x\\&y', 'plain'), 'a-b and c — \\ xy');
    assert.equal(roffInline('\\fBa\\-b\\fP and \\fIc\\fR', 'markdown'), '`a-b` and *c*');
    assert.equal(roffInline('x_y <z>', 'markdown'), 'x\\_y \\<z\\>');
  });

  test('never throws on junk', () => {
    for (const junk of ['', '.SS', '.SS \\fB', '\\', '.TP\n', '.nf\nunterminated', '.SS \\fBx\\fP (Command)\n.TP\n.B\n.IP']) {
      assert.doesNotThrow(() => parseQmpManPage(junk));
    }
    assert.equal(parseQmpManPage('.SS \\fBx\\fP (Command)\n.nf\n\\-> {}').command('x')?.examples[0], '-> {}');
  });
});

describe('qemu-qmp-ref(7) reader on the installed man page', () => {
  const file = findQmpManPage();

  test('finds the installed page, reads it gzipped and plain alike', (t) => {
    assert.ok(file, 'qemu-qmp-ref(7) is installed with QEMU 7.2');
    const dir = mkdtempSync(path.join(tmpdir(), 'qmp-man-'));
    chmodSync(dir, 0o700);
    try {
      // The fixture is generated here from the installed page: a plain and a gzipped copy.
      const text = readManPageFile(file);
      writeFileSync(path.join(dir, 'ref.7'), text, { mode: 0o600 });
      writeFileSync(path.join(dir, 'ref.7.gz'), gzipSync(text), { mode: 0o600 });
      const t0 = performance.now();
      const plain = loadQmpManPage(path.join(dir, 'ref.7'));
      t.diagnostic(`parsed in ${(performance.now() - t0).toFixed(1)} ms`);
      const gz = loadQmpManPage(path.join(dir, 'ref.7.gz'));
      assert.ok(plain && gz);
      assert.equal(plain.entities().length, gz.entities().length);
      assert.equal(loadQmpManPage(path.join(dir, 'missing.7')), undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('documents every command and event of the 7.2 schema', () => {
    const docs = loadQmpManPage();
    assert.ok(docs);
    assert.match(docs.version ?? '', /^7\.2\./);
    const schema = fixtureSchema('7.2');
    for (const c of schema.commands()) assert.ok(docs.command(c.name), c.name);
    for (const e of schema.events()) assert.ok(docs.event(e.name), e.name);
    const status = docs.command('query-status');
    assert.ok(status && status.summary.length > 5);
    assert.match(status.since ?? '', /^\d+\.\d+/);
    assert.ok(status.examples.some((x) => x.startsWith('-> { "execute": "query-status" }')));
    assert.ok(!/\\f|\\-|\\\(/.test(status.markdown), 'no roff escapes left');
    // blockdev-add documents its arguments on BlockdevOptions and its variants.
    assert.equal(docs.member('blockdev-add', 'node-name')?.optional, true);
    assert.equal(docs.member('blockdev-add', 'size', { driver: 'null-co' })?.type, 'int');
    assert.ok(docs.member('SHUTDOWN', 'reason'));
    assert.ok((docs.type('RunState')?.members.length ?? 0) > 10);
  });
});
