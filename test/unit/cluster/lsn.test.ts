import test from 'ava';
import fc from 'fast-check';
import { canonicalLsn, compareLsn, formatLsn, isLsnText, LSN_MAX, lsnDiffBytes, maxLsn, parseLsn } from '../../../src/cluster/lsn.js';

test('parse and format PostgreSQL X/Y text', (t) => {
  t.is(parseLsn('0/0'), 0n);
  t.is(parseLsn('0/16B3748'), 0x16b3748n);
  t.is(parseLsn('1/0'), 1n << 32n);
  t.is(parseLsn('ffffffff/ffffffff'), LSN_MAX);
  t.is(formatLsn(0x16b3748n), '0/16B3748');
  t.is(formatLsn((5n << 32n) | 0xabn), '5/AB');
  t.is(canonicalLsn('0000000A/0000ab00'), 'A/AB00');
});

test('values above 2^53 are exact', (t) => {
  const big = (1n << 60n) + 1n;
  t.true(big > BigInt(Number.MAX_SAFE_INTEGER));
  t.is(parseLsn(formatLsn(big)), big);
  t.is(compareLsn(formatLsn(big), formatLsn(big - 1n)), 1);
  t.is(compareLsn(formatLsn(big - 1n), formatLsn(big)), -1);
  t.is(lsnDiffBytes(formatLsn(big), formatLsn(big - 1n)), 1n);
  // Adjacent values that a double cannot tell apart.
  t.is(Number(big), Number(big - 1n));
  t.is(maxLsn('FFFFFFFF/FFFFFFFE', 'FFFFFFFF/FFFFFFFF'), 'FFFFFFFF/FFFFFFFF');
});

test('compare orders by the 64-bit value, not the text', (t) => {
  t.is(compareLsn('0/FF', '0/100'), -1);
  t.is(compareLsn('1/0', '0/FFFFFFFF'), 1);
  t.is(compareLsn('A/1', 'a/00000001'), 0);
});

test('malformed LSNs are refused', (t) => {
  for (const text of ['', '0', '0/', '/0', '0/0/0', 'x/1', '1/100000000', '-1/0', ' 0/0', '0/0 ']) {
    t.false(isLsnText(text), text);
    t.throws(() => parseLsn(text), { instanceOf: RangeError }, text);
  }
  t.throws(() => formatLsn(-1n), { instanceOf: RangeError });
  t.throws(() => formatLsn(LSN_MAX + 1n), { instanceOf: RangeError });
});

test('property: format/parse round-trips and compare agrees with bigint order', (t) => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: LSN_MAX }), fc.bigInt({ min: 0n, max: LSN_MAX }), (a, b) => {
      const [x, y] = [formatLsn(a), formatLsn(b)];
      if (parseLsn(x) !== a || canonicalLsn(x) !== x) return false;
      return compareLsn(x, y) === (a < b ? -1 : a > b ? 1 : 0);
    }),
  );
  t.pass();
});
