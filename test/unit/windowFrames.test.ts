// The frames in which a Run All's cells talk to the window (src/notebook/windowFrames.ts): at once when the window
// heard nothing for a frame's length, else together at the frame's end, in order, in one turn.
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { WindowFrames } from '../../src/notebook/windowFrames';

/** A clock the test moves, and a way to let every pending promise callback run. */
function clock(): { now: () => number; set: (t: number) => void } {
  let t = 0;
  return { now: () => t, set: (v) => { t = v; } };
}
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Frames of 16 ms on a mocked setTimeout and the test's clock (at 0), after a first frame went out and its turn ended. */
async function afterFirstFrame(t: TestContext): Promise<{ c: ReturnType<typeof clock>; frames: WindowFrames }> {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const c = clock();
  const frames = new WindowFrames(16, () => true, c.now);
  await frames.turn();
  await settle();
  return { c, frames };
}

describe('window frames', () => {
  test('the first call goes at once, in the caller\'s turn', async () => {
    const c = clock();
    const frames = new WindowFrames(16, () => true, c.now);
    const order: string[] = [];
    void frames.turn().then(() => order.push('released'));
    await Promise.resolve();
    order.push('same turn');
    assert.deepEqual(order, ['released', 'same turn']);
    assert.equal(frames.pending, 0);
  });

  test('calls within a frame wait for its end and are released together, in order, in one turn', async (t) => {
    const { c, frames } = await afterFirstFrame(t);
    const order: string[] = [];
    c.set(3);
    for (const name of ['start 2', 'outputs 1', 'end 1']) void frames.turn().then(() => order.push(name));
    assert.equal(frames.pending, 3);
    await settle();
    assert.deepEqual(order, [], 'nothing before the frame ends');
    c.set(16);
    t.mock.timers.tick(13);
    // Released by one timer: every continuation runs before any other macrotask.
    let other = false;
    setImmediate(() => { other = true; });
    await Promise.resolve();
    await Promise.resolve();
    assert.deepEqual(order, ['start 2', 'outputs 1', 'end 1']);
    assert.equal(other, false);
    assert.equal(frames.pending, 0);
  });

  test('a call after a quiet frame goes at once again; one during a pending frame joins it', async (t) => {
    const { c, frames } = await afterFirstFrame(t);
    c.set(40);
    let at: string | undefined;
    void frames.turn().then(() => { at = 'now'; });
    await Promise.resolve();
    assert.equal(at, 'now');
    c.set(41);
    const late: number[] = [];
    await settle();
    void frames.turn().then(() => late.push(1));
    c.set(50);
    void frames.turn().then(() => late.push(2));
    assert.equal(frames.pending, 2, 'the second joins the frame the first waits for');
    c.set(56);
    t.mock.timers.tick(15);
    await Promise.resolve();
    assert.deepEqual(late, [1, 2]);
  });

  test('while the window is not busy (one cell run by itself) nothing waits; a frame already waiting keeps its order', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const c = clock();
    let busy = false;
    const frames = new WindowFrames(50, () => busy, c.now);
    const got: string[] = [];
    for (const step of ['start', 'outputs', 'end']) {
      c.set(c.now() + 1);
      void frames.turn().then(() => got.push(step));
      await Promise.resolve();
    }
    assert.deepEqual(got, ['start', 'outputs', 'end'], 'each at once');
    await settle();
    busy = true;
    c.set(c.now() + 1);
    void frames.turn().then(() => got.push('busy'));
    busy = false;
    void frames.turn().then(() => got.push('after'));
    await Promise.resolve();
    assert.deepEqual(got, ['start', 'outputs', 'end'], 'behind the frame that waits, whatever busy says now');
    c.set(c.now() + 50);
    t.mock.timers.tick(50);
    await Promise.resolve();
    assert.deepEqual(got.slice(3), ['busy', 'after']);
  });

  test('a released frame stays open for the rest of its turn: what the released callers do next joins it', async (t) => {
    const { c, frames } = await afterFirstFrame(t);
    c.set(3);
    const order: string[] = [];
    // A cell's outputs wait for the frame; its end, asked for right after they are handed over, goes with them.
    void frames.turn().then(async () => {
      order.push('outputs');
      await frames.turn();
      order.push('end');
    });
    c.set(16);
    t.mock.timers.tick(13);
    for (let i = 0; i < 4; i++) await Promise.resolve();
    assert.deepEqual(order, ['outputs', 'end']);
    // Once the turn is over, the frame is closed: the next call within the frame's length waits again.
    await settle();
    c.set(17);
    let next = false;
    void frames.turn().then(() => { next = true; });
    await Promise.resolve();
    assert.equal(next, false);
    assert.equal(frames.pending, 1);
    c.set(32);
    t.mock.timers.tick(15);
    await Promise.resolve();
    assert.equal(next, true);
  });

  test('flush() releases what waits at once', async () => {
    const c = clock();
    const frames = new WindowFrames(1_000_000, () => true, c.now);
    await frames.turn();
    await settle();
    const got: number[] = [];
    void frames.turn().then(() => got.push(1));
    void frames.turn().then(() => got.push(2));
    frames.flush();
    await Promise.resolve();
    assert.deepEqual(got, [1, 2]);
    assert.equal(frames.pending, 0);
  });

  test('a frame of no length never waits', async () => {
    const frames = new WindowFrames(0);
    for (let i = 0; i < 5; i++) {
      let now = false;
      void frames.turn().then(() => { now = true; });
      await Promise.resolve();
      assert.equal(now, true);
    }
    assert.throws(() => new WindowFrames(Number.NaN), RangeError);
  });
});
