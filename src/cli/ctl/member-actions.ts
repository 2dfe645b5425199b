import type { AdminClient } from '../../admin/client.js';
import { MEMBER_ROLES_FILTER, type MemberRoleFilter } from '../../admin/member-action-requests.js';
import type { MemberActionsResult, MemberActionView } from '../../admin/types.js';
import { MEMBER_NAME_FORM, MEMBER_NAME_PATTERN } from '../../config/member-name.js';
import { EXIT_OK, EXIT_REFUSED } from './exit-codes.js';
import { CtlUsageError } from './failure.js';
import type { CtlIo } from './io.js';

/**
 * What restart, reload and reinit share: member arguments and --role,
 * the question a destructive one asks, and how the answer is printed and
 * becomes the exit code (0 when every member ended done or skipped, or
 * the request was scheduled; 1 when one failed, was withdrawn or had not
 * ended when the wait was over).
 */

export function parseMembers(names: readonly string[]): string[] {
  for (const name of names) {
    if (!MEMBER_NAME_PATTERN.test(name)) throw new CtlUsageError(`member: expected a member name (${MEMBER_NAME_FORM}), got ${JSON.stringify(name)}`);
  }
  return [...new Set(names)];
}

export function parseRole(text: string | undefined): MemberRoleFilter | undefined {
  if (text === undefined) return undefined;
  if (!(MEMBER_ROLES_FILTER as readonly string[]).includes(text)) throw new CtlUsageError(`--role: expected one of ${MEMBER_ROLES_FILTER.join(', ')}, got ${JSON.stringify(text)}`);
  return text as MemberRoleFilter;
}

/** The members a request would name, as this client sees the cluster now (for the question only: the agent decides). */
export async function describeTargets(client: AdminClient, members: readonly string[], role: MemberRoleFilter): Promise<string> {
  const status = await client.clusterStatus();
  const primary = status.leader?.member ?? null;
  const named = members.length > 0 ? members : status.members.map((m) => m.name);
  const chosen = named.filter((name) => role === 'any' || (role === 'primary') === (name === primary));
  const list = chosen.map((name) => (name === primary ? `${name} (the primary)` : name)).join(', ');
  return `${list || `no member${role === 'any' ? '' : ` with the role ${role}`} (the agent will refuse)`} of cluster ${status.clusterName}`;
}

/** Print the answer (JSON with --json) and return the exit code; `cancelling`: the answer of restart --cancel (cancelled is its success). */
export function reportActions(result: MemberActionsResult, json: boolean, io: CtlIo, cancelling = false): number {
  io.stdout(json ? `${JSON.stringify(result)}\n` : renderActions(result));
  if (cancelling) return EXIT_OK;
  const bad = result.actions.filter((a) => a.status === 'failed' || a.status === 'cancelled' || a.status === 'running' || (a.status === 'pending' && a.scheduledAt === null));
  if (bad.length === 0) return EXIT_OK;
  io.stderr(`refused: ${bad.map((a) => `${a.member} ${a.status === 'pending' || a.status === 'running' ? `still ${a.status} when the wait ended` : a.status}`).join(', ')}\n`);
  return EXIT_REFUSED;
}

export function renderActions(result: MemberActionsResult): string {
  return `${result.actions.map(renderAction).join('')}${result.message === '' ? '' : `${result.message}\n`}`;
}

function renderAction(a: MemberActionView): string {
  const when = a.status === 'pending' && a.scheduledAt !== null ? ` for ${a.scheduledAt}` : '';
  return `${a.member}: ${a.kind}${a.pendingOnly ? ' --pending' : ''} ${a.status}${when}${a.detail === null ? '' : ` — ${a.detail}`} [${a.id}]\n`;
}
