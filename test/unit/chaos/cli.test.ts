import test from 'ava';
import { EXIT_USAGE, runChaos } from '../../../chaos/main.js';

async function chaos(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runChaos(argv, { stdout: (s) => (out += s), stderr: (s) => (err += s) });
  return { code, out, err };
}

test('bad arguments: exit 2 with a message naming the argument and what was expected, and nothing run', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--nodes', '4'], /--nodes must be one of 3, 5, got "4"/],
    [['--runs', '0'], /--runs must be an integer from 1 to 100000, got "0"/],
    [['--seed', '-3'], /--seed must be an integer from 0/],
    [['--profile', 'long'], /--profile must be one of smoke, full, got "long"/],
    [['--backend', 'vm'], /--backend must be one of netns(, docker)?, got "vm"/],
    [['--sync', 'maybe'], /--sync must be one of on, off, got "maybe"/],
    [['--store', 's3'], /--store must be one of none, local, got "s3"/],
    [['--frobnicate'], /unknown option '--frobnicate'/],
  ];
  for (const [argv, message] of cases) {
    const r = await chaos(...argv);
    t.is(r.code, EXIT_USAGE, argv.join(' '));
    t.regex(r.err, message, argv.join(' '));
    t.is(r.out, '', 'no run started');
  }
});

test('--help lists every option and the exit codes', async (t) => {
  const r = await chaos('--help');
  t.is(r.code, 0);
  for (const option of ['--backend', '--profile', '--runs', '--seed', '--nodes', '--sync', '--store', '--out', '--keep']) t.true(r.out.includes(option), option);
  t.regex(r.out, /Exit codes: 0 every run passed/);
});
