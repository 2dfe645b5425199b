import test from 'ava';
import { FENCE_LINE_BYTES_MAX, LineSplitter, formatFenceCommand, parseFenceArgs, parseFenceCommand } from '../../../src/ha/fence-process.js';

test('commands parse within bounds and round-trip', (t) => {
  t.deepEqual(parseFenceCommand('arm 100'), { kind: 'arm', deadlineMs: 100 });
  t.deepEqual(parseFenceCommand('pet 600000'), { kind: 'pet', deadlineMs: 600000 });
  t.deepEqual(parseFenceCommand('disarm'), { kind: 'disarm' });
  t.deepEqual(parseFenceCommand('exit\r'), { kind: 'exit' });
  for (const bad of ['arm 99', 'pet 600001', 'pet', 'arm', 'pet 1.5', 'pet -1', 'pet 1e3', 'disarm 5', 'exit now', 'PET 100', '', 'pet 100 100', `pet ${'1'.repeat(70)}`]) {
    t.is(parseFenceCommand(bad), undefined, bad);
  }
  for (const c of [{ kind: 'arm', deadlineMs: 1234 }, { kind: 'pet', deadlineMs: 100 }, { kind: 'disarm' }, { kind: 'exit' }] as const) {
    t.deepEqual(parseFenceCommand(formatFenceCommand(c).trimEnd()), c);
  }
});

test('the line splitter joins chunks and drops an overlong line whole', (t) => {
  const s = new LineSplitter();
  t.deepEqual(s.push('pe'), []);
  t.deepEqual(s.push('t 100\ndis'), ['pet 100']);
  t.deepEqual(s.push('arm\n'), ['disarm']);
  t.deepEqual(s.push('x'.repeat(FENCE_LINE_BYTES_MAX + 1)), []);
  t.deepEqual(s.push('still the same line\nexit\n'), ['exit']);
  t.is(s.overflows, 1);
});

test('arguments: absolute paths, bounded grace', (t) => {
  t.deepEqual(parseFenceArgs(['--data-dir=/d', '--socket=/r/fence.sock']), { dataDir: '/d', socketPath: '/r/fence.sock', graceMs: 1000 });
  t.deepEqual(parseFenceArgs(['--data-dir=/d', '--socket=/s', '--grace-ms=100']), { dataDir: '/d', socketPath: '/s', graceMs: 100 });
  t.regex(parseFenceArgs(['--data-dir=d', '--socket=/s']) as string, /data-dir/);
  t.regex(parseFenceArgs(['--data-dir=/d']) as string, /socket/);
  t.regex(parseFenceArgs(['--data-dir=/d', '--socket=/s', '--grace-ms=20000']) as string, /grace-ms/);
  t.regex(parseFenceArgs(['--pid=5']) as string, /unknown argument/);
});
