import { status as Status } from '@grpc/grpc-js';
import { parseHostPort } from '../config/address.js';
import type { ClusterState } from '../cluster/state.js';
import type { Logger } from '../lib/logger.js';
import type { ActionContext } from './actions.js';
import type { AdminBackend } from './backend.js';
import { AdminRefusal, invalidField } from './errors.js';
import { proposeCommand, readForAction, refusalOf } from './raft-calls.js';
import { membershipRole } from './status-view.js';
import { pollAfterSync } from './wait.js';
import { parseBy, parseMemberName, parseWaitMs } from './requests.js';
import type { WireAddMemberRequest, WireMemberChangeResponse, WireRemoveMemberRequest } from './wire.js';

/** How often a membership call looks whether the Raft leader has carried the change out. */
const POLL_MS = 100;

export interface AddMemberRequest {
  readonly name: string;
  readonly raftAddress: string;
  readonly waitMs: number;
  readonly by: string;
}

export interface RemoveMemberRequest {
  readonly name: string;
  readonly waitMs: number;
  readonly by: string;
}

export function parseAddMemberRequest(request: WireAddMemberRequest): AddMemberRequest {
  const name = parseMemberName('name', request.name);
  if (parseHostPort(request.raft_address) === undefined) {
    throw invalidField('raft_address', `expected host:port of the node's peer service, got ${JSON.stringify(request.raft_address)}`);
  }
  return { name, raftAddress: request.raft_address, waitMs: parseWaitMs(request.timeout_ms), by: parseBy('by', request.by) };
}

export function parseRemoveMemberRequest(request: WireRemoveMemberRequest): RemoveMemberRequest {
  return { name: parseMemberName('name', request.name), waitMs: parseWaitMs(request.timeout_ms), by: parseBy('by', request.by) };
}

type RaftRoleName = 'voter' | 'learner' | 'none';

/**
 * AddMember / RemoveMember: record the requested membership in the cluster
 * state (setMembership), then wait until the Raft leader's agent has
 * carried it out (src/node/membership.ts) as this member sees it applied.
 */
export class MemberActions {
  constructor(
    private readonly backend: AdminBackend,
    private readonly log: Logger,
  ) {}

  async add(request: AddMemberRequest, ctx: ActionContext): Promise<WireMemberChangeResponse> {
    Object.assign(ctx.fields, { member: request.name, raftAddress: request.raftAddress });
    const before = this.roleOf(request.name);
    const result = await proposeCommand(
      this.backend,
      { type: 'setMembership', atMs: this.backend.wallNow(), member: request.name, target: 'member', raftAddress: request.raftAddress, source: 'operator', by: request.by },
      `adding ${request.name}`,
    );
    if (!result.ok) throw refusalOf(result, `adding ${request.name}`);
    const startedMs = performance.now();
    const role = await this.waitFor(request, ctx, (r) => r !== 'none', `${request.name} was recorded as a member but is not in the Raft configuration yet; the Raft leader adds it as a learner: check pgherdctl list`);
    const elapsedMs = Math.round(performance.now() - startedMs);
    const promoted = role === 'voter' ? 'a voter' : 'a learner; it becomes a voter once it has caught up (it must be running)';
    return this.response(request.name, role, before === 'none', elapsedMs, `${request.name} is ${promoted}`);
  }

  async remove(request: RemoveMemberRequest, ctx: ActionContext): Promise<WireMemberChangeResponse> {
    ctx.fields['member'] = request.name;
    const state = await readForAction(this.backend);
    const before = this.roleOf(request.name);
    if (before === 'none' && !Object.hasOwn(state.members, request.name)) {
      throw new AdminRefusal(Status.NOT_FOUND, 'NOT_A_MEMBER', `${request.name} is neither in the Raft configuration nor registered: nothing to remove`);
    }
    const { voters } = this.backend.raft().confState;
    if (voters.length === 1 && voters[0] === request.name) {
      throw new AdminRefusal(Status.FAILED_PRECONDITION, 'LAST_VOTER', `${request.name} is the only Raft voter: removing it would leave no cluster`);
    }
    const result = await proposeCommand(
      this.backend,
      { type: 'setMembership', atMs: this.backend.wallNow(), member: request.name, target: 'removed', raftAddress: null, source: 'operator', by: request.by },
      `removing ${request.name}`,
    );
    if (!result.ok) throw refusalOf(result, `removing ${request.name}`);
    const startedMs = performance.now();
    await this.waitFor(request, ctx, (r) => r === 'none', `${request.name} was recorded as removed but is still in the Raft configuration; the Raft leader removes it: check pgherdctl list`);
    const registered = Object.hasOwn(this.backend.local().members, request.name);
    const elapsedMs = Math.round(performance.now() - startedMs);
    const rest = registered ? '; its registration is forgotten (and its slot dropped) once it is out of the synchronous standbys' : ' and its registration forgotten';
    this.log.debug({ member: request.name, registered }, 'admin.member_removed');
    return this.response(request.name, 'none', before !== 'none' || registered, elapsedMs, `${request.name} is out of the Raft configuration${rest}`, registered);
  }

  private roleOf(name: string): RaftRoleName {
    return membershipRole(name, this.backend.raft().confState);
  }

  /** Until this member's applied Raft configuration shows the change the Raft leader carries out. */
  private async waitFor(request: { name: string; waitMs: number }, ctx: ActionContext, done: (role: RaftRoleName) => boolean, late: string): Promise<RaftRoleName> {
    const deadlineMs = Math.min(ctx.deadlineMs, performance.now() + request.waitMs);
    const role = await pollAfterSync(this.backend, { deadlineMs, signal: ctx.signal, log: this.log, pollMs: POLL_MS, what: 'membership' }, () => {
      const now = this.roleOf(request.name);
      return done(now) ? now : undefined;
    });
    if (role === undefined) throw new AdminRefusal(Status.DEADLINE_EXCEEDED, 'MEMBERSHIP_TIMEOUT', late);
    return role;
  }

  private response(name: string, role: RaftRoleName, changed: boolean, elapsedMs: number, message: string, registered?: boolean): WireMemberChangeResponse {
    const state: ClusterState = this.backend.local();
    return { name, raft_role: role, changed, registered: registered ?? Object.hasOwn(state.members, name), elapsed_ms: elapsedMs, message };
  }
}
