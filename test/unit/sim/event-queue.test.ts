import test from 'ava';
import { EventQueue } from '../../../src/sim/event-queue.js';

test('the event queue pops by time, then by insertion order', (t) => {
  const q = new EventQueue<string>();
  q.push(5, 'a');
  q.push(1, 'b');
  q.push(5, 'c');
  q.push(0, 'd');
  q.push(1, 'e');
  const order: string[] = [];
  for (let e = q.pop(); e !== undefined; e = q.pop()) order.push(e.item);
  t.deepEqual(order, ['d', 'b', 'e', 'a', 'c']);
});
