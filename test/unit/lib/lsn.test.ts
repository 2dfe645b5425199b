import test from 'ava';
import fc from 'fast-check';
import { formatLsn, isLsnText, LSN_MAX, parseLsn, parseLsnOrNull } from '../../../src/lib/lsn.js';

test('parseLsn / formatLsn', (t) => {
  t.is(parseLsn('0/0'), 0n);
  t.is(parseLsn('0/3021EE0'), 0x3021ee0n);
  t.is(parseLsn('16/B374D848'), (0x16n << 32n) | 0xb374d848n);
  t.is(parseLsn('FFFFFFFF/FFFFFFFF'), LSN_MAX);
  t.is(formatLsn(0x3021ee0n), '0/3021EE0');
  t.is(formatLsn((0x16n << 32n) | 0xb374d848n), '16/B374D848');
  t.is(parseLsnOrNull(null), null);
  for (const bad of ['', '0', '0/', '/0', '1/2/3', 'G/0', '123456789/0', ' 0/0']) {
    t.false(isLsnText(bad));
    t.throws(() => parseLsn(bad), { instanceOf: RangeError }, bad);
  }
  t.throws(() => formatLsn(-1n), { instanceOf: RangeError });
  t.throws(() => formatLsn(LSN_MAX + 1n), { instanceOf: RangeError });
});

test('format/parse round trip over the whole 64-bit range', (t) => {
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: LSN_MAX }), (x) => parseLsn(formatLsn(x)) === x));
  t.pass();
});
