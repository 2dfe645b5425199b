import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { withConnection, type LocalConnection } from './sql.js';

/**
 * What a restart of a running PostgreSQL would change (for `restart
 * --pending` and the answer of a reload). Two sources, since the agent
 * passes its settings on the command line (conf.ts) and PostgreSQL cannot
 * see a changed command line until it restarts:
 *  - the command line it was started with (postmaster.opts, written by the
 *    postmaster at start) against the one the agent would start it with
 *    now (e.g. a cluster-wide parameter changed with edit-config);
 *  - pg_settings.pending_restart: a configuration file changed and
 *    reloaded (ALTER SYSTEM, postgresql.conf) with a setting that needs one.
 */

/** Settings whose difference is not the restart's business: the lifecycle rules re-point a replica themselves. */
const UPSTREAM_SETTINGS: ReadonlySet<string> = new Set(['primary_conninfo', 'primary_slot_name']);

export interface SettingChange {
  readonly name: string;
  /** null: not on that command line. */
  readonly running: string | null;
  readonly wanted: string | null;
}

/** The arguments of postmaster.opts (after the program), or undefined when it is absent. */
export async function readPostmasterOpts(dataDir: string): Promise<string[] | undefined> {
  try {
    return parsePostmasterOpts(await readFile(join(dataDir, 'postmaster.opts'), 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** postmaster.opts is `<program> "arg1" "arg2" ...` on one line (each argument in double quotes, unescaped). Pure. */
export function parsePostmasterOpts(text: string): string[] {
  const line = text.replace(/\n+$/, '');
  const first = line.indexOf(' "');
  if (first < 0) return [];
  const quoted = line.slice(first + 1);
  if (!quoted.startsWith('"') || !quoted.endsWith('"')) return [];
  return quoted.slice(1, -1).split('" "');
}

/** The `-c name=value` pairs of a postgres command line. Pure. */
export function commandLineSettings(args: readonly string[]): Map<string, string> {
  const settings = new Map<string, string>();
  for (let i = 0; i < args.length - 1; i++) {
    if (args[i] !== '-c') continue;
    const pair = args[i + 1]!;
    const eq = pair.indexOf('=');
    if (eq > 0) settings.set(pair.slice(0, eq), pair.slice(eq + 1));
    i += 1;
  }
  return settings;
}

/** The settings that differ between the running command line and the wanted one, by name (upstream settings left out). Pure. */
export function changedSettings(runningArgs: readonly string[], wantedArgs: readonly string[]): SettingChange[] {
  const running = commandLineSettings(runningArgs);
  const wanted = commandLineSettings(wantedArgs);
  const names = [...new Set([...running.keys(), ...wanted.keys()])].filter((name) => !UPSTREAM_SETTINGS.has(name)).sort();
  return names.flatMap((name) => {
    const before = running.get(name) ?? null;
    const after = wanted.get(name) ?? null;
    return before === after ? [] : [{ name, running: before, wanted: after }];
  });
}

/**
 * The parameters pg_settings reports as waiting for a restart (sorted),
 * except those set on the command line: a reload marks a postmaster-level
 * setting pending whenever postgresql.conf holds another value, even one
 * the command line outranks (max_connections of initdb's file against the
 * agent's); whether the command line itself changed is changedSettings'.
 */
export async function pendingRestartParameters(conn: LocalConnection): Promise<string[]> {
  return withConnection(conn, 'read pending_restart', async (client) =>
    (await client.query<{ name: string }>("SELECT name FROM pg_settings WHERE pending_restart AND source <> 'command line' ORDER BY name")).rows.map((row) => row.name),
  );
}
