// Random, mostly broken `qmp` cells for the one-tree tests (issue 18): a fixed seed, so the same cells come out on
// every run and the diagnostics recorded from the implementation before the one tree (test/fixtures/
// diagnostics-oracle.json) can be compared with today's. Pieces are what people type and mistype: command and
// member names, markers, brackets in the wrong places, words without quotes, comments.

const PIECES = [
  '{', '}', '{', '}', '[', ']', ',', ',', ':', ':', ' ', '\n', '"', '->', '<-', '// c\n', '/* c */', '/* open',
  '"execute"', '"execute"', '"exec-oob"', '"arguments"', '"arguments"', '"id"', '"control"', '{"run-oob": true}', '"wait-event"', '"data"',
  '"timeout"', '"query-status"', '"blockdev-add"', '"device_add"', '"stop"', '"migrate-set-capabilities"', '"block-job-cancel"',
  '"driver"', '"null-co"', '"qcow2"', '"node-name"', '"n0"', '"size"', '"device"', '"force"', '"file"', '"bogus"',
  '"STOP"', '"BLOCK_JOB_COMPLETED"', '"a b', "'x'", 'true', 'false', 'null', 'nul', '1', '-1', '1.5', '2e', '18446744073709551616',
  'word', 'driver', 'execute', '"\\u12"', '"\\q"', '\u0001', '"{{n0.return}}"', '"{{bad"', '#',
];

/** A small deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TEMPLATES = [
  '{"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "n0", "size": 1}}',
  '{"execute": "query-status"}',
  '{"exec-oob": "migrate-pause"}',
  '{"execute": "device_add", "arguments": {"driver": "virtio-net-pci", "id": "x"}}',
  '<- {"return": {}}',
  '{"wait-event": "STOP", "data": {"a": 1}, "timeout": 10}',
];

/** `count` cells: a third are pieces at random, the rest valid templates with pieces inserted, removed or replaced. */
export function garbledCells(count: number, seed = 18): string[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const out: string[] = [];
  for (let n = 0; n < count; n++) {
    if (n % 3 === 0) {
      const len = Math.floor(r() * 40);
      let s = '';
      for (let i = 0; i < len; i++) s += pick(PIECES);
      out.push(s);
      continue;
    }
    let s = Array.from({ length: 1 + Math.floor(r() * 3) }, () => pick(TEMPLATES)).join('\n');
    const edits = 1 + Math.floor(r() * 4);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(r() * (s.length + 1));
      const op = r();
      if (op < 0.4) s = s.slice(0, at) + pick(PIECES) + s.slice(at);
      else if (op < 0.7) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(r() * 6));
      else s = s.slice(0, at) + pick(PIECES) + s.slice(at + 1 + Math.floor(r() * 4));
    }
    out.push(s);
  }
  return out;
}
