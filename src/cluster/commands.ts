import { z } from 'zod';
import { ClusterDecodeError, parseJsonBytes } from './errors.js';
import { MEMBERSHIP_SOURCES, MEMBERSHIP_TARGETS } from './state.js';
import {
  addressSchema,
  backupLabelSchema,
  backupRunIdSchema,
  backupTriggerSchema,
  bootstrapPlanFields,
  configPatchSchema,
  credentialsSchema,
  epochSchema,
  lsnSchema,
  memberActionIdSchema,
  memberActionKindSchema,
  memberNameSchema,
  registrationFields,
  restoredFromSchema,
  statusFields,
  storeBackupIdSchema,
  switchKindSchema,
  systemIdentifierSchema,
  textSchema,
  timelineSchema,
  timeMsSchema,
} from './schema.js';

/**
 * The commands the Raft log carries. Each carries `atMs`: the proposer's
 * wall-clock time, the only time apply ever sees. Commands that change
 * ownership carry their compare-and-set precondition (an epoch or version).
 */
export const COMMAND_ENCODING_VERSION = 1;

/** The most synchronous standbys a sync set may name (matches synchronous_node_count's maximum). */
export const SYNC_MEMBERS_MAX = 16;

const command = <T extends string, S extends z.ZodRawShape>(type: T, shape: S) =>
  z.object({ type: z.literal(type), atMs: timeMsSchema, ...shape }).strict();

const leaderEpoch = { leaderEpoch: epochSchema };

export const commandSchema = z.discriminatedUnion('type', [
  /** Claim the right to run initdb; the first claim wins. */
  command('initializeClaim', { member: memberNameSchema }),
  /** The claimant's initdb (or its restore from a base backup: `restoredFrom`) succeeded. */
  command('initializeDone', { member: memberNameSchema, systemIdentifier: systemIdentifierSchema, credentials: credentialsSchema, restoredFrom: restoredFromSchema.nullable().default(null) }),
  command('registerMember', { member: memberNameSchema, ...registrationFields }),
  command('updateMemberStatus', { member: memberNameSchema, ...statusFields }),
  command('removeMember', { member: memberNameSchema }),
  /** The primary's heartbeat: ok only while `member` holds the leader key at `epoch`. */
  command('renewLease', { member: memberNameSchema, epoch: epochSchema }),
  /** Make `candidate` the primary at epoch `expectedEpoch + 1`; fails unless the current epoch is `expectedEpoch`. */
  command('promote', {
    candidate: memberNameSchema,
    expectedEpoch: epochSchema,
    timeline: timelineSchema,
    reason: textSchema,
    kind: switchKindSchema,
    switchLsn: lsnSchema,
    /**
     * The current primary's renewal sequence the failover was decided on; refused (LEASE_RENEWED) if a
     * renewal committed since, so a decision on a lapsed lease cannot overtake a renewal. null: no check.
     */
    expectedRenewalSeq: z.number().int().min(0).nullable().default(null),
  }),
  /** Voluntary demotion by the holder (e.g. a switchover step, a clean shutdown). */
  command('releaseLeader', { member: memberNameSchema, epoch: epochSchema }),
  /** Record the synchronous standby set; CAS on the sync epoch, issued by the primary holding `leaderEpoch`. */
  command('setSync', { members: z.array(memberNameSchema).max(SYNC_MEMBERS_MAX).readonly(), expectedEpoch: epochSchema, ...leaderEpoch }),
  /** The primary created `member`'s physical slot at `createdAtLsn`. */
  command('recordSlot', { member: memberNameSchema, createdAtLsn: lsnSchema, ...leaderEpoch }),
  /** The primary dropped `member`'s slot. */
  command('dropSlot', { member: memberNameSchema, ...leaderEpoch }),
  /** The primary decided how `member` gets its data. */
  command('recordBootstrapPlan', { member: memberNameSchema, ...bootstrapPlanFields, ...leaderEpoch }),
  /**
   * `member`'s restore of base backup `backupId` (its s3 plan) failed: the plan becomes pg_basebackup from
   * `source`, with `reason`. Proposed by the member itself; refused unless that s3 plan is still the plan.
   */
  command('bootstrapFallback', { member: memberNameSchema, backupId: bootstrapPlanFields.source, source: memberNameSchema, reason: textSchema }),
  /** JSON merge patch of the dynamic configuration; CAS on its version. */
  command('patchConfig', { expectedVersion: epochSchema, patch: configPatchSchema }),
  command('requestSwitchover', { from: memberNameSchema, to: memberNameSchema.nullable(), scheduledAtMs: timeMsSchema.nullable() }),
  command('cancelSwitchover', {}),
  /** Maintenance mode; `by` names a member or an operator. */
  command('setPause', { paused: z.boolean(), by: textSchema.min(1) }),
  /** Request a Raft membership (carried out by the Raft leader's agent); `raftAddress` is required to add. */
  command('setMembership', {
    member: memberNameSchema,
    target: z.enum(MEMBERSHIP_TARGETS),
    raftAddress: addressSchema.nullable(),
    source: z.enum(MEMBERSHIP_SOURCES),
    by: textSchema.min(1),
  }),
  /** An operator asks `member` to restart, reload or re-clone its PostgreSQL (one open action per member). */
  command('requestMemberAction', {
    member: memberNameSchema,
    id: memberActionIdSchema,
    kind: memberActionKindSchema,
    pendingOnly: z.boolean().default(false),
    scheduledAtMs: timeMsSchema.nullable().default(null),
    by: textSchema.min(1),
  }),
  /** The member started or ended its action `id` (running, done, failed, skipped); anyone may cancel a pending one. */
  command('updateMemberAction', { member: memberNameSchema, id: memberActionIdSchema, status: z.enum(['running', 'done', 'failed', 'skipped', 'cancelled']), detail: textSchema.default('') }),
  /**
   * Ask for a base backup (one at a time). A scheduled one names the cron time it is for
   * (`fireAtMs`, later than the last one asked for); `member` null: backup_take_on decides.
   */
  command('requestBackup', {
    id: backupRunIdSchema,
    trigger: backupTriggerSchema,
    by: textSchema.min(1),
    label: backupLabelSchema.default(''),
    member: memberNameSchema.nullable().default(null),
    fireAtMs: timeMsSchema.nullable().default(null),
  }),
  /**
   * `member` took the backup up or sends its heartbeat (running), or ended it (done with the
   * store's backup id, failed); a pending one may be cancelled. Another member may end a
   * running one as failed only once its heartbeat is BACKUP_STALE_MS old.
   */
  command('updateBackup', {
    id: backupRunIdSchema,
    member: memberNameSchema,
    status: z.enum(['running', 'done', 'failed', 'cancelled']),
    backupId: storeBackupIdSchema.nullable().default(null),
    detail: textSchema.default(''),
  }),
]);

/** A decoded command (defaults filled, LSNs canonical). */
export type ClusterCommand = Readonly<z.output<typeof commandSchema>>;
export type CommandType = ClusterCommand['type'];
export type CommandOf<T extends CommandType> = Extract<ClusterCommand, { type: T }>;
/** What a proposer may write: defaults (tags) may be left out. */
export type ClusterCommandInput = z.input<typeof commandSchema>;

export const COMMAND_TYPES: readonly CommandType[] = commandSchema.options.map((o) => o.shape.type.value);

const envelopeSchema = z.object({ v: z.number(), command: z.unknown() }).strict();
const encoder = new TextEncoder();

/** Validate and encode a command for the log: UTF-8 JSON `{v, command}`. Throws ClusterDecodeError if it is malformed. */
export function encodeCommand(input: ClusterCommandInput): Uint8Array {
  const parsed = parseCommand(input);
  return encoder.encode(JSON.stringify({ v: COMMAND_ENCODING_VERSION, command: parsed }));
}

/** Decode a log entry's command; throws ClusterDecodeError naming the offending field. */
export function decodeCommand(bytes: Uint8Array): ClusterCommand {
  const envelope = envelopeSchema.safeParse(parseJsonBytes(bytes, 'command'));
  if (!envelope.success) throw ClusterDecodeError.fromZod('command', envelope.error);
  if (envelope.data.v !== COMMAND_ENCODING_VERSION) {
    throw new ClusterDecodeError('command.v', `encoding version ${envelope.data.v} is not supported (this version reads ${COMMAND_ENCODING_VERSION})`);
  }
  return parseCommand(envelope.data.command);
}

/** Validate a command object (defaults filled, LSNs canonical). */
export function parseCommand(input: unknown): ClusterCommand {
  const result = commandSchema.safeParse(input);
  if (!result.success) throw ClusterDecodeError.fromZod('command', result.error);
  return result.data;
}
