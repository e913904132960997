// Helpers for the family tier (test/family): running the CLI bundle, and the daemons the tier starts
// (qemu-ga on the host, libvirtd without systemd). Every wait has a bound; every process is spawned with
// an argument array.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildCli, runCliBundle, type CliResult } from './cliBundle';

export type { CliResult } from './cliBundle';

/** Runs the built `qmp-notebook` bundle; kills it after deadlineMs. */
export async function runCli(args: string[], deadlineMs = 90_000, env: NodeJS.ProcessEnv = process.env): Promise<CliResult> {
  return runCliBundle(await buildCli(), args, { deadlineMs, env });
}

// ---------------------------------------------------------------------------------------------------
// qemu-ga on the host. It runs as root on this machine, so it must not be able to change anything: the
// commands it may run are an allow-list of read-only queries, and every other command its `-b help`
// lists is blocked (a newer qemu-ga's new commands are blocked too, by default).

/** The only guest-agent commands the tests may run: they read and change nothing. */
export const GUEST_AGENT_ALLOWED: readonly string[] = [
  'guest-sync-delimited', 'guest-sync', 'guest-ping', 'guest-info', 'guest-get-time', 'guest-get-host-name',
  'guest-get-timezone', 'guest-get-osinfo', 'guest-get-vcpus', 'guest-get-users', 'guest-get-cpustats',
  'guest-fsfreeze-status', 'guest-get-memory-block-info',
];

export const qemuGaBinary = process.env['QMP_TEST_QEMU_GA'] ?? '/usr/sbin/qemu-ga';

/** Every command this qemu-ga knows (`qemu-ga -b help`). */
export function guestAgentCommands(): string[] {
  const r = spawnSync(qemuGaBinary, ['-b', 'help'], { encoding: 'utf8', timeout: 10_000 });
  const names = `${r.stdout ?? ''}`.split(/\s+/).filter((n) => /^guest-[a-z-]+$/.test(n));
  if (names.length < 10) throw new Error(`${qemuGaBinary} -b help listed no commands: ${r.stdout}${r.stderr}`);
  return names;
}

export interface TestGuestAgent {
  readonly socketPath: string;
  readonly dir: string;
  /** The commands blocked with -b. */
  readonly blocked: readonly string[];
  readonly process: ChildProcess;
  /** Whether it still runs (qemu-ga 7.2 exits when a client closes with a reply unread). */
  alive(): boolean;
  log(): string;
  /** Starts it again on the same socket when it has exited. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts `qemu-ga -m unix-listen` in a fresh 0700 directory, blocking everything not in GUEST_AGENT_ALLOWED. */
export async function startGuestAgent(): Promise<TestGuestAgent> {
  const dir = mkdtempSync(path.join(tmpdir(), 'qmp-ga-'));
  chmodSync(dir, 0o700);
  const socketPath = path.join(dir, 'qga.sock');
  const blocked = guestAgentCommands().filter((c) => !GUEST_AGENT_ALLOWED.includes(c));
  let child: ChildProcess;
  let exited = true;
  let out = '';
  const start = async (): Promise<void> => {
    rmSync(socketPath, { force: true });
    const stateDir = path.join(dir, 'state');
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    child = spawn(qemuGaBinary, [
      '-m', 'unix-listen', '-p', socketPath, '-t', stateDir, '-f', path.join(dir, 'qga.pid'),
      '-b', blocked.join(','),
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    exited = false;
    child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
    child.once('exit', () => { exited = true; });
    child.once('error', (e) => { exited = true; out += String(e); });
    const deadline = Date.now() + 10_000;
    while (!existsSync(socketPath)) {
      if (exited) throw new Error(`qemu-ga exited at start: ${out}`);
      if (Date.now() > deadline) throw new Error(`qemu-ga did not create ${socketPath} in time: ${out}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await start();
  const stop = async (): Promise<void> => {
    if (!exited) {
      const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await done;
      clearTimeout(t);
    }
  };
  return {
    socketPath, dir, blocked,
    get process() { return child; },
    alive: () => !exited,
    log: () => out,
    restart: async () => { await stop(); await start(); },
    stop: async () => { await stop(); rmSync(dir, { recursive: true, force: true }); },
  };
}

// ---------------------------------------------------------------------------------------------------
// libvirtd without systemd (scripts/setup-family.sh made the user, the log directory and qemu.conf).

export const libvirtUri = 'qemu:///system';

/** Runs `virsh -c libvirtUri …`: its exit code and its output (stdout then stderr). */
export function virsh(args: string[], timeoutMs = 30_000): { code: number | null; out: string } {
  const r = spawnSync('virsh', ['-c', libvirtUri, ...args], { encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, LC_ALL: 'C' } });
  return { code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/**
 * Makes sure virtlogd and libvirtd run (first start about 10 s: libvirt probes QEMU's capabilities once and
 * caches them). Returns whether this call started them, and how long it waited.
 */
export async function ensureLibvirtd(): Promise<{ started: boolean; ms: number }> {
  const t0 = Date.now();
  if (virsh(['version'], 10_000).code === 0) return { started: false, ms: Date.now() - t0 };
  spawnSync('virtlogd', ['--daemon'], { timeout: 10_000 });
  const r = spawnSync('libvirtd', ['--daemon', `--pid-file=${path.join(tmpdir(), 'qmp-family-libvirtd.pid')}`], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`libvirtd did not start: ${r.stderr}`);
  const deadline = Date.now() + 60_000;
  while (virsh(['version'], 10_000).code !== 0) {
    if (Date.now() > deadline) throw new Error('libvirtd did not answer `virsh version` within 60 s');
    await new Promise((res) => setTimeout(res, 200));
  }
  return { started: true, ms: Date.now() - t0 };
}

function withDomainXml(name: string, use: (xml: string) => void): void {
  const dir = mkdtempSync(path.join(tmpdir(), 'qmp-dom-'));
  try {
    const xml = path.join(dir, 'dom.xml');
    writeFileSync(xml, `<domain type='qemu'><name>${name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu>` +
      "<os><type arch='x86_64' machine='pc'>hvm</type></os><devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices></domain>\n");
    use(xml);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A transient 64 MiB `type='qemu'` domain with no disks and no network, started paused. */
export function createTestDomain(name: string): void {
  withDomainXml(name, (xml) => {
    const r = virsh(['create', '--paused', xml], 60_000);
    if (r.code !== 0) throw new Error(`virsh create failed: ${r.out}`);
  });
}

/** The same domain made persistent (`virsh define`) and started paused: destroying it leaves it "shut off". */
export function defineTestDomain(name: string): void {
  withDomainXml(name, (xml) => {
    const r = virsh(['define', xml], 60_000);
    if (r.code !== 0) throw new Error(`virsh define failed: ${r.out}`);
    const s = virsh(['start', '--paused', name], 60_000);
    if (s.code !== 0) throw new Error(`virsh start failed: ${s.out}`);
  });
}

/** Stops and removes a persistent domain; quiet when it does not exist. */
export function undefineTestDomain(name: string): void {
  virsh(['destroy', name], 30_000);
  virsh(['undefine', name], 30_000);
}

/** Destroys a domain (transient: it is gone afterwards); quiet when it does not exist. */
export function destroyTestDomain(name: string): void {
  virsh(['destroy', name], 30_000);
}

/** Runs `virt-admin` (the family tier's libvirtd); throws with its stderr when it fails. */
export function virtAdmin(args: string[]): string {
  const r = spawnSync('virt-admin', args, { encoding: 'utf8', timeout: 30_000, env: { ...process.env, LC_ALL: 'C' } });
  if (r.status !== 0) throw new Error(`virt-admin ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

/** The value virt-admin prints after `Logging filters:` / `Logging outputs:`. */
export const loggingSetting = (text: string): string => text.replace(/^\s*Logging (filters|outputs):\s*/, '').trim();
