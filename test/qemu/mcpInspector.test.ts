// `qmp-notebook mcp` (the production CLI bundle) driven by the official MCP Inspector's command line
// (`@modelcontextprotocol/inspector --cli`), as docs/mcp.md shows it, against a real sandbox QEMU: the tool list,
// a command executed, and a misspelled command refused with the editor's diagnostic and not sent.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildCli, repoRoot } from '../support/cliBundle';

let bundle = '';
let dir = '';
const inspector = path.join(repoRoot, 'node_modules', '.bin', 'mcp-inspector');

before(async () => {
  bundle = await buildCli();
  dir = mkdtempSync(path.join(tmpdir(), 'qmp-mcp-inspector-'));
  chmodSync(dir, 0o700);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** One inspector call: it starts the server, sends the method, prints the result as JSON and stops the server. */
function inspect(args: string[]): { status: number | null; json: Record<string, unknown>; stderr: string } {
  const r = spawnSync(inspector, ['--cli', process.execPath, bundle, 'mcp', '--sandbox', '--record', dir, ...args],
    { encoding: 'utf8', timeout: 90_000, env: { ...process.env } });
  assert.equal(r.error, undefined, String(r.error));
  const first = r.stdout.indexOf('{');
  const last = r.stdout.lastIndexOf('\n}');
  assert.ok(first >= 0 && last > first, `no JSON result on stdout: ${r.stdout}\n${r.stderr}`);
  return { status: r.status, json: JSON.parse(r.stdout.slice(first, last + 2)) as Record<string, unknown>, stderr: r.stderr };
}

/** The tool result's own JSON (its first text part). */
function toolData(json: Record<string, unknown>): Record<string, unknown> {
  const content = json['content'] as Array<{ type: string; text?: string }>;
  return JSON.parse(content.find((c) => c.type === 'text')?.text ?? '{}') as Record<string, unknown>;
}

describe('qmp-notebook mcp through the MCP Inspector CLI', () => {
  test('tools/list names every tool', () => {
    const r = inspect(['--method', 'tools/list']);
    assert.equal(r.status, 0, r.stderr);
    const names = (r.json['tools'] as Array<{ name: string }>).map((t) => t.name).sort();
    for (const want of ['qmp_execute', 'qmp_hmp', 'qmp_list_sessions', 'qmp_lookup', 'qmp_read_events', 'qmp_screenshot', 'qmp_validate', 'qmp_wait_event']) {
      assert.ok(names.includes(want), `${want} in ${names.join(', ')}`);
    }
  });

  test('qmp_execute runs query-status on the sandbox', () => {
    // The inspector reads --tool-arg values as JSON: the cell's text is a JSON string.
    const r = inspect(['--method', 'tools/call', '--tool-name', 'qmp_execute', '--tool-arg', `text=${JSON.stringify('{"execute": "query-status"}')}`]);
    assert.equal(r.status, 0, r.stderr);
    const d = toolData(r.json);
    assert.equal(d['sent'], true);
    const reply = (d['records'] as Array<Record<string, unknown>>).find((x) => x['type'] === 'reply');
    assert.equal(reply?.['ok'], true);
    assert.equal((reply?.['return'] as { status: string }).status, 'prelaunch');
  });

  test("docs/mcp.md's line: --tool-arg text=query-status (qmp-shell text) runs it", () => {
    const r = inspect(['--method', 'tools/call', '--tool-name', 'qmp_execute', '--tool-arg', 'text=query-status']);
    assert.equal(r.status, 0, r.stderr);
    const reply = (toolData(r.json)['records'] as Array<Record<string, unknown>>).find((x) => x['type'] === 'reply');
    assert.equal((reply?.['return'] as { status: string }).status, 'prelaunch');
  });

  test('a misspelled command is refused with the diagnostic and nothing is sent', () => {
    const r = inspect(['--method', 'tools/call', '--tool-name', 'qmp_execute', '--tool-arg', `text=${JSON.stringify('{"execute": "query-statsu"}')}`]);
    assert.equal(r.json['isError'], true, JSON.stringify(r.json));
    const d = toolData(r.json);
    assert.equal(d['sent'], false, JSON.stringify(d));
    const diagnostics = d['diagnostics'] as Array<{ code?: string; message: string }>;
    assert.ok(diagnostics.some((x) => x.code === 'unknown-command' && /did you mean 'query-stats'/.test(x.message)), JSON.stringify(diagnostics));
    assert.ok((d['fixes'] as unknown[]).length > 0, 'a quick fix comes with it');
  });
});
