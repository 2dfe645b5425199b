import { AdminClient } from '../../admin/client.js';
import { AdminUnreachableError, type EndpointFailure } from '../../admin/errors.js';
import { ConfigError } from '../../lib/errors.js';
import { DEMO_DIR_PREFIX, demoTargets } from './demo.js';
import { EXIT_OK } from './exit-codes.js';
import { CtlUsageError, describeFailure, reportFailure } from './failure.js';
import type { CtlIo } from './io.js';
import type { GlobalOptions } from './options.js';
import { explicitTarget, isUnset, settingsOf, type Target } from './target.js';

/** Run one command's body; a failure it throws is printed and becomes the exit code (a bug is rethrown). */
export async function runCommand(io: CtlIo, json: boolean, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (error) {
    const failure = describeFailure(error);
    if (failure === undefined) throw error;
    return reportFailure(failure, io, json);
  }
}

/**
 * The whole body of a command that only asks: connect, ask, print the
 * answer (JSON with --json, else `render`'s text), close; exit 0, or the
 * failure's code.
 */
export function runQuery<T>(io: CtlIo, globals: GlobalOptions, ask: (client: AdminClient) => Promise<T>, render: (value: T, clusterName: string) => string): Promise<number> {
  const json = globals.json === true;
  return runCommand(io, json, async () => {
    const client = await connect(globals, io);
    try {
      const value = await ask(client);
      io.stdout(json ? `${JSON.stringify(value)}\n` : render(value, client.clusterName));
      return EXIT_OK;
    } finally {
      client.close();
    }
  });
}

/**
 * Connect where the options (or the environment) say; with neither, to the
 * newest running demo cluster. Certificate-file problems of an explicit
 * target are usage errors naming the flag or configuration key; a demo
 * directory whose files are gone counts as not answering.
 */
export async function connect(options: GlobalOptions, io: CtlIo): Promise<AdminClient> {
  const settings = settingsOf(options, io.env);
  const demo = isUnset(settings);
  const targets = demo ? await demoTargets(io.tmpdir) : [explicitTarget(settings, io.env)];
  if (targets.length === 0) {
    throw new CtlUsageError(
      `no agent to ask: pass --endpoint HOST:PORT with --ca-file, --cert-file and --key-file, or -c FILE (an agent's configuration), or set PGHERDCTL_ENDPOINTS or PGHERDCTL_CONFIG; no demo cluster (npm run demo) was found under ${io.tmpdir} (${DEMO_DIR_PREFIX}*)`,
    );
  }
  const failures: EndpointFailure[] = [];
  for (const target of targets) {
    try {
      return await AdminClient.connect(demo ? { ...target.connect, connectTimeoutMs: DEMO_CONNECT_TIMEOUT_MS } : target.connect);
    } catch (error) {
      if (error instanceof AdminUnreachableError) {
        failures.push(...error.attempts.map((a) => ({ endpoint: a.endpoint, error: demo ? `${a.error} (${target.source})` : a.error })));
        continue;
      }
      if (!(error instanceof ConfigError)) throw error;
      const message = error.message.slice(error.key.length + 2);
      const label = target.fileLabels[error.key as keyof Target['fileLabels']] ?? error.key;
      if (!demo) throw new CtlUsageError(`${label}: ${message}`);
      failures.push({ endpoint: target.source, error: `${label}: ${message}` });
    }
  }
  throw new AdminUnreachableError(failures);
}

/** A demo cluster on this host answers at once or not at all. */
const DEMO_CONNECT_TIMEOUT_MS = 2_000;
