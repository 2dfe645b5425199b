import { z } from 'zod';
import { parseDynamicConfig } from '../config/dynamic.js';
import { ConfigError } from '../lib/errors.js';
import { ClusterDecodeError, parseJsonBytes } from './errors.js';
import {
  addressSchema,
  backupLabelSchema,
  backupRunIdSchema,
  backupRunStatusSchema,
  backupTriggerSchema,
  bootstrapPlanFields,
  epochSchema,
  lsnSchema,
  memberActionIdSchema,
  memberActionKindSchema,
  memberActionStatusSchema,
  memberNameSchema,
  registrationFields,
  restoredFromSchema,
  statusFields,
  storeBackupIdSchema,
  switchKindSchema,
  systemIdentifierSchema,
  credentialsSchema,
  textSchema,
  timelineSchema,
  timeMsSchema,
} from './schema.js';
import { MEMBERSHIP_SOURCES, MEMBERSHIP_TARGETS, type ClusterState } from './state.js';

/**
 * The snapshot encoding of the cluster state, for Raft log compaction:
 * canonical UTF-8 JSON (object keys sorted, so equal states encode to equal
 * bytes) in a versioned envelope. LSNs are text and numbers are safe
 * integers, so the round trip is exact.
 */
export const STATE_FORMAT = 'pgherd-cluster-state';
export const STATE_ENCODING_VERSION = 1;

const strict = <S extends z.ZodRawShape>(shape: S) => z.object(shape).strict();
const nullableTimeMs = timeMsSchema.nullable();

const stateSchema = strict({
  initialize: strict({
    member: memberNameSchema,
    claimedAtMs: timeMsSchema,
    systemIdentifier: systemIdentifierSchema.nullable(),
    doneAtMs: nullableTimeMs,
    credentials: credentialsSchema.nullable(),
    // Absent in snapshots written before clusters could be restored from a backup.
    restoredFrom: restoredFromSchema.nullable().default(null),
  }).nullable(),
  config: strict({ version: epochSchema, values: z.unknown() }),
  members: z.record(
    memberNameSchema,
    strict({
      registration: strict({ ...registrationFields, registeredAtMs: timeMsSchema }),
      status: strict({ ...statusFields, reportedAtMs: timeMsSchema }).nullable(),
    }),
  ),
  epoch: epochSchema,
  lastPrimary: strict({ member: memberNameSchema.nullable(), timeline: z.number().int().min(0).max(0xffff_ffff) }),
  leader: strict({
    member: memberNameSchema,
    epoch: epochSchema.min(1),
    timeline: timelineSchema,
    sinceMs: timeMsSchema,
    lastRenewal: strict({ atMs: timeMsSchema, seq: epochSchema }),
  }).nullable(),
  sync: strict({ members: z.array(memberNameSchema), epoch: epochSchema }),
  slots: z.record(memberNameSchema, strict({ slotName: z.string().min(1).max(63), createdAtLsn: lsnSchema, createdByEpoch: epochSchema })),
  bootstrap: z.record(memberNameSchema, strict({ ...bootstrapPlanFields, decidedAtMs: timeMsSchema })),
  history: z.array(
    strict({
      timeline: timelineSchema,
      switchLsn: lsnSchema,
      atMs: timeMsSchema,
      reason: textSchema,
      oldPrimary: memberNameSchema.nullable(),
      newPrimary: memberNameSchema,
      kind: switchKindSchema,
    }),
  ),
  switchover: strict({ from: memberNameSchema, to: memberNameSchema.nullable(), scheduledAtMs: nullableTimeMs, requestedAtMs: timeMsSchema }).nullable(),
  pause: strict({ paused: z.boolean(), by: textSchema.nullable(), atMs: nullableTimeMs }),
  // Absent in snapshots written before membership requests existed.
  membership: z
    .record(
      memberNameSchema,
      strict({ target: z.enum(MEMBERSHIP_TARGETS), raftAddress: addressSchema.nullable(), source: z.enum(MEMBERSHIP_SOURCES), by: textSchema, atMs: timeMsSchema }),
    )
    .default({}),
  // Absent in snapshots written before member actions existed.
  actions: z
    .record(
      memberNameSchema,
      strict({
        id: memberActionIdSchema,
        kind: memberActionKindSchema,
        pendingOnly: z.boolean(),
        scheduledAtMs: nullableTimeMs,
        requestedAtMs: timeMsSchema,
        by: textSchema,
        status: memberActionStatusSchema,
        startedAtMs: nullableTimeMs,
        finishedAtMs: nullableTimeMs,
        detail: textSchema,
      }),
    )
    .default({}),
  // Absent in snapshots written before agent-run backups existed.
  backup: strict({
    current: backupRunSchema().nullable(),
    last: backupRunSchema().nullable(),
    lastScheduledFireMs: nullableTimeMs,
  }).default({ current: null, last: null, lastScheduledFireMs: null }),
});

function backupRunSchema() {
  return strict({
    id: backupRunIdSchema,
    trigger: backupTriggerSchema,
    by: textSchema,
    label: backupLabelSchema,
    member: memberNameSchema.nullable(),
    requestedAtMs: timeMsSchema,
    status: backupRunStatusSchema,
    takenBy: memberNameSchema.nullable(),
    startedAtMs: nullableTimeMs,
    heartbeatAtMs: nullableTimeMs,
    finishedAtMs: nullableTimeMs,
    backupId: storeBackupIdSchema.nullable(),
    detail: textSchema,
  });
}

const envelopeSchema = strict({ format: z.literal(STATE_FORMAT), v: z.number(), state: z.unknown() });
const encoder = new TextEncoder();

export function encodeState(state: ClusterState): Uint8Array {
  return encoder.encode(canonicalJson({ format: STATE_FORMAT, v: STATE_ENCODING_VERSION, state }));
}

/** Decode a snapshot; throws ClusterDecodeError naming the offending field. */
export function decodeState(bytes: Uint8Array): ClusterState {
  const envelope = envelopeSchema.safeParse(parseJsonBytes(bytes, 'state'));
  if (!envelope.success) throw ClusterDecodeError.fromZod('snapshot', envelope.error);
  if (envelope.data.v !== STATE_ENCODING_VERSION) {
    throw new ClusterDecodeError('snapshot.v', `encoding version ${envelope.data.v} is not supported (this version reads ${STATE_ENCODING_VERSION})`);
  }
  const parsed = stateSchema.safeParse(envelope.data.state);
  if (!parsed.success) throw ClusterDecodeError.fromZod('state', parsed.error);
  const state: ClusterState = { ...parsed.data, config: { version: parsed.data.config.version, values: decodeConfigValues(parsed.data.config.values) } };
  const broken = brokenInvariant(state);
  if (broken !== null) throw new ClusterDecodeError('state', broken);
  return state;
}

function decodeConfigValues(values: unknown) {
  try {
    return parseDynamicConfig(values, 'state.config.values');
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new ClusterDecodeError(error.key, error.message.slice(error.key.length + 2), { cause: error });
  }
}

/** The cross-field relationships apply maintains; a snapshot breaking one was not written by apply. */
function brokenInvariant(state: ClusterState): string | null {
  if (state.leader !== null && state.leader.epoch !== state.epoch) return `leader epoch ${state.leader.epoch} differs from epoch ${state.epoch}`;
  for (let i = 1; i < state.history.length; i++) {
    if (state.history[i]!.timeline <= state.history[i - 1]!.timeline) return `history timelines do not increase at entry ${i}`;
  }
  const last = state.history[state.history.length - 1];
  if (last !== undefined && last.timeline !== state.lastPrimary.timeline) return 'the last history timeline is not the last primary timeline';
  return null;
}

/** JSON with object keys sorted at every level (arrays keep their order). */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
    const record = v as Record<string, unknown>;
    return Object.fromEntries(Object.keys(record).sort().map((k) => [k, record[k]]));
  });
}
