// The qemu-qmp-ref(7) reader: hand-written roff for each construct. The installed man page is read by the
// qemu tier (test/qemu/manpage-installed.test.ts): the unit tier does not depend on the host.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseQmpManPage, roffInline } from '../../src/language/manpage';

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
