import { posix } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../lib/errors.js';
import { HOST_PORT_FORM, isValidHost, isWildcardHost, parseHostPort } from './address.js';
import { dynamicConfigSchema, type DynamicConfig } from './dynamic.js';
import { MEMBER_NAME_FORM, MEMBER_NAME_PATTERN } from './member-name.js';
import { objectShape } from './shape.js';

/**
 * The node's static configuration: one YAML file, every key overridable by a
 * PGHERD_* environment variable (see load.ts). This file holds every default
 * of it — the zod defaults below, and the few defaults derived from other
 * keys in resolveDerivedDefaults() — and nothing else does. Keys are
 * snake_case with the unit last. Every object is strict: an unknown key is an
 * error (load.ts adds a "did you mean" hint).
 *
 * Paths must be absolute: the agent does not depend on its working directory.
 */

/** cluster_name: also what `pgherd certs init --cluster` takes. */
export const CLUSTER_NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
export const CLUSTER_NAME_FORM = 'lowercase letters, digits, "_" and "-", at most 63 characters';
const ROLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const PARAMETER_NAME = /^[a-z_][a-z0-9_.]*$/;

const required = (what: string) => (issue: { input?: unknown }) => (issue.input === undefined ? `is required: ${what}` : `expected ${what}`);

const absolutePath = () =>
  z
    .string()
    .refine((p) => posix.isAbsolute(p) && !p.includes('\0'), 'expected an absolute path (e.g. /var/lib/pgherd)')
    .transform((p) => posix.normalize(p).replace(/(.)\/$/, '$1'));

const hostPort = () => z.string().refine((text) => parseHostPort(text) !== undefined, `expected ${HOST_PORT_FORM}`);

const memberName = (what = 'the member name') =>
  z.string({ error: required(`${what}: ${MEMBER_NAME_FORM}`) }).regex(MEMBER_NAME_PATTERN, `expected ${MEMBER_NAME_FORM}`);

const roleName = () => z.string().regex(ROLE_NAME, 'expected a PostgreSQL role name: lowercase letters, digits and "_", not starting with a digit');

const PEER_FORM = '"name@host:port" (e.g. n2@10.0.0.2:7400) or {name, address}';

/** A static peer: `name@host:port` in the file and in PGHERD_RAFT_PEERS, or {name, address}. Normalised to the object. */
const peerSchema = z.preprocess(
  (value) => {
    if (typeof value !== 'string') return value;
    const at = value.indexOf('@');
    return at < 0 ? value : { name: value.slice(0, at), address: value.slice(at + 1) };
  },
  z.object({ name: memberName(), address: hostPort() }, { error: `expected ${PEER_FORM}` }).strict(),
);

const ADMIN_TOKEN_FORM = '"name:sha256" (e.g. ops:<64 hex digits>) or {name, sha256}: the SHA-256 of the token, never the token (pgherd token create prints both)';

/** An admin bearer token: `name:sha256hex` in the file and in PGHERD_ADMIN_TOKENS, or {name, sha256}. Normalised to the object, the digest in lowercase. */
const adminTokenSchema = z.preprocess(
  (value) => {
    if (typeof value !== 'string') return value;
    const colon = value.indexOf(':');
    return colon < 0 ? value : { name: value.slice(0, colon), sha256: value.slice(colon + 1) };
  },
  z
    .object(
      {
        name: memberName('who holds the token'),
        sha256: z
          .string()
          .regex(/^[0-9a-fA-F]{64}$/, 'expected the 64 hex digits of the token\'s SHA-256 (printf %s "$TOKEN" | sha256sum), not the token itself')
          .transform((hex) => hex.toLowerCase()),
      },
      { error: `expected ${ADMIN_TOKEN_FORM}` },
    )
    .strict(),
);

/** PostgreSQL listen_addresses: '*' or a comma-separated list of hosts. */
const listenAddresses = z
  .string()
  .refine(
    (text) => text === '*' || text.split(',').every((host) => isValidHost(host.trim())),
    'expected "*" or a comma-separated list of addresses (e.g. 0.0.0.0 or 10.0.0.1,127.0.0.1)',
  );

/** S3 bucket names (the rules for new buckets, without the dotted-IP corner case). */
const S3_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const S3_PREFIX = /^$|^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

const parameterValue = z.union([z.string(), z.number(), z.boolean()]);

/** bootstrap.method: initdb (the default, as in Patroni) or restore (from backup.store). */
export const BOOTSTRAP_METHODS = ['initdb', 'restore'] as const;
/** bootstrap.restore.backup: "latest" or a backup id (src/backup/backup-manifest.ts checks the date too, at restore time). */
const RESTORE_BACKUP = /^(latest|\d{8}T\d{6}Z-[0-9a-f]{6})$/;

export const configSchema = z
  .object({
    /** This member's unique name in the cluster (Raft id, member key, slot pgherd_<name>). Required: never derived from the hostname. */
    name: memberName("this member's unique name in the cluster (or set PGHERD_NAME)"),
    cluster_name: z.string().regex(CLUSTER_NAME_PATTERN, `expected ${CLUSTER_NAME_FORM}`).default('pgherd'),
    /** The agent's own state: the Raft log in <data_dir>/raft, and by default PGDATA and the socket directory. */
    data_dir: absolutePath().default('/var/lib/pgherd'),
    raft: z
      .object({
        /** Where the peer (and admin) gRPC service listens. */
        bind: hostPort().default('0.0.0.0:7400'),
        /** Where other members reach this node; defaults to bind unless bind is a wildcard address. */
        advertise: hostPort().optional(),
        /** Static discovery list; may include this node itself (same address as advertise), so every node can share one list. */
        peers: z.array(peerSchema).max(64).default([]),
        /** Voters of a fresh cluster: it forms once this many nodes know each other. */
        bootstrap_expect: z.number().int().min(1).max(9).default(3),
        tick_ms: z.number().int().min(10).max(10_000).default(100),
        /** Minimum election timeout in ticks; each node randomises in [election_ticks, 2 * election_ticks). */
        election_ticks: z.number().int().min(2).max(1000).default(10),
        heartbeat_ticks: z.number().int().min(1).max(1000).default(1),
        snapshot_every_entries: z.number().int().min(1).max(10_000_000).default(10_000),
        compaction_keep_entries: z.number().int().min(0).max(10_000_000).default(1_000),
        /** A voter unreachable this long may be replaced by a new node waiting to join. */
        replace_unreachable_after_ms: z.number().int().min(1_000).max(7 * 24 * 3_600_000).default(300_000),
      })
      .strict()
      .prefault({}),
    postgresql: z
      .object({
        /** Directory of initdb, pg_ctl, postgres, pg_basebackup, pg_rewind; absent: auto-detected. */
        bin_dir: absolutePath().optional(),
        /** PGDATA; default <data_dir>/pgdata. */
        data_dir: absolutePath().optional(),
        /** listen_addresses. */
        listen: listenAddresses.default('0.0.0.0'),
        /** host:port clients and replicas use to reach this PostgreSQL; defaults to <listen>:<port> when listen is one non-wildcard host. */
        connect_address: hostPort().optional(),
        port: z.number().int().min(1).max(65535).default(5432),
        /** unix_socket_directories; default <data_dir>/run; must be outside PGDATA (pg_basebackup would copy the lock file). */
        socket_dir: absolutePath().optional(),
        superuser: roleName().default('postgres'),
        /** Networks (CIDR) whose clients may connect over TCP, to any database as any role, with scram-sha-256; none by default. */
        client_cidrs: z.array(z.string().regex(/^[0-9a-fA-F:.]+\/[0-9]{1,3}$/, 'expected a CIDR such as 10.0.0.0/16')).max(64).default([]),
        replication_user: roleName().default('pgherd_replicator'),
        /** shared_buffers as a fraction of the machine's memory. */
        shared_buffers_fraction: z.number().min(0.01).max(0.8).default(0.25),
        /** Initial extra parameters of this node; the ones the agent sets per node are refused. */
        parameters: z.record(z.string().regex(PARAMETER_NAME, 'a PostgreSQL parameter name'), parameterValue).default({}),
        /** Executables run on events (absolute paths; not checked for existence here). */
        callbacks: z
          .object({
            on_start: absolutePath().optional(),
            on_stop: absolutePath().optional(),
            on_restart: absolutePath().optional(),
            on_reload: absolutePath().optional(),
            on_role_change: absolutePath().optional(),
            /** Runs before this node promotes; a non-zero exit or timeout aborts the promotion. */
            pre_promote: absolutePath().optional(),
          })
          .strict()
          .prefault({}),
        /** Deadline of pre_promote; it counts against failover time. */
        pre_promote_timeout_ms: z.number().int().min(100).max(600_000).default(5_000),
      })
      .strict()
      .prefault({}),
    http: z
      .object({
        /** Health checks (Patroni-compatible paths) and /metrics. */
        listen: hostPort().default('0.0.0.0:8008'),
      })
      .strict()
      .prefault({}),
    /** As in Patroni. */
    tags: z
      .object({
        nofailover: z.boolean().default(false),
        noloadbalance: z.boolean().default(false),
        clonefrom: z.boolean().default(false),
        nosync: z.boolean().default(false),
        /** Higher wins between equally advanced candidates; 0 = never promoted automatically. nofailover: true wins over any priority. */
        failover_priority: z.number().int().min(0).max(1000).default(1),
      })
      .strict()
      .prefault({}),
    bootstrap: z
      .object({
        /**
         * How the member that initializes a new cluster creates its database (Patroni's bootstrap.method):
         * initdb, or restore from the newest (or the chosen) base backup in backup.store that this
         * cluster_name holds, then promote on a new timeline (settings in bootstrap.restore).
         */
        method: z.enum(BOOTSTRAP_METHODS).default('initdb'),
        /** method restore: which backup, and how far to replay the archived WAL. Unused with initdb. */
        restore: z
          .object({
            /** "latest": the newest complete backup (with recovery_target_time: the newest that finished before it); or one backup id. */
            backup: z
              .string()
              .regex(RESTORE_BACKUP, 'expected "latest" or a backup id such as 20261126T181500Z-3fa9c2 (pgherdctl backup list)')
              .default('latest'),
            /** Stop replaying at this time and promote (PostgreSQL's recovery_target_time); absent: replay all archived WAL. RFC 3339 with a zone. */
            recovery_target_time: z.iso
              .datetime({ offset: true, error: 'expected an RFC 3339 time with a zone, e.g. 2026-11-26T19:30:00Z or 2026-11-26T20:30:00+01:00' })
              .optional(),
          })
          .strict()
          .prefault({}),
        /** The initial dynamic configuration (src/config/dynamic.ts); it lives in the cluster state afterwards. */
        dynamic: dynamicConfigSchema.prefault({}),
      })
      .strict()
      .prefault({}),
    /**
     * Peer and admin gRPC, mutual TLS by default (src/tls/resolve.ts). Certificates: all three files or none;
     * none → a local CA under <data_dir>/tls generates this node's certificate (for demos).
     */
    tls: z
      .object({
        /** Plain-text gRPC: for tests only. */
        insecure: z.boolean().default(false),
        /** The cluster CA (PEM): it signs every member's certificate; the only CA peers trust. */
        ca_file: absolutePath().optional(),
        /** This node's certificate (PEM), for server and client use; its SANs name the addresses it is dialled by. */
        cert_file: absolutePath().optional(),
        /** This node's private key (PEM). */
        key_file: absolutePath().optional(),
        /** Without files: where the local CA lives; default <data_dir>/tls. Nodes sharing one host tree (the demo) share one directory. */
        local_ca_dir: absolutePath().optional(),
      })
      .strict()
      .prefault({}),
    /** Who may use the admin service (pgherdctl) besides holders of a cluster-CA client certificate. */
    admin: z
      .object({
        /** Bearer tokens (`authorization: Bearer <token>`), by name and SHA-256; they open the admin service only, never Raft. Needs TLS. */
        tokens: z.array(adminTokenSchema).max(64).default([]),
      })
      .strict()
      .prefault({}),
    /**
     * WAL archiving and base backups (DESIGN §7). Nothing is archived unless a store is configured;
     * with one, every node runs PostgreSQL with archive_mode=on and the agent serves archive_command
     * and restore_command.
     */
    backup: z
      .object({
        store: z
          .object({
            /** none: no archiving (the other keys may stay, unused); local: a directory (demos, tests, a mounted file system); s3: an S3 bucket. */
            kind: z.enum(['none', 'local', 's3']).default('none'),
            /** local: the directory (it must exist; the agent never creates it, so a typo shows). */
            path: absolutePath().optional(),
            /** s3: the bucket. Credentials come from the default AWS provider chain (environment, profile, instance role). */
            bucket: z.string().regex(S3_BUCKET, 'expected an S3 bucket name: 3-63 lowercase letters, digits, "." and "-"').optional(),
            /** s3: key prefix inside the bucket; objects go to <prefix>/<cluster_name>/... */
            prefix: z.string().regex(S3_PREFIX, 'expected "/"-separated segments of letters, digits, ".", "_" and "-", without leading or trailing "/"').default(''),
            /** s3: the region; absent: the provider chain (AWS_REGION, profile), else us-east-1. */
            region: z.string().regex(/^[a-z0-9-]{2,32}$/, 'expected an AWS region such as eu-west-1').optional(),
            /** s3: an S3-compatible endpoint URL (MinIO, s3rver); absent: AWS. */
            endpoint: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL such as https://s3.example.com:9000' }).optional(),
            /** s3: path-style requests (most S3-compatible servers need it). */
            force_path_style: z.boolean().default(false),
            /** s3: server-side encryption of every object. */
            sse: z.enum(['AES256', 'aws:kms', 'none']).default('AES256'),
            /** s3: the KMS key for sse aws:kms; absent: the bucket's default key. */
            sse_kms_key_id: z.string().min(1).max(2048).optional(),
          })
          .strict()
          .prefault({}),
        archive: z
          .object({
            /** How WAL files are stored: gzip (level gzip_level) or as they are. */
            compression: z.enum(['gzip', 'none']).default('gzip'),
            /** 1 is fastest; archiving must keep up with the primary's WAL rate. */
            gzip_level: z.number().int().min(1).max(9).default(1),
            /** WAL files uploaded at the same time; the agent reads ahead the ones PostgreSQL has marked ready. */
            parallel: z.number().int().min(1).max(32).default(4),
            /** WAL segments a recovering node fetches ahead of the one PostgreSQL asks for. */
            restore_prefetch: z.number().int().min(0).max(64).default(4),
            /**
             * PostgreSQL's archive_timeout: a primary switches to a new WAL segment at least this
             * often when it wrote anything, so the archive (and a restore from it) is never more
             * than this far behind; 0 = off (a quiet primary then archives only when a segment fills).
             */
            timeout_s: z.number().int().min(0).max(86_400).default(60),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    log: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        format: z.enum(['json', 'pretty']).default('json'),
      })
      .strict()
      .prefault({}),
  })
  .strict();

/** What the zod schema yields: defaults filled, derived defaults not yet. */
export type ConfigInput = z.output<typeof configSchema>;

export interface Peer {
  readonly name: string;
  readonly address: string;
}

type DeepReadonly<T> = T extends (infer E)[] ? readonly DeepReadonly<E>[] : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

/** The validated, deeply frozen configuration handed to the agent. */
export type Config = DeepReadonly<
  Omit<ConfigInput, 'raft' | 'postgresql' | 'bootstrap'> & {
    raft: Omit<ConfigInput['raft'], 'advertise' | 'peers'> & { advertise: string; peers: Peer[] };
    postgresql: Omit<ConfigInput['postgresql'], 'data_dir' | 'connect_address' | 'socket_dir'> & {
      data_dir: string;
      connect_address: string;
      socket_dir: string;
    };
    bootstrap: Omit<ConfigInput['bootstrap'], 'dynamic'> & { dynamic: DynamicConfig };
  }
>;

/** Where the Raft log lives: fixed layout under the agent's data_dir. */
export function raftLogDir(config: Pick<Config, 'data_dir'>): string {
  return posix.join(config.data_dir, 'raft');
}

/**
 * The defaults that depend on other keys. A value that cannot be derived
 * (an address others must use, behind a wildcard bind) is required: the
 * error names the key and says why.
 */
export function resolveDerivedDefaults(input: ConfigInput): Config {
  const bind = parseHostPort(input.raft.bind)!;
  if (input.raft.advertise === undefined && isWildcardHost(bind.host)) {
    throw new ConfigError(
      'raft.advertise',
      `is required when raft.bind (${input.raft.bind}) is a wildcard address: set the ${HOST_PORT_FORM} other members use to reach this node`,
    );
  }
  const listen = input.postgresql.listen;
  const singleListenHost = listen !== '*' && !listen.includes(',') && !isWildcardHost(listen) ? listen : undefined;
  if (input.postgresql.connect_address === undefined && singleListenHost === undefined) {
    throw new ConfigError(
      'postgresql.connect_address',
      `is required when postgresql.listen (${listen}) is a wildcard or a list: set the host:port (e.g. 10.0.0.1:5432) replicas and clients use to reach this PostgreSQL`,
    );
  }
  checkStore(input.backup.store);
  return {
    ...input,
    raft: inSchemaOrder(configSchema.shape.raft, { ...input.raft, advertise: input.raft.advertise ?? input.raft.bind }),
    postgresql: inSchemaOrder(configSchema.shape.postgresql, {
      ...input.postgresql,
      data_dir: input.postgresql.data_dir ?? posix.join(input.data_dir, 'pgdata'),
      socket_dir: input.postgresql.socket_dir ?? posix.join(input.data_dir, 'run'),
      connect_address: input.postgresql.connect_address ?? `${formatHost(singleListenHost!)}:${input.postgresql.port}`,
    }),
  };
}

const S3_ONLY_KEYS = ['bucket', 'region', 'endpoint', 'sse_kms_key_id'] as const;

/** With kind local or s3, keys of the other kind are an error, not ignored: a half-edited store section must show. */
function checkStore(store: ConfigInput['backup']['store']): void {
  if (store.kind === 'none') return; // the other keys may stay, unused: kind none switches archiving off without losing them
  const set = (key: (typeof S3_ONLY_KEYS)[number] | 'path'): boolean => store[key] !== undefined;
  const s3Keys = S3_ONLY_KEYS.filter(set);
  if (store.kind !== 's3' && s3Keys.length > 0) {
    throw new ConfigError(`backup.store.${s3Keys[0]}`, `is for backup.store.kind s3, but kind is ${store.kind}`);
  }
  if (store.kind !== 's3' && store.prefix !== '') throw new ConfigError('backup.store.prefix', `is for backup.store.kind s3, but kind is ${store.kind}`);
  if (store.kind !== 'local' && set('path')) throw new ConfigError('backup.store.path', `is for backup.store.kind local, but kind is ${store.kind}`);
  if (store.kind === 'local' && !set('path')) throw new ConfigError('backup.store.path', 'is required when backup.store.kind is local: the directory WAL and base backups go to');
  if (store.kind === 's3' && !set('bucket')) throw new ConfigError('backup.store.bucket', 'is required when backup.store.kind is s3');
  if (store.sse_kms_key_id !== undefined && store.sse !== 'aws:kms') throw new ConfigError('backup.store.sse_kms_key_id', `is only used with backup.store.sse aws:kms, but sse is ${store.sse}`);
}

/** The same object with its keys in the schema's order (derived keys are added last otherwise), so the effective config reads like the example. */
function inSchemaOrder<T extends object>(schema: z.ZodType, value: T): T {
  const order = Object.keys(objectShape(schema) ?? {});
  const entries = Object.entries(value).sort(([a], [b]) => order.indexOf(a) - order.indexOf(b));
  return Object.fromEntries(entries) as T;
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * Keys that do not exist (any more, or in pgherd at all) with what to write
 * instead; mostly Patroni habits. Checked before the "did you mean" hint.
 */
export const RENAMED_KEYS: ReadonlyMap<string, string> = new Map([
  ['scope', 'cluster_name'],
  ['namespace', 'cluster_name'],
  ['restapi', 'http (http.listen)'],
  ['ttl', 'bootstrap.dynamic.ttl_ms'],
  ['loop_wait', 'bootstrap.dynamic.loop_wait_ms'],
  ['maximum_lag_on_failover', 'bootstrap.dynamic.maximum_lag_on_failover_bytes'],
  ['bootstrap.dcs', 'bootstrap.dynamic'],
  ['raft.self_addr', 'raft.advertise'],
  ['raft.partner_addrs', 'raft.peers'],
  ['raft.election_timeout_ms', 'raft.election_ticks (in ticks of raft.tick_ms)'],
  ['raft.heartbeat_ms', 'raft.heartbeat_ticks (in ticks of raft.tick_ms)'],
  ['postgresql.data_directory', 'postgresql.data_dir'],
  ['postgresql.pgdata', 'postgresql.data_dir'],
  ['postgresql.bin-dir', 'postgresql.bin_dir'],
  ['postgresql.listen_addresses', 'postgresql.listen'],
  ['postgresql.unix_socket_directories', 'postgresql.socket_dir'],
  ['postgresql.authentication', 'postgresql.superuser and postgresql.replication_user (passwords are generated)'],
  ['bootstrap.dynamic.ttl', 'bootstrap.dynamic.ttl_ms'],
  ['bootstrap.dynamic.loop_wait', 'bootstrap.dynamic.loop_wait_ms'],
  ['bootstrap.dynamic.maximum_lag_on_failover', 'bootstrap.dynamic.maximum_lag_on_failover_bytes'],
  ['bootstrap.dynamic.postgresql', 'bootstrap.dynamic.postgresql_parameters'],
  ['bootstrap.restore.target_time', 'bootstrap.restore.recovery_target_time'],
  ['bootstrap.restore.recovery_conf', 'bootstrap.restore.recovery_target_time (restore_command, recovery_target_action and recovery_target_timeline are the agent\'s)'],
  ['bootstrap.restore.command', 'bootstrap.method: restore (the agent restores from backup.store itself)'],
]);
