// Loads the captured query-qmp-schema fixtures of QEMU 7.2 and 10.0 into Schema models for the unit tests.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { SchemaInfo } from '../../src/qmp/introspect';
import { Schema } from '../../src/qmp/schema';

export type FixtureVersion = '7.2' | '10.0';

const root = path.resolve(__dirname, '..', '..', '..');

export function fixturePath(version: FixtureVersion, file: string): string {
  return path.join(root, 'test', 'fixtures', `qemu-${version}`, file);
}

const infosCache = new Map<FixtureVersion, SchemaInfo[]>();

/** The raw `return` of query-qmp-schema (parsed once per process). */
export function fixtureInfos(version: FixtureVersion): SchemaInfo[] {
  let infos = infosCache.get(version);
  if (!infos) {
    const parsed = JSON.parse(readFileSync(fixturePath(version, 'query-qmp-schema.json'), 'utf8')) as unknown;
    infos = (Array.isArray(parsed) ? parsed : (parsed as { return: unknown }).return) as SchemaInfo[];
    infosCache.set(version, infos);
  }
  return infos;
}

export function fixtureSchema(version: FixtureVersion): Schema {
  const [major, minor] = version.split('.').map(Number) as [number, number];
  return Schema.fromIntrospection(fixtureInfos(version), { major, minor, micro: version === '7.2' ? 22 : 13 });
}
