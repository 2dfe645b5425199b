import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import test, { type ExecutionContext } from 'ava';
import { DockerHosts, sweepStaleDocker } from '../../chaos/hosts/docker.js';
import { AgentCluster } from '../../scripts/lib/agent-cluster.js';
import { acquireHeavySlot } from '../helpers/heavy-slot.js';
import { untilValue } from '../helpers/wait.js';
import { superuserPassword, tryQuery, untilHealthy, untilSyncStandby } from '../integration/agent/helpers.js';

/*
 * The docker chaos backend: one container per node on a network of its
 * own. First the network faults between bare containers, then three real
 * agents with PostgreSQL in synchronous mode: a frozen host is frozen by
 * signals from this machine, the isolated primary is replaced and rejoins
 * after the heal, and a primary host killed outright (every process of its
 * container, kill -9) is replaced and comes back in a new container.
 * Skipped where no Docker daemon answers (CI): see chaos/docker/README.md.
 */

const run = promisify(execFile);
const availability = await DockerHosts.available();
const dockerTest = availability.ok ? test.serial : test.serial.skip;
if (!availability.ok) console.log(`chaos docker tests skipped: ${availability.why}`);

const BOOT_MS = 120_000;
const PORT = 7911;
const SERVER = `require('node:net').createServer((s) => s.end('hi')).listen(${PORT}, '0.0.0.0')`;
const client = (host: string): string =>
  `const s = require('node:net').connect({ host: '${host}', port: ${PORT}, timeout: 1500 }, () => {}); let d = ''; s.on('data', (c) => (d += c)); s.on('end', () => { console.log(d); process.exit(0); }); s.on('error', (e) => { console.log('error ' + e.code); process.exit(0); }); s.on('timeout', () => { console.log('timeout'); process.exit(0); });`;

/** What a TCP client in `from`'s container (or on this machine, from null) gets from the server on `to`; 'down' if `from` is. */
async function probe(hosts: DockerHosts, from: string | null, to: string): Promise<string> {
  const code = client(hosts.host(to).address);
  const stdout = from === null ? (await run(process.execPath, ['-e', code])).stdout : await hosts.exec(from, process.execPath, ['-e', code]);
  return (stdout ?? 'down').trim();
}

async function until(t: ExecutionContext, what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) return void t.fail(`timed out: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function leftovers(hosts: DockerHosts): Promise<string> {
  const { stdout: containers } = await run('docker', ['ps', '-a', '--filter', `label=org.pgherd.chaos.run=${hosts.prefix}`, '--format', '{{.Names}}']);
  const { stdout: networks } = await run('docker', ['network', 'ls', '--filter', `label=org.pgherd.chaos.run=${hosts.prefix}`, '--format', '{{.Name}}']);
  return `${containers}${networks}`.trim();
}

dockerTest('docker hosts: nodes reach each other and this machine reaches them; cut, isolate, lossy and heal; a restart gets a fresh chain; destroy removes everything', async (t) => {
  const baseDir = await mkdtemp(join(tmpdir(), 'pgherd-docker-'));
  t.teardown(() => rm(baseDir, { recursive: true, force: true }));
  const created = performance.now();
  const hosts = await DockerHosts.create({ nodes: ['n1', 'n2', 'n3'], baseDir });
  t.teardown(() => hosts.destroy());
  t.log(`image + network in ${Math.round(performance.now() - created)} ms (${hosts.image}, ${hosts.cidr})`);
  const servers: ChildProcess[] = [];
  t.teardown(() => servers.forEach((s) => s.kill('SIGKILL')));
  const serve = (name: string): ChildProcess => {
    const [command, ...args] = hosts.placement.launch(name, [process.execPath, '-e', SERVER]);
    const server = spawn(command!, args, { stdio: 'ignore' });
    servers.push(server);
    return server;
  };
  const started = performance.now();
  serve('n2');
  await until(t, 'the server in n2 answers', async () => (await probe(hosts, null, 'n2')) === 'hi');
  t.log(`container started and serving in ${Math.round(performance.now() - started)} ms`);
  serve('n1');
  serve('n3');
  await until(t, 'the server in n2 answers n1', async () => (await probe(hosts, 'n1', 'n2')) === 'hi');
  t.is(await probe(hosts, 'n3', 'n2'), 'hi');
  t.is(await probe(hosts, null, 'n2'), 'hi', 'this machine (the workload) reaches the nodes');
  t.is(await probe(hosts, 'n2', 'n2'), 'hi', 'a node reaches itself');

  const cutAt = performance.now();
  await hosts.cut('n1', ['n2']);
  t.log(`cut in ${Math.round(performance.now() - cutAt)} ms`);
  t.regex(await probe(hosts, 'n1', 'n2'), /^error (ECONNRESET|ECONNREFUSED|EPERM)/, 'cut: fails at once (reset)');
  t.is(await probe(hosts, 'n3', 'n2'), 'hi', 'others unaffected');
  const isolatedAt = performance.now();
  await hosts.isolate('n2');
  t.log(`isolate in ${Math.round(performance.now() - isolatedAt)} ms`);
  t.regex(await probe(hosts, null, 'n2'), /^error /, 'isolated from this machine too');
  t.regex(await probe(hosts, 'n3', 'n2'), /^error /);
  await hosts.heal();
  t.is(await probe(hosts, 'n1', 'n2'), 'hi', 'healed');
  t.is(await probe(hosts, null, 'n2'), 'hi');

  await hosts.lossy('n2', 0.9999);
  t.is(await probe(hosts, 'n1', 'n2'), 'timeout', 'packet loss: (almost) every packet to and from n2 is lost');
  await hosts.heal();
  t.is(await probe(hosts, 'n1', 'n2'), 'hi');
  await t.throwsAsync(hosts.lossy('n2', 1), { message: /probability must be in \(0, 1\)/ });
  await hosts.cut('n1', ['n2'], 'drop');
  t.is(await probe(hosts, 'n1', 'n2'), 'timeout', 'drop: silence until the client gives up');
  await hosts.heal();

  // n2 restarted: a new container, the same address, a chain of its own; a down node is nothing to heal.
  await hosts.isolate('n2');
  const first = hosts.container('n2')!;
  const exited = new Promise((resolve) => servers[0]!.once('exit', resolve));
  const { stdout: id } = await run('docker', ['inspect', '--format', '{{.Id}}', first]);
  for (const pid of await pidsRunning(SERVER)) {
    // The server whose cgroup is the container's: kill -9 of the container's only process ends it.
    if ((await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => '')).includes(id.trim())) process.kill(pid, 'SIGKILL');
  }
  await exited;
  await hosts.heal();
  t.is(await probe(hosts, 'n2', 'n1'), 'down', 'n2 is down: nothing runs there');
  serve('n2');
  t.not(hosts.container('n2'), first);
  await until(t, 'the restarted n2 answers n1', async () => (await probe(hosts, 'n1', 'n2')) === 'hi');
  t.is(await probe(hosts, null, 'n2'), 'hi', 'the restarted node has no rules');
  await hosts.isolate('n2');
  t.regex(await probe(hosts, 'n1', 'n2'), /^error /, 'faults work on the restarted node');
  await hosts.heal();

  await hosts.destroy();
  await hosts.destroy();
  t.is(await leftovers(hosts), '', 'no container or network left');
  t.true((await run('docker', ['image', 'inspect', hosts.image])).stdout.length > 0, 'the image stays, for the next run');
  const { stdout: addresses } = await run('ip', ['-o', '-4', 'addr', 'show']);
  t.false(addresses.includes(`inet ${hosts.gateway}/`), 'the network\'s bridge is gone');
});

dockerTest('sweepStaleDocker removes what a dead run left behind, and nothing of a live one', async (t) => {
  // A pid that cannot exist (above the kernel's maximum) stands for a dead run.
  const dead = 'pgherd-chaos-4194305-000000';
  const labels = ['--label', `org.pgherd.chaos.run=${dead}`, '--label', 'org.pgherd.chaos.pid=4194305'];
  await run('docker', ['network', 'create', '--internal', ...labels, `${dead}-net`]);
  t.teardown(() => run('docker', ['network', 'rm', `${dead}-net`]).catch(() => undefined));
  const baseDir = await mkdtemp(join(tmpdir(), 'pgherd-docker-'));
  t.teardown(() => rm(baseDir, { recursive: true, force: true }));
  const live = await DockerHosts.create({ nodes: ['n1'], baseDir });
  t.teardown(() => live.destroy());
  const removed = await sweepStaleDocker();
  t.true(removed.includes(`${dead}-net`));
  const { stdout } = await run('docker', ['network', 'ls', '--format', '{{.Name}}']);
  t.false(stdout.includes(dead));
  t.true(stdout.includes(live.network), 'the live run keeps its network');
});

dockerTest('docker: the isolated primary is replaced and rejoins after the heal; a primary host killed outright is replaced and restarts', async (t) => {
  const testStarted = performance.now();
  // One three-node cluster at a time across test files (released last).
  await acquireHeavySlot(t, 6 * 60_000);
  const baseDir = await mkdtemp(join(tmpdir(), 'pgherd-docker-it-'));
  t.teardown(() => (process.env.KEEP_TEST_DIRS ? t.log(`kept ${baseDir}`) : rm(baseDir, { recursive: true, force: true })));
  const hosts = await DockerHosts.create({ nodes: ['n1', 'n2', 'n3'], baseDir });
  t.teardown(() => hosts.destroy());
  const cluster = await AgentCluster.create({ baseDir, dynamic: { synchronous_mode: 'on' }, placement: hosts.placement });
  t.teardown(async () => {
    if (!t.passed) await logAgentTrouble(t, cluster);
    await cluster.killAll();
  });
  await cluster.startAll();
  const first = await untilHealthy(cluster, BOOT_MS);
  t.log(`healthy in ${Math.round(performance.now() - testStarted)} ms: primary ${first.primary}`);
  const agent = await cluster.agentPid(first.primary);
  t.truthy(agent, 'the agent in the container is found among this machine\'s processes');
  t.not(agent, cluster.pid(first.primary), 'the agent, not the docker run client');
  const { stdout: id } = await run('docker', ['inspect', '--format', '{{.Id}}', hosts.container(first.primary)!]);
  t.true((await readFile(`/proc/${agent}/cgroup`, 'utf8')).includes(id.trim()), 'the agent runs in the node\'s container');
  t.truthy(await cluster.fencePid(first.primary));

  const password = await superuserPassword(cluster, first.primary);
  const createdTable = await tryQuery(cluster, first.primary, password, 'CREATE TABLE d (id bigint primary key)');
  t.false(createdTable instanceof Error, String(createdTable));
  let next = 0;
  const insert = async (node: string, n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const result = await tryQuery(cluster, node, password, `INSERT INTO d VALUES (${++next})`);
      if (result instanceof Error) throw result;
    }
  };
  await insert(first.primary, 20);

  // A freeze: SIGSTOP of every process of the node, then SIGCONT, and it is still the primary.
  await cluster.signalHost(first.primary, 'SIGSTOP');
  const state = async (pid: number): Promise<string | undefined> => (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.[0];
  const postmaster = (await cluster.postmasterPid(first.primary))!;
  await until(t, 'the agent and postmaster in the container stopped by a signal from this machine', async () => (await state(agent!)) === 'T' && (await state(postmaster)) === 'T', 2_000);
  await cluster.signalHost(first.primary, 'SIGCONT');

  // Synchronous mode fails over only to the recorded synchronous standby: isolate once there is one.
  await untilSyncStandby(cluster);
  await hosts.isolate(first.primary);
  const cutAt = performance.now();
  const promoted = await untilValue('a new primary on the majority side', 45_000, async () => (await cluster.statuses()).find((s) => s.isPrimary && s.name !== first.primary), 200);
  t.log(`isolated ${first.primary}: ${promoted.name} primary ${Math.round(performance.now() - cutAt)} ms after the partition`);
  await untilValue('the new primary takes writes', 20_000, async () => ((await tryQuery(cluster, promoted.name, password, 'SELECT 1')) instanceof Error ? undefined : true), 200);
  await insert(promoted.name, 20);
  await hosts.heal();
  const healed = await untilHealthy(cluster, BOOT_MS);
  t.is(healed.primary, promoted.name, 'the healed node did not take the primary role back');
  t.true(healed.replicas.includes(first.primary), 'the old primary rejoined as a replica');
  await insert(healed.primary, 10);
  await converged(t, cluster, password, next);

  // kill -9 of the whole host: the agent, fence, postmaster and backends in the new primary's container.
  const victim = healed.primary;
  await untilSyncStandby(cluster);
  const killedAt = performance.now();
  await cluster.signalHost(victim, 'SIGKILL');
  t.false(cluster.running(victim), 'the container\'s client exited with the agent');
  const third = await untilValue('a primary after the host kill', 45_000, async () => (await cluster.statuses()).find((s) => s.isPrimary && s.name !== victim), 200);
  t.log(`killed ${victim}: ${third.name} primary ${Math.round(performance.now() - killedAt)} ms later`);
  await untilValue('the new primary takes writes', 20_000, async () => ((await tryQuery(cluster, third.name, password, 'SELECT 1')) instanceof Error ? undefined : true), 200);
  await insert(third.name, 10);
  const restartedAt = performance.now();
  cluster.start(victim);
  const back = await untilHealthy(cluster, BOOT_MS);
  t.log(`${victim} restarted in a new container and streaming ${Math.round(performance.now() - restartedAt)} ms later`);
  t.is(back.primary, third.name);
  t.true(back.replicas.includes(victim));
  await converged(t, cluster, password, next);
  t.log(`test body ${Math.round(performance.now() - testStarted)} ms`);
});

/** Every node holds rows 1..count (a replica's lag goes to zero: synchronous mode). */
async function converged(t: ExecutionContext, cluster: AgentCluster, password: string, count: number): Promise<void> {
  const expected = JSON.stringify({ n: count, max: count });
  const results = await untilValue('every node has the same rows', 30_000, async () => {
    const answers = await Promise.all(cluster.nodes.map((n) => tryQuery(cluster, n.name, password, 'SELECT count(*)::int AS n, max(id)::int AS max FROM d')));
    const texts = answers.map((r) => (r instanceof Error ? r.message : JSON.stringify(r.rows[0])));
    return texts.every((x) => x === expected) ? texts : undefined;
  }, 250);
  t.is(results.length, 3);
}

/** Processes of this machine whose command line is `node -e <code>`. */
async function pidsRunning(code: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (argv[0] === process.execPath && argv[1] === '-e' && argv[2] === code) pids.push(Number(entry));
  }
  return pids;
}

/** On failure: the agents' last warnings and errors and the HA decisions, and any line that is not the agent's JSON. */
async function logAgentTrouble(t: ExecutionContext, cluster: AgentCluster): Promise<void> {
  for (const node of cluster.nodes) {
    const text = await readFile(node.logFile, 'utf8').catch(() => '');
    const lines = text.split('\n').filter((l) => l !== '' && (/"level":"(warn|error)"|"msg":"ha\./.test(l) || !l.startsWith('{')));
    for (const line of lines.slice(-12)) t.log(`${node.name}: ${line.slice(0, 400)}`);
  }
}
