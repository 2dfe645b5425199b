import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

test('an --out holding results of a seed about to run: exit 2 naming them, and nothing touched', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'pgherd-chaos-out-'));
  t.teardown(() => rm(out, { recursive: true, force: true }));
  await mkdir(join(out, 'seed-7', 'cluster', 'n1'), { recursive: true });
  await writeFile(join(out, 'seed-8.json'), '{}');
  await writeFile(join(out, 'seed-70.json'), '{}');
  const r = await chaos('--out', out, '--seed', '6', '--runs', '3');
  t.is(r.code, EXIT_USAGE);
  t.is(r.err, `chaos: --out ${out} already holds results of these seeds (seed-7, seed-8.json): choose another --out, or remove them\n`);
  t.is(r.out, '', 'no run started');
  t.deepEqual((await readdir(out)).sort(), ['seed-7', 'seed-70.json', 'seed-8.json']);
  t.deepEqual(await readdir(join(out, 'seed-7', 'cluster')), ['n1']);
});
