// Diagnostics for `qmp` cells: JSON syntax, the top-level shape QEMU's dispatcher accepts, and the arguments
// checked against the schema the way QEMU's QObject input visitor checks them before a command runs.
//
// The rule for every check is agreement with QEMU: where QEMU rejects a command before running it, we report
// an error; where QEMU accepts it, we report no error (deprecations and hints are warnings or infos). What
// introspection cannot tell us is left alone rather than guessed: integer widths (QEMU's `uint8` and `int64`
// are both `int` in the schema, so only the int64/uint64 range is checked) and the properties of open
// commands such as device_add. Each diagnostic has a stable `code` and, where a quick fix makes sense, `data`.
//
// Offsets are UTF-16 offsets into the cell text, `end` exclusive; the vscode adapter turns them into ranges.
import type { ScannedJsonCell } from '../format/cell';
import { segmentJsonCell, type Segment } from '../format/segments';
import { wholeReference } from '../format/references';
import {
  capProblems, checkCommandShape, checkDuplicates, checkWaitShape, didYouMean, membersOf, parseJson, withSuggestion,
  MAX_PROBLEMS, type CompatAction, type CompatPolicy, type JsonNode, type JsonParse, type JsonScalar, type Problem,
} from '../format/validate';
import { isDisabledCommand, type MemberDef, type ObjectType, type Schema, type SchemaType } from '../qmp/schema';

export type DiagnosticSeverity = 'error' | 'warning' | 'info';

/** Stable codes; quick fixes key on them. */
export type DiagnosticCode =
  | 'json-syntax'
  | 'unexpected-key'
  | 'legacy-control'
  | 'unknown-command'
  /** A command the endpoint lists but has disabled (a guest agent's `enabled: false` in guest-info). */
  | 'command-disabled'
  | 'unknown-member'
  | 'missing-member'
  | 'wrong-type'
  | 'bad-enum'
  | 'bad-tag'
  | 'missing-tag'
  | 'deprecated'
  | 'unstable'
  | 'oob-not-allowed'
  | 'oob-not-negotiated'
  | 'unknown-event'
  /** A `qmp-shell` line the shell parser refuses (syntax, a value of the wrong kind). */
  | 'shell-syntax'
  /** Nested deeper than QEMU accepts (its JSON parser's MAX_NESTING, 1024). */
  | 'too-deep'
  /** The last diagnostic of a cell with more problems than are listed. */
  | 'too-many-problems'
  /** A value names a block node, device, job… the connected QEMU does not have (docs/live-values.md). */
  | 'unknown-live-value'
  /** A name a command would create is taken already in the connected QEMU. */
  | 'live-name-taken'
  /** A `{{name.path}}` whose name no cell above defines (docs/notebook-format.md, "Named replies"). */
  | 'unknown-reply-name'
  /** A `{{` in a command's string that does not read as a reference (the runner refuses the cell). */
  | 'bad-reference';

export interface DiagnosticData {
  /**
   * The replacement the quick fix should put in place of [start, end): a bare name (no quotes) for
   * 'unknown-command', 'unknown-member', 'unexpected-key', 'bad-enum', 'bad-tag', 'unknown-event'
   * (the range covers the JSON string including its quotes), and the key 'exec-oob' for 'legacy-control'
   * (the range covers the whole `control` member) or 'execute' for 'oob-not-allowed' (the range covers the
   * `exec-oob` key string).
   */
  suggestion?: string | undefined;
  /** For 'missing-member' and 'missing-tag': the names of the required members that are absent. */
  missing?: string[] | undefined;
  /**
   * For member diagnostics: the JSON path of the object concerned, from the command's `arguments`
   * (or the wait clause's `data`), e.g. ['model'] or ['bitmaps', 0]. Empty for the arguments object itself.
   */
  path?: (string | number)[] | undefined;
  /** For 'missing-member' / 'missing-tag': where the object is ([start, end) of its text), or undefined
   * when the whole `arguments` member is absent. */
  objectStart?: number | undefined;
  objectEnd?: number | undefined;
  /** The command (or event) the diagnostic is about, when known. */
  command?: string | undefined;
}

export interface Diagnostic {
  start: number;
  end: number;
  severity: DiagnosticSeverity;
  message: string;
  code: DiagnosticCode;
  data?: DiagnosticData;
}

export type { CompatAction, CompatPolicy };

export interface DiagnoseContext {
  /** False when the session did not negotiate the `oob` capability; undefined when unknown. */
  oobNegotiated?: boolean | undefined;
  /** With 'reject' or 'crash', deprecated (unstable) input is an error, as QEMU refuses it. */
  compat?: CompatPolicy | undefined;
}


const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

export { didYouMean };

/**
 * Checks every object of a `qmp` cell. `schema` undefined means only syntax and the top-level shape are
 * checked. Never throws; linear in the text; at most MAX_PROBLEMS diagnostics plus one summary. `parsed`: the
 * cell's segments and the one tree of each object segment when they exist already (its CellText, parsed.ts).
 */
export function diagnose(text: string, schema: Schema | undefined, ctx: DiagnoseContext = {}, parsed?: ScannedJsonCell): Diagnostic[] {
  const out: Diagnostic[] = [];
  let dropped = 0;
  const segments = parsed?.segments ?? segmentJsonCell(text);
  const syntax = (k: number, seg: Segment, maxProblems?: number): JsonParse =>
    parsed?.syntax(k) ?? parseJson(text, seg.start, seg.end, maxProblems);
  for (const [k, seg] of segments.entries()) {
    if (seg.kind === 'junk') {
      const shown = seg.end - seg.start > 40 ? `${text.slice(seg.start, seg.start + 40)}…` : text.slice(seg.start, seg.end);
      out.push({
        start: seg.start, end: seg.end, severity: 'error', code: 'json-syntax', message: `expected a JSON object ({ … }), found '${shown}'`,
      });
      continue;
    }
    // Past the cap, only syntax is counted: the schema checks of a cell that long would not be read.
    if (out.length > MAX_PROBLEMS) {
      dropped += syntax(k, seg, 0).problemCount;
      continue;
    }
    const checker = new SegmentChecker(text, seg.start, seg.end, schema, ctx, out);
    dropped += checker.run(seg.kind, syntax(k, seg));
  }
  return capProblems(out, out.length + dropped, (message, at): Diagnostic => ({ start: at, end: at, severity: 'error', code: 'too-many-problems', message }));
}

/** A validator problem as a diagnostic. */
export function problemDiagnostic(p: Problem): Diagnostic {
  const d: Diagnostic = { start: p.start, end: p.end, severity: p.severity, code: p.code, message: p.message };
  if (p.suggestion !== undefined) d.data = { suggestion: p.suggestion };
  return d;
}

interface Prop {
  name: string;
  key: JsonNode;
  value: JsonNode | undefined;
}

function propsOf(obj: JsonNode): Prop[] {
  return membersOf(obj);
}

/** QEMU names nested parameters 'model.name' and 'bitmaps[0].name'; so do we. */
function joinPath(parent: string, member: string | number): string {
  if (typeof member === 'number') return `${parent}[${member}]`;
  return parent === '' ? member : `${parent}.${member}`;
}

/** How QEMU's input visitor names a JSON type in "expected: ..." messages. */
function expectedText(schema: Schema, type: SchemaType): string {
  const words: Record<string, string> = {
    string: 'string', int: 'integer', number: 'number', boolean: 'boolean', null: 'null', object: 'object',
    array: 'array', any: 'any value',
  };
  return schema.kindsOf(type).map((k) => words[k] ?? k).join(' or ');
}

class SegmentChecker {
  private readonly seg: string;
  /** Objects left open by a syntax error: missing members there are not reported while the user types. */
  private incomplete = false;

  constructor(
    private readonly text: string,
    private readonly base: number,
    end: number,
    private readonly schema: Schema | undefined,
    private readonly ctx: DiagnoseContext,
    private readonly out: Diagnostic[],
  ) {
    this.seg = text.slice(base, end);
  }

  private add(node: JsonNode | { offset: number; length: number }, severity: DiagnosticSeverity, code: DiagnosticCode,
    message: string, data?: DiagnosticData): void {
    const d: Diagnostic = { start: this.base + node.offset, end: this.base + node.offset + node.length, severity, code, message };
    if (data) d.data = data;
    this.out.push(d);
  }

  private raw(node: JsonNode): string {
    return this.seg.slice(node.offset, node.offset + node.length);
  }

  /** Checks the segment; returns how many syntax problems were not listed (the parser's cap). */
  run(kind: 'send' | 'expect' | 'wait', parsed: JsonParse): number {
    for (const p of parsed.problems) {
      // An error at the end of the segment has no character of its own: mark the last one.
      const end = this.base + this.seg.length;
      const start = Math.min(p.start, Math.max(this.base, end - 1));
      this.out.push(problemDiagnostic({ ...p, start, end: Math.max(start + 1, Math.min(p.end, end)) }));
    }
    this.incomplete = parsed.problemCount > 0;
    const root = parsed.root;
    const dropped = parsed.problemCount - parsed.problems.length;
    if (!root) return dropped;
    this.shape(checkDuplicates, root);
    if (kind === 'expect') return dropped;
    if (root.type !== 'object') {
      this.add(root, 'error', 'json-syntax', 'QMP input must be a JSON object');
      return dropped;
    }
    if (kind === 'wait') this.checkWait(root);
    else this.checkCommand(root);
    return dropped;
  }

  /** Runs one of the shared validator's checks and adds its problems. */
  private shape<T>(check: (root: JsonNode, base: number, out: Problem[], incomplete?: boolean) => T, root: JsonNode): T {
    const problems: Problem[] = [];
    const result = check(root, this.base, problems, this.incomplete);
    for (const p of problems) {
      const d = problemDiagnostic(p);
      if (p.code === 'missing-member') {
        d.data = { missing: ['execute'], objectStart: this.base + root.offset, objectEnd: this.base + root.offset + root.length };
      }
      this.out.push(d);
    }
    return result;
  }

  /** A deprecated (unstable) use: a warning, or an error when QEMU's -compat policy rejects it. */
  private feature(node: JsonNode, which: 'deprecated' | 'unstable', message: string, data: DiagnosticData): void {
    const action = which === 'deprecated' ? this.ctx.compat?.deprecatedInput : this.ctx.compat?.unstableInput;
    if (action === 'reject' || action === 'crash') {
      const how = action === 'crash' ? 'QEMU aborts' : 'QEMU refuses it';
      this.add(node, 'error', which, `${message}, and this QEMU's -compat ${which}-input=${action} policy means ${how}`, data);
    } else {
      this.add(node, 'warning', which, message, data);
    }
  }

  private checkCommand(root: JsonNode): void {
    const shape = this.shape(checkCommandShape, root);
    const nameNode = shape.nameNode;
    if (nameNode === undefined) return;
    const args = shape.arguments;
    const oob = shape.oob;
    const oobAnchor = shape.oobKey ?? nameNode;
    if (oob && this.ctx.oobNegotiated === false) {
      this.add(oobAnchor, 'warning', 'oob-not-negotiated',
        "Out-of-band execution was not negotiated for this session (the 'oob' capability); QEMU rejects 'exec-oob'");
    }
    const schema = this.schema;
    if (!schema) return;
    const name = String(nameNode.value);
    const cmd = schema.command(name);
    if (!cmd) {
      const suggestion = didYouMean(name, schema.commands().filter((c) => !isDisabledCommand(c)).map((c) => c.name));
      this.add(nameNode, 'error', 'unknown-command', withSuggestion(`The command ${name} has not been found`, suggestion),
        suggestion === undefined ? { command: name } : { suggestion, command: name });
      return;
    }
    if (isDisabledCommand(cmd)) {
      // The agent would answer "Command … has been disabled"; the client refuses it before sending.
      this.add(nameNode, 'error', 'command-disabled', `The command ${name} is disabled in this guest agent (blocked by its ` +
        "configuration, qemu-ga --block-rpcs/-b, or while the guest's filesystems are frozen)", { command: name });
      return;
    }
    if (cmd.deprecated) this.feature(nameNode, 'deprecated', `The command ${name} is deprecated`, { command: name });
    if (cmd.unstable) this.feature(nameNode, 'unstable', `The command ${name} is unstable (experimental)`, { command: name });
    if (oob && !cmd.allowOob) {
      this.add(oobAnchor, 'error', 'oob-not-allowed', `The command ${name} does not support OOB`,
        { suggestion: 'execute', command: name });
    }
    if (args?.value && args.value.type !== 'object') return;
    const argType = cmd.argType;
    if (!argType) {
      if (args?.value && !cmd.open) {
        for (const p of propsOf(args.value)) {
          this.add(p.key, 'error', 'unknown-member', `Parameter '${p.name}' is unexpected`, { path: [], command: name });
        }
      }
      return;
    }
    if (!args?.value) {
      const missing = argType.members.filter((m) => !m.optional).map((m) => m.name);
      if (missing.length > 0 && !this.incomplete) {
        const code = argType.tag !== undefined && missing.includes(argType.tag) && missing.length === 1 ? 'missing-tag' : 'missing-member';
        this.add(nameNode, 'error', code, missingMessage(missing), { missing, path: [], command: name });
      }
      return;
    }
    this.checkObject(args.value, argType, '', [], { open: cmd.open, command: name, anchor: args.key });
  }

  private checkWait(root: JsonNode): void {
    const wait = this.shape(checkWaitShape, root);
    const nameNode = wait.eventNode;
    const data = wait.data;
    if (!nameNode) return;
    const schema = this.schema;
    if (!schema) return;
    const name = String(nameNode.value);
    const ev = schema.event(name);
    if (!ev) {
      const suggestion = didYouMean(name, schema.events().map((e) => e.name));
      this.add(nameNode, 'error', 'unknown-event', withSuggestion(`The event ${name} is not in this QEMU's schema`, suggestion),
        suggestion === undefined ? { command: name } : { suggestion, command: name });
      return;
    }
    if (ev.deprecated) this.add(nameNode, 'warning', 'deprecated', `The event ${name} is deprecated`, { command: name });
    if (!data || data.type !== 'object') return;
    // The data is a subset to match, so nothing is required; only names and JSON kinds are checked, and a
    // kind mismatch is a warning: the wait would never match, but QEMU is not involved.
    const dataProps = propsOf(data);
    const partial = plainTags(dataProps);
    const members = ev.argType ? schema.membersOf(ev.argType, partial) : [];
    const all = ev.argType ? schema.allMembersOf(ev.argType) : [];
    for (const p of dataProps) {
      const m = members.find((x) => x.name === p.name) ?? all.find((x) => x.name === p.name);
      if (!m) {
        const suggestion = didYouMean(p.name, all.map((x) => x.name));
        this.add(p.key, 'error', 'unknown-member', withSuggestion(`The event ${name} has no data member '${p.name}'`, suggestion),
          { path: [], command: name, ...(suggestion === undefined ? {} : { suggestion }) });
        continue;
      }
      if (p.value && !this.kindMatches(p.value, m.type)) {
        this.add(p.value, 'warning', 'wrong-type',
          `'${p.name}' of ${name} is ${expectedText(schema, m.type)}; this value can never match`, { path: [], command: name });
      }
    }
  }

  /** Whether the node's JSON kind is one the type accepts (shallow). */
  private kindMatches(node: JsonNode, type: SchemaType): boolean {
    const schema = this.schema as Schema;
    const kinds = schema.kindsOf(type);
    if (kinds.includes('any')) return true;
    switch (node.type) {
      case 'string': return kinds.includes('string');
      case 'number': return kinds.includes('number') || (kinds.includes('int') && this.isInt(node));
      case 'boolean': return kinds.includes('boolean');
      case 'null': return kinds.includes('null');
      case 'object': return kinds.includes('object');
      case 'array': return kinds.includes('array');
      default: return false;
    }
  }

  /** QEMU's parser makes an int of a number without fraction or exponent that fits int64 or uint64. */
  private isInt(node: JsonNode): boolean {
    const raw = this.raw(node);
    if (!/^-?\d+$/.test(raw)) return false;
    const v = BigInt(raw);
    return v >= INT64_MIN && v <= UINT64_MAX;
  }

  private checkValue(node: JsonNode, type: SchemaType, qpath: string, jpath: (string | number)[], opts: CheckOptions): void {
    const schema = this.schema as Schema;
    // A named reply (`"{{name.path}}"`) takes the type of the value it names when it is sent: not checked here.
    if (node.type === 'string' && typeof node.value === 'string' && wholeReference(node.value) !== undefined) return;
    const severity: DiagnosticSeverity = opts.lenient ? 'warning' : 'error';
    const wrong = (): void => {
      this.add(node, severity, 'wrong-type', `Invalid parameter type for '${qpath}', expected: ${expectedText(schema, type)}`,
        { path: jpath.slice(0, -1), command: opts.command });
    };
    switch (type.kind) {
      case 'builtin':
        if (!this.kindMatches(node, type)) wrong();
        return;
      case 'enum': {
        if (node.type !== 'string') { wrong(); return; }
        const value = String(node.value);
        const ev = type.value(value);
        const code = opts.tagMember ? 'bad-tag' : 'bad-enum';
        if (!ev) {
          const suggestion = didYouMean(value, type.values.map((v) => v.name));
          const listed = type.values.length <= 8 ? ` (one of ${type.values.map((v) => `'${v.name}'`).join(', ')})` : '';
          this.add(node, severity, code, withSuggestion(`Parameter '${qpath}' does not accept value '${value}'${listed}`, suggestion),
            { path: jpath.slice(0, -1), command: opts.command, ...(suggestion === undefined ? {} : { suggestion }) });
          return;
        }
        if (ev.deprecated) this.feature(node, 'deprecated', `The value '${value}' of '${qpath}' is deprecated`, { command: opts.command });
        if (ev.unstable) this.feature(node, 'unstable', `The value '${value}' of '${qpath}' is unstable (experimental)`, { command: opts.command });
        return;
      }
      case 'array':
        if (node.type !== 'array') { wrong(); return; }
        (node.children ?? []).forEach((c, i) => {
          this.checkValue(c, type.element, joinPath(qpath, i), [...jpath, i], { command: opts.command });
        });
        return;
      case 'object':
        if (node.type !== 'object') { wrong(); return; }
        this.checkObject(node, type, qpath, jpath,
          { command: opts.command, anchor: node.parent?.type === 'property' ? node.parent.children?.[0] : undefined });
        return;
      case 'alternate': {
        // QEMU picks the branch by the JSON type of the value, then checks the value against that branch.
        const branch = type.members.find((m) => this.branchTakes(m, node));
        if (!branch) { wrong(); return; }
        this.checkValue(node, branch, qpath, jpath, opts);
        return;
      }
    }
  }

  /** Whether QEMU's alternate dispatch sends a value of this JSON kind to `type`. */
  private branchTakes(type: SchemaType, node: JsonNode): boolean {
    switch (type.kind) {
      case 'builtin':
        switch (type.jsonType) {
          case 'string': return node.type === 'string';
          // Any number goes to an int or number branch; an int branch then rejects a fraction.
          case 'int': case 'number': return node.type === 'number';
          case 'boolean': return node.type === 'boolean';
          case 'null': return node.type === 'null';
          case 'object': return node.type === 'object';
          case 'array': return node.type === 'array';
          case 'value': return true;
        }
        return false;
      case 'enum': return node.type === 'string';
      case 'array': return node.type === 'array';
      case 'object': return node.type === 'object';
      case 'alternate': return type.members.some((m) => this.branchTakes(m, node));
    }
  }

  private checkObject(node: JsonNode, type: ObjectType, qpath: string, jpath: (string | number)[], opts: ObjectOptions): void {
    const schema = this.schema as Schema;
    const props = propsOf(node);
    const present = new Set(props.map((p) => p.name));
    // Walk down the flat-union levels the tag values select; stop where a tag is missing or not a case.
    const members: MemberDef[] = [];
    const tags = new Set<string>();
    let t: ObjectType | undefined = type;
    let resolved = true;
    while (t) {
      members.push(...t.members);
      if (t.tag === undefined || t.variants.length === 0) break;
      tags.add(t.tag);
      const tagValue = props.find((p) => p.name === (t as ObjectType).tag)?.value;
      const next: ObjectType | undefined = tagValue?.type === 'string' ? t.variant(String(tagValue.value)) : undefined;
      if (!next) { resolved = false; break; }
      t = next;
    }
    const byName = new Map(members.map((m) => [m.name, m]));
    const everyMember = resolved ? undefined : new Set(schema.allMembersOf(type).map((m) => m.name));
    const topOpen = opts.open === true;
    for (const p of props) {
      const m = byName.get(p.name);
      const memberPath = joinPath(qpath, p.name);
      if (!m) {
        // With the variant unknown, a member of some variant may be right once the tag is fixed.
        if (topOpen || everyMember?.has(p.name)) continue;
        const suggestion = didYouMean(p.name, byName.keys());
        // Say so when the member exists, but for another value of a union's tag.
        const elsewhere = resolved && type.tag !== undefined && schema.allMembersOf(type).some((x) => x.name === p.name)
          ? ` with ${[...tags].map((tg) => `${tg} '${String((props.find((q) => q.name === tg)?.value as JsonScalar | undefined)?.value)}'`).join(', ')}`
          : '';
        this.add(p.key, 'error', 'unknown-member', withSuggestion(`Parameter '${memberPath}' is unexpected${elsewhere}`, suggestion),
          { path: jpath, command: opts.command, ...(suggestion === undefined ? {} : { suggestion }) });
        continue;
      }
      if (m.deprecated) this.feature(p.key, 'deprecated', `Parameter '${memberPath}' is deprecated`, { path: jpath, command: opts.command });
      if (m.unstable) this.feature(p.key, 'unstable', `Parameter '${memberPath}' is unstable (experimental)`, { path: jpath, command: opts.command });
      if (!p.value) continue;
      // device_add and the like convert scalar properties to strings themselves: a type mismatch on a
      // declared member there is only a warning.
      this.checkValue(p.value, m.type, memberPath, [...jpath, p.name],
        { command: opts.command, lenient: topOpen, tagMember: tags.has(p.name) });
    }
    if (this.incomplete) return;
    const missing = members.filter((m) => !m.optional && !present.has(m.name)).map((m) => m.name);
    if (missing.length === 0) return;
    const anchor = opts.anchor ?? { offset: node.offset, length: 1 };
    const data: DiagnosticData = {
      missing, path: jpath, command: opts.command,
      objectStart: this.base + node.offset, objectEnd: this.base + node.offset + node.length,
    };
    const missingTags = missing.filter((n) => tags.has(n));
    const missingOthers = missing.filter((n) => !tags.has(n));
    if (missingTags.length > 0) {
      this.add(anchor, 'error', 'missing-tag', missingMessage(missingTags.map((n) => joinPath(qpath, n))), { ...data, missing: missingTags });
    }
    if (missingOthers.length > 0) {
      this.add(anchor, 'error', 'missing-member', missingMessage(missingOthers.map((n) => joinPath(qpath, n))), { ...data, missing: missingOthers });
    }
  }
}

interface CheckOptions {
  command: string | undefined;
  /** Type mismatches are warnings (declared members of an open command). */
  lenient?: boolean;
  /** The value is a union tag: a bad value is 'bad-tag'. */
  tagMember?: boolean;
}

interface ObjectOptions {
  command: string | undefined;
  /** Unknown members are allowed (the arguments of an open command). */
  open?: boolean;
  /** Where to put a missing-member diagnostic: the key whose value the object is. */
  anchor?: JsonNode | undefined;
}

function missingMessage(names: string[]): string {
  if (names.length === 1) return `Parameter '${names[0]}' is missing`;
  return `Parameters ${names.map((n) => `'${n}'`).join(', ')} are missing`;
}

/** The string-valued members of an object, which is all membersOf needs to pick union variants. */
function plainTags(props: Prop[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const p of props) if (p.value?.type === 'string') out[p.name] = p.value.value;
  return out;
}
