import { createServer } from 'node:net';
import test from 'ava';
import { ephemeralRange, freePort } from '../../../scripts/lib/free-port.js';

test('freePort: a port below the kernel\'s ephemeral range (no client socket can hold it), and one that can be listened on', async (t) => {
  const [low] = ephemeralRange();
  for (let i = 0; i < 20; i++) {
    const port = await freePort();
    t.true(port >= 1024 && port < low, String(port));
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test('ephemeralRange: what /proc says when it makes sense, else Linux\'s default', (t) => {
  t.deepEqual(ephemeralRange('32768\t60999\n'), [32768, 60999]);
  t.deepEqual(ephemeralRange('40000 50000'), [40000, 50000]);
  for (const bad of ['', 'x y', '1024 65535', '50000 40000', '40000 70000']) t.deepEqual(ephemeralRange(bad), [32768, 60999], bad);
});
