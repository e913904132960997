// A kernel (src/kernel) over a client a test scripts: what `CliDeps.connect` returns in unit tests of the
// CLI's subcommands, without a process or a socket.
import { OpenKernel } from '../../src/kernel/index';
import type { EngineOptions } from '../../src/run/index';
import type { QmpClient } from '../../src/qmp/client';

export function fakeKernel(client: unknown, engine?: Omit<EngineOptions, 'client'>): OpenKernel {
  const c = client as QmpClient;
  return new OpenKernel({
    endpoint: { kind: 'sandbox' },
    kind: 'qemu',
    client: c,
    introspect: async () => { throw new Error('no schema in this test'); },
    describeLoss: async () => undefined,
    close: async () => undefined,
  }, engine);
}
