// The real CliDeps: connecting through the protocol core. Kept apart from main.ts so that the benchmark and
// tests can import them without starting the command line.
import { version } from '../../package.json';
import type { CliDeps } from './cli';
import { openSession, type OpenOptions } from './session';

export function realDeps(openOptions: OpenOptions = {}): CliDeps {
  return {
    version,
    connect: (connection, options) => openSession(connection, { ...openOptions, ...options }),
  };
}
