// Helpers for the family tier (test/family): running the CLI bundle, and the daemons the tier starts
// (qemu-ga on the host, libvirtd without systemd). Every wait has a bound; every process is spawned with
// an argument array.
import { spawn } from 'node:child_process';
import { buildCli } from './cliBundle';

export interface CliResult { code: number | null; stdout: string; stderr: string; }

/** Runs the built `qmp-notebook` bundle; kills it after deadlineMs. */
export async function runCli(args: string[], deadlineMs = 90_000, env: NodeJS.ProcessEnv = process.env): Promise<CliResult> {
  const cli = await buildCli();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d: string) => { stdout += d; });
    child.stderr.on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}
