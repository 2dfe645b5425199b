import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AdminConnectOptions } from '../../admin/client.js';
import { HOST_PORT_FORM, isWildcardHost, parseHostPort } from '../../config/address.js';
import { loadConfig } from '../../config/load.js';
import type { Config } from '../../config/schema.js';
import { ConfigError } from '../../lib/errors.js';
import { localCaPaths } from '../../tls/generate.js';
import { CtlUsageError } from './failure.js';
import type { GlobalOptions } from './options.js';

/**
 * Where pgherdctl connects and with which certificates, from (first that
 * applies): the flags, the PGHERDCTL_* environment, an agent's
 * configuration file (-c), or a running `npm run demo` cluster (demo.ts).
 */
export interface Target {
  /** Passed to AdminClient.connect. */
  readonly connect: AdminConnectOptions;
  /** Where the target came from, for messages: 'flags', 'config FILE', 'demo DIR'. */
  readonly source: string;
  /** How a certificate-file problem is named: the flags, or the configuration keys of `source`. */
  readonly fileLabels: Readonly<Record<'caFile' | 'certFile' | 'keyFile', string>>;
}

const FLAG_LABELS = { caFile: '--ca-file', certFile: '--cert-file', keyFile: '--key-file' } as const;

/** The options after the environment filled what the flags left out. */
export interface Settings {
  readonly endpoints: readonly string[];
  readonly config: string | undefined;
  readonly caFile: string | undefined;
  readonly certFile: string | undefined;
  readonly keyFile: string | undefined;
  readonly insecure: boolean;
  /** The bearer token (from --token, --token-file or their PGHERDCTL_ variables). */
  readonly token: string | undefined;
}

export function settingsOf(options: GlobalOptions, env: NodeJS.ProcessEnv): Settings {
  const fromEnv = (name: string): string | undefined => (env[name] === undefined || env[name] === '' ? undefined : env[name]);
  const envEndpoints = (fromEnv('PGHERDCTL_ENDPOINTS') ?? '').split(',').map((part) => part.trim()).filter((part) => part !== '');
  const insecureText = fromEnv('PGHERDCTL_INSECURE');
  if (insecureText !== undefined && !['1', 'true', '0', 'false'].includes(insecureText)) {
    throw new CtlUsageError(`PGHERDCTL_INSECURE: expected 1, true, 0 or false, got ${JSON.stringify(insecureText)}`);
  }
  return {
    endpoints: options.endpoint !== undefined && options.endpoint.length > 0 ? options.endpoint : envEndpoints,
    config: options.config ?? fromEnv('PGHERDCTL_CONFIG'),
    caFile: options.caFile ?? fromEnv('PGHERDCTL_CA_FILE'),
    certFile: options.certFile ?? fromEnv('PGHERDCTL_CERT_FILE'),
    keyFile: options.keyFile ?? fromEnv('PGHERDCTL_KEY_FILE'),
    insecure: options.insecure === true || insecureText === '1' || insecureText === 'true',
    token: tokenOf(options, fromEnv),
  };
}

/** The bearer token: --token or --token-file (not both), else PGHERDCTL_TOKEN or PGHERDCTL_TOKEN_FILE (not both). */
function tokenOf(options: GlobalOptions, fromEnv: (name: string) => string | undefined): string | undefined {
  const flags = options.token !== undefined || options.tokenFile !== undefined;
  const [text, file, textLabel, fileLabel] = flags
    ? [options.token, options.tokenFile, '--token', '--token-file']
    : [fromEnv('PGHERDCTL_TOKEN'), fromEnv('PGHERDCTL_TOKEN_FILE'), 'PGHERDCTL_TOKEN', 'PGHERDCTL_TOKEN_FILE'];
  if (text !== undefined && file !== undefined) throw new CtlUsageError(`${textLabel} and ${fileLabel}: give the token one way, not both`);
  const [token, label] = file === undefined ? [text, textLabel] : [readTokenFile(fileLabel, file), fileLabel];
  if (token === undefined) return undefined;
  if (!/^[\x21-\x7e]{1,512}$/.test(token)) throw new CtlUsageError(`${label}: expected the token (printable text without spaces, at most 512 characters)`);
  return token;
}

function readTokenFile(label: string, file: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw new CtlUsageError(`${label}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/** Nothing says where to connect: look for a demo cluster. */
export function isUnset(settings: Settings): boolean {
  const { endpoints, config, caFile, certFile, keyFile, insecure, token } = settings;
  return endpoints.length === 0 && config === undefined && caFile === undefined && certFile === undefined && keyFile === undefined && !insecure && token === undefined;
}

/** The target the settings name (not the demo: see isUnset). */
export function explicitTarget(settings: Settings, env: NodeJS.ProcessEnv): Target {
  for (const endpoint of settings.endpoints) {
    if (parseHostPort(endpoint) === undefined) throw new CtlUsageError(`--endpoint: expected ${HOST_PORT_FORM}, got ${JSON.stringify(endpoint)}`);
  }
  const files = [settings.caFile, settings.certFile, settings.keyFile];
  const anyFile = files.some((file) => file !== undefined);
  if (settings.token !== undefined) return tokenTarget(settings, env);
  if (anyFile && files.some((file) => file === undefined)) {
    const missing = (['caFile', 'certFile', 'keyFile'] as const).filter((key) => settings[key] === undefined).map((key) => FLAG_LABELS[key]);
    throw new CtlUsageError(`--ca-file, --cert-file and --key-file go together (mutual TLS): missing ${missing.join(', ')}`);
  }
  if (anyFile && settings.insecure) throw new CtlUsageError('--insecure takes no --ca-file, --cert-file or --key-file');
  if (settings.config !== undefined) {
    const target = configTarget(settings.config, env);
    const tls = anyFile || settings.insecure ? tlsOf(settings) : {};
    return {
      connect: { ...target.connect, ...(settings.endpoints.length > 0 ? { endpoints: settings.endpoints } : {}), ...tls },
      source: target.source,
      fileLabels: anyFile ? FLAG_LABELS : target.fileLabels,
    };
  }
  if (settings.endpoints.length === 0) throw new CtlUsageError('--endpoint is required with --ca-file/--cert-file/--key-file or --insecure (or -c FILE: an agent\'s configuration)');
  if (!anyFile && !settings.insecure) {
    throw new CtlUsageError(
      '--endpoint needs credentials: --ca-file, --cert-file and --key-file (mutual TLS with the cluster CA), --ca-file with --token or --token-file (a bearer token of admin.tokens), -c FILE (an agent\'s configuration), or --insecure (a tls.insecure cluster)',
    );
  }
  return { connect: { endpoints: settings.endpoints, ...tlsOf(settings) }, source: 'flags', fileLabels: FLAG_LABELS };
}

/**
 * With a bearer token: TLS verifying the agent against --ca-file (or the CA
 * of -c FILE), plus the client certificate when one is given too.
 */
function tokenTarget(settings: Settings, env: NodeJS.ProcessEnv): Target {
  if (settings.insecure) throw new CtlUsageError('--token needs TLS: it is never sent in plain text (not with --insecure)');
  if ((settings.certFile === undefined) !== (settings.keyFile === undefined)) {
    throw new CtlUsageError(`--cert-file and --key-file go together: missing ${settings.certFile === undefined ? '--cert-file' : '--key-file'}`);
  }
  const flagFiles = settings.caFile === undefined ? {} : { caFile: settings.caFile, certFile: settings.certFile, keyFile: settings.keyFile };
  if (settings.config !== undefined) {
    const target = configTarget(settings.config, env);
    if (target.connect.insecure === true) throw new CtlUsageError(`--token needs TLS, but ${target.source} has tls.insecure: true`);
    // The configuration's CA verifies the agent; its node certificate is not needed beside the token.
    const fromConfig = { caFile: target.connect.caFile, certFile: undefined, keyFile: undefined, insecure: false };
    return {
      connect: { ...target.connect, ...fromConfig, ...flagFiles, ...(settings.endpoints.length > 0 ? { endpoints: settings.endpoints } : {}), token: settings.token },
      source: target.source,
      fileLabels: settings.caFile === undefined ? target.fileLabels : FLAG_LABELS,
    };
  }
  if (settings.endpoints.length === 0) throw new CtlUsageError('--endpoint is required with --token (or -c FILE: an agent\'s configuration)');
  if (settings.caFile === undefined) throw new CtlUsageError('--token needs --ca-file: the cluster CA, to verify the agent the token is sent to');
  return { connect: { endpoints: settings.endpoints, ...flagFiles, insecure: false, token: settings.token }, source: 'flags', fileLabels: FLAG_LABELS };
}

function tlsOf(settings: Settings): Pick<AdminConnectOptions, 'caFile' | 'certFile' | 'keyFile' | 'insecure'> {
  if (settings.insecure) return { insecure: true, caFile: undefined, certFile: undefined, keyFile: undefined };
  return { caFile: settings.caFile!, certFile: settings.certFile!, keyFile: settings.keyFile!, insecure: false };
}

/** An agent's configuration file, loaded as the agent loads it; errors name the file and key. */
export function configTarget(file: string, env: NodeJS.ProcessEnv): Target {
  let config: Config;
  try {
    config = loadConfig({ file, env });
  } catch (error) {
    if (error instanceof ConfigError) throw new CtlUsageError(`-c ${file}: ${error.message.replace(/\s*\n\s*/g, ' ')}`);
    throw error;
  }
  return targetOfConfig(config, `config ${file}`);
}

/**
 * Where an agent of `config` answers and which certificates open it: its own
 * address (loopback when it binds a wildcard: the local agent), then its
 * peers; the configured TLS files, or the local CA and the node certificate
 * the agent generated (src/tls/resolve.ts, generate.ts), or plain text.
 */
export function targetOfConfig(config: Config, source: string): Target {
  const bind = parseHostPort(config.raft.bind)!;
  const own = isWildcardHost(bind.host) ? [`127.0.0.1:${bind.port}`, config.raft.advertise] : [config.raft.advertise];
  const endpoints = [...new Set([...own, ...config.raft.peers.filter((peer) => peer.name !== config.name).map((peer) => peer.address)])];
  const connect = { endpoints, clusterName: config.cluster_name };
  const { tls } = config;
  if (tls.insecure) return { connect: { ...connect, insecure: true }, source, fileLabels: FLAG_LABELS };
  if (tls.ca_file !== undefined && tls.cert_file !== undefined && tls.key_file !== undefined) {
    return {
      connect: { ...connect, caFile: tls.ca_file, certFile: tls.cert_file, keyFile: tls.key_file },
      source,
      fileLabels: { caFile: `${source}: tls.ca_file`, certFile: `${source}: tls.cert_file`, keyFile: `${source}: tls.key_file` },
    };
  }
  const nodeDir = join(config.data_dir, 'tls');
  const caDir = config.tls.local_ca_dir ?? nodeDir;
  const generated = `${source}: the agent's generated`;
  return {
    connect: { ...connect, caFile: localCaPaths(caDir).caCertPath, certFile: join(nodeDir, `${config.name}.crt`), keyFile: join(nodeDir, `${config.name}.key`) },
    source,
    fileLabels: { caFile: `${generated} local CA (has the agent started?)`, certFile: `${generated} certificate (has the agent started?)`, keyFile: `${generated} key (has the agent started?)` },
  };
}
