// The language server's framing (src/lsp/framing.ts) and message guard (src/lsp/guard.ts), in process: any
// chunking of well-framed messages gives the same bodies; any bytes give messages then at most one fatal
// error, never a quote of the input; the work is linear in the input.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { FrameReader, MAX_HEADER_BYTES } from '../../src/lsp/framing';
import { jsonRpcGuard } from '../../src/lsp/guard';
import { assertLinear } from '../support/linear';

function frame(body: Buffer, headers = ''): Buffer {
  return Buffer.concat([Buffer.from(`${headers}Content-Length: ${body.length}\r\n\r\n`, 'latin1'), body]);
}

function readAll(chunks: Buffer[]): { bodies: string[]; fatal: string[] } {
  const bodies: string[] = [];
  const fatal: string[] = [];
  const r = new FrameReader({ message: (b) => bodies.push(Buffer.from(b).toString('utf8')), fatal: (why) => fatal.push(why) });
  for (const c of chunks) r.push(c);
  return { bodies, fatal };
}

/** Splits a buffer at the given cut points. */
function split(buf: Buffer, cuts: number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of at) {
    out.push(buf.subarray(prev, c));
    prev = c;
  }
  out.push(buf.subarray(prev));
  return out;
}

describe('lsp framing', () => {
  it('any chunking of framed messages gives the same bodies, in order (property)', () => {
    const header = fc.constantFrom('', 'Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n', 'X-Other:  y \r\n');
    fc.assert(fc.property(fc.array(fc.tuple(fc.string({ maxLength: 40 }), header), { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 12 }),
      (messages, cuts) => {
        const stream = Buffer.concat(messages.map(([body, h]) => frame(Buffer.from(body, 'utf8'), h)));
        const { bodies, fatal } = readAll(split(stream, cuts));
        assert.deepEqual(fatal, []);
        assert.deepEqual(bodies, messages.map(([b]) => b));
      }), { numRuns: 1000 });
  });

  it('any bytes: messages, then at most one fatal reason that never quotes the input (property)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 6 }), (bytes, cuts) => {
      const marked = Buffer.concat([Buffer.from('SECRET'), Buffer.from(bytes)]);
      const { fatal } = readAll(split(marked, cuts));
      assert.ok(fatal.length <= 1);
      for (const f of fatal) assert.doesNotMatch(f, /SECRET/);
    }), { numRuns: 1000 });
  });

  it('names each bad header', () => {
    const cases: Array<[string, RegExp]> = [
      ['Content-Type: x\r\n\r\n', /without Content-Length/],
      ['Content-Length: 1e3\r\n\r\n', /not a non-negative decimal/],
      ['Content-Length: -1\r\n\r\n', /not a non-negative decimal/],
      ['Content-Length 2\r\n\r\n', /without a colon/],
      ['Content-Length: 2\n\n{}', /LF LF/],
      ['Content-Length: 2\r\nContent-Length: 3\r\n\r\n', /two different/],
      ['Content-Length: 2\r\nContent-Type: text/plain; charset=utf-16\r\n\r\n', /charset/],
      ['x'.repeat(MAX_HEADER_BYTES + 1), /no end of header/],
    ];
    for (const [input, why] of cases) {
      const { bodies, fatal } = readAll([Buffer.from(input, 'latin1')]);
      assert.deepEqual(bodies, [], input);
      assert.equal(fatal.length, 1, input);
      assert.match(fatal[0] as string, why);
    }
  });

  it('is linear: many small messages, one large body in small chunks', () => {
    const msg = frame(Buffer.from('{"jsonrpc":"2.0","method":"x"}'));
    assertLinear('many messages', (n) => Buffer.concat(Array.from({ length: n }, () => msg)), (b) => readAll([b]), 5000);
    assertLinear('one body in 64-byte chunks', (n) => split(frame(Buffer.alloc(n, 0x61)), Array.from({ length: n / 64 }, (_, i) => i * 64)), (c) => readAll(c), 64_000);
  });

  it('the guard answers what the connection cannot take, and keeps the lifecycle', () => {
    const replies: Array<[unknown, number]> = [];
    const g = jsonRpcGuard((id, code) => replies.push([id, code]));
    const body = (o: unknown): Uint8Array => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o));
    assert.equal(g.check(body('{')), undefined);
    assert.equal(g.check(Buffer.from([0xff])), undefined);
    assert.equal(g.check(body([1])), undefined);
    assert.equal(g.check(body({ jsonrpc: '2.0', id: 1, method: 'textDocument/hover' })), undefined);
    assert.equal(g.check(body({ jsonrpc: '2.0', method: 'textDocument/didOpen' })), undefined);
    assert.ok(g.check(body({ jsonrpc: '2.0', id: 2, method: 'initialize' })));
    assert.ok(g.check(body({ jsonrpc: '2.0', id: 3, method: 'textDocument/hover' })));
    assert.ok(g.check(body({ jsonrpc: '2.0', id: 4, method: 'shutdown' })));
    assert.equal(g.shutdownReceived, true);
    assert.equal(g.check(body({ jsonrpc: '2.0', id: 5, method: 'textDocument/hover' })), undefined);
    assert.ok(g.check(body({ jsonrpc: '2.0', id: 6, result: null })), 'responses pass');
    assert.ok(g.check(body({ jsonrpc: '2.0', method: 'exit' })));
    assert.deepEqual(replies, [[null, -32700], [null, -32700], [null, -32600], [1, -32002], [5, -32600]]);
  });
});
