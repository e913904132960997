// The mocha runner that VS Code's extension host loads as `extensionTestsPath`, under code-server
// (scripts/host-test.mjs) and under @vscode/test-electron (scripts/test-electron.mjs) alike.
//
// Which files run is chosen by QMP_HOST_SUITE: `main` (the default) runs every `*.test.js` under this folder
// except the suite-specific ones, and `trust` runs `*.trust.test.js` (a restricted, untrusted workspace). In
// both the extension under test is the packaged .vsix installed into VS Code (scripts/host-test.mjs).
// QMP_HOST_GREP narrows the run to matching test titles. When QMP_HOST_RESULTS names a file, the counts and
// failures are written there as JSON, because the workbench only reports an exit code.
import * as fs from 'node:fs';
import * as path from 'node:path';
import Mocha from 'mocha';

export type HostSuite = 'main' | 'trust';

export interface HostResults {
  suite: HostSuite;
  passed: number;
  failed: number;
  failures: { title: string; error: string }[];
}

const suiteInfix: Record<Exclude<HostSuite, 'main'>, string> = {
  trust: '.trust.test.js',
};

function selectedSuite(): HostSuite {
  const value = process.env['QMP_HOST_SUITE'] ?? 'main';
  if (value === 'main' || value === 'trust') return value;
  throw new Error(`QMP_HOST_SUITE must be main or trust, not ${value}`);
}

function belongsTo(file: string, suite: HostSuite): boolean {
  if (!file.endsWith('.test.js')) return false;
  if (suite !== 'main') return file.endsWith(suiteInfix[suite]);
  return !Object.values(suiteInfix).some((infix) => file.endsWith(infix));
}

function testFiles(dir: string, suite: HostSuite): string[] {
  const found: string[] = [];
  const walk = (folder: string): void => {
    for (const entry of fs.readdirSync(folder, { withFileTypes: true })) {
      const full = path.join(folder, entry.name);
      // The fixture workspace is data for the tests, never tests itself.
      if (entry.isDirectory() && entry.name !== 'workspace') walk(full);
      else if (entry.isFile() && belongsTo(entry.name, suite)) found.push(full);
    }
  };
  walk(dir);
  return found.sort();
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.stack ?? `${err.name}: ${err.message}`;
  return String(err);
}

function writeResults(results: HostResults): void {
  const file = process.env['QMP_HOST_RESULTS'];
  if (!file) return;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
}

export function run(): Promise<void> {
  const suite = selectedSuite();
  const grep = process.env['QMP_HOST_GREP'];
  const results: HostResults = { suite, passed: 0, failed: 0, failures: [] };
  // One line per test, the same under code-server (where each console line reaches the workbench log) and
  // under Electron (stdout); mocha's own reporters spread one result over several formatted lines.
  class LineReporter extends Mocha.reporters.Base {
    constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
      super(runner, options);
      runner.on('pass', (test) => {
        results.passed++;
        console.log(`  ok ${test.fullTitle()}`);
      });
      runner.on('fail', (test, err) => {
        results.failed++;
        results.failures.push({ title: test.fullTitle(), error: errorText(err) });
        console.error(`  FAIL ${test.fullTitle()}\n${errorText(err)}`);
      });
    }
  }
  const mocha = new Mocha({
    ui: 'tdd',
    color: false,
    reporter: LineReporter,
    // Activation in a cold extension host can take seconds on a loaded CI machine; the tests wait on events.
    timeout: 60_000,
    ...(grep ? { grep } : {}),
  });
  const files = testFiles(__dirname, suite);
  for (const file of files) mocha.addFile(file);

  return new Promise<void>((resolve, reject) => {
    if (files.length === 0) {
      results.failed = 1;
      results.failures.push({ title: `suite ${suite}`, error: `no test files for suite ${suite} in ${__dirname}` });
      writeResults(results);
      reject(new Error(results.failures[0]?.error));
      return;
    }
    try {
      mocha.run((failures) => {
        writeResults(results);
        console.log(`host suite ${suite}: ${results.passed} passed, ${results.failed} failed`);
        if (failures > 0) reject(new Error(`${failures} host test(s) failed`));
        else if (results.passed === 0) reject(new Error(`no host test ran in suite ${suite} (QMP_HOST_GREP ${grep ?? 'unset'})`));
        else resolve();
      });
    } catch (err) {
      results.failed++;
      results.failures.push({ title: 'loading the host tests', error: errorText(err) });
      writeResults(results);
      reject(err instanceof Error ? err : new Error(String(err)));
    }
  });
}
