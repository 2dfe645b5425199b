import test from 'ava';
import { Limiter } from '../../../src/lib/limiter.js';

const settled = async (): Promise<void> => {
  for (let i = 0; i < 5; i += 1) await Promise.resolve();
};

test('at most `limit` holders; waiters served urgent first, then in arrival order; expedite moves a waiter up', async (t) => {
  const limiter = new Limiter(2);
  const order: string[] = [];
  const take = (name: string, urgent = false) => {
    const slot = limiter.acquire(urgent);
    void slot.granted.then(() => order.push(name));
    return slot;
  };
  const a = take('a');
  const b = take('b');
  const c = take('c');
  const d = take('d');
  const e = take('e', true);
  await settled();
  t.deepEqual(order, ['a', 'b']);
  t.is(limiter.activeCount, 2);
  t.is(limiter.waitingCount, 3);
  d.expedite();
  a.release();
  a.release(); // idempotent
  await settled();
  t.deepEqual(order, ['a', 'b', 'e']);
  b.release();
  await settled();
  t.deepEqual(order, ['a', 'b', 'e', 'd']);
  c.release(); // leaves the queue without ever holding a slot
  e.release();
  d.release();
  await settled();
  t.deepEqual(order, ['a', 'b', 'e', 'd']);
  t.is(limiter.activeCount, 0);
  t.is(limiter.waitingCount, 0);
  t.throws(() => new Limiter(0));
});
