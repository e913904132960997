// Builds the `qmp-notebook` bin exactly as the package ships it (scripts/build.mjs --production, the options of
// scripts/build-options.mjs: minified, names kept, no source maps), so the CLI tests run what users run. It is
// written to a private folder under out/, never over the development build in dist/. One build per test process;
// every test file that needs the bin awaits the same promise.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

export const repoRoot = path.resolve(__dirname, '..', '..', '..');
/** Where the production bundles of the test run are written. */
export const packagedBuildDir = path.join(repoRoot, 'out', 'packaged-build');
export const cliBundle = path.join(packagedBuildDir, 'cli.js');

let built: Promise<string> | undefined;

/** Runs `node scripts/build.mjs --production` once and resolves to the path of the packaged cli.js. */
export function buildCli(): Promise<string> {
  built ??= new Promise((resolve, reject) => {
    mkdirSync(packagedBuildDir, { recursive: true, mode: 0o700 });
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'build.mjs'), '--production', '--outdir', packagedBuildDir],
      { cwd: repoRoot, encoding: 'utf8' });
    if (r.status === 0) resolve(cliBundle);
    else reject(new Error(`scripts/build.mjs --production failed (${r.status}):\n${r.stdout}\n${r.stderr}`));
  });
  return built;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Milliseconds from spawn to exit. */
  ms: number;
}

export interface RunCliOptions {
  /** The child is killed (SIGKILL) if it has not exited by then; default 90 s. */
  deadlineMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Sees each stdout line as it comes, so a test can act in the middle of a run (open a FIFO, kill QEMU). */
  onLine?: (line: string) => void;
  /** Written to the child's stdin (a pipe, not a terminal), which is then closed; without it stdin is closed at once. */
  input?: string;
}

/** Spawns a built CLI bundle with an argument array and collects its output; every run has a deadline. */
export function runCliBundle(cli: string, args: readonly string[], options: RunCliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [cli, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'], ...(options.env ? { env: options.env } : {}), ...(options.cwd ? { cwd: options.cwd } : {}),
    });
    child.stdin.on('error', () => undefined); // a child that exits without reading its input
    child.stdin.end(options.input ?? '');
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      stdout += d;
      if (!options.onLine) return;
      partial += d;
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        options.onLine(line);
      }
    });
    child.stderr.on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.deadlineMs ?? 90_000);
    child.on('error', reject);
    if (options.input !== undefined) child.stdin?.end(options.input);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}
