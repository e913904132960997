// No false errors: every command example (`->`) in the installed qemu-qmp-ref(7) must pass diagnose() against
// the 7.2 schema, apart from a short, explained list of examples that are wrong in the manual itself.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadQmpManPage } from '../../src/language/manpage';
import { diagnose } from '../../src/language/diagnostics';
import { segmentJsonCell } from '../../src/format/segments';
import { fixtureSchema } from '../unit/schemaFixtures';

/** Entities whose examples are known not to be valid commands for qemu-system-x86_64 7.2, and why. */
const KNOWN_BAD: Record<string, string> = {
  QUORUM_REPORT_BAD: 'an event example marked `->` instead of `<-`',
  MIGRATION_PASS: 'an event example marked `->` instead of `<-`',
  'set-vcpu-dirty-limit': 'the example closes the object before "arguments"',
  'cancel-vcpu-dirty-limit': 'the example closes the object before "arguments"',
  dumpdtb: 'not built into qemu-system-x86_64 (device tree targets only)',
  'dump-skeys': 'not built into qemu-system-x86_64 (s390x only)',
  'query-gic-capabilities': 'not built into qemu-system-x86_64 (Arm only)',
};

describe('diagnose agrees with the QMP reference examples', () => {
  test('every `->` example of qemu-qmp-ref(7) is free of errors against the 7.2 schema', () => {
    const docs = loadQmpManPage();
    assert.ok(docs, 'qemu-qmp-ref(7) is installed with QEMU 7.2');
    const schema = fixtureSchema('7.2');
    let checked = 0;
    const failures: string[] = [];
    const knownSeen = new Set<string>();
    for (const entity of docs.entities()) {
      for (const example of entity.examples) {
        for (const seg of segmentJsonCell(example)) {
          if (seg.kind !== 'send') continue;
          const text = example.slice(seg.start, seg.end);
          // The manual elides parts of some commands ("..."); only real JSON is a claim we can check.
          try { JSON.parse(text); } catch { continue; }
          const errs = diagnose(text, schema, { oobNegotiated: true }).filter((d) => d.severity === 'error');
          if (errs.length === 0) { checked++; continue; }
          if (KNOWN_BAD[entity.name] !== undefined) { knownSeen.add(entity.name); continue; }
          failures.push(`${entity.name}: ${errs.map((d) => d.message).join('; ')}\n${text}`);
        }
      }
    }
    assert.deepEqual(failures, []);
    assert.ok(checked >= 190, `only ${checked} examples checked`);
    // The exclusions must stay necessary: an entry that no longer fails is removed from the list.
    assert.deepEqual([...knownSeen].sort(), Object.keys(KNOWN_BAD).sort());
  });
});
