import { encodeCommand, type ClusterCommandInput } from '../../cluster/commands.js';
import type { CandidatePosition } from '../../ha/candidates.js';
import { sssnMembers, type ReplicationRow } from '../../ha/sync.js';
import type { SeededRng } from '../../lib/random.js';
import type { ConfChange, Entry, Message, NodeId } from '../../raft/core/types.js';
import type { Violation } from '../checkers.js';
import { SimDisk } from '../disk.js';
import { EventQueue } from '../event-queue.js';
import { HASH_SEED, mix, mixString } from '../hash.js';
import { SafetyRecorder, type Observation } from '../history.js';
import { SimNetwork } from '../network.js';
import { exceptionViolation, SimNode, type Core, type NodeEnv } from '../node-process.js';
import { TICK_UNITS } from '../options.js';
import { between } from '../swarm.js';
import { refusable } from '../workload.js';
import { HaAgent, type AgentEnv, type HaBrokenRules } from './agent.js';
import { checkSingleWriter, HaRecorder, type HaViolation } from './checkers.js';
import { HA_EVENT_CODES, type HaEvent } from './events.js';
import type { HaProfile } from './profile.js';
import { PgModel } from './pg.js';
import { appendWrite, commonPrefixEnd, hasWrite, isPrefixOf, lsnText, truncate, walEnd, walTimeline } from './wal.js';

const CONNECT_TIMEOUT_UNITS = 5;

export interface HaRngs {
  readonly network: SeededRng;
  readonly nodes: SeededRng;
  readonly nemesis: SeededRng;
  readonly workload: SeededRng;
}

export interface HaCounts {
  failovers: number;
  demotions: number;
  sssnChanges: number;
  syncRecords: number;
  writes: number;
  acknowledged: number;
  rewinds: number;
  forwarded: number;
  fenceStops: number;
  /** Switchovers whose promote the stopped primary proposed. */
  handovers: number;
}

export interface AnyViolation {
  readonly code: string;
  readonly message: string;
}

/**
 * The HA world: real Raft cores in simulated processes (../node-process.ts,
 * same disk, network and Ready contract as the Raft simulator), each with
 * an HA agent (agent.ts) over its applied cluster state and a PostgreSQL
 * model (pg.ts, wal.ts). Discrete events over simulated time; after every
 * event the instant is checked (one writer at most) and every model change
 * goes through the HA checkers (checkers.ts) and, for Raft, the Raft
 * simulator's SafetyRecorder.
 */
export class HaWorld implements NodeEnv, AgentEnv {
  readonly queue = new EventQueue<HaEvent>();
  readonly nodes = new Map<NodeId, SimNode>();
  readonly agents = new Map<NodeId, HaAgent>();
  readonly raftRecorder = new SafetyRecorder();
  readonly recorder: HaRecorder;
  readonly network: SimNetwork;
  readonly counts: HaCounts = { failovers: 0, demotions: 0, sssnChanges: 0, syncRecords: 0, writes: 0, acknowledged: 0, rewinds: 0, forwarded: 0, fenceStops: 0, handovers: 0 };
  readonly handlers = new Map<HaEvent['kind'], (event: HaEvent) => void>();
  violation: AnyViolation | null = null;
  violationAtUnits = 0;
  events = 0;
  digest = HASH_SEED;
  private nowUnits = 0;
  private writesOn = true;

  constructor(
    readonly profile: HaProfile,
    readonly rngs: HaRngs,
    private readonly core: Core,
    readonly broken: HaBrokenRules,
    private readonly traceSink: ((line: string) => void) | undefined,
  ) {
    this.network = new SimNetwork(rngs.network, profile.base.network);
    this.recorder = new HaRecorder(profile.config.synchronous_mode !== 'off');
  }

  now(): number {
    return this.nowUnits;
  }

  schedule(delayUnits: number, event: HaEvent): void {
    this.queue.push(this.nowUnits + Math.max(0, Math.round(delayUnits)), event);
  }

  fail(violation: Violation | HaViolation): void {
    if (this.violation !== null) return;
    this.violation = violation;
    this.violationAtUnits = this.nowUnits;
    this.log('sim', () => `VIOLATION ${violation.code}: ${violation.message}`);
  }

  failHa(violation: HaViolation): void {
    this.fail(violation);
  }

  observe(observation: Observation): void {
    const found = this.raftRecorder.observe(observation);
    if (found !== null) this.fail(found);
  }

  committedBefore(term: number): number {
    return this.raftRecorder.committedBefore(term);
  }

  trace(value: number): void {
    this.digest = mix(this.digest, value);
  }

  log(node: string, text: () => string): void {
    const sink = this.traceSink;
    if (sink === undefined) return;
    const t = this.nowUnits;
    sink(`${String(Math.floor(t / TICK_UNITS)).padStart(6)}.${t % TICK_UNITS} ${node.padEnd(4)} ${text()}`);
  }

  // ---- processes ----

  spawn(id: NodeId, voters: readonly NodeId[], isInitializer: boolean): void {
    const disk = new SimDisk({ ...this.profile.base.disk, lying: false });
    disk.bootstrap({ metadata: { index: 0, term: 0, confState: { voters, learners: [] } }, data: new Uint8Array(0) });
    const rng = this.rngs.nodes;
    const skew = this.profile.base.clock.skewUnits;
    const node = new SimNode(id, TICK_UNITS + between(rng, -skew, skew), rng.fork(), disk, this.profile.base, this.core, this);
    const rateSkew = this.profile.clockRatePermilleSkew;
    const clock = { offsetMs: rng.int(1_000_000), ratePermille: 1000 + between(rng, -rateSkew, rateSkew) };
    this.nodes.set(id, node);
    this.agents.set(id, new HaAgent(node, new PgModel(), clock, this.profile.config, isInitializer, this));
    this.restart(node);
  }

  restart(node: SimNode): void {
    if (node.state !== 'down') return;
    node.start();
    this.schedule(1 + this.rngs.nodes.int(node.tickUnits), { kind: 'tick', node: node.id, life: node.life });
    const agent = this.agents.get(node.id)!;
    this.schedule(1 + this.rngs.nodes.int(agent.unitsFor(this.profile.config.loop_wait_ms)), { kind: 'haLoop', node: node.id, life: node.life });
  }

  /** Host crash: the agent, its fence and PostgreSQL go down together. */
  crash(node: SimNode): void {
    node.crash(this.nowUnits);
    this.agents.get(node.id)!.reset();
    this.agents.get(node.id)!.pg.stop();
  }

  upNodes(): SimNode[] {
    return [...this.nodes.values()].filter((node) => node.state === 'up');
  }

  /** The member whose PostgreSQL runs as primary (the newest timeline), if any. */
  pgPrimary(): NodeId | null {
    let best: NodeId | null = null;
    let bestTl = -1;
    for (const [id, agent] of this.agents) {
      const pg = agent.pg;
      if (pg.running && pg.role === 'primary' && walTimeline(pg.wal) > bestTl) [best, bestTl] = [id, walTimeline(pg.wal)];
    }
    return best;
  }

  private frozen(node: SimNode): boolean {
    return node.pausedUntil > this.nowUnits;
  }

  /** Whether `id`'s PostgreSQL would accept a write right now. */
  acceptsWrites(id: NodeId): boolean {
    const node = this.nodes.get(id)!;
    const agent = this.agents.get(id)!;
    const pg = agent.pg;
    if (node.state !== 'up' || this.frozen(node) || !pg.running || pg.role !== 'primary') return false;
    if (this.broken.noSelfDemotion) return true;
    return agent.fenceUntilMs !== null && !agent.fenceExpired();
  }

  // ---- NodeEnv ----

  persistedAt(node: SimNode, at: number): void {
    this.queue.push(at, { kind: 'persisted', node: node.id, life: node.life });
  }

  applied(node: SimNode, entry: Entry, _change: ConfChange | null): void {
    this.agents.get(node.id)!.onApplied(entry);
  }

  readServed(): void {}

  send(from: SimNode, messages: readonly Message[]): void {
    for (const message of messages) {
      this.digest = mixString(this.digest, message.type);
      const to = this.nodes.get(message.to);
      if (to === undefined || this.network.blocked(from.id, message.to)) {
        this.schedule(CONNECT_TIMEOUT_UNITS, { kind: 'report', node: from.id, life: from.life, to: message.to, what: 'unreachable' });
        if (message.type === 'snap') this.schedule(CONNECT_TIMEOUT_UNITS, { kind: 'report', node: from.id, life: from.life, to: message.to, what: 'snapFailed' });
        continue;
      }
      const delays = this.network.delays();
      if (delays.length === 0 && message.type === 'snap') this.schedule(CONNECT_TIMEOUT_UNITS, { kind: 'report', node: from.id, life: from.life, to: message.to, what: 'snapFailed' });
      for (const delay of delays) this.schedule(delay, { kind: 'deliver', message, senderLife: from.life });
    }
  }

  // ---- AgentEnv ----

  propose(from: SimNode, command: ClusterCommandInput): void {
    const data = encodeCommand(command);
    if (from.role.role === 'leader') {
      from.input((raft) => void refusable(() => raft.propose(data)));
      return;
    }
    const leader = from.role.leader;
    if (leader === '' || !this.nodes.has(leader) || this.network.blocked(from.id, leader)) return;
    const delay = this.network.delays()[0];
    if (delay === undefined) return;
    this.counts.forwarded++;
    this.schedule(delay, { kind: 'forward', to: leader, data });
  }

  queryCandidates(from: string, members: readonly string[]): CandidatePosition[] {
    return members.map((member) => {
      const node = this.nodes.get(member);
      const reachable = node !== undefined && node.state === 'up' && !this.frozen(node) && !this.network.blocked(from, member) && !this.network.blocked(member, from);
      if (!reachable) return { member, reachable: false, healthy: false, timeline: null, receiveLsn: null };
      const pg = this.agents.get(member)!.pg;
      const timeline = walTimeline(pg.wal);
      return { member, reachable, healthy: pg.running && pg.role === 'replica', timeline: timeline === 0 ? null : timeline, receiveLsn: lsnText(walEnd(pg.wal)) };
    });
  }

  replicationRows(primary: string): ReplicationRow[] {
    const sssn = this.agents.get(primary)!.pg.sssn;
    const names = sssnMembers(sssn?.value ?? null);
    const rows: ReplicationRow[] = [];
    for (const [id, agent] of this.agents) {
      const pg = agent.pg;
      if (id === primary || !pg.running || pg.connectedTo !== primary) continue;
      const state = pg.caughtUp ? 'streaming' : 'catchup';
      rows.push({ applicationName: id, state, syncState: state === 'streaming' && names.includes(id) ? 'sync' : 'async', flushLsn: lsnText(walEnd(pg.wal)) });
    }
    return rows;
  }

  cleanStop(primary: string): void {
    const spg = this.agents.get(primary)!.pg;
    for (const [id, agent] of this.agents) {
      const pg = agent.pg;
      const node = this.nodes.get(id)!;
      if (id === primary || node.state !== 'up' || this.frozen(node) || !pg.running || pg.connectedTo !== primary) continue;
      if (this.network.blocked(primary, id) || this.network.blocked(id, primary)) continue;
      if (isPrefixOf(pg.wal, spg.wal)) pg.wal = spg.wal;
    }
    spg.stop();
    this.log(primary, () => 'postgres stopped (fast shutdown): connected standbys have every record');
  }

  // ---- the event loop ----

  stopWrites(): void {
    this.writesOn = false;
  }

  run(untilUnits: number, eventsMax: number): void {
    while (this.violation === null) {
      const next = this.queue.pop();
      if (next === undefined || next.time > untilUnits) return;
      if (++this.events > eventsMax) throw new Error(`simulator bug: more than ${eventsMax} events`);
      this.nowUnits = next.time;
      this.digest = mix(mix(this.digest, next.time), HA_EVENT_CODES[next.item.kind]);
      try {
        this.dispatch(next.item);
        this.checkInstant();
      } catch (error) {
        this.fail(exceptionViolation('world', next.item.kind, error));
      }
    }
  }

  private dispatch(event: HaEvent): void {
    switch (event.kind) {
      case 'tick':
        return this.tick(event.node, event.life);
      case 'deliver':
        return this.deliver(event);
      case 'persisted': {
        const node = this.nodes.get(event.node)!;
        if (node.life !== event.life || node.state !== 'up' || this.deferIfPaused(node, event)) return;
        node.flushDisk(this.nowUnits);
        return node.onPersisted();
      }
      case 'report': {
        const node = this.nodes.get(event.node)!;
        if (node.life !== event.life || node.state !== 'up' || this.deferIfPaused(node, event)) return;
        const { to, what } = event;
        return node.input((raft) => (what === 'unreachable' ? raft.reportUnreachable(to) : raft.reportSnapshot(to, what === 'snapOk')));
      }
      case 'haLoop':
        return this.haLoop(event);
      case 'wal':
        return this.stream();
      case 'write':
        return this.write();
      case 'forward': {
        const node = this.nodes.get(event.to)!;
        if (node.state !== 'up' || this.deferIfPaused(node, event) || node.role.role !== 'leader') return;
        return node.input((raft) => void refusable(() => raft.propose(event.data)));
      }
      case 'restart': {
        const node = this.nodes.get(event.node);
        if (node !== undefined) this.restart(node);
        return;
      }
      default: {
        const handler = this.handlers.get(event.kind);
        if (handler === undefined) throw new Error(`no handler for ${event.kind} events`);
        handler(event);
      }
    }
  }

  private deferIfPaused(node: SimNode, event: HaEvent): boolean {
    if (node.pausedUntil <= this.nowUnits) return false;
    this.queue.push(node.pausedUntil, event);
    return true;
  }

  private tick(id: NodeId, life: number): void {
    const node = this.nodes.get(id)!;
    if (node.life !== life || node.state !== 'up') return;
    this.schedule(node.tickUnits, { kind: 'tick', node: id, life });
    if (this.frozen(node)) return;
    node.flushDisk(this.nowUnits);
    this.digest = mixString(this.digest, id);
    node.input((raft) => raft.tick());
  }

  private deliver(event: Extract<HaEvent, { kind: 'deliver' }>): void {
    const { message } = event;
    const to = this.nodes.get(message.to);
    const sender = this.nodes.get(message.from);
    if (to === undefined || to.state !== 'up' || this.network.blocked(message.from, message.to)) {
      if (message.type === 'snap' && sender !== undefined && sender.life === event.senderLife) {
        this.schedule(0, { kind: 'report', node: sender.id, life: sender.life, to: message.to, what: 'snapFailed' });
      }
      return;
    }
    if (this.deferIfPaused(to, event)) return;
    this.digest = mixString(this.digest, message.to);
    to.input((raft) => raft.step(message));
    if (message.type === 'snap' && sender !== undefined && sender.life === event.senderLife) {
      this.schedule(0, { kind: 'report', node: sender.id, life: sender.life, to: message.to, what: 'snapOk' });
    }
  }

  private haLoop(event: Extract<HaEvent, { kind: 'haLoop' }>): void {
    const node = this.nodes.get(event.node)!;
    if (node.life !== event.life || node.state !== 'up') return;
    const agent = this.agents.get(event.node)!;
    if (this.frozen(node)) {
      this.queue.push(node.pausedUntil, event); // a frozen agent runs its loop when it resumes
      return;
    }
    this.schedule(agent.unitsFor(this.profile.config.loop_wait_ms), event);
    this.digest = mixString(this.digest, `loop:${event.node}`);
    agent.loop();
  }

  /** After every event: the fence stops PostgreSQL at its deadline (it is not frozen with the agent); at most one writer. */
  private checkInstant(): void {
    const writers: NodeId[] = [];
    for (const [id, agent] of this.agents) {
      const pg = agent.pg;
      if (!this.broken.noSelfDemotion && pg.running && pg.role === 'primary' && agent.fenceExpired()) {
        this.log(id, () => 'fence: lease not renewed in time, postgres stopped');
        this.counts.fenceStops++;
        pg.stop();
        agent.fenceUntilMs = null;
      }
      if (this.acceptsWrites(id)) writers.push(id);
    }
    const found = checkSingleWriter(writers);
    if (found) this.fail(found);
  }

  // ---- PostgreSQL model: streaming, writes, acknowledgements ----

  startModel(): void {
    this.schedule(this.profile.streamEveryUnits, { kind: 'wal' });
    this.schedule(this.profile.writeEveryUnits, { kind: 'write' });
  }

  private stream(): void {
    this.schedule(this.profile.streamEveryUnits, { kind: 'wal' });
    for (const [id, agent] of this.agents) this.streamTo(id, agent);
    for (const id of this.agents.keys()) this.acknowledge(id);
  }

  /** The walreceiver of `id` streams from the primary its applied state names. */
  private streamTo(id: NodeId, agent: HaAgent): void {
    const node = this.nodes.get(id)!;
    const pg = agent.pg;
    if (node.state !== 'up' || !pg.running || pg.role !== 'replica') {
      pg.connectedTo = null;
      return;
    }
    if (this.frozen(node)) return;
    const upstream = agent.state.leader?.member ?? null;
    const source = upstream === null || upstream === id ? undefined : this.nodes.get(upstream);
    const spg = upstream === null ? undefined : this.agents.get(upstream)?.pg;
    const connected = source !== undefined && spg !== undefined && source.state === 'up' && spg.running && spg.role === 'primary';
    if (!connected || this.network.blocked(upstream!, id) || this.network.blocked(id, upstream!)) {
      pg.connectedTo = null;
      return;
    }
    if (this.frozen(source)) return;
    // PostgreSQL streams only from a server whose history contains its timeline; an older one is refused.
    if (walTimeline(spg.wal) < walTimeline(pg.wal)) {
      pg.connectedTo = null;
      return;
    }
    if (pg.connectedTo !== upstream || !isPrefixOf(pg.wal, spg.wal)) {
      if (!isPrefixOf(pg.wal, spg.wal)) {
        const common = commonPrefixEnd(pg.wal, spg.wal);
        this.log(id, () => `pg_rewind to ${common} to follow ${upstream}`);
        pg.wal = truncate(pg.wal, common);
        this.counts.rewinds++;
      }
      pg.connectedTo = upstream;
      pg.caughtUp = false;
    }
    const end = Math.min(walEnd(spg.wal), walEnd(pg.wal) + this.profile.streamPositionsPerStep);
    pg.wal = truncate(spg.wal, end);
    if (end === walEnd(spg.wal)) pg.caughtUp = true;
  }

  /** Commits waiting on `id` that synchronous replication now allows to return. */
  private acknowledge(id: NodeId): void {
    const agent = this.agents.get(id)!;
    const pg = agent.pg;
    const node = this.nodes.get(id)!;
    if (pg.pending.length === 0 || node.state !== 'up' || this.frozen(node) || !pg.running || pg.role !== 'primary') return;
    const sssn = this.profile.config.synchronous_mode === 'off' ? null : pg.sssn;
    if (sssn?.value.kind === 'blockWrites') return;
    const standbys = sssnMembers(sssn?.value ?? null).map((name) => this.agents.get(name)?.pg);
    const waiting = [];
    for (const write of pg.pending) {
      const done = standbys.every((standby) => standby !== undefined && hasWrite(standby.wal, write.tl, write.lsn));
      if (!done) {
        waiting.push(write);
        continue;
      }
      this.counts.acknowledged++;
      this.digest = mix(this.digest, write.lsn);
      const found = this.recorder.acknowledge({ tl: write.tl, lsn: write.lsn, node: id });
      if (found) return this.fail(found);
    }
    pg.pending = waiting;
  }

  private write(): void {
    this.schedule(between(this.rngs.workload, 1, 2 * this.profile.writeEveryUnits), { kind: 'write' });
    if (!this.writesOn) return;
    for (const id of this.agents.keys()) {
      if (!this.acceptsWrites(id)) continue;
      const pg = this.agents.get(id)!.pg;
      const tl = walTimeline(pg.wal);
      const { wal, lsn } = appendWrite(pg.wal, tl);
      pg.wal = wal;
      pg.pending.push({ tl, lsn });
      this.counts.writes++;
      this.acknowledge(id);
    }
  }
}
