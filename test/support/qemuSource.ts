// QEMU's own QMP tools and iotests files, from Debian 12's source package of the QEMU the qemu tier runs
// (qemu_7.2+dfsg.orig.tar.xz), which scripts/setup-family.sh fetches once, checks by sha256 and extracts to
// ~/.cache/qmp-notebook/qemu-7.2-source (QMP_QEMU_SOURCE overrides the folder). Nothing is downloaded here:
// a missing tree fails the test that needs it with what to run.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';

export const qemuSourceDir = process.env['QMP_QEMU_SOURCE']
  ?? path.join(process.env['QMP_NOTEBOOK_CACHE'] ?? path.join(homedir(), '.cache', 'qmp-notebook'), 'qemu-7.2-source');

/** The tree, or an error that says how to get it. */
export function qemuSource(): { dir: string; python: string; qmpShell: string; iotests: string } {
  if (!existsSync(path.join(qemuSourceDir, '.qmp-notebook-complete'))) {
    throw new Error(`QEMU's source tree is missing at ${qemuSourceDir}: run scripts/setup-family.sh (or set QMP_QEMU_SOURCE)`);
  }
  return {
    dir: qemuSourceDir,
    python: path.join(qemuSourceDir, 'python'),
    qmpShell: path.join(qemuSourceDir, 'scripts', 'qmp', 'qmp-shell'),
    iotests: path.join(qemuSourceDir, 'tests', 'qemu-iotests'),
  };
}

export interface PythonResult { code: number | null; stdout: string; stderr: string }

/**
 * Runs Debian's python3 with an argument array (never a shell), qemu.qmp of the tree on PYTHONPATH, a private
 * HOME (qmp-shell writes ~/.qmp-shell_history), the given standard input, and a deadline (SIGKILL after it).
 */
export function runPython(args: readonly string[], stdin: string, deadlineMs = 30_000): Promise<PythonResult> {
  const { python } = qemuSource();
  const home = mkdtempSync(path.join(tmpdir(), 'qmp-python-home-'));
  return new Promise((resolve, reject) => {
    const child = spawn('python3', [...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, PYTHONPATH: python, PYTHONDONTWRITEBYTECODE: '1', LANG: 'C.UTF-8' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
    child.on('error', (e) => { clearTimeout(timer); rmSync(home, { recursive: true, force: true }); reject(e); });
    child.on('close', (code) => {
      clearTimeout(timer);
      rmSync(home, { recursive: true, force: true });
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdin);
  });
}
