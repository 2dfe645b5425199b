import test from 'ava';
import { parseShowBytes } from '../../../src/backup/server-facts.js';

test('SHOW prints memory sizes with a unit; parseShowBytes turns them into bytes', (t) => {
  t.is(parseShowBytes('16MB'), 16 * 1024 * 1024);
  t.is(parseShowBytes('1GB'), 1024 ** 3);
  t.is(parseShowBytes('8kB'), 8192);
  t.is(parseShowBytes('512B'), 512);
  t.is(parseShowBytes(' 64MB\n'), 64 * 1024 * 1024);
  for (const bad of ['16', '16mb', 'MB', '1.5GB', '']) t.throws(() => parseShowBytes(bad), { message: /not a memory size/ }, bad);
});
