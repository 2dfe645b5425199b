import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { PgBinaries } from './binaries.js';
import type { PgOsUser } from './os-user.js';
import { runToolOk } from './tool.js';

const CONTROLDATA_TIMEOUT_MS = 10_000;

/** The facts of pg_control the agent branches on (pg_controldata output, parsed). */
export interface ControlData {
  /** Decimal text: identical on every member of one cluster. */
  readonly systemIdentifier: string;
  /** e.g. 'shut down', 'shut down in recovery', 'in production', 'in archive recovery', 'in crash recovery'. */
  readonly clusterState: string;
  /** The timeline of the latest checkpoint. */
  readonly checkpointTimeline: number;
  /** Where the latest checkpoint record starts ("Latest checkpoint location"); after a clean shutdown, the last record written. */
  readonly checkpointLsn: string;
  /** The timeline recovery must reach before the data is consistent (0 when none). */
  readonly minRecoveryEndTimeline: number;
}

/** What is in a data directory before the agent touches it. */
export type DataDirState =
  | { readonly kind: 'missing' }
  | { readonly kind: 'empty' }
  /** A PostgreSQL data directory (PG_VERSION and global/pg_control present). */
  | { readonly kind: 'pgdata'; readonly control: ControlData }
  /** Something else: never overwritten. */
  | { readonly kind: 'foreign'; readonly entries: number };

/**
 * Whether the data directory was last a primary: its control file says it
 * was running or shut down outside recovery. Such a directory may hold WAL
 * the new primary never saw, so it rejoins through pg_rewind.
 */
export function wasPrimary(control: ControlData): boolean {
  return control.clusterState === 'in production' || control.clusterState === 'shut down';
}

/** A primary that was shut down cleanly: its shutdown checkpoint is the last WAL record it wrote. */
export function cleanlyShutDownPrimary(control: ControlData): boolean {
  return control.clusterState === 'shut down';
}

/** Parse `pg_controldata` output ("Name:   value" lines). Throws naming the missing field. */
export function parseControlData(text: string): ControlData {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  const need = (name: string): string => {
    const value = fields.get(name);
    if (value === undefined) throw new Error(`pg_controldata printed no "${name}"`);
    return value;
  };
  const systemIdentifier = need('Database system identifier');
  if (!/^[0-9]+$/.test(systemIdentifier)) throw new Error(`pg_controldata: system identifier is not a number: ${systemIdentifier}`);
  return {
    systemIdentifier,
    clusterState: need('Database cluster state'),
    checkpointTimeline: Number(need("Latest checkpoint's TimeLineID")),
    checkpointLsn: need('Latest checkpoint location'),
    minRecoveryEndTimeline: Number(fields.get("Min recovery ending loc's timeline") ?? '0'),
  };
}

/** Run pg_controldata on a data directory. */
export async function readControlData(binaries: PgBinaries, osUser: PgOsUser, dataDir: string): Promise<ControlData> {
  const run = await runToolOk('pg_controldata', binaries.path('pg_controldata'), [dataDir], {
    user: osUser,
    timeoutMs: CONTROLDATA_TIMEOUT_MS,
    env: { LC_ALL: 'C' },
  });
  return parseControlData(run.stdout);
}

/** Classify a data directory without changing it. */
export async function inspectDataDir(binaries: PgBinaries, osUser: PgOsUser, dataDir: string): Promise<DataDirState> {
  let entries: string[];
  try {
    entries = await readdir(dataDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    throw error;
  }
  if (entries.length === 0) return { kind: 'empty' };
  const isFile = async (path: string): Promise<boolean> => (await stat(path).catch(() => undefined))?.isFile() ?? false;
  if (!(await isFile(join(dataDir, 'PG_VERSION'))) || !(await isFile(join(dataDir, 'global', 'pg_control')))) {
    return { kind: 'foreign', entries: entries.length };
  }
  return { kind: 'pgdata', control: await readControlData(binaries, osUser, dataDir) };
}
