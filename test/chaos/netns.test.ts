import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import test from 'ava';
import { NetnsNetwork, sweepStale } from '../../chaos/hosts/netns.js';

const run = promisify(execFile);
const availability = await NetnsNetwork.available();
const netnsTest = availability.ok ? test.serial : test.serial.skip;
if (!availability.ok) console.log(`chaos netns tests skipped: ${availability.why}`);

const PORT = 7911;
const SERVER = `require('node:net').createServer((s) => s.end('hi')).listen(${PORT}, '0.0.0.0')`;
const client = (host: string): string =>
  `const s = require('node:net').connect({ host: '${host}', port: ${PORT}, timeout: 1500 }, () => {}); let d = ''; s.on('data', (c) => (d += c)); s.on('end', () => { console.log(d); process.exit(0); }); s.on('error', (e) => { console.log('error ' + e.code); process.exit(0); }); s.on('timeout', () => { console.log('timeout'); process.exit(0); });`;

/** What a TCP client in `from`'s namespace (or the root namespace, from null) gets from the server on `to`. */
async function probe(network: NetnsNetwork, from: string | null, to: string): Promise<string> {
  const code = client(network.host(to).address);
  const { stdout } = from === null ? await run(process.execPath, ['-e', code]) : { stdout: await network.exec(from, process.execPath, ['-e', code]) };
  return stdout.trim();
}

netnsTest('netns hosts: every node reaches every other and the root namespace reaches them; cut, isolate and heal; teardown removes everything', async (t) => {
  const network = await NetnsNetwork.create({ nodes: ['n1', 'n2', 'n3'] });
  t.teardown(() => network.destroy());
  const server = network.spawn('n2', process.execPath, ['-e', SERVER], { stdio: 'ignore' });
  t.teardown(() => {
    server.kill('SIGKILL');
  });
  const deadline = performance.now() + 5_000;
  while ((await probe(network, 'n1', 'n2')) !== 'hi') {
    if (performance.now() > deadline) t.fail('the server in n2 never answered n1');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  t.is(await probe(network, 'n3', 'n2'), 'hi');
  t.is(await probe(network, null, 'n2'), 'hi', 'the root namespace (the workload) reaches the nodes');
  t.is(await probe(network, 'n2', 'n2'), 'hi', 'a node reaches itself');

  await network.cut('n1', ['n2']);
  t.regex(await probe(network, 'n1', 'n2'), /^error (ECONNRESET|ECONNREFUSED|EPERM)/, 'cut: fails at once (reset)');
  t.is(await probe(network, 'n3', 'n2'), 'hi', 'others unaffected');
  await network.isolate('n2');
  t.regex(await probe(network, null, 'n2'), /^error /, 'isolated from the root namespace too');
  t.regex(await probe(network, 'n3', 'n2'), /^error /);
  await network.heal();
  t.is(await probe(network, 'n1', 'n2'), 'hi', 'healed');
  t.is(await probe(network, null, 'n2'), 'hi');

  await network.lossy('n2', 0.9999);
  t.is(await probe(network, 'n1', 'n2'), 'timeout', 'packet loss: (almost) every packet to and from n2 is lost');
  await network.heal();
  t.is(await probe(network, 'n1', 'n2'), 'hi');
  await t.throwsAsync(network.lossy('n2', 1), { message: /probability must be in \(0, 1\)/ });

  await network.cut('n1', ['n2'], 'drop');
  t.is(await probe(network, 'n1', 'n2'), 'timeout', 'drop: silence until the client gives up');
  await network.heal();

  server.kill('SIGKILL');
  await network.destroy();
  const { stdout: namespaces } = await run('ip', ['netns', 'list']);
  t.false(namespaces.includes(network.prefix), 'no namespace left');
  const { stdout: links } = await run('ip', ['-o', 'link', 'show']);
  t.false(links.includes(network.prefix), 'no bridge or veth left');
});

netnsTest('sweepStale removes what a dead run left behind, and nothing of a live one', async (t) => {
  // A pid that cannot exist (above the kernel's maximum) stands for a dead run.
  const dead = `phc${(4_194_305).toString(36).padStart(5, '0')}-n1`;
  await run('ip', ['netns', 'add', dead]);
  t.teardown(() => run('ip', ['netns', 'del', dead]).catch(() => undefined));
  const live = await NetnsNetwork.create({ nodes: ['n1'] });
  t.teardown(() => live.destroy());
  const removed = await sweepStale();
  t.true(removed.includes(dead));
  const { stdout } = await run('ip', ['netns', 'list']);
  t.false(stdout.includes(dead));
  t.true(stdout.includes(live.host('n1').namespace), 'the live run keeps its namespace');
});
