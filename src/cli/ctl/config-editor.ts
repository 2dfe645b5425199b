import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { ConfigView } from '../../admin/types.js';
import { CtlDeclinedError, CtlUsageError } from './failure.js';
import type { CtlIo } from './io.js';

/**
 * edit-config without -s/-p: the configuration as YAML in the operator's
 * editor; what they changed becomes a merge patch (a key removed: back to
 * its default). The file lives in a private temporary directory, removed
 * afterwards.
 */

/** The file to edit: a comment saying what it is, then the values. */
export function editableDocument(clusterName: string, config: ConfigView): string {
  return [
    `# The dynamic configuration of cluster ${clusterName}, version ${config.version}.`,
    '# Save and quit to apply (you are asked first); a key removed goes back to its default;',
    '# an unchanged file, or quitting without saving, changes nothing.',
    stringifyYaml(config.values),
  ].join('\n');
}

/** Edit `config` in the operator's editor; resolves with the merge patch of what changed ({} when nothing did). */
export async function editInEditor(clusterName: string, config: ConfigView, io: CtlIo): Promise<Record<string, unknown>> {
  const dir = await mkdtemp(join(io.tmpdir, 'pgherdctl-edit-'));
  try {
    const file = join(dir, `${clusterName}-config.yaml`);
    await writeFile(file, editableDocument(clusterName, config), { mode: 0o600 });
    const status = await io.editFile(file);
    if (status !== 0) throw new CtlDeclinedError(`the editor exited with status ${status}: nothing changed`);
    return patchFromEdited(config.values, await readFile(file, 'utf8'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The merge patch that turns `current` into the edited document's values; pure. */
export function patchFromEdited(current: Readonly<Record<string, unknown>>, text: string): Record<string, unknown> {
  let edited: unknown;
  try {
    edited = parseYaml(text);
  } catch (error) {
    throw new CtlUsageError(`the edited configuration is not valid YAML: ${(error as Error).message.split('\n')[0]}; nothing changed`);
  }
  if (edited === null || edited === undefined) edited = {};
  if (!isPlainObject(edited)) throw new CtlUsageError('the edited configuration must be a YAML mapping of keys to values; nothing changed');
  return diffPatch(current, edited);
}

function diffPatch(current: Readonly<Record<string, unknown>>, edited: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const entries: [string, unknown][] = [];
  for (const key of new Set([...Object.keys(current), ...Object.keys(edited)])) {
    const before = Object.hasOwn(current, key) ? current[key] : undefined;
    if (!Object.hasOwn(edited, key)) {
      entries.push([key, null]);
      continue;
    }
    const after = edited[key];
    if (isPlainObject(before) && isPlainObject(after)) {
      const inner = diffPatch(before, after);
      if (Object.keys(inner).length > 0) entries.push([key, inner]);
    } else if (JSON.stringify(before) !== JSON.stringify(after)) {
      entries.push([key, after]);
    }
  }
  return Object.fromEntries(entries);
}

function isPlainObject(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
