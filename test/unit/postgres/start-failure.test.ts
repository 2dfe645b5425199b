import test from 'ava';
import { classifyStartFailure } from '../../../src/postgres/start-failure.js';

test('only the server log lines that mean a diverged timeline', (t) => {
  t.is(classifyStartFailure('2026-11-26 FATAL:  requested timeline 3 does not contain minimum recovery point 0/60107A8 on timeline 2\n'), 'DIVERGED');
  t.is(classifyStartFailure("FATAL:  requested timeline 3 is not a child of this server's history\nDETAIL:  Latest checkpoint is at 0/6010700 on timeline 2, but in the history of the requested timeline, the server forked off from that timeline at 0/60106D0.\n"), 'DIVERGED');
  t.is(classifyStartFailure('FATAL:  could not open file "global/pg_control": No such file or directory\n'), null);
  t.is(classifyStartFailure('FATAL:  insufficient parameter settings\n'), null);
  t.is(classifyStartFailure(''), null);
});
