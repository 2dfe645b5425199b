import { z } from 'zod';
import { assert } from '../lib/assert.js';
import { isLsnText, parseLsn } from '../lib/lsn.js';
import { isKeySegment } from './store.js';
import { isSegmentName, isValidSegmentBytes, segmentBeforeLsn, segmentOfLsn } from './wal-names.js';

/*
 * A base backup in the store (DESIGN §7):
 *
 *   <cluster>/basebackups/<id>/base.tar.gz    the data directory: one tar (with
 *                                             PostgreSQL's backup_label and
 *                                             backup_manifest inside), gzip
 *   <cluster>/basebackups/<id>/manifest.json  this file, written LAST
 *
 * manifest.json is the commit point: a backup without one is incomplete and
 * is never listed or restored. Its WAL (start through stop segment) was in
 * the archive before it was written.
 */

export const MANIFEST_FORMAT = 'pgherd-base-backup';
export const MANIFEST_VERSION = 1;
export const BASE_OBJECT_NAME = 'base.tar.gz';
export const MANIFEST_OBJECT_NAME = 'manifest.json';
/** A manifest is a few hundred bytes; refuse to parse anything absurd. */
export const MANIFEST_BYTES_MAX = 64 * 1024;

/** `20261126T181500Z-3fa9c2`: UTC second, then 6 hex digits against collisions. Sorts by time as a string. */
const BACKUP_ID = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-([0-9a-f]{6})$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const SYSTEM_IDENTIFIER = /^[0-9]{1,20}$/;

/** The id of a backup started at `startedAt`; `suffixHex` is 6 random hex digits. */
export function formatBackupId(startedAt: Date, suffixHex: string): string {
  assert(/^[0-9a-f]{6}$/.test(suffixHex), `backup id suffix must be 6 lower-case hex digits, got ${JSON.stringify(suffixHex)}`);
  assert(!Number.isNaN(startedAt.getTime()), 'backup start time is not a date');
  const iso = startedAt.toISOString(); // 2026-11-26T18:15:00.123Z
  const compact = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return `${compact}-${suffixHex}`;
}

export function isBackupId(text: string): boolean {
  const m = BACKUP_ID.exec(text);
  if (m === null) return false;
  const date = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])));
  return formatBackupId(date, m[7]!) === text;
}

/** Cluster names become a key segment in the store (config's cluster_name always is one). */
export function assertClusterName(cluster: string): void {
  assert(isKeySegment(cluster), () => `cluster name ${JSON.stringify(cluster)} is not one store key segment`);
}

export function basebackupsPrefix(cluster: string): string {
  assertClusterName(cluster);
  return `${cluster}/basebackups/`;
}

export function backupObjectKey(cluster: string, id: string): string {
  assert(isBackupId(id), `not a backup id: ${JSON.stringify(id)}`);
  return `${basebackupsPrefix(cluster)}${id}/${BASE_OBJECT_NAME}`;
}

export function backupManifestKey(cluster: string, id: string): string {
  assert(isBackupId(id), `not a backup id: ${JSON.stringify(id)}`);
  return `${basebackupsPrefix(cluster)}${id}/${MANIFEST_OBJECT_NAME}`;
}

const lsnText = z.string().refine(isLsnText, 'expected an LSN (X/Y in hex)');
const isoTime = z.iso.datetime({ offset: false });

const manifestSchema = z
  .object({
    format: z.literal(MANIFEST_FORMAT),
    version: z.literal(MANIFEST_VERSION),
    id: z.string().refine(isBackupId, 'expected a backup id like 20261126T181500Z-3fa9c2'),
    cluster: z.string().refine(isKeySegment, 'expected one store key segment'),
    systemIdentifier: z.string().regex(SYSTEM_IDENTIFIER, 'expected the decimal system identifier'),
    /** server_version_num, e.g. 150018. */
    pgVersion: z.number().int().min(100000),
    /** The timeline the backup started on (backup_label START TIMELINE). */
    timeline: z.number().int().min(1).max(0xffff_ffff),
    /** The timeline its WAL range ends on (the same unless taken on a standby that changed timeline meanwhile). */
    stopTimeline: z.number().int().min(1).max(0xffff_ffff),
    startLsn: lsnText,
    stopLsn: lsnText,
    startWalFile: z.string().refine(isSegmentName, 'expected a WAL segment name'),
    stopWalFile: z.string().refine(isSegmentName, 'expected a WAL segment name'),
    walSegmentBytes: z.number().int().refine(isValidSegmentBytes, 'expected a power of two from 1 MiB to 1 GiB'),
    /** Uncompressed tar bytes. */
    dataBytes: z.number().int().nonnegative(),
    /** Bytes of the stored object (compressed). */
    storedBytes: z.number().int().nonnegative(),
    /** SHA-256 of the stored object, lower-case hex. */
    sha256: z.string().regex(SHA256_HEX, 'expected 64 lower-case hex digits'),
    compression: z.object({ algorithm: z.literal('gzip'), level: z.number().int().min(0).max(9) }),
    /** PostgreSQL's backup_manifest checksum algorithm for the files inside (pg_verifybackup checks them). */
    fileChecksums: z.enum(['CRC32C', 'SHA224', 'SHA256', 'SHA384', 'SHA512', 'NONE']),
    startedAt: isoTime,
    finishedAt: isoTime,
    durationMs: z.number().int().nonnegative(),
    /** The member the backup was taken on. */
    takenOn: z.string().min(1),
    label: z.string(),
  })
  .superRefine((m, ctx) => {
    // Runs even when a field failed its own check: guard what the relations below parse.
    if (!isLsnText(m.startLsn) || !isLsnText(m.stopLsn)) return;
    const start = parseLsn(m.startLsn);
    const stop = parseLsn(m.stopLsn);
    if (start > stop) ctx.addIssue({ code: 'custom', path: ['stopLsn'], message: `stop LSN ${m.stopLsn} is before start LSN ${m.startLsn}` });
    if (m.stopTimeline < m.timeline) ctx.addIssue({ code: 'custom', path: ['stopTimeline'], message: `stop timeline ${m.stopTimeline} is before start timeline ${m.timeline}` });
    if (Date.parse(m.finishedAt) < Date.parse(m.startedAt)) ctx.addIssue({ code: 'custom', path: ['finishedAt'], message: 'finishedAt is before startedAt' });
    const timelinesValid = [m.timeline, m.stopTimeline].every((tl) => Number.isInteger(tl) && tl >= 1 && tl <= 0xffff_ffff);
    if (!isValidSegmentBytes(m.walSegmentBytes) || !timelinesValid || start > stop || stop === 0n) return;
    const startFile = segmentOfLsn(start, m.timeline, m.walSegmentBytes);
    if (m.startWalFile !== startFile) ctx.addIssue({ code: 'custom', path: ['startWalFile'], message: `expected ${startFile} for start LSN ${m.startLsn} on timeline ${m.timeline}` });
    const stopFile = segmentBeforeLsn(stop, m.stopTimeline, m.walSegmentBytes);
    if (m.stopWalFile !== stopFile) ctx.addIssue({ code: 'custom', path: ['stopWalFile'], message: `expected ${stopFile} for stop LSN ${m.stopLsn} on timeline ${m.stopTimeline}` });
  });

export type BackupManifest = Readonly<z.infer<typeof manifestSchema>>;

export type ManifestParse = { readonly ok: true; readonly manifest: BackupManifest } | { readonly ok: false; readonly reason: string };

function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.length === 0 ? '(root)' : issue.path.join('.')}: ${issue.message}`).join('; ');
}

/**
 * Parse and validate manifest.json text. `expected` pins what the key says
 * (the id in the path, the cluster prefix): a manifest copied under another
 * id or cluster is invalid.
 */
export function parseManifest(text: string, expected: { id?: string; cluster?: string } = {}): ManifestParse {
  if (text.length > MANIFEST_BYTES_MAX) return { ok: false, reason: `manifest is ${text.length} bytes, more than ${MANIFEST_BYTES_MAX}` };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { ok: false, reason: `not JSON: ${(error as Error).message}` };
  }
  const kind = json as { format?: unknown; version?: unknown } | null;
  if (typeof kind === 'object' && kind !== null && kind.format === MANIFEST_FORMAT && kind.version !== MANIFEST_VERSION) {
    return { ok: false, reason: `unsupported manifest version ${JSON.stringify(kind.version)} (this agent reads version ${MANIFEST_VERSION})` };
  }
  const result = manifestSchema.safeParse(json);
  if (!result.success) return { ok: false, reason: describeIssues(result.error) };
  const manifest = result.data;
  if (expected.id !== undefined && manifest.id !== expected.id) return { ok: false, reason: `id ${manifest.id} does not match its key's id ${expected.id}` };
  if (expected.cluster !== undefined && manifest.cluster !== expected.cluster) return { ok: false, reason: `cluster ${manifest.cluster} does not match its key's cluster ${expected.cluster}` };
  return { ok: true, manifest: Object.freeze(manifest) };
}

/** The manifest.json text (validated first: writing an invalid manifest is a bug). */
export function encodeManifest(manifest: BackupManifest): string {
  const checked = manifestSchema.safeParse(manifest);
  assert(checked.success, () => `refusing to write an invalid backup manifest: ${checked.success ? '' : describeIssues(checked.error)}`);
  return `${JSON.stringify(manifest, null, 2)}\n`;
}
