import { ClusterDecodeError } from '../cluster/errors.js';
import type { ApplyResult } from '../cluster/results.js';
import { parseHostPort } from '../config/address.js';
import { ProposalRefusedError } from '../lib/errors.js';
import type { ClusterStore } from '../cluster/store.js';
import type { Logger } from '../lib/logger.js';
import type { ConfState, NodeId } from '../raft/core/types.js';
import type { RaftDriver } from '../raft/driver/raft-driver.js';
import type { GrpcTransport } from '../raft/transport/grpc-transport.js';
import { startDiscovery } from './discovery.js';
import { planMembership, type MembershipStep } from './membership-plan.js';

/**
 * The agent's side of Raft membership (DESIGN.md §3): on the Raft leader,
 * carry out the requested membership one step at a time (membership-plan.ts);
 * on a new node, ask the known members to let it join until it is in the
 * configuration.
 */

const RECONCILE_EVERY_MS = 1_000;
const JOIN_RETRY_MS = 2_000;
const JOIN_TIMEOUT_MS = 3_000;
const STEP_TIMEOUT_MS = 10_000;

export class MembershipController {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private lastWait = '';
  /** Since when each voter has been seen inactive by this node as leader (performance.now()); reset when leadership is lost. */
  private inactiveSince = new Map<NodeId, number>();

  constructor(
    private readonly driver: RaftDriver<ApplyResult>,
    private readonly store: ClusterStore,
    private readonly log: Logger,
    private readonly wallNow: () => number,
    /** raft.replace_unreachable_after_ms. */
    private readonly replaceAfterMs: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.run(), RECONCILE_EVERY_MS);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private async run(): Promise<void> {
    if (!this.driver.isLeader()) {
      // A new leader watches a voter for the whole limit before it replaces it.
      this.inactiveSince.clear();
      return;
    }
    if (this.busy) return;
    this.busy = true;
    try {
      const raft = this.driver.status();
      const unreachableMs = this.unreachable(raft.confState.voters, raft.progress);
      const view = { self: this.driver.nodeId, confState: raft.confState, lastIndex: raft.lastIndex, progress: raft.progress, unreachableMs, replaceAfterMs: this.replaceAfterMs };
      const step = planMembership(this.store.local(), view);
      if (step !== null) await this.carryOut(step);
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, 'membership.step_failed');
    } finally {
      this.busy = false;
    }
  }

  private unreachable(voters: readonly NodeId[], progress: Readonly<Record<NodeId, { recentActive: boolean }>>): Record<NodeId, number> {
    const now = performance.now();
    const result: Record<NodeId, number> = {};
    for (const id of voters) {
      if (id === this.driver.nodeId || progress[id]?.recentActive !== false) {
        this.inactiveSince.delete(id);
        continue;
      }
      const since = this.inactiveSince.get(id) ?? now;
      this.inactiveSince.set(id, since);
      result[id] = now - since;
    }
    return result;
  }

  private async carryOut(step: MembershipStep): Promise<void> {
    if (step.kind === 'wait') {
      const line = `${step.member}: ${step.reason}`;
      if (line !== this.lastWait) this.log.info({ member: step.member, reason: step.reason }, 'membership.waiting');
      this.lastWait = line;
      return;
    }
    this.lastWait = '';
    switch (step.kind) {
      case 'addLearner':
        this.log.info({ member: step.member, address: step.address, why: 'requested membership' }, 'membership.adding_learner');
        await this.driver.changeMembership({ type: 'addLearner', nodeId: step.member, address: step.address }, STEP_TIMEOUT_MS);
        return;
      case 'promote':
        this.log.info({ member: step.member, why: 'the learner has caught up' }, 'membership.promoting_to_voter');
        await this.driver.changeMembership({ type: 'addVoter', nodeId: step.member, address: step.address }, STEP_TIMEOUT_MS);
        return;
      case 'removeNode':
        this.log.info({ member: step.member, why: 'an operator removed it' }, 'membership.removing_from_raft');
        await this.driver.changeMembership({ type: 'removeNode', nodeId: step.member }, STEP_TIMEOUT_MS);
        return;
      case 'replace': {
        const by = `pgherd: ${step.member} unreachable for ${Math.round(step.unreachableMs / 1000)} s, replaced by ${step.by}`;
        const result = await this.store.propose({ type: 'setMembership', atMs: this.wallNow(), member: step.member, target: 'removed', raftAddress: null, source: 'operator', by }, STEP_TIMEOUT_MS);
        if (result.ok) this.log.warn({ member: step.member, replacement: step.by, unreachableMs: Math.round(step.unreachableMs) }, 'membership.replacing_unreachable_voter');
        else this.log.warn({ member: step.member, code: result.code, detail: result.reason }, 'membership.replace_refused');
        return;
      }
      case 'forgetMember': {
        const result = await this.store.propose({ type: 'removeMember', atMs: this.wallNow(), member: step.member }, STEP_TIMEOUT_MS);
        if (result.ok) this.log.info({ member: step.member, why: 'removed from Raft; the primary drops its slot' }, 'membership.member_forgotten');
        else this.log.warn({ member: step.member, code: result.code, detail: result.reason }, 'membership.forget_refused');
        return;
      }
    }
  }
}

export interface JoinerOptions {
  readonly self: NodeId;
  readonly advertise: string;
  /** The members this node knows from its configuration (static peers), by name. */
  readonly peers: readonly NodeId[];
  /** Is this node in the Raft configuration yet (voter or learner)? */
  readonly isMember: () => boolean;
  readonly requestJoin: (peer: NodeId, address: string, timeoutMs: number) => Promise<void>;
  readonly log: Logger;
}

/**
 * A new node (never configured) asks its known peers in turn to record its
 * join, until the Raft leader has added it (the leader then sends it the
 * log). A refusal (a removed name) is logged at error: an operator must add
 * it (pgherdctl members add) or give it a new name. Returns a stop function.
 */
export function startJoining(o: JoinerOptions): () => void {
  let stopped = false;
  let attempt = 0;
  let lastError = '';
  const tick = async (): Promise<void> => {
    while (!stopped && !o.isMember()) {
      const peer = o.peers[attempt++ % o.peers.length]!;
      try {
        await o.requestJoin(peer, o.advertise, JOIN_TIMEOUT_MS);
        if (lastError !== 'recorded') o.log.info({ via: peer, address: o.advertise }, 'membership.join_requested');
        lastError = 'recorded';
      } catch (error) {
        const { code, message } = error as { code?: string; message: string };
        if (message !== lastError) {
          const refused = code === 'PGHERD_RAFT_PROPOSAL_REFUSED';
          o.log[refused ? 'error' : 'info']({ via: peer, code, detail: message }, refused ? 'membership.join_refused' : 'membership.join_retry');
        }
        lastError = message;
      }
      await new Promise((resolve) => setTimeout(resolve, JOIN_RETRY_MS));
    }
    if (!stopped) o.log.info({ self: o.self }, 'membership.joined');
  };
  if (o.peers.length > 0) void tick();
  return () => {
    stopped = true;
  };
}

/** A node with a Raft configuration (it formed or joined a cluster); never configured: none at all. */
export function isConfigured(conf: ConfState): boolean {
  return conf.voters.length > 0 || conf.learners.length > 0;
}

export interface MembershipOptions {
  readonly self: NodeId;
  readonly advertise: string;
  /** The first bootstrap_expect members of the static list by name, with their addresses. */
  readonly initialVoters: ReadonlyMap<NodeId, string>;
  /** This node is not among them: it can only join. */
  readonly joiner: boolean;
  /** Every other peer of the static list, sorted. */
  readonly peers: readonly NodeId[];
  readonly driver: RaftDriver<ApplyResult>;
  readonly store: ClusterStore;
  readonly transport: () => GrpcTransport;
  readonly replaceAfterMs: number;
  readonly log: Logger;
}

/**
 * The agent's membership duties: the leader's controller, and for a node
 * never configured, discovery (an initial voter by name: form the cluster
 * or join it) or joining. Returns the function that stops them all.
 */
export function startMembership(o: MembershipOptions): () => void {
  const controller = new MembershipController(o.driver, o.store, o.log, () => Date.now(), o.replaceAfterMs);
  controller.start();
  const conf = (): ConfState => o.driver.status().confState;
  const configured = (): boolean => isConfigured(conf());
  const isMember = (): boolean => conf().voters.includes(o.self) || conf().learners.includes(o.self);
  let stopJoining = (): void => {};
  let stopDiscovery = (): void => {};
  const askToJoin = (): void => {
    stopJoining = startJoining({ self: o.self, advertise: o.advertise, peers: o.peers, isMember, requestJoin: (peer, address, timeoutMs) => o.transport().requestJoin(peer, address, timeoutMs), log: o.log });
  };
  if (!configured()) {
    if (o.joiner) askToJoin();
    else {
      stopDiscovery = startDiscovery({
        self: o.self,
        initialVoters: [...o.initialVoters.keys()],
        peers: o.peers,
        hello: (peer, timeoutMs) => o.transport().hello(peer, timeoutMs),
        configured,
        bootstrap: () => void o.driver.bootstrapNow(o.initialVoters),
        join: askToJoin,
        log: o.log,
      });
    }
  } else if (!isMember()) {
    o.log.error(
      { voters: conf().voters, learners: conf().learners, detail: 'this node was removed from the Raft configuration; to bring it back, add it with pgherdctl members add, or wipe its data_dir and start it as a new node' },
      'agent.not_a_member',
    );
  }
  return () => {
    stopDiscovery();
    stopJoining();
    controller.stop();
  };
}

/**
 * Record a new node's request to join (RaftPeer.Join). A node already in
 * the Raft configuration has nothing to record. Refusals (a removed name, a
 * malformed name or address) reject with ProposalRefusedError: the joiner
 * logs them as final.
 */
export async function recordJoin(store: ClusterStore, driver: RaftDriver<ApplyResult>, member: string, address: string, timeoutMs: number, log: Logger): Promise<void> {
  if (parseHostPort(address) === undefined) throw new ProposalRefusedError(`join of ${member}: address '${address}' is not host:port`);
  const conf = driver.status().confState;
  if (conf.voters.includes(member) || conf.learners.includes(member)) {
    log.warn({ member, address, detail: 'a node already in the Raft configuration asked to join; if it lost its data, remove it (pgherdctl members remove) and let it join again' }, 'membership.join_by_member');
    return;
  }
  let result: ApplyResult;
  try {
    result = await store.propose({ type: 'setMembership', atMs: Date.now(), member, target: 'member', raftAddress: address, source: 'join', by: member }, timeoutMs);
  } catch (error) {
    if (error instanceof ClusterDecodeError) throw new ProposalRefusedError(`join of ${member}: ${error.message}`);
    throw error;
  }
  if (!result.ok) throw new ProposalRefusedError(`join of ${member} refused (${result.code}): ${result.reason}`);
}
