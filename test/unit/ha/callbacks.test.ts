import { chmod, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { CALLBACK_LIMITS_DEFAULT, CallbackRunner, runDurationMsMax, type CallbackLimits, type CallbackPaths } from '../../../src/ha/callbacks.js';
import { AssertionFailedError, ConfigError } from '../../../src/lib/errors.js';
import { recordingLogger, type LogLine } from '../../helpers/recording-logger.js';

// Real processes: run serially so timing bounds hold on a loaded machine.



const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Alive and not a zombie (an orphan may wait for a PID 1 that does not reap). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Live (non-zombie) members of process group `pgid`. */
async function groupMembers(pgid: number): Promise<number[]> {
  const members: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] !== 'Z' && Number(fields[2]) === pgid) members.push(Number(entry));
    } catch {
      // exited while scanning
    }
  }
  return members;
}

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

class Fixture {
  readonly lines: LogLine[] = [];
  readonly runners: CallbackRunner[] = [];

  constructor(readonly dir: string) {}

  /** Every script appends its pid (and its children's) here, so the test can prove they are gone. */
  get pidFile(): string {
    return join(this.dir, 'pids.txt');
  }

  async script(name: string, body: string, mode = 0o755): Promise<string> {
    const path = join(this.dir, name);
    await writeFile(path, `#!/bin/sh\necho $$ >> '${this.pidFile}'\n${body}\n`);
    await chmod(path, mode);
    return path;
  }

  runner(paths: CallbackPaths, limits: Partial<CallbackLimits> = {}): CallbackRunner {
    const runner = new CallbackRunner({ paths, clusterName: 'alpha', log: recordingLogger(this.lines), limits: { killGraceMs: 200, reapWaitMs: 300, ...limits } });
    this.runners.push(runner);
    return runner;
  }

  async pids(): Promise<number[]> {
    const text = await readFile(this.pidFile, 'utf8').catch(() => '');
    return text.split('\n').filter((line) => line !== '').map(Number);
  }

  async read(name: string): Promise<string> {
    return readFile(join(this.dir, name), 'utf8');
  }

  events(event: string): LogLine[] {
    return this.lines.filter((line) => line.event === event);
  }

  /** Close every runner, then assert that no process any script started is still alive. */
  async assertNothingLeft(t: ExecutionContext): Promise<void> {
    for (const runner of this.runners) await runner.close(0);
    const pids = await this.pids();
    await waitFor(() => pids.every((pid) => !isAlive(pid)), 2_000, 'script processes to die').catch(() => {});
    t.deepEqual(pids.filter(isAlive), [], 'processes left running');
  }

  async teardown(): Promise<void> {
    for (const runner of this.runners) await runner.close(0);
    for (const pid of await this.pids()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function fixture(t: ExecutionContext): Promise<Fixture> {
  const f = new Fixture(await mkdtemp(join(tmpdir(), 'pgherd-callbacks-')));
  t.teardown(() => f.teardown());
  return f;
}

test.serial('notify runs the script with argv <action> <role> <cluster>, PGHERD_* env, inherited env, stdin at EOF', async (t) => {
  const f = await fixture(t);
  process.env.PGHERD_TEST_INHERITED = 'yes';
  t.teardown(() => void delete process.env.PGHERD_TEST_INHERITED);
  const out = join(f.dir, 'out.txt');
  const path = await f.script(
    'on_start.sh',
    `{ echo "$#"; echo "$1"; echo "$2"; echo "$3"; echo "$PGHERD_CLUSTER"; echo "$PGHERD_ROLE"; echo "$PGHERD_ACTION"; echo "$PGHERD_TEST_INHERITED"
  if read -r line; then echo "stdin:$line"; else echo "stdin:eof"; fi; } > '${out}'`,
  );
  const runner = f.runner({ on_start: path });
  runner.notify('on_start', 'replica');
  await runner.idle();
  t.deepEqual((await f.read('out.txt')).split('\n'), ['3', 'on_start', 'replica', 'alpha', 'alpha', 'replica', 'on_start', 'yes', 'stdin:eof', '']);
  const [finished] = f.events('callback.finished');
  t.like(finished?.fields, { component: 'callbacks', action: 'on_start', role: 'replica', exitCode: 0, path });
  t.is(typeof finished?.fields.durationMs, 'number');
  t.is(finished?.level, 'info');
  t.like(runner.stats(), { finishedCount: 1, pendingCount: 0, running: null });
  await f.assertNothingLeft(t);
});

test.serial('notify returns at once and notifications run one at a time, in order', async (t) => {
  const f = await fixture(t);
  const log = join(f.dir, 'order.txt');
  const body = `echo "start $1 $2" >> '${log}'; sleep 0.1; echo "end $1 $2" >> '${log}'`;
  const paths: CallbackPaths = {
    on_start: await f.script('a.sh', body),
    on_stop: await f.script('b.sh', body),
    on_restart: await f.script('c.sh', body),
    on_reload: await f.script('d.sh', body),
    on_role_change: await f.script('e.sh', body),
  };
  const runner = f.runner(paths);
  const before = performance.now();
  runner.notify('on_start', 'uninitialized');
  runner.notify('on_stop', 'replica');
  runner.notify('on_restart', 'replica');
  runner.notify('on_reload', 'replica');
  runner.notify('on_role_change', 'primary');
  t.true(performance.now() - before < 50, 'notify must not block');
  t.like(runner.stats(), { pendingCount: 4, running: { action: 'on_start', role: 'uninitialized' } });
  await runner.idle();
  const expected = ['on_start uninitialized', 'on_stop replica', 'on_restart replica', 'on_reload replica', 'on_role_change primary'].flatMap((x) => [`start ${x}`, `end ${x}`]);
  t.deepEqual((await f.read('order.txt')).trim().split('\n'), expected);
  t.is(runner.stats().finishedCount, 5);
  await f.assertNothingLeft(t);
});

test.serial('a full queue drops the oldest pending notification and counts it', async (t) => {
  const f = await fixture(t);
  const log = join(f.dir, 'ran.txt');
  const body = `sleep 0.2; echo "$1 $2" >> '${log}'`;
  const paths: CallbackPaths = { on_start: await f.script('s.sh', body), on_stop: await f.script('t.sh', body), on_reload: await f.script('r.sh', body) };
  const runner = f.runner(paths, { queueLengthMax: 2 });
  runner.notify('on_start', 'replica'); // runs at once
  runner.notify('on_stop', 'replica'); // pending, dropped below
  runner.notify('on_reload', 'replica'); // pending, dropped below
  runner.notify('on_start', 'primary');
  runner.notify('on_stop', 'primary');
  t.like(runner.stats(), { pendingCount: 2, droppedCount: 2 });
  await runner.idle();
  t.deepEqual((await f.read('ran.txt')).trim().split('\n'), ['on_start replica', 'on_start primary', 'on_stop primary']);
  t.deepEqual(
    f.events('callback.dropped').map((line) => [line.level, line.fields.action, line.fields.role, line.fields.droppedCount]),
    [
      ['warn', 'on_stop', 'replica', 1],
      ['warn', 'on_reload', 'replica', 2],
    ],
  );
  await f.assertNothingLeft(t);
});

test.serial('a newer on_role_change kills a running older one (its whole process group) and replaces a pending one', async (t) => {
  const f = await fixture(t);
  const path = await f.script(
    'role.sh',
    `echo $$ > '${f.dir}'/leader."$2"
if [ "$2" = primary ]; then echo "$2" >> '${f.dir}/done.txt'; exit 0; fi
sleep 1000 &
echo $! >> '${f.pidFile}'
echo $! > '${f.dir}'/child."$2"
wait`,
  );
  const runner = f.runner({ on_role_change: path });
  runner.notify('on_role_change', 'replica');
  await waitFor(async () => (await f.read('child.replica').catch(() => '')) !== '', 5_000, 'the first script to start its child');
  const leader = Number(await f.read('leader.replica'));
  const child = Number(await f.read('child.replica'));
  t.true(isAlive(leader) && isAlive(child));
  runner.notify('on_role_change', 'demoted'); // kills 'replica'; pending
  runner.notify('on_role_change', 'primary'); // replaces pending 'demoted'
  await runner.idle();
  t.deepEqual(await groupMembers(leader), []);
  t.false(isAlive(child));
  t.is((await f.read('done.txt')).trim(), 'primary');
  await t.throwsAsync(f.read('leader.demoted'), undefined, 'the superseded pending one never ran');
  const [killed] = f.events('callback.killed');
  t.like(killed?.fields, { action: 'on_role_change', role: 'replica', reason: 'superseded', reaped: true });
  t.like(runner.stats(), { supersededCount: 2, killedCount: 1, finishedCount: 1 });
  await f.assertNothingLeft(t);
});

test.serial('other notifications do not cancel a running on_role_change', async (t) => {
  const f = await fixture(t);
  const log = join(f.dir, 'ran.txt');
  const paths: CallbackPaths = {
    on_role_change: await f.script('role.sh', `sleep 0.3; echo "$1" >> '${log}'`),
    on_reload: await f.script('reload.sh', `echo "$1" >> '${log}'`),
  };
  const runner = f.runner(paths);
  runner.notify('on_role_change', 'primary');
  runner.notify('on_reload', 'primary');
  await runner.idle();
  t.deepEqual((await f.read('ran.txt')).trim().split('\n'), ['on_role_change', 'on_reload']);
  t.is(runner.stats().killedCount, 0);
  await f.assertNothingLeft(t);
});

test.serial('timeout: a hanging script that ignores SIGTERM and its background child are SIGKILLed after the grace', async (t) => {
  const f = await fixture(t);
  const path = await f.script(
    'hang.sh',
    `trap '' TERM
echo "before the hang" >&2
sleep 1000 &
echo $! >> '${f.pidFile}'
echo $! > '${f.dir}/child'
wait`,
  );
  const limits = { notifyTimeoutMs: 300, killGraceMs: 200, reapWaitMs: 300 };
  const runner = f.runner({ on_stop: path }, limits);
  const started = performance.now();
  runner.notify('on_stop', 'primary');
  const leader = runner.stats().running?.pid;
  t.true(typeof leader === 'number');
  await runner.idle();
  const elapsedMs = performance.now() - started;
  t.true(elapsedMs >= limits.notifyTimeoutMs + limits.killGraceMs - 20, `killed too early: ${elapsedMs} ms`);
  t.true(elapsedMs < runDurationMsMax(limits.notifyTimeoutMs, { ...CALLBACK_LIMITS_DEFAULT, ...limits }) + 500, `took ${elapsedMs} ms`);
  t.deepEqual(await groupMembers(leader!), []);
  t.false(isAlive(Number(await f.read('child'))));
  const [killed] = f.events('callback.killed');
  t.like(killed?.fields, { action: 'on_stop', role: 'primary', reason: 'timeout', signal: 'SIGKILL', exitCode: null, reaped: true });
  t.regex(String(killed?.fields.stderrTail), /before the hang/);
  await f.assertNothingLeft(t);
});

test.serial('timeout: a plain hanging script goes at SIGTERM, without waiting for the grace', async (t) => {
  const f = await fixture(t);
  const path = await f.script('hang.sh', `sleep 1000 &\necho $! >> '${f.pidFile}'\nwait`);
  const runner = f.runner({ on_start: path }, { notifyTimeoutMs: 300, killGraceMs: 300 });
  const started = performance.now();
  runner.notify('on_start', 'replica');
  await runner.idle();
  const elapsedMs = performance.now() - started;
  t.true(elapsedMs < 300 + 250, `waited for the grace: ${elapsedMs} ms`);
  t.like(f.events('callback.killed')[0]?.fields, { reason: 'timeout', signal: 'SIGTERM' });
  await f.assertNothingLeft(t);
});

test.serial('a script that exits leaving a background child: the child is killed too (as Patroni does)', async (t) => {
  const f = await fixture(t);
  const path = await f.script('bg.sh', `sleep 1000 &\necho $! >> '${f.pidFile}'\necho $! > '${f.dir}/child'\nexit 0`);
  const runner = f.runner({ on_start: path });
  runner.notify('on_start', 'primary');
  await runner.idle();
  await waitFor(() => !isAlive(Number(readFileSync(join(f.dir, 'child'), 'utf8'))), 2_000, 'the child to die');
  t.is(f.events('callback.finished').length, 1);
  await f.assertNothingLeft(t);
});

test.serial('a failing notification logs callback.failed with the output tails', async (t) => {
  const f = await fixture(t);
  const path = await f.script('fail.sh', 'echo out; echo err >&2; exit 7');
  const runner = f.runner({ on_reload: path });
  runner.notify('on_reload', 'replica');
  await runner.idle();
  const [failed] = f.events('callback.failed');
  t.like(failed, { level: 'warn', fields: { action: 'on_reload', role: 'replica', exitCode: 7, stdoutTail: 'out\n', stderrTail: 'err\n' } });
  t.is(runner.stats().failedCount, 1);
  await f.assertNothingLeft(t);
});

test.serial('prePromote: exit 0 is ok; argv and env say pre_promote', async (t) => {
  const f = await fixture(t);
  const path = await f.script('pp.sh', `echo "$1 $2 $3 $PGHERD_ACTION" > '${f.dir}/args'`);
  const runner = f.runner({ pre_promote: path });
  const result = await runner.prePromote(5_000);
  t.like(result, { ok: true });
  t.is((await f.read('args')).trim(), 'pre_promote replica alpha pre_promote');
  t.like(f.events('callback.finished')[0]?.fields, { action: 'pre_promote', exitCode: 0 });
  await f.assertNothingLeft(t);
});

test.serial('prePromote: exit 3 is not ok, with the exit code and the last 4 KiB of stderr', async (t) => {
  const f = await fixture(t);
  const path = await f.script('pp.sh', `i=0; while [ $i -lt 300 ]; do echo "noise line $i of padding padding" >&2; i=$((i+1)); done; echo "fence refused" >&2; exit 3`);
  const runner = f.runner({ pre_promote: path });
  const result = await runner.prePromote(5_000);
  t.like(result, { ok: false, reason: 'exit_code', exitCode: 3 });
  t.false(result.ok);
  if (result.ok) return;
  t.true(result.stderrTail.endsWith('fence refused\n'));
  t.true(Buffer.byteLength(result.stderrTail) <= 4096);
  t.true(Buffer.byteLength(result.stderrTail) > 4000);
  t.is(f.events('callback.failed').length, 1);
  await f.assertNothingLeft(t);
});

test.serial('prePromote: a hanging script is not ok with reason timeout, within timeout + grace, its group gone', async (t) => {
  const f = await fixture(t);
  const path = await f.script('pp.sh', `echo $$ > '${f.dir}/leader'\nsleep 1000 &\necho $! >> '${f.pidFile}'\nwait`);
  const runner = f.runner({ pre_promote: path }, { killGraceMs: 200, reapWaitMs: 300 });
  const started = performance.now();
  const result = await runner.prePromote(300);
  const elapsedMs = performance.now() - started;
  t.like(result, { ok: false, reason: 'timeout' });
  t.true(elapsedMs >= 300 - 5, `too early: ${elapsedMs}`);
  t.true(elapsedMs < 300 + 200 + 300, `too late: ${elapsedMs}`);
  t.deepEqual(await groupMembers(Number(await f.read('leader'))), []);
  await f.assertNothingLeft(t);
});

test.serial('prePromote: not configured is ok at once', async (t) => {
  const f = await fixture(t);
  const runner = f.runner({});
  t.deepEqual(await runner.prePromote(1_000), { ok: true, durationMs: 0 });
});

test.serial('missing or non-executable scripts: notify warns once per path; prePromote is spawn_failed', async (t) => {
  const f = await fixture(t);
  const missing = join(f.dir, 'does-not-exist.sh');
  const notExecutable = await f.script('plain.sh', 'exit 0', 0o644);
  const runner = f.runner({ on_start: missing, on_stop: notExecutable, pre_promote: missing });
  for (let i = 0; i < 3; i++) {
    runner.notify('on_start', 'replica');
    runner.notify('on_stop', 'replica');
  }
  await runner.idle();
  const warnings = f.events('callback.spawn_failed').filter((line) => line.level === 'warn');
  t.deepEqual(warnings.map((line) => line.fields.path), [missing, notExecutable]);
  t.regex(String(warnings[0]?.fields.error), /^ENOENT/);
  t.regex(String(warnings[1]?.fields.error), /^EACCES/);
  t.is(runner.stats().spawnFailedCount, 6);

  const result = await runner.prePromote(1_000);
  t.like(result, { ok: false, reason: 'spawn_failed' });
  if (!result.ok) t.regex(result.stderrTail, /^ENOENT/);
  const nonExecFence = f.runner({ pre_promote: notExecutable });
  const second = await nonExecFence.prePromote(1_000);
  t.like(second, { ok: false, reason: 'spawn_failed' });
  if (!second.ok) t.regex(second.stderrTail, /^EACCES/);
  await f.assertNothingLeft(t);
});

test.serial('close drops pending notifications, kills the running one and ignores later ones', async (t) => {
  const f = await fixture(t);
  const path = await f.script('hang.sh', `sleep 1000 &\necho $! >> '${f.pidFile}'\nwait`);
  const runner = f.runner({ on_start: path, on_stop: path });
  runner.notify('on_start', 'primary');
  runner.notify('on_stop', 'primary');
  await runner.close(0);
  runner.notify('on_start', 'primary');
  t.like(runner.stats(), { pendingCount: 0, running: null, killedCount: 1 });
  t.like(f.events('callback.killed')[0]?.fields, { reason: 'closed' });
  t.like(await runner.prePromote(1_000), { ok: true }); // not configured here
  await f.assertNothingLeft(t);
});

test.serial('close(drainMs) lets the queue finish first', async (t) => {
  const f = await fixture(t);
  const path = await f.script('quick.sh', `echo "$1" >> '${f.dir}/ran.txt'`);
  const runner = f.runner({ on_start: path, on_stop: path });
  runner.notify('on_start', 'primary');
  runner.notify('on_stop', 'primary');
  await runner.close(5_000);
  t.deepEqual((await f.read('ran.txt')).trim().split('\n'), ['on_start', 'on_stop']);
  await f.assertNothingLeft(t);
});

test('the constructor names a bad config key and asserts its limits', (t) => {
  const error = t.throws(() => new CallbackRunner({ paths: { on_start: 'relative/script.sh' }, clusterName: 'alpha' }), { instanceOf: ConfigError });
  t.is(error?.key, 'postgresql.callbacks.on_start');
  const unknown = t.throws(() => new CallbackRunner({ paths: { on_bogus: '/bin/true' } as CallbackPaths, clusterName: 'alpha' }), { instanceOf: ConfigError });
  t.is(unknown?.key, 'postgresql.callbacks.on_bogus');
  t.throws(() => new CallbackRunner({ paths: {}, clusterName: 'alpha', limits: { queueLengthMax: 0 } }), { instanceOf: AssertionFailedError });
  t.throws(() => new CallbackRunner({ paths: {}, clusterName: 'alpha', limits: { notifyTimeoutMs: 100, killGraceMs: 200 } }), { instanceOf: AssertionFailedError });
  t.throws(() => new CallbackRunner({ paths: {}, clusterName: 'alpha', limits: { outputTailBytes: 10 } }), { instanceOf: AssertionFailedError });
  t.deepEqual(new CallbackRunner({ paths: {}, clusterName: 'alpha' }).limits, CALLBACK_LIMITS_DEFAULT);
});
