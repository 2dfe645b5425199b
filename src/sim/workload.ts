import type { SeededRng } from '../lib/random.js';
import type { RaftNode } from '../raft/core/api.js';
import type { SimNode } from './node-process.js';
import { TICK_UNITS } from './options.js';
import { between, type Profile } from './swarm.js';
import type { World } from './world.js';

/**
 * A client gives up on a proposal (outcome unknown) after this many maximal
 * election timeouts. Long: the client's in-flight cap is what bounds the
 * leader's backlog, so slots must free on outcomes, not on impatience.
 */
const CLIENT_TIMEOUT_ELECTIONS = 50;

/** Errors the core throws by contract when it cannot take a proposal right now. */
const EXPECTED_REFUSALS = new Set(['PGHERD_RAFT_NOT_LEADER', 'PGHERD_RAFT_PROPOSAL_DROPPED']);

/** Run a core call that may legitimately be refused; any other error propagates (a core bug). */
export function refusable(call: () => void): boolean {
  try {
    call();
    return true;
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && EXPECTED_REFUSALS.has(code)) return false;
    throw error;
  }
}

/**
 * The client workload and the operator's leadership transfers. The client
 * asks a random live node who leads and proposes through that node if it
 * believes it is the leader; proposals are acknowledged by SimClient.
 */
export class Workload {
  transfers = 0;
  private active = true;

  constructor(
    private readonly world: World,
    private readonly rng: SeededRng,
    private readonly workload: Profile['workload'],
  ) {
    world.handlers.set('propose', () => this.onPropose());
    world.handlers.set('transfer', () => this.onTransfer());
    world.handlers.set('read', () => this.onRead());
  }

  start(): void {
    this.world.schedule(between(this.rng, 1, this.workload.proposeEveryUnits), { kind: 'propose' });
    if (this.workload.transferEveryTicks > 0) this.againTransfer();
    if (this.workload.readEveryUnits > 0) this.world.schedule(between(this.rng, 1, this.workload.readEveryUnits), { kind: 'read' });
  }

  stop(): void {
    this.active = false;
  }

  /** The node a client reaching `via` would be sent to: itself if it leads, else its leader hint. */
  leaderVia(via: SimNode): SimNode | null {
    const target = via.role.role === 'leader' ? via : this.world.nodes.get(via.role.leader);
    if (target === undefined || target.state !== 'up' || target.role.role !== 'leader') return null;
    return target;
  }

  /** Propose one fresh payload through `leader`. */
  proposeTo(leader: SimNode): void {
    const client = this.world.client;
    const { payload, data } = client.nextData();
    leader.input((raft: RaftNode) => {
      const accepted = refusable(() => client.accepted(leader.id, leader.life, payload, raft.propose(data), this.world.now()));
      if (!accepted) client.rejected++;
    });
  }

  private onPropose(): void {
    if (!this.active) return;
    this.world.schedule(between(this.rng, 1, 2 * this.workload.proposeEveryUnits), { kind: 'propose' });
    const client = this.world.client;
    client.expire(this.world.now(), CLIENT_TIMEOUT_ELECTIONS * 2 * this.world.profile.raft.electionTicks * TICK_UNITS);
    if (client.outstanding >= this.workload.clientInflightMax) return;
    const up = this.world.upNodes();
    if (up.length === 0) return;
    const leader = this.leaderVia(up[this.rng.int(up.length)]!);
    if (leader !== null) this.proposeTo(leader);
  }

  /** A linearizable read through a random live node (followers forward it to the leader). */
  private onRead(): void {
    if (!this.active) return;
    this.world.schedule(between(this.rng, 1, 2 * this.workload.readEveryUnits), { kind: 'read' });
    const up = this.world.upNodes();
    if (up.length === 0) return;
    const node = up[this.rng.int(up.length)]!;
    const client = this.world.client;
    node.input((raft) => {
      const context = client.readRequested(node.id, node.life, this.world.now());
      if (!refusable(() => raft.readIndex(context))) client.readRefused(context);
    });
  }

  private againTransfer(): void {
    this.world.schedule(between(this.rng, 1, 2 * this.workload.transferEveryTicks) * TICK_UNITS, { kind: 'transfer' });
  }

  private onTransfer(): void {
    if (!this.active) return;
    this.againTransfer();
    const leader = this.world.leader();
    if (leader === null) return;
    const voters = leader.conf.voters.filter((id) => id !== leader.id);
    if (voters.length === 0) return;
    const to = voters[this.rng.int(voters.length)]!;
    this.transfers++;
    this.world.log(leader.id, () => `transfer leadership to ${to} requested`);
    leader.input((raft) => {
      refusable(() => raft.transferLeadership(to));
    });
  }
}
