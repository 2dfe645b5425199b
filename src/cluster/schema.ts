import { z } from 'zod';
import { canonicalLsn, isLsnText } from './lsn.js';
import { MEMBER_NAME_FORM } from '../config/member-name.js';
import { BACKUP_RUN_STATUSES, BACKUP_TRIGGERS, BOOTSTRAP_METHODS, DEFAULT_TAGS, MEMBER_ACTION_KINDS, MEMBER_ACTION_STATUSES, MEMBER_NAME_PATTERN, MEMBER_ROLES, SWITCH_KINDS } from './state.js';

/**
 * The zod pieces shared by the command decoder and the snapshot decoder.
 * Bounds are limits with a reason: free text is for operators and logs, so
 * 1 KiB is plenty and keeps a hostile or buggy proposer from bloating the log.
 */
export const TEXT_MAX_CHARS = 1024;
export const ADDRESS_MAX_CHARS = 255;
const UINT64_MAX = (1n << 64n) - 1n;

export const memberNameSchema = z.string().regex(MEMBER_NAME_PATTERN, `must be a member name: ${MEMBER_NAME_FORM}`);
export const timeMsSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
export const bytesSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
export const epochSchema = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
export const timelineSchema = z.number().int().min(1).max(0xffff_ffff);
export const textSchema = z.string().max(TEXT_MAX_CHARS);
export const addressSchema = z.string().min(1).max(ADDRESS_MAX_CHARS);

/** An LSN in `X/Y` form, normalised to the canonical spelling so that equal LSNs encode equally. */
export const lsnSchema = z
  .string()
  .refine(isLsnText, 'must be an LSN (X/Y in hex)')
  .transform((text) => canonicalLsn(text));

/** PostgreSQL's system identifier: an unsigned 64-bit integer in decimal. */
export const systemIdentifierSchema = z
  .string()
  .regex(/^[1-9][0-9]{0,19}$/, 'must be a PostgreSQL system identifier (decimal)')
  .refine((text) => BigInt(text) <= UINT64_MAX, 'must fit in 64 bits');

/**
 * The passwords initdb generated, shared with every member through the log:
 * a replica's agent needs the superuser password (physical replication
 * copies the roles) and the replication and rewind roles' to clone and
 * rewind. Never logged; redacted wherever the state is shown.
 */
export const credentialsSchema = z
  .object({
    superuserPassword: z.string().min(16).max(256),
    replicationPassword: z.string().min(16).max(256),
    rewindPassword: z.string().min(16).max(256),
  })
  .strict();

export const tagsSchema = z
  .object({
    nofailover: z.boolean().default(DEFAULT_TAGS.nofailover),
    noloadbalance: z.boolean().default(DEFAULT_TAGS.noloadbalance),
    clonefrom: z.boolean().default(DEFAULT_TAGS.clonefrom),
    nosync: z.boolean().default(DEFAULT_TAGS.nosync),
    failover_priority: z.number().int().min(0).max(1_000_000).default(DEFAULT_TAGS.failover_priority),
  })
  .strict();

export const registrationFields = {
  raftAddress: addressSchema,
  postgresHost: addressSchema,
  postgresPort: z.number().int().min(1).max(65_535),
  httpAddress: addressSchema,
  tags: tagsSchema.default(DEFAULT_TAGS),
};

export const statusFields = {
  role: z.enum(MEMBER_ROLES),
  state: textSchema,
  timeline: timelineSchema.nullable(),
  receiveLsn: lsnSchema.nullable(),
  replayLsn: lsnSchema.nullable(),
  flushLsn: lsnSchema.nullable(),
  lagBytes: bytesSchema.nullable(),
  /** Absent in commands of agents before archiving existed. */
  archive: z
    .object({
      readyFiles: z.number().int().min(0).max(1_000_000_000),
      lastArchived: z.string().regex(/^[0-9A-F]{8}([0-9A-F]{16}(\.partial|\.[0-9A-F]{8}\.backup)?|\.history)$/, 'must be a WAL file name').nullable(),
      lastArchivedAtMs: timeMsSchema.nullable(),
      failure: textSchema.nullable(),
    })
    .strict()
    .nullable()
    .default(null),
};

export const bootstrapPlanFields = {
  method: z.enum(BOOTSTRAP_METHODS),
  source: z.string().min(1).max(ADDRESS_MAX_CHARS),
  reason: textSchema,
  walBytesSinceBackup: bytesSchema.nullable(),
  backupBytes: bytesSchema.nullable(),
};

export const switchKindSchema = z.enum(SWITCH_KINDS);

/**
 * A JSON merge patch (RFC 7386) of the dynamic configuration: an object,
 * passed through as parsed (not rebuilt, so a `__proto__` key stays an own
 * key for the config schema to refuse); the merged result is validated whole.
 */
export const configPatchSchema = z.custom<Record<string, unknown>>(
  (value) => typeof value === 'object' && value !== null && !Array.isArray(value),
  'must be an object (a JSON merge patch)',
);

/** A member action's id: chosen by the requester, short and printable. */
export const memberActionIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 of [A-Za-z0-9_-]');
export const memberActionKindSchema = z.enum(MEMBER_ACTION_KINDS);
export const memberActionStatusSchema = z.enum(MEMBER_ACTION_STATUSES);

/** A backup run's id: chosen by the requester (hex, as member action ids). */
export const backupRunIdSchema = z.string().regex(/^[0-9a-f]{8,32}$/, 'must be 8-32 lower-case hex digits');
/** A base backup's id in the store (src/backup/backup-manifest.ts formatBackupId). */
export const storeBackupIdSchema = z.string().regex(/^\d{8}T\d{6}Z-[0-9a-f]{6}$/, 'must be a backup id like 20261126T181500Z-3fa9c2');
/** InitializeState.restoredFrom (state.ts RestoredFrom). */
export const restoredFromSchema = z.object({ backupId: storeBackupIdSchema, timeline: timelineSchema, targetTimeMs: timeMsSchema.nullable() }).strict();
/** A backup label: printable ASCII, as pg_basebackup's -l and the manifest take it. */
export const backupLabelSchema = z.string().max(200).regex(/^[\x20-\x7e]*$/, 'must be printable ASCII');
export const backupTriggerSchema = z.enum(BACKUP_TRIGGERS);
export const backupRunStatusSchema = z.enum(BACKUP_RUN_STATUSES);
