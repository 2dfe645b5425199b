import { z } from 'zod';
import { ConfigError } from '../lib/errors.js';
import { cronProblem } from '../lib/cron.js';
import { configErrorFrom } from './zod-errors.js';

/**
 * The dynamic cluster configuration: it lives in the replicated cluster
 * state after bootstrap (versioned, changed with compare-and-set), and its
 * initial value comes from the `bootstrap.dynamic` section of the YAML
 * file. This schema holds every default; nothing else does.
 */
const postgresParameterValue = z.union([z.string(), z.number(), z.boolean()]);

export const dynamicConfigSchema = z
  .object({
    /** The primary's lease: a replica may be promoted only after this long without a committed renewal. */
    ttl_ms: z.number().int().min(1000).max(600_000).default(4000),
    /** How often the HA loop runs and the primary renews its lease. */
    loop_wait_ms: z.number().int().min(100).max(60_000).default(1000),
    /** The primary demotes itself at ttl_ms - safety_margin_ms after sending an unconfirmed renewal. */
    safety_margin_ms: z.number().int().min(100).max(60_000).default(1000),
    /** A replica lagging more than this (bytes of WAL) is not a failover candidate. */
    maximum_lag_on_failover_bytes: z.number().int().min(0).default(1024 * 1024),
    /** Deadline for asking each candidate its current WAL position during failover. */
    candidate_query_timeout_ms: z.number().int().min(50).max(10_000).default(500),
    /** A crashed PostgreSQL under a live agent may restart for this long before a failover. */
    primary_start_timeout_ms: z.number().int().min(0).max(3_600_000).default(10_000),
    /**
     * A new member is restored from the newest usable base backup in the store (then replays the
     * archive) only while the WAL written since that backup started is at most this many bytes; otherwise
     * it is cloned with pg_basebackup (DESIGN §6). 0: only a backup with no WAL since its start.
     */
    bootstrap_s3_max_wal_bytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).default(10 * 1024 ** 3),
    /** ...and at most this fraction of the backup's size (uncompressed); both limits must hold. */
    bootstrap_s3_max_wal_ratio: z.number().min(0).max(1).default(0.3),
    /** off: asynchronous replication; on: synchronous standbys, may degrade to async when none is healthy; strict: never degrade. */
    synchronous_mode: z.enum(['off', 'on', 'strict']).default('off'),
    /** How many synchronous standbys (FIRST n). */
    synchronous_node_count: z.number().int().min(1).max(16).default(1),
    /** When base backups are taken into the backup store: a cron expression in UTC (5 fields, or 6 with seconds), or 'off'. */
    backup_schedule: z
      .string()
      .max(100)
      .refine((text) => text === 'off' || cronProblem(text) === null, { error: (issue) => `must be a cron expression in UTC like '0 1 * * *' (daily at 01:00) or 'off': ${cronProblem(String(issue.input))}` })
      .default('0 1 * * *'),
    /** Retention: the newest this many complete base backups are always kept (at least 1). */
    backup_keep_count: z.number().int().min(1).max(1000).default(2),
    /** Retention: also keep every backup needed to restore any point of the last this many days (0: by count only). */
    backup_keep_days: z.number().int().min(0).max(3650).default(7),
    /** Which member takes the base backups: the primary, or a streaming replica (the primary when none streams). */
    backup_take_on: z.enum(['primary', 'replica']).default('primary'),
    /** A diverged former primary rejoins with pg_rewind (true) or is always re-cloned (false). */
    use_rewind: z.boolean().default(true),
    /** When a rewind fails: re-clone the node from the primary (true) or leave it stopped for an operator (false). */
    reclone_on_rewind_failure: z.boolean().default(true),
    /** PostgreSQL parameters applied on every member (node-specific ones are refused: the agent owns them). */
    postgresql_parameters: z.record(z.string().regex(/^[a-z_][a-z0-9_.]*$/, 'a PostgreSQL parameter name'), postgresParameterValue).default({}),
  })
  .strict();

/** Keys are snake_case with the unit last, as in the YAML file and `pgherdctl edit-config -s key=value`. */
export type DynamicConfig = Readonly<z.infer<typeof dynamicConfigSchema>>;

/**
 * Parameters the agent sets per node (src/postgres/conf.ts buildServerArgs,
 * synchronous-mode management, archiving); a cluster-wide or per-node
 * configured value would break replication, addressing or fencing.
 */
export const AGENT_OWNED_PARAMETERS: ReadonlySet<string> = new Set([
  'listen_addresses',
  'port',
  'unix_socket_directories',
  'cluster_name',
  'primary_conninfo',
  'primary_slot_name',
  'hot_standby',
  'synchronous_standby_names',
  'archive_mode',
  'archive_command',
  'archive_timeout',
  'restore_command',
  'data_directory',
  'config_file',
  'hba_file',
  'ident_file',
]);

/**
 * Validate a whole dynamic configuration (defaults filled). `prefix` names
 * where it came from in errors (e.g. 'bootstrap.dynamic' or 'config').
 * Throws ConfigError naming the key; never adjusts a value.
 */
export function parseDynamicConfig(input: unknown, prefix = 'config'): DynamicConfig {
  const result = dynamicConfigSchema.safeParse(input ?? {});
  if (!result.success) throw configErrorFrom(prefix, result.error);
  const config = result.data;
  if (config.loop_wait_ms + config.safety_margin_ms >= config.ttl_ms) {
    throw new ConfigError(
      `${prefix}.ttl_ms`,
      `must be greater than loop_wait_ms + safety_margin_ms (${config.loop_wait_ms} + ${config.safety_margin_ms} = ${config.loop_wait_ms + config.safety_margin_ms}), got ${config.ttl_ms}`,
    );
  }
  for (const name of Object.keys(config.postgresql_parameters)) {
    if (AGENT_OWNED_PARAMETERS.has(name)) {
      throw new ConfigError(`${prefix}.postgresql_parameters.${name}`, 'is set by the agent on each node and cannot be configured cluster-wide');
    }
  }
  return Object.freeze({ ...config, postgresql_parameters: Object.freeze({ ...config.postgresql_parameters }) });
}

export const DYNAMIC_DEFAULTS: DynamicConfig = parseDynamicConfig({});
