import type { Command } from 'commander';
import { BY_CHARS_MAX } from '../../admin/requests.js';
import { parseRfc3339, RFC3339_FORM } from '../../admin/time.js';
import { MEMBER_NAME_FORM, MEMBER_NAME_PATTERN } from '../../config/member-name.js';
import { CtlUsageError } from './failure.js';

/**
 * pgherdctl's global options (accepted before or after the command) and
 * the parsers of command arguments. Each error names the flag and the form
 * it expects.
 */
export interface GlobalOptions {
  readonly endpoint?: readonly string[];
  readonly config?: string;
  readonly caFile?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly insecure?: boolean;
  readonly token?: string;
  readonly tokenFile?: string;
  readonly json?: boolean;
}

const collect = (value: string, previous: readonly string[] | undefined): string[] => [...(previous ?? []), ...value.split(',').map((part) => part.trim()).filter((part) => part !== '')];

export function addGlobalOptions(program: Command): Command {
  return program
    .option('-e, --endpoint <host:port>', 'an agent\'s peer gRPC address (repeatable or comma-separated; tried in order) [env PGHERDCTL_ENDPOINTS]', collect)
    .option('-c, --config <file>', 'an agent\'s configuration file: its address and certificates [env PGHERDCTL_CONFIG]')
    .option('--ca-file <file>', 'the cluster CA certificate (PEM) [env PGHERDCTL_CA_FILE]')
    .option('--cert-file <file>', 'a client certificate signed by the cluster CA (PEM) [env PGHERDCTL_CERT_FILE]')
    .option('--key-file <file>', 'its private key (PEM) [env PGHERDCTL_KEY_FILE]')
    .option('--insecure', 'plain-text gRPC, for a cluster with tls.insecure: true (tests only) [env PGHERDCTL_INSECURE=1]')
    .option('--token <token>', 'a bearer token of the agents\' admin.tokens, instead of (or with) a client certificate; needs --ca-file or -c (visible in ps: prefer the environment or --token-file) [env PGHERDCTL_TOKEN]')
    .option('--token-file <file>', 'a file holding the bearer token (surrounding whitespace ignored) [env PGHERDCTL_TOKEN_FILE]')
    .option('--json', 'machine-readable output on stdout (errors too, as {"error": {...}})');
}

/** A member name for --candidate. */
export function parseCandidate(text: string): string {
  if (!MEMBER_NAME_PATTERN.test(text)) throw new CtlUsageError(`--candidate: expected a member name (${MEMBER_NAME_FORM}), got ${JSON.stringify(text)}`);
  return text;
}

/** --scheduled: 'now' (undefined) or a future RFC 3339 time, returned as given. */
export function parseScheduled(text: string, nowMs: number): string | undefined {
  if (text === 'now') return undefined;
  const atMs = parseRfc3339(text);
  if (atMs === undefined) throw new CtlUsageError(`--scheduled: expected 'now' or ${RFC3339_FORM}, got ${JSON.stringify(text)}`);
  if (atMs <= nowMs) throw new CtlUsageError(`--scheduled: ${text} is in the past; give a future time, or 'now'`);
  return text;
}

/** A positive number of seconds (at most maxSeconds) for `flag`, in ms. */
export function parseSeconds(flag: string, text: string, maxSeconds: number): number {
  const seconds = Number(text);
  if (text.trim() === '' || !Number.isFinite(seconds) || seconds <= 0 || seconds > maxSeconds) {
    throw new CtlUsageError(`${flag}: expected a number of seconds above 0 and at most ${maxSeconds}, got ${JSON.stringify(text)}`);
  }
  return Math.round(seconds * 1000);
}

/** --by: who asks, recorded by the agent (default: pgherdctl@<this client's address>). */
export function parseBy(text: string): string {
  if (text.trim() === '' || text.length > BY_CHARS_MAX || /[\u0000-\u001f\u007f]/.test(text)) {
    throw new CtlUsageError(`--by: expected printable text of 1 to ${BY_CHARS_MAX} characters, got ${JSON.stringify(text.slice(0, 40))}`);
  }
  return text;
}
