// Hostile masks through the production CLI against real QEMU: a front-matter mask `/(a+)+$/` on a reply
// holding 40 a's and a `!`, and a cell directive `// test: mask /(x+x+)+y/` over an expected event, through
// `test` and `run`. With a backtracking engine each ran for minutes; the time they take is checked for
// linearity in test/unit/masksHostile.test.ts; here they must simply finish with the right verdict (the
// deadline is only a guard against a hang).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildCli, runCliBundle } from '../support/cliBundle';

let cli = '';
let dir = '';
before(async () => {
  cli = await buildCli();
  dir = mkdtempSync(path.join(tmpdir(), 'qmp-cli-masks-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const show = (r: { code: number | null; stdout: string; stderr: string }): string => `exit ${r.code}\n${r.stdout}\n${r.stderr}`;

describe('hostile masks through the CLI', () => {
  test('test: a front-matter /(a+)+$/ over a reply of 40 a and ! (the command name QEMU echoes)', async () => {
    const name = `${'a'.repeat(40)}!`;
    const file = path.join(dir, 'front.qmp');
    writeFileSync(file, `---\nmasks: ["/(a+)+$/", "**.**.**.**.**.**.x"]\n---\n\n# hostile\n\n\`\`\`qmp\n{"execute": "${name}"}\n\`\`\`\n`);
    const update = await runCliBundle(cli, ['test', file, '--sandbox', '--update'], { deadlineMs: 120_000 });
    assert.equal(update.code, 0, show(update));
    assert.match(readFileSync(file, 'utf8'), new RegExp(`The command ${name} has not been found`));
    const r = await runCliBundle(cli, ['test', file, '--sandbox'], { deadlineMs: 120_000 });
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /^1 passed, 0 failed$/m);
  });

  test('run: a cell directive /(x+x+)+y/ over an expected event; run: a /x/g directive is refused, naming the flag', async () => {
    const file = path.join(dir, 'event.qmp');
    writeFileSync(file, `# events\n\n\`\`\`qmp\n// test: mask /(x+x+)+y/\n{"execute": "cont"}\n<- {"event": "RESUME", "data": {"note": "${'x'.repeat(40)}"}}\n\`\`\`\n`);
    const r = await runCliBundle(cli, ['run', file, '--sandbox', '--json'], { deadlineMs: 120_000 });
    // The event that came has no such data: the expectation is reported as not met (the run finishes).
    assert.ok(r.code === 0 || r.code === 1, show(r));
    assert.match(r.stdout, /"type":"expected-event".*"event":"RESUME".*"match":false/);
    const bad = path.join(dir, 'bad.qmp');
    writeFileSync(bad, '# bad\n\n```qmp\n// test: mask /[0-9]+/g\n{"execute": "cont"}\n<- {"event": "RESUME"}\n```\n');
    const b = await runCliBundle(cli, ['run', bad, '--sandbox'], { deadlineMs: 120_000 });
    assert.notEqual(b.code, 0, show(b));
    assert.match(b.stdout + b.stderr, /flag 'g' is not supported/);
  });

  test('test: a front-matter /[0-9]+/g is an error naming the flag, exit 2, nothing sent', async () => {
    const file = path.join(dir, 'flag.qmp');
    writeFileSync(file, '---\nmasks: ["/[0-9]+/g"]\n---\n\n```qmp\n{"execute": "query-status"}\n```\n');
    const r = await runCliBundle(cli, ['test', file, '--sandbox'], { deadlineMs: 60_000 });
    assert.equal(r.code, 2, show(r));
    assert.match(r.stderr, /bad pattern \/\[0-9\]\+\/g: flag 'g' is not supported \(a mask already replaces every match\)/);
  });
});
