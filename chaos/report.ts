/**
 * The chaos run report: per run a JSON record, a short summary and an SVG
 * timeline; over all runs the totals and the final line. Everything but
 * writeRunReport is pure (chaos/report/*).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RunRecord } from './history.js';
import { passed, recovered } from './report/derive.js';
import { renderSummary } from './report/summary.js';
import { renderTimelineSvg } from './report/svg.js';

export { renderSummary } from './report/summary.js';
export { escapeXml, renderTimelineSvg } from './report/svg.js';

export interface ChaosTotals {
  readonly runs: number;
  /** Acknowledged writes missing from the final primary, over every run. */
  readonly lost: number;
  readonly splitBrains: number;
  /** Runs that broke off before the checks, or did not recover within the bound. */
  readonly unrecovered: number;
  /** Runs that did not pass: a problem found, or the run broke off. */
  readonly failedRuns: number;
}

export function chaosTotals(records: readonly RunRecord[]): ChaosTotals {
  let lost = 0;
  let splitBrains = 0;
  for (const record of records) {
    lost += record.checks?.lostWrites.length ?? 0;
    splitBrains += record.checks?.splitBrains.length ?? 0;
  }
  return {
    runs: records.length,
    lost,
    splitBrains,
    unrecovered: records.filter((record) => !recovered(record)).length,
    failedRuns: records.filter((record) => !passed(record)).length,
  };
}

/** The suite's last line: `chaos: R runs, L lost acknowledged writes, S split-brain intervals, U unrecovered`. */
export function finalLine(records: readonly RunRecord[]): string {
  const t = chaosTotals(records);
  return `chaos: ${t.runs} runs, ${t.lost} lost acknowledged writes, ${t.splitBrains} split-brain intervals, ${t.unrecovered} unrecovered`;
}

export interface RunReportPaths {
  readonly json: string;
  readonly summary: string;
  readonly svg: string;
}

/** Writes seed-<seed>.json (the record), .txt (the summary) and .svg (the timeline) into dir, creating it. */
export async function writeRunReport(dir: string, record: RunRecord): Promise<RunReportPaths> {
  await mkdir(dir, { recursive: true });
  const paths = {
    json: join(dir, `seed-${record.seed}.json`),
    summary: join(dir, `seed-${record.seed}.txt`),
    svg: join(dir, `seed-${record.seed}.svg`),
  };
  await writeFile(paths.json, `${JSON.stringify(record, null, 2)}\n`);
  await writeFile(paths.summary, renderSummary(record));
  await writeFile(paths.svg, renderTimelineSvg(record));
  return paths;
}
