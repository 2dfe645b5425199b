import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test, { type ExecutionContext } from 'ava';
import pg from 'pg';
import { Fence } from '../../../src/ha/fence.js';
import { initdb } from '../../../src/postgres/initdb.js';
import { isPostmasterOf, isProcessAlive } from '../../../src/postgres/pidfile.js';
import { testEnv, testNode, until, type TestNode } from '../postgres/helpers.js';

// Real PostgreSQL, real processes, timing-sensitive assertions: one test at a time.
const FIXTURE = fileURLToPath(new URL('./fixtures/fence-agent.ts', import.meta.url));
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DEADLINE_MS = 1000;
const PET_INTERVAL_MS = 100;
/** The brief's bound: PostgreSQL gone within deadline + 1 s of the last pet. */
const FIRE_SLACK_MS = 1000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Primary {
  readonly node: TestNode;
  readonly postmasterPid: number;
  readonly password: string;
  readonly runDir: string;
}

async function startPrimary(t: ExecutionContext, name: string): Promise<Primary> {
  const nodes: TestNode[] = [];
  const env = await testEnv(t, nodes);
  const su = { user: 'postgres', password: '' };
  const node = await testNode(env, name, su);
  nodes.push(node);
  su.password = (await initdb({ binaries: env.binaries, osUser: env.osUser, dataDir: node.dataDir, memberCidrs: [] })).superuserPassword;
  const { pid } = await node.controller.start(node.settings(), 'primary');
  return { node, postmasterPid: pid, password: su.password, runDir: join(env.baseDir, name, 'fence') };
}

function client(p: Primary): pg.Client {
  const c = new pg.Client({ host: p.node.settings().socketDir, port: p.node.port, user: 'postgres', password: p.password, database: 'postgres', connectionTimeoutMillis: 2000 });
  c.on('error', () => {}); // a server that goes away mid-session must not crash the test process
  return c;
}

/** One INSERT on a fresh connection; resolves to the error message, or 'ok'. */
async function tryWrite(p: Primary): Promise<string> {
  const c = client(p);
  try {
    await c.connect();
    await c.query('CREATE TABLE IF NOT EXISTS fence_probe (at timestamptz); INSERT INTO fence_probe VALUES (now())');
    return 'ok';
  } catch (error) {
    return (error as Error).message;
  } finally {
    await c.end().catch(() => {});
  }
}

/** The process has exited: gone, or a zombie its parent has not reaped yet (a stopped agent; a slow init). */
async function hasExited(pid: number): Promise<boolean> {
  if (!isProcessAlive(pid)) return true;
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return stat === '' || state === 'Z' || state === 'X';
}

/** SIGKILL a fence we started, by pid, if the test left it running. */
function killOnTeardown(t: ExecutionContext, pid: () => number | undefined): void {
  t.teardown(async () => {
    const p = pid();
    if (p !== undefined && !(await hasExited(p))) process.kill(p, 'SIGKILL');
  });
}

interface FenceLogLine {
  readonly msg: string;
  readonly [field: string]: unknown;
}

async function fenceLog(runDir: string): Promise<FenceLogLine[]> {
  const text = await readFile(join(runDir, 'fence.log'), 'utf8').catch(() => '');
  return text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as FenceLogLine);
}

interface Agent {
  readonly child: ChildProcess;
  readonly fencePid: number;
  readonly exited: Promise<number | null>;
  /** When the agent last petted (after it stopped), on this process's performance.now() scale. */
  readonly lastPetAt: Promise<number>;
}

/** A CLOCK_MONOTONIC reading in ns (process.hrtime.bigint() of any process) on this process's performance.now() scale. */
function fromMonotonicNs(ns: bigint): number {
  const offsetMs = Number(process.hrtime.bigint()) / 1e6 - performance.now();
  return Number(ns) / 1e6 - offsetMs;
}

/** The stand-in agent (fixtures/fence-agent.ts), in its own process group like a real agent under systemd. */
async function startAgent(t: ExecutionContext, runDir: string, dataDir: string, exitAfterMs: number): Promise<Agent> {
  const child = spawn(process.execPath, ['--import=tsx', FIXTURE, runDir, dataDir, String(DEADLINE_MS), String(PET_INTERVAL_MS), String(exitAfterMs)], {
    cwd: REPO_ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let fencePid: number | undefined;
  t.teardown(() => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid, 'SIGCONT');
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  });
  killOnTeardown(t, () => fencePid);
  let out = '';
  let all = '';
  const lastPetAt = new Promise<number>((resolve) => {
    child.stdout?.on('data', (chunk: string) => {
      all += chunk;
      const line = all.split('\n').find((l) => l.startsWith('{"lastPetNs"'));
      if (line !== undefined) resolve(fromMonotonicNs(BigInt((JSON.parse(line) as { lastPetNs: string }).lastPetNs)));
    });
  });
  child.stdout?.setEncoding('utf8');
  fencePid = await new Promise<number>((resolve, reject) => {
    child.stdout?.on('data', (chunk: string) => {
      out += chunk;
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line !== undefined) resolve((JSON.parse(line) as { fencePid: number }).fencePid);
    });
    child.once('exit', (code) => reject(new Error(`fence agent exited with ${code} before arming`)));
  });
  return { child, fencePid, exited, lastPetAt };
}

/** Wait (polling every 10 ms) until the postmaster is gone; the monotonic time it was first seen gone. */
async function postmasterGoneAt(p: Primary, timeoutMs: number): Promise<number> {
  return until('postmaster gone', timeoutMs, async () => ((await isPostmasterOf(p.postmasterPid, p.node.dataDir)) ? undefined : performance.now()));
}

test.serial('(a) petting keeps PostgreSQL running for several deadlines', async (t) => {
  const p = await startPrimary(t, 'pet');
  const fence = await Fence.start({ runDir: p.runDir, dataDir: p.node.dataDir });
  killOnTeardown(t, () => fence.pid);
  fence.arm(DEADLINE_MS);
  const started = performance.now();
  while (performance.now() - started < 4 * DEADLINE_MS) {
    await sleep(PET_INTERVAL_MS);
    fence.pet(DEADLINE_MS);
  }
  t.is(fence.state, 'armed');
  t.true(await isPostmasterOf(p.postmasterPid, p.node.dataDir));
  t.is(await tryWrite(p), 'ok');
  await fence.close();
  t.is(fence.state, 'closed');
  await until('fence exited', 2000, async () => ((await hasExited(fence.pid)) ? true : undefined));
  t.true(await isPostmasterOf(p.postmasterPid, p.node.dataDir));
  t.false((await fenceLog(p.runDir)).some((l) => l.msg === 'fence.fired'));
});

test.serial('(b) SIGSTOP of the agent group: the fence stops PostgreSQL within deadline + 1 s; writes fail', async (t) => {
  const p = await startPrimary(t, 'frozen');
  const agent = await startAgent(t, p.runDir, p.node.dataDir, 0);
  const agentPid = agent.child.pid as number;
  // An open session from before the freeze: it must not be able to write afterwards either.
  const session = client(p);
  await session.connect();
  t.teardown(() => session.end().catch(() => {}));
  await sleep(3 * DEADLINE_MS); // the agent pets for three deadlines first
  t.true(await isPostmasterOf(p.postmasterPid, p.node.dataDir), 'petted fence did not fire');

  const frozenAt = performance.now(); // the last pet was at most PET_INTERVAL_MS before this
  process.kill(-agentPid, 'SIGSTOP');
  const goneAt = await postmasterGoneAt(p, DEADLINE_MS + FIRE_SLACK_MS + 2000);
  const sinceFreezeMs = Math.round(goneAt - frozenAt);
  t.true(sinceFreezeMs <= DEADLINE_MS + FIRE_SLACK_MS, `postmaster gone ${sinceFreezeMs} ms after the freeze`);
  t.true(sinceFreezeMs >= DEADLINE_MS - PET_INTERVAL_MS - 50, `fired early: ${sinceFreezeMs} ms after the freeze`);

  t.not(await tryWrite(p), 'ok', 'a new connection cannot write');
  await t.throwsAsync(session.query('CREATE TABLE after_fence (x int)'), undefined, 'the session opened before the freeze cannot write');
  // The fence has exited, but stays a zombie until its stopped parent (the agent) runs again: go by its log.
  const fired = await until('fence.fired logged', 3000, async () => (await fenceLog(p.runDir)).find((l) => l.msg === 'fence.fired'));
  t.like(fired, { postmasterPid: p.postmasterPid, signal: 'SIGQUIT', stopped: true });
  t.log(`freeze → postmaster gone ${sinceFreezeMs} ms (deadline ${DEADLINE_MS} ms); fence: deadline → gone ${String(fired?.latencyMs)} ms (timer overdue ${String(fired?.overdueMs)} ms, SIGQUIT → gone ${String(fired?.stopMs)} ms)`);

  process.kill(-agentPid, 'SIGCONT');
  process.kill(-agentPid, 'SIGKILL');
  await agent.exited;
  await until('fence reaped', 3000, async () => ((await hasExited(agent.fencePid)) ? true : undefined));
});

test.serial('(c) disarm: no stop even long after the deadline', async (t) => {
  const p = await startPrimary(t, 'disarm');
  const fence = await Fence.start({ runDir: p.runDir, dataDir: p.node.dataDir });
  killOnTeardown(t, () => fence.pid);
  fence.arm(DEADLINE_MS);
  for (let i = 0; i < 5; i++) {
    await sleep(PET_INTERVAL_MS);
    fence.pet(DEADLINE_MS);
  }
  fence.disarm();
  t.is(fence.state, 'disarmed');
  fence.pet(DEADLINE_MS); // ignored while disarmed: it must not re-arm
  await sleep(2.5 * DEADLINE_MS);
  t.false(await hasExited(fence.pid), 'a disarmed fence stays up while its agent is there');
  t.true(await isPostmasterOf(p.postmasterPid, p.node.dataDir));
  t.is(await tryWrite(p), 'ok');
  // Re-arm (became primary again), then close: still nothing fires.
  fence.arm(DEADLINE_MS);
  t.is(fence.state, 'armed');
  await fence.close();
  await sleep(DEADLINE_MS + 300);
  t.true(await isPostmasterOf(p.postmasterPid, p.node.dataDir));
  t.true(await hasExited(fence.pid));
  const events = (await fenceLog(p.runDir)).map((l) => l.msg);
  t.deepEqual(events.filter((e) => e === 'fence.armed' || e === 'fence.disarmed' || e === 'fence.fired' || e === 'fence.exit'), ['fence.armed', 'fence.disarmed', 'fence.armed', 'fence.exit']);
});

test.serial('(d) the agent exits while armed; a new agent adopts the fence over its socket and keeps petting: no stop', async (t) => {
  const p = await startPrimary(t, 'adopt');
  const agent = await startAgent(t, p.runDir, p.node.dataDir, 600);
  t.is(await agent.exited, 0, 'the agent exits on its own: the fence does not hold its event loop');
  const exitedAt = performance.now();
  const adopted = await Fence.adopt({ runDir: p.runDir });
  const adoptMs = Math.round(performance.now() - exitedAt);
  if (adopted === undefined) return t.fail('no fence to adopt');
  killOnTeardown(t, () => adopted.pid);
  t.is(adopted.pid, agent.fencePid);
  t.is(adopted.state, 'armed');
  adopted.pet(DEADLINE_MS);
  const started = performance.now();
  while (performance.now() - started < 3 * DEADLINE_MS) {
    await sleep(PET_INTERVAL_MS);
    adopted.pet(DEADLINE_MS);
  }
  t.true(await isPostmasterOf(p.postmasterPid, p.node.dataDir));
  t.is(await tryWrite(p), 'ok');
  t.log(`agent exit → adopted in ${adoptMs} ms`);
  await adopted.close();
  await until('fence exited', 2000, async () => ((await hasExited(adopted.pid)) ? true : undefined));
  t.true(await isPostmasterOf(p.postmasterPid, p.node.dataDir));
  t.is(await Fence.adopt({ runDir: p.runDir }), undefined, 'the socket is gone with the fence');
});

test.serial('(e) the agent exits while armed and nobody adopts: PostgreSQL is stopped after the deadline', async (t) => {
  const p = await startPrimary(t, 'orphan');
  const agent = await startAgent(t, p.runDir, p.node.dataDir, 600);
  t.is(await agent.exited, 0);
  const exitedAt = performance.now(); // the last pet was at most PET_INTERVAL_MS before this
  const goneAt = await postmasterGoneAt(p, DEADLINE_MS + FIRE_SLACK_MS + 2000);
  const sinceExitMs = Math.round(goneAt - exitedAt);
  t.true(sinceExitMs <= DEADLINE_MS + FIRE_SLACK_MS, `postmaster gone ${sinceExitMs} ms after the agent exited`);
  // Early firing is measured from the last pet itself: on a busy machine the exit is seen late.
  const sinceLastPetMs = Math.round(goneAt - (await agent.lastPetAt));
  t.true(sinceLastPetMs >= DEADLINE_MS - 50, `fired early: ${sinceLastPetMs} ms after the last pet`);
  t.not(await tryWrite(p), 'ok');
  await until('fence exited', 3000, async () => ((await hasExited(agent.fencePid)) ? true : undefined));
  const log = await fenceLog(p.runDir);
  t.true(log.some((l) => l.msg === 'fence.agent_eof' && l.armed === true));
  const fired = log.find((l) => l.msg === 'fence.fired');
  t.like(fired, { postmasterPid: p.postmasterPid, stopped: true });
  t.log(`agent exit → postmaster gone ${sinceExitMs} ms; fence: deadline → gone ${String(fired?.latencyMs)} ms`);
});

test.serial('(f) a postmaster.pid naming a foreign process: it is never signalled', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'pgherd-fence-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const dataDir = join(base, 'data');
  await mkdir(dataDir, { mode: 0o700 });
  // Two impostors: one elsewhere, one even running in the data directory (passes the cwd check; not postgres).
  for (const cwd of ['/', dataDir]) {
    const impostor = spawn('sleep', ['60'], { cwd, stdio: 'ignore' });
    t.teardown(() => impostor.kill('SIGKILL'));
    const impostorPid = impostor.pid as number;
    await writeFile(join(dataDir, 'postmaster.pid'), `${impostorPid}\n${dataDir}\n1700000000\n5432\n/tmp\n127.0.0.1\n  5432001         0\nready   \n`);
    const runDir = join(base, cwd === '/' ? 'run-elsewhere' : 'run-in-data');
    const fence = await Fence.start({ runDir, dataDir, graceMs: 200 });
    killOnTeardown(t, () => fence.pid);
    fence.arm(200);
    await until('fence fired', 5000, async () => ((await hasExited(fence.pid)) ? true : undefined));
    await sleep(300);
    t.true(!(await hasExited(impostorPid)) && impostor.exitCode === null && impostor.signalCode === null, `impostor (cwd ${cwd}) survived`);
    t.is(fence.state, 'fired');
    const fired = (await fenceLog(runDir)).find((l) => l.msg === 'fence.fired');
    t.like(fired, { postmasterPid: impostorPid, refused: cwd === '/' ? 'not_postmaster_of_data_dir' : 'not_postgres' });
  }
});

test.serial('a second fence on the same run directory is refused; adopt finds the first', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'pgherd-fence-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const runDir = join(base, 'run');
  const first = await Fence.start({ runDir, dataDir: join(base, 'data') });
  killOnTeardown(t, () => first.pid);
  await t.throwsAsync(Fence.start({ runDir, dataDir: join(base, 'data') }), { code: 'PGHERD_FENCE_ALREADY_RUNNING' });
  const adopted = await Fence.adopt({ runDir });
  t.is(adopted?.pid, first.pid);
  t.is(adopted?.state, 'disarmed');
  await first.close();
  t.is(first.state, 'closed');
  await until('fence exited', 2000, async () => ((await hasExited(first.pid)) ? true : undefined));
  t.is(await Fence.adopt({ runDir }), undefined);
});

test.serial('(g) a postmaster that ignores SIGQUIT (stopped): SIGKILL of its process group after the grace; its sessions die too', async (t) => {
  const p = await startPrimary(t, 'hung');
  const session = client(p);
  await session.connect();
  t.teardown(() => session.end().catch(() => {}));
  process.kill(p.postmasterPid, 'SIGSTOP'); // only the postmaster: its backends keep serving
  t.teardown(() => {
    if (isProcessAlive(p.postmasterPid)) process.kill(p.postmasterPid, 'SIGCONT');
  });
  await session.query('CREATE TABLE before_fence (x int)');
  const graceMs = 300;
  const fence = await Fence.start({ runDir: p.runDir, dataDir: p.node.dataDir, graceMs });
  killOnTeardown(t, () => fence.pid);
  const armedAt = performance.now();
  fence.arm(300);
  const goneAt = await postmasterGoneAt(p, 5000);
  const fired = await until('fence.fired logged', 3000, async () => (await fenceLog(p.runDir)).find((l) => l.msg === 'fence.fired'));
  t.like(fired, { postmasterPid: p.postmasterPid, signal: 'SIGKILL', stopped: true });
  await t.throwsAsync(session.query('CREATE TABLE after_fence (x int)'), undefined, 'the backend died with its group');
  t.not(await tryWrite(p), 'ok');
  t.log(`arm → postmaster gone ${Math.round(goneAt - armedAt)} ms (deadline 300 ms + grace ${graceMs} ms); fence: deadline → gone ${String(fired.latencyMs)} ms`);
});

test.serial('malformed, overlong and out-of-range commands never extend the deadline', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'pgherd-fence-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const runDir = join(base, 'run');
  const fence = await Fence.start({ runDir, dataDir: join(base, 'no-data') });
  killOnTeardown(t, () => fence.pid);
  const raw = await new Promise<Socket>((resolve, reject) => {
    const s = connect(join(runDir, 'fence.sock'), () => resolve(s));
    s.once('error', reject);
  });
  t.teardown(() => raw.destroy());
  const armedAt = performance.now();
  raw.write('arm 500\n');
  const junk = ['pet 600001', 'pet 99', 'pet -5', 'pet 1e5', 'pet', 'arm', 'disarm now', `pet ${'9'.repeat(200)}`, 'x'.repeat(5000), 'pet 500 500', 'PET 500'];
  const timer = setInterval(() => raw.write(`${junk.join('\n')}\n`), 50);
  t.teardown(() => clearInterval(timer));
  await until('fence fired', 3000, async () => ((await hasExited(fence.pid)) ? true : undefined));
  clearInterval(timer);
  const firedAfterMs = Math.round(performance.now() - armedAt);
  t.true(firedAfterMs >= 450 && firedAfterMs < 1500, `fired ${firedAfterMs} ms after arm 500`);
  const log = await fenceLog(runDir);
  t.like(log.find((l) => l.msg === 'fence.fired'), { refused: 'no_pid_file' });
  t.true(log.some((l) => l.msg === 'fence.bad_command' || l.msg === 'fence.line_too_long'));
  t.true(log.filter((l) => l.level === 'warn').length <= 3, 'complaints are rate-limited');
  t.is(fence.state, 'fired');
});
