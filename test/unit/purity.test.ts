/**
 * The pure layers of DESIGN.md §2 stay pure: no I/O, timers, promises,
 * clocks, randomness or logging library. They are what the simulator drives.
 */
import { readFileSync, readdirSync } from 'node:fs';
import test from 'ava';

const PURE: Array<{ directory: string; files?: RegExp }> = [
  { directory: 'src/raft/core/' },
  { directory: 'src/cluster/', files: /^(apply.*|state|lsn|merge-patch|records|results|commands|snapshot|schema|errors)\.ts$/ },
  { directory: 'src/ha/', files: /^(decide|lease|candidates|lifecycle|duties|bootstrap-rule|sync|switchover|member-actions)\.ts$/ },
  // The chaos suite's judgement and schedule: a history in, findings out; a seed in, the same schedule out.
  { directory: 'chaos/', files: /^(checkers|schedule|history)\.ts$/ },
  { directory: 'chaos/report/' },
];

const FORBIDDEN: Array<[RegExp, string]> = [
  [/from ['"]node:/, 'node:* import'],
  [/from ['"]pino['"]/, 'pino'],
  [/\b(setTimeout|setInterval|setImmediate|queueMicrotask)\b/, 'timer'],
  [/\bPromise\b|\basync\b|\bawait\b/, 'promise'],
  [/\bDate\.now\b|\bnew Date\b|performance\.now/, 'clock'],
  [/\bMath\.random\b/, 'Math.random'],
  [/\bprocess\./, 'process'],
];

for (const { directory, files } of PURE) {
  test(`${directory} stays pure`, (t) => {
    const url = new URL(`../../${directory}`, import.meta.url);
    const names = readdirSync(url).filter((name) => name.endsWith('.ts') && (!files || files.test(name)));
    t.true(names.length > 0, `no files matched in ${directory}`);
    for (const name of names) {
      const source = readFileSync(new URL(name, url), 'utf8');
      for (const [pattern, what] of FORBIDDEN) t.false(pattern.test(source), `${directory}${name} uses ${what}`);
    }
  });
}
