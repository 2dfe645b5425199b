import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig } from '../../config/load.js';
import { ConfigError } from '../../lib/errors.js';
import { targetOfConfig, type Target } from './target.js';

/** The prefix scripts/demo/cluster.ts gives its directory under the system's temporary directory. */
export const DEMO_DIR_PREFIX = 'pgherd-demo-';
/** Demo directories looked at, newest first: old ones left by `npm run demo -- --keep` are rarely running. */
const DEMO_DIRS_MAX = 10;

/**
 * The `npm run demo` clusters under `tmp`, newest first, as targets: each
 * directory's first agent configuration (`<name>.yaml`, written by
 * scripts/lib/agent-cluster.ts) names every member's address and the
 * shared local CA. The caller connects to the first one that answers.
 * Directories without a loadable configuration are skipped.
 */
export async function demoTargets(tmp: string): Promise<Target[]> {
  let entries: string[];
  try {
    entries = (await readdir(tmp)).filter((name) => name.startsWith(DEMO_DIR_PREFIX));
  } catch {
    return [];
  }
  const dirs = await Promise.all(entries.map(async (name) => ({ dir: join(tmp, name), mtimeMs: await stat(join(tmp, name)).then((s) => (s.isDirectory() ? s.mtimeMs : -1), () => -1) })));
  const newest = dirs.filter((d) => d.mtimeMs >= 0).sort((a, b) => b.mtimeMs - a.mtimeMs).slice(0, DEMO_DIRS_MAX);
  const targets: Target[] = [];
  for (const { dir } of newest) {
    const target = await demoTarget(dir);
    if (target !== undefined) targets.push(target);
  }
  return targets;
}

async function demoTarget(dir: string): Promise<Target | undefined> {
  const configs = (await readdir(dir).catch(() => [] as string[])).filter((name) => /^[a-z0-9][a-z0-9_-]*\.yaml$/.test(name)).sort();
  for (const name of configs) {
    try {
      // The demo's agents run without PGHERD_* variables (agent-cluster.ts): read their files the same way.
      return targetOfConfig(loadConfig({ file: join(dir, name), env: {} }), `demo ${dir}`);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
    }
  }
  return undefined;
}
