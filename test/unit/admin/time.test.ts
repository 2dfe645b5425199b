import test from 'ava';
import fc from 'fast-check';
import { formatTime, parseRfc3339 } from '../../../src/admin/time.js';

test('RFC 3339 times with a zone parse to the instant they name', (t) => {
  t.is(parseRfc3339('2026-12-01T03:00:00Z'), Date.UTC(2026, 11, 1, 3, 0, 0));
  t.is(parseRfc3339('2026-12-01T04:00:00+01:00'), Date.UTC(2026, 11, 1, 3, 0, 0));
  t.is(parseRfc3339('2026-12-01t02:30:00.250-00:30'), Date.UTC(2026, 11, 1, 3, 0, 0, 250));
  t.is(parseRfc3339('2024-02-29 23:59:59z'), Date.UTC(2024, 1, 29, 23, 59, 59));
});

test('anything else is refused rather than rolled over or guessed', (t) => {
  for (const text of ['', 'now', 'tomorrow', '2026-12-01', '2026-12-01T03:00:00', '2026-02-30T10:00:00Z', '2025-02-29T10:00:00Z', '2026-12-01T24:00:00Z',
    '2026-13-01T00:00:00Z', '2026-12-01T03:60:00Z', '2026-12-01T03:00:00+24:00', '1969-12-31T23:59:59Z', ' 2026-12-01T03:00:00Z']) {
    t.is(parseRfc3339(text), undefined, text);
  }
});

test('every formatted time parses back to itself', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: Date.UTC(9999, 11, 31) }), (ms) => {
      t.is(parseRfc3339(formatTime(ms)), ms);
    }),
  );
  t.is(formatTime(null), '');
});
