/** The run's summary for a human: about two dozen lines at most. Pure. */
import type { RunChecks, RunRecord } from '../history.js';
import { endMs, lossAllowed, longestWriteGap, passed, primaryTerms, writesByServer } from './derive.js';
import { bytesText, durationText, listText, oneLine, secondsText, serverText, spanText } from './format.js';

/** Bounds that keep the summary short; the JSON beside it has everything. */
const PROBLEMS_SHOWN_MAX = 4;
const FAULTS_SHOWN_MAX = 6;
const PRIMARIES_SHOWN_MAX = 6;
const SERVERS_SHOWN_MAX = 6;
const SPLIT_BRAINS_SHOWN_MAX = 2;
const LOST_IDS_SHOWN_MAX = 8;
const LINE_CHARS_MAX = 200;

export function renderSummary(record: RunRecord): string {
  const lines = [
    headerLine(record),
    ...verdictLines(record),
    ...faultLines(record),
    ...writeLines(record),
    ...(record.checks === null ? ['checks: none (the run broke off before them)'] : checkLines(record, record.checks)),
    ...(record.error === null ? [] : [`harness error: ${oneLine(record.error, LINE_CHARS_MAX)}`]),
  ];
  return `${lines.join('\n')}\n`;
}

function headerLine(record: RunRecord): string {
  const mode = record.synchronous ? 'synchronous' : 'asynchronous';
  const store = record.store === 'local' ? ', archiving to a local store' : '';
  return `chaos run seed ${record.seed}: ${record.backend}, profile ${record.profile}, ${record.nodes.length} nodes (${record.nodes.join(' ')}), ${mode}${store}, ${durationText(record.durationMs)}, started ${record.startedAt}`;
}

function verdictLines(record: RunRecord): string[] {
  if (passed(record)) return ['verdict: PASS'];
  const why = record.problems.length > 0 ? `${record.problems.length} problem${record.problems.length === 1 ? '' : 's'}` : 'the run broke off';
  const shown = record.problems.slice(0, PROBLEMS_SHOWN_MAX).map((problem) => `  - ${oneLine(problem, LINE_CHARS_MAX)}`);
  const more = record.problems.length > PROBLEMS_SHOWN_MAX ? [`  - … ${record.problems.length - PROBLEMS_SHOWN_MAX} more in the JSON`] : [];
  return [`verdict: FAIL (${why})`, ...shown, ...more];
}

function faultLines(record: RunRecord): string[] {
  if (record.faults.length === 0) return ['faults: none'];
  const shown = record.faults.slice(0, FAULTS_SHOWN_MAX).map((f) => {
    const span = f.healMs === null ? `${secondsText(f.startMs)}–? s` : spanText(f.startMs, f.healMs);
    return `  ${span.padEnd(14)} ${f.kind.padEnd(16)} ${oneLine(f.detail, LINE_CHARS_MAX)}${f.healMs === null ? ' (never healed)' : ''}`;
  });
  const more = record.faults.length > FAULTS_SHOWN_MAX ? [`  … ${record.faults.length - FAULTS_SHOWN_MAX} more in the JSON`] : [];
  return [`faults (${record.faults.length}):`, ...shown, ...more];
}

function writeLines(record: RunRecord): string[] {
  const terms = primaryTerms(record);
  const primaries = terms.length === 0 ? 'none seen' : listText(terms, PRIMARIES_SHOWN_MAX, (t) => `${serverText(t.node, t.timeline)} ${spanText(t.fromMs, t.toMs)}`);
  const servers = writesByServer(record.acked);
  const perServer = servers.length === 0 ? '' : ` (${listText(servers, SERVERS_SHOWN_MAX, (s) => `${serverText(s.server, s.timeline)} ${s.count}`)})`;
  const lines = [`primaries: ${primaries}`, `acknowledged writes: ${record.acked.length}${perServer}`];
  const gap = longestWriteGap(record.acked);
  if (gap) lines.push(`longest write gap: ${durationText(gap.gapMs)} (${spanText(gap.fromMs, gap.toMs)})`);
  const lastAckMs = record.acked.reduce((latest, w) => Math.max(latest, w.ackedAtMs), 0);
  const tailMs = endMs(record) - lastAckMs;
  if (record.acked.length > 0 && tailMs > (gap?.gapMs ?? 0)) lines.push(`no write acknowledged after ${secondsText(lastAckMs)} s (${durationText(tailMs)} before the end)`);
  return lines;
}

function checkLines(record: RunRecord, checks: RunChecks): string[] {
  return [lostLine(record, checks), splitBrainLine(checks), recoveryLine(record, checks), divergentLine(checks), staleLine(checks), ...archiveLines(checks)];
}

function archiveLines(checks: RunChecks): string[] {
  const a = checks.archive;
  if (a === null || a === undefined) return [];
  const span = `${a.needed} WAL files from backup ${a.backupId} (${a.fromLsn}) to ${a.toLsn} on timeline ${a.timeline}`;
  if (a.missing.length === 0) return [`archive: ${span}, none missing — ok`];
  return [`archive: ${span}, ${a.missing.length} missing — FAIL; ${listText(a.missing, LOST_IDS_SHOWN_MAX, (name) => name, ' ')}`];
}

function staleLine(checks: RunChecks): string {
  const found = checks.staleReads;
  if (found.length === 0) return `stale reads: 0 of ${checks.reads} — ok`;
  const first = found[0]!;
  return `stale reads: ${found.length} of ${checks.reads} — FAIL; first ${first.read.server} saw id ${first.read.maxId} at ${secondsText(first.read.startedAtMs)} s, ${first.expectedAtLeast} was acknowledged before`;
}

function lostLine(record: RunRecord, checks: RunChecks): string {
  const allowed = checks.allowedLossBytes === null ? 'none allowed (synchronous)' : `allowed up to ${bytesText(checks.allowedLossBytes)}`;
  const verdict = lossAllowed(checks) ? 'ok' : 'FAIL';
  if (checks.lostWrites.length === 0) return `lost writes: 0 of ${record.acked.length} — ${verdict}`;
  const ids = listText(checks.lostWrites, LOST_IDS_SHOWN_MAX, (w) => `${w.id}@${serverText(w.server, w.timeline)}`, ' ');
  return `lost writes: ${checks.lostWrites.length} of ${record.acked.length}, ${bytesText(checks.lostBytes)}, ${allowed} — ${verdict}; ids ${ids}`;
}

function splitBrainLine(checks: RunChecks): string {
  const found = checks.splitBrains;
  if (found.length === 0) return 'split brain: none — ok';
  const shown = listText(found, SPLIT_BRAINS_SHOWN_MAX, (s) => `${serverText(s.primary, s.timeline)} and ${serverText(s.other, s.otherTimeline)} ${spanText(s.fromMs, s.toMs, 2)}`);
  return `split brain: ${found.length} interval${found.length === 1 ? '' : 's'} — FAIL; ${shown}`;
}

function recoveryLine(record: RunRecord, checks: RunChecks): string {
  const { boundMs, recoveredAtMs, ok } = checks.recovery;
  const verdict = ok ? 'ok' : 'FAIL';
  const heal = record.finalHealMs;
  if (recoveredAtMs === null) {
    const after = heal === null ? '' : ` of the final heal at ${secondsText(heal)} s`;
    return `recovery: not recovered within ${durationText(boundMs)}${after} — ${verdict}`;
  }
  if (heal === null) return `recovery: recovered at ${secondsText(recoveredAtMs)} s (no final heal recorded; bound ${durationText(boundMs)}) — ${verdict}`;
  return `recovery: ${durationText(recoveredAtMs - heal)} after the final heal at ${secondsText(heal)} s (bound ${durationText(boundMs)}) — ${verdict}`;
}

function divergentLine(checks: RunChecks): string {
  return checks.divergent.length === 0 ? 'divergent nodes: none — ok' : `divergent nodes: ${checks.divergent.join(' ')} — FAIL`;
}
