import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { AckedWrite } from '../../../chaos/checkers.js';
import type { FaultRecord, ObservedRole, RoleSample, RunRecord } from '../../../chaos/history.js';
import { chaosTotals, finalLine, renderSummary, renderTimelineSvg, writeRunReport } from '../../../chaos/report.js';

// ---------------------------------------------------------------------------
// Records built by hand

/** Samples of one node every 250 ms over [fromMs, toMs). */
function samples(node: string, role: ObservedRole, timeline: number | null, fromMs: number, toMs: number): RoleSample[] {
  const out: RoleSample[] = [];
  for (let atMs = fromMs; atMs < toMs; atMs += 250) out.push({ atMs, node, role, timeline });
  return out;
}

let nextId = 0;
/** Writes every 100 ms acknowledged in [fromMs, toMs], each taking 20 ms. */
function writes(server: string, timeline: number, fromMs: number, toMs: number): AckedWrite[] {
  const out: AckedWrite[] = [];
  for (let ackedAtMs = fromMs; ackedAtMs <= toMs; ackedAtMs += 100) out.push({ id: ++nextId, server, timeline, startedAtMs: ackedAtMs - 20, ackedAtMs });
  return out;
}

/** Passes: n1's host is killed at 5 s, n2 takes over on timeline 2, n1 comes back as a replica; writes stop 4.9–6.6 s. */
function passingRun(): RunRecord {
  return {
    seed: 7, backend: 'netns', profile: 'default', nodes: ['n1', 'n2', 'n3'], synchronous: true,
    startedAt: '2026-01-02T03:04:05.000Z', durationMs: 20_000,
    faults: [{ kind: 'kill-host', targets: ['n1'], detail: 'n1', startMs: 5_000, healMs: 9_000 }],
    roles: [
      ...samples('n1', 'primary', 1, 0, 5_000), ...samples('n1', 'unreachable', null, 5_000, 9_000),
      ...samples('n1', 'starting', null, 9_000, 9_500), ...samples('n1', 'replica', 2, 9_500, 20_000),
      ...samples('n2', 'replica', 1, 0, 6_500), ...samples('n2', 'primary', 2, 6_500, 20_000),
      ...samples('n3', 'replica', 1, 0, 7_000), ...samples('n3', 'replica', 2, 7_000, 20_000),
    ],
    acked: [...writes('n1', 1, 100, 4_900), ...writes('n2', 2, 6_600, 19_900)],
    finalHealMs: 9_000,
    checks: { lostWrites: [], lostBytes: 0, allowedLossBytes: null, splitBrains: [], recovery: { boundMs: 30_000, recoveredAtMs: 11_000, ok: true }, divergent: [], staleReads: [], reads: 400, archive: null },
    error: null,
    problems: [],
  };
}

const TRICKY_DETAIL = 'n1 | n2 <&> "n3"';

/** Fails: a partition (with a detail that needs escaping) overlapping packet loss; a lost write, a split brain, no recovery, n3 diverged. */
function failingRun(): RunRecord {
  const acked = [...writes('n1', 1, 100, 5_000), ...writes('n2', 2, 6_000, 6_500), ...writes('n1', 1, 7_000, 8_000)];
  const lost = acked.find((w) => w.server === 'n2')!;
  return {
    seed: 13, backend: 'docker', profile: 'partitions', nodes: ['n1', 'n2', 'n3'], synchronous: true,
    startedAt: '2026-01-02T04:00:00.000Z', durationMs: 30_000,
    faults: [
      { kind: 'partition-halves', targets: ['n1'], detail: TRICKY_DETAIL, startMs: 4_000, healMs: 12_000 },
      { kind: 'packet-loss', targets: ['n2'], detail: '30% loss on n2', startMs: 6_000, healMs: 14_000 },
    ],
    roles: [
      ...samples('n1', 'primary', 1, 0, 30_000),
      ...samples('n2', 'replica', 1, 0, 5_750), ...samples('n2', 'primary', 2, 5_750, 30_000),
      ...samples('n3', 'replica', 1, 0, 30_000),
    ],
    acked,
    finalHealMs: 14_000,
    checks: {
      lostWrites: [lost], lostBytes: 100, allowedLossBytes: null,
      splitBrains: [{ primary: 'n1', timeline: 1, other: 'n2', otherTimeline: 2, fromMs: 5_980, toMs: 6_000 }],
      recovery: { boundMs: 10_000, recoveredAtMs: null, ok: false },
      divergent: ['n3'],
      staleReads: [{ read: { server: 'n1', maxId: 3, startedAtMs: 6_100, doneAtMs: 6_110 }, expectedAtLeast: 7 }],
      reads: 250,
      archive: { backupId: '20260102T040001Z', fromLsn: '0/2000028', toLsn: '0/7000000', timeline: 2, needed: 6, missing: ['000000010000000000000004'] },
    },
    error: null,
    problems: ['1 acknowledged write lost', 'split brain: n1/tl1 and n2/tl2', 'no recovery within 10 s'],
  };
}

/** The harness failed mid-run: a host frozen and never thawed, no checks; the error has a control character. */
function brokenRun(): RunRecord {
  return {
    seed: 21, backend: 'docker', profile: 'default', nodes: ['n1', 'n2'], synchronous: false,
    startedAt: '2026-01-02T05:00:00.000Z', durationMs: 8_000,
    faults: [{ kind: 'freeze-host', targets: ['n2'], detail: 'n2', startMs: 3_000, healMs: null }],
    roles: [...samples('n1', 'primary', 1, 0, 8_000), ...samples('n2', 'replica', 1, 0, 3_000), ...samples('n2', 'unreachable', null, 3_000, 8_000)],
    acked: writes('n1', 1, 100, 7_900),
    finalHealMs: null,
    checks: null,
    error: 'docker: container n2 exited\n\u001b[31m<stderr> & more',
    problems: [],
  };
}

// ---------------------------------------------------------------------------
// A small well-formedness checker (no XML library in node_modules)

interface XmlElement {
  readonly name: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: XmlElement[];
  text: string;
}

const NAME = '[A-Za-z_:][-A-Za-z0-9_:.]*';
const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(raw: string): string {
  if (/&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(raw)) throw new Error(`bad entity reference in ${JSON.stringify(raw)}`);
  return raw.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, ref: string) =>
    ref.startsWith('#x') ? String.fromCodePoint(parseInt(ref.slice(2), 16)) : ref.startsWith('#') ? String.fromCodePoint(Number(ref.slice(1))) : ENTITIES[ref]!);
}

/** Parses XML 1.0 well enough to reject anything malformed a renderer could produce; throws on the first fault. */
function parseXml(xml: string): XmlElement {
  if (/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u.test(xml)) throw new Error('a character XML cannot hold');
  const startTag = new RegExp(`<(${NAME})((?:\\s+${NAME}\\s*=\\s*(?:"[^"<]*"|'[^'<]*'))*)\\s*(/?)>`, 'y');
  const endTag = new RegExp(`</(${NAME})\\s*>`, 'y');
  const attribute = new RegExp(`(${NAME})\\s*=\\s*(?:"([^"<]*)"|'([^'<]*)')`, 'g');
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  let i = /^<\?xml[^?]*\?>/.exec(xml)?.[0].length ?? 0;
  while (i < xml.length) {
    if (xml.startsWith('<!--', i)) {
      const end = xml.indexOf('-->', i);
      if (end < 0) throw new Error('unclosed comment');
      i = end + 3;
    } else if (xml.startsWith('</', i)) {
      endTag.lastIndex = i;
      const m = endTag.exec(xml);
      const open = stack.pop();
      if (!m || !open || open.name !== m[1]) throw new Error(`mismatched end tag at ${i}: ${xml.slice(i, i + 30)}`);
      i = endTag.lastIndex;
    } else if (xml[i] === '<') {
      startTag.lastIndex = i;
      const m = startTag.exec(xml);
      if (!m) throw new Error(`malformed tag at ${i}: ${xml.slice(i, i + 40)}`);
      if (stack.length === 0 && root) throw new Error('a second root element');
      const attrs: Record<string, string> = {};
      for (const a of m[2]!.matchAll(attribute)) {
        if (a[1]! in attrs) throw new Error(`duplicate attribute ${a[1]}`);
        attrs[a[1]!] = decode(a[2] ?? a[3]!);
      }
      const element: XmlElement = { name: m[1]!, attrs, children: [], text: '' };
      if (stack.length > 0) stack[stack.length - 1]!.children.push(element);
      else root = element;
      if (m[3] !== '/') stack.push(element);
      i = startTag.lastIndex;
    } else {
      const next = xml.indexOf('<', i);
      const raw = xml.slice(i, next < 0 ? xml.length : next);
      if (raw.includes(']]>')) throw new Error(']]> in text');
      if (stack.length === 0) {
        if (raw.trim() !== '') throw new Error(`text outside the root: ${raw.slice(0, 30)}`);
      } else {
        stack[stack.length - 1]!.text += decode(raw);
      }
      i = next < 0 ? xml.length : next;
    }
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack[stack.length - 1]!.name}>`);
  if (!root) throw new Error('no root element');
  return root;
}

function findAll(element: XmlElement, match: (e: XmlElement) => boolean): XmlElement[] {
  return [...(match(element) ? [element] : []), ...element.children.flatMap((child) => findAll(child, match))];
}
const byClass = (root: XmlElement, cls: string): XmlElement[] => findAll(root, (e) => (e.attrs['class'] ?? '').split(' ').includes(cls));
const textOf = (element: XmlElement): string => element.text + element.children.map(textOf).join('');

test('the well-formedness checker itself rejects malformed XML', (t) => {
  t.is(parseXml('<?xml version="1.0"?>\n<a x="1"><b>t &amp; &lt;u&gt;</b><c/></a>\n').children.length, 2);
  for (const bad of ['<a><b></a></b>', '<a>&</a>', '<a>x < y</a>', '<a b="<"/>', '<a/><b/>', '<a>\u001b</a>', '<a b="1" b="2"/>', '<a>', 'text<a/>', '<a>&nbsp;</a>']) {
    t.throws(() => parseXml(bad), undefined, bad);
  }
});

// ---------------------------------------------------------------------------
// The summary

test('summary of a passing run: header, verdict, the fault, the failover and the write gap', (t) => {
  const summary = renderSummary(passingRun());
  const lines = summary.trimEnd().split('\n');
  t.true(lines.length <= 25, summary);
  t.regex(lines[0]!, /^chaos run seed 7: netns, profile default, 3 nodes \(n1 n2 n3\), synchronous, 20\.00 s/);
  t.true(lines.includes('verdict: PASS'), summary);
  t.regex(summary, /faults \(1\):\n {2}5\.0–9\.0 s +kill-host +n1\n/);
  t.true(lines.includes('primaries: n1/tl1 0.0–5.0 s, n2/tl2 6.5–20.0 s'), summary);
  t.true(lines.includes('acknowledged writes: 183 (n1/tl1 49, n2/tl2 134)'), summary);
  t.true(lines.includes('longest write gap: 1.70 s (4.9–6.6 s)'), summary);
  t.true(lines.includes('lost writes: 0 of 183 — ok'), summary);
  t.true(lines.includes('split brain: none — ok'), summary);
  t.true(lines.includes('recovery: 2.00 s after the final heal at 9.0 s (bound 30.00 s) — ok'), summary);
  t.true(lines.includes('divergent nodes: none — ok'), summary);
  t.true(lines.includes('stale reads: 0 of 400 — ok'), summary);
  t.false(summary.includes('FAIL'), summary);
  t.false(summary.includes('harness error'), summary);
});

test('summary of a failing run lists the problems and every finding', (t) => {
  const record = failingRun();
  const summary = renderSummary(record);
  const lines = summary.trimEnd().split('\n');
  t.true(lines.includes('verdict: FAIL (3 problems)'), summary);
  for (const problem of record.problems) t.true(lines.includes(`  - ${problem}`), problem);
  t.regex(summary, /4\.0–12\.0 s +partition-halves +n1 \| n2 <&> "n3"/);
  t.regex(summary, /6\.0–14\.0 s +packet-loss +30% loss on n2/);
  const lost = record.checks!.lostWrites[0]!;
  t.true(lines.includes(`lost writes: 1 of ${record.acked.length}, 100 B, none allowed (synchronous) — FAIL; ids ${lost.id}@n2/tl2`), summary);
  t.true(lines.includes('split brain: 1 interval — FAIL; n1/tl1 and n2/tl2 5.98–6.00 s'), summary);
  t.true(lines.includes('recovery: not recovered within 10.00 s of the final heal at 14.0 s — FAIL'), summary);
  t.true(lines.includes('divergent nodes: n3 — FAIL'), summary);
  t.true(lines.some((l) => l.startsWith('stale reads: 1 of 250 — FAIL; first n1 saw id 3')), summary);
  t.true(lines.includes('no write acknowledged after 8.0 s (22.00 s before the end)'), summary);
  t.true(lines.includes('archive: 6 WAL files from backup 20260102T040001Z (0/2000028) to 0/7000000 on timeline 2, 1 missing — FAIL; 000000010000000000000004'), summary);
  t.false(renderSummary(passingRun()).includes('archive:'), 'no store, no archive line');
});

test('summary of a run that broke off: no checks, the harness error on one line, the fault never healed', (t) => {
  const summary = renderSummary(brokenRun());
  const lines = summary.trimEnd().split('\n');
  t.true(lines.includes('verdict: FAIL (the run broke off)'), summary);
  t.true(lines.includes('checks: none (the run broke off before them)'), summary);
  t.regex(summary, /\n {2}3\.0–\? s +freeze-host +n2 \(never healed\)\n/);
  t.true(lines.includes('harness error: docker: container n2 exited ⏎ \uFFFD[31m<stderr> & more'), summary);
  t.false(summary.includes('\u001b'), 'no terminal escape in the text file');
  t.regex(lines[0]!, /asynchronous/);
});

test('summary stays short however many faults and problems there are', (t) => {
  const base = failingRun();
  const faults: FaultRecord[] = Array.from({ length: 40 }, (_, i) => ({ kind: 'kill-agent', targets: ['n1'], detail: `n1 #${i}`, startMs: i * 500, healMs: i * 500 + 200 }));
  const problems = Array.from({ length: 30 }, (_, i) => `problem ${i}`);
  const summary = renderSummary({ ...base, faults, problems });
  const lines = summary.trimEnd().split('\n');
  t.true(lines.length <= 25, `${lines.length} lines:\n${summary}`);
  t.true(lines.includes('verdict: FAIL (30 problems)'));
  t.true(lines.includes('  … 34 more in the JSON'), summary);
  t.true(lines.includes('  - … 26 more in the JSON'), summary);
});

// ---------------------------------------------------------------------------
// Totals and the final line

test('totals and the final line over a mix of runs', (t) => {
  const runs = [passingRun(), failingRun(), brokenRun()];
  t.deepEqual(chaosTotals(runs), { runs: 3, lost: 1, splitBrains: 1, unrecovered: 2, failedRuns: 2 });
  t.is(finalLine(runs), 'chaos: 3 runs, 1 lost acknowledged writes, 1 split-brain intervals, 2 unrecovered');
  t.is(finalLine([passingRun(), passingRun()]), 'chaos: 2 runs, 0 lost acknowledged writes, 0 split-brain intervals, 0 unrecovered');
  t.is(finalLine([]), 'chaos: 0 runs, 0 lost acknowledged writes, 0 split-brain intervals, 0 unrecovered');
});

test('a run recovered late counts as unrecovered; lost writes within the asynchronous bound still count as lost', (t) => {
  const base = passingRun();
  const late: RunRecord = { ...base, checks: { ...base.checks!, recovery: { boundMs: 1_000, recoveredAtMs: 11_000, ok: false } }, problems: ['recovered after the bound'] };
  const lost = base.acked.slice(0, 2);
  const tolerated: RunRecord = { ...base, synchronous: false, checks: { ...base.checks!, lostWrites: lost, lostBytes: 200, allowedLossBytes: 1_048_576 } };
  t.deepEqual(chaosTotals([late, tolerated]), { runs: 2, lost: 2, splitBrains: 0, unrecovered: 1, failedRuns: 1 });
  t.true(renderSummary(tolerated).includes('lost writes: 2 of 183, 200 B, allowed up to 1.0 MiB — ok;'));
});

// ---------------------------------------------------------------------------
// The timeline picture

test('the SVG is well-formed XML for every kind of run', (t) => {
  for (const record of [passingRun(), failingRun(), brokenRun()]) {
    const svg = renderTimelineSvg(record);
    const root = parseXml(svg);
    t.is(root.name, 'svg');
    t.is(root.attrs['xmlns'], 'http://www.w3.org/2000/svg');
    t.is(root.attrs['width'], '1200');
    t.false(/https?:\/\/(?!www\.w3\.org\/2000\/svg")/.test(svg), 'no external resources');
  }
});

test('the SVG has one lane per node, coloured by role, with the primary\'s timeline on it', (t) => {
  const root = parseXml(renderTimelineSvg(passingRun()));
  const lanes = byClass(root, 'lane');
  t.deepEqual(lanes.map((lane) => lane.attrs['data-node']), ['n1', 'n2', 'n3']);
  const n1Roles = byClass(lanes[0]!, 'role').map((r) => r.attrs['data-role']);
  t.deepEqual(n1Roles, ['primary', 'unreachable', 'starting', 'replica']);
  t.deepEqual(byClass(lanes[0]!, 'timeline').map(textOf), ['tl 1']);
  t.deepEqual(byClass(lanes[1]!, 'timeline').map(textOf), ['tl 2']);
  t.deepEqual(byClass(lanes[2]!, 'role').map((r) => r.attrs['data-role']), ['replica', 'replica'], 'a new timeline starts a new segment');
});

test('the SVG has a band per fault, stacked labels for overlapping faults, and escapes their text', (t) => {
  const svg = renderTimelineSvg(failingRun());
  t.false(svg.includes(TRICKY_DETAIL), 'the raw detail never appears unescaped');
  t.true(svg.includes('n1 | n2 &lt;&amp;&gt; &quot;n3&quot;'));
  const root = parseXml(svg);
  t.deepEqual(byClass(root, 'fault-band').map((b) => b.attrs['data-kind']), ['partition-halves', 'packet-loss']);
  const labels = byClass(root, 'fault-label');
  t.is(labels.length, 2);
  t.true(textOf(labels[0]!).includes(`partition-halves ${TRICKY_DETAIL}`));
  t.true(textOf(labels[1]!).includes('packet-loss 30% loss on n2'));
  const rowY = labels.map((l) => Number(l.children.find((c) => c.name === 'rect')!.attrs['y']));
  t.not(rowY[0], rowY[1], 'overlapping faults are in different rows');
  const broken = parseXml(renderTimelineSvg(brokenRun()));
  const band = byClass(broken, 'fault-band')[0]!;
  t.is(Number(band.attrs['x']) + Number(band.attrs['width']), 1200 - 24, 'a fault never healed reaches the end');
  t.true(textOf(byClass(broken, 'fault-label')[0]!).includes('(never healed)'));
});

test('the write lane is empty during the write gap and coloured by server around it', (t) => {
  const root = parseXml(renderTimelineSvg(passingRun()));
  const buckets = byClass(root, 'bucket');
  const indices = new Set(buckets.map((b) => Number(b.attrs['data-bucket'])));
  // Acked at 4.9 s (bucket 19) and next at 6.6 s (bucket 26): nothing in between.
  t.true(indices.has(19) && indices.has(26));
  for (let i = 20; i <= 25; i++) t.false(indices.has(i), `bucket ${i} is in the gap`);
  t.is(buckets.reduce((sum, b) => sum + Number(b.attrs['data-count']), 0), 183);
  const fillOf = (server: string): Set<string> => new Set(buckets.filter((b) => b.attrs['data-server'] === server).map((b) => b.attrs['fill']!));
  t.is(fillOf('n1').size, 1);
  t.is(fillOf('n2').size, 1);
  t.notDeepEqual([...fillOf('n1')], [...fillOf('n2')]);
});

test('the SVG marks split brain, lost writes, the final heal and the recovery (or its absence)', (t) => {
  const failing = parseXml(renderTimelineSvg(failingRun()));
  t.is(byClass(failing, 'split-brain').length, 1);
  t.is(byClass(failing, 'lost-write').length, 1);
  t.true(textOf(byClass(failing, 'final-heal')[0]!).includes('final heal 14.0 s'));
  const missing = byClass(failing, 'recovery')[0]!;
  t.is(missing.attrs['data-ok'], 'false');
  t.true(textOf(missing).includes('not recovered'));

  const passing = parseXml(renderTimelineSvg(passingRun()));
  t.is(byClass(passing, 'split-brain').length, 0);
  t.is(byClass(passing, 'lost-write').length, 0);
  const recovery = byClass(passing, 'recovery')[0]!;
  t.is(recovery.attrs['data-ok'], 'true');
  t.true(textOf(recovery).includes('recovered +2.00 s'));
  t.true(byClass(passing, 'legend-item').map(textOf).includes('primary'));

  const broken = parseXml(renderTimelineSvg(brokenRun()));
  t.is(byClass(broken, 'final-heal').length, 0);
  t.is(byClass(broken, 'recovery').length, 0);
  t.true(textOf(byClass(broken, 'error')[0]!).startsWith('harness error: docker: container n2 exited'));
});

// ---------------------------------------------------------------------------
// The writer

test('writeRunReport writes the record, the summary and the picture into a new directory', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'pgherd-report-'));
  t.teardown(() => rm(base, { recursive: true, force: true }));
  const dir = join(base, 'reports', 'run');
  const record = failingRun();
  const paths = await writeRunReport(dir, record);
  t.deepEqual(paths, { json: join(dir, 'seed-13.json'), summary: join(dir, 'seed-13.txt'), svg: join(dir, 'seed-13.svg') });
  t.deepEqual((await readdir(dir)).sort(), ['seed-13.json', 'seed-13.svg', 'seed-13.txt']);
  t.deepEqual(JSON.parse(await readFile(paths.json, 'utf8')), record);
  t.is(await readFile(paths.summary, 'utf8'), renderSummary(record));
  t.is(await readFile(paths.svg, 'utf8'), renderTimelineSvg(record));
});
