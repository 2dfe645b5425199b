import { SeededRng } from '../lib/random.js';
import type { ConfChange, Entry, Message, NodeId, ReadState } from '../raft/core/types.js';
import type { Violation } from './checkers.js';
import { SimDisk } from './disk.js';
import { EventQueue } from './event-queue.js';
import { EVENT_CODES, type SimEvent } from './events.js';
import { HASH_SEED, mix, mixString } from './hash.js';
import { SafetyRecorder, type Observation } from './history.js';
import { describeMessage } from './trace-format.js';
import { SimClient } from './client.js';
import { SimNetwork } from './network.js';
import { exceptionViolation, SimNode, type Core, type NodeEnv } from './node-process.js';
import { TICK_UNITS, type SimOptions } from './options.js';
import { between, type Profile } from './swarm.js';

/** A sender learns that a peer is unreachable (connection refused / timed out) after this long. */
export const CONNECT_TIMEOUT_UNITS = 5;

/** The independent random streams of one run, forked from the seed in a fixed order. */
export interface WorldRngs {
  readonly network: SeededRng;
  readonly nodes: SeededRng;
  readonly nemesis: SeededRng;
  readonly workload: SeededRng;
  readonly membership: SeededRng;
}

/** Handlers of the event kinds the world delegates (nemesis, workload, membership, liveness). */
export type EventHandler = (event: SimEvent) => void;

/**
 * The simulated world: a discrete-event loop over simulated time driving
 * real Raft cores through simulated processes, disks and a network. It owns
 * the clock, the event queue, the processes, the checkers' recorder and the
 * trace digest; fault injection, the workload, membership and the liveness
 * phase plug in as event handlers.
 */
export class World implements NodeEnv {
  readonly queue = new EventQueue<SimEvent>();
  readonly nodes = new Map<NodeId, SimNode>();
  readonly recorder = new SafetyRecorder();
  readonly client = new SimClient();
  readonly network: SimNetwork;
  readonly handlers = new Map<SimEvent['kind'], EventHandler>();
  phase: 'safety' | 'liveness' | 'done' = 'safety';
  violation: Violation | null = null;
  violationAtUnits = 0;
  events = 0;
  digest = HASH_SEED;
  private nowUnits = 0;

  constructor(
    readonly options: SimOptions,
    readonly profile: Profile,
    readonly rngs: WorldRngs,
    private readonly core: Core,
  ) {
    this.network = new SimNetwork(rngs.network, profile.network);
  }

  now(): number {
    return this.nowUnits;
  }

  schedule(delayUnits: number, event: SimEvent): void {
    this.queue.push(this.nowUnits + Math.max(0, Math.round(delayUnits)), event);
  }

  fail(violation: Violation): void {
    if (this.violation !== null) return;
    this.violation = violation;
    this.violationAtUnits = this.nowUnits;
    this.log('sim', () => `VIOLATION ${violation.code}: ${violation.message}`);
  }

  observe(observation: Observation): void {
    const found = this.recorder.observe(observation);
    if (found !== null) this.fail(found);
  }

  committedBefore(term: number): number {
    return this.recorder.committedBefore(term);
  }

  trace(value: number): void {
    this.digest = mix(this.digest, value);
  }

  log(node: NodeId, text: () => string): void {
    const sink = this.options.trace;
    if (sink === undefined) return;
    const t = this.nowUnits;
    sink(`${String(Math.floor(t / TICK_UNITS)).padStart(6)}.${t % TICK_UNITS} ${node.padEnd(4)} ${text()}`);
  }

  /** Start a process. `voters`: a member of the initial cluster (bootstrapped); otherwise a joiner with an empty disk. */
  spawn(id: NodeId, voters: readonly NodeId[] | null): SimNode {
    const disk = new SimDisk({ ...this.profile.disk, lying: this.options.lyingDisk });
    if (voters !== null) {
      disk.bootstrap({ metadata: { index: 0, term: 0, confState: { voters, learners: [] } }, data: new Uint8Array(0) });
    }
    const skew = this.profile.clock.skewUnits;
    const rng = this.rngs.nodes;
    const node = new SimNode(id, TICK_UNITS + between(rng, -skew, skew), rng.fork(), disk, this.profile, this.core, this);
    this.nodes.set(id, node);
    this.restart(node);
    return node;
  }

  restart(node: SimNode): void {
    if (node.state !== 'down') return;
    node.start();
    this.schedule(1 + this.rngs.nodes.int(node.tickUnits), { kind: 'tick', node: node.id, life: node.life });
  }

  crash(node: SimNode): void {
    this.client.forget(node.id);
    node.crash(this.nowUnits);
  }

  upNodes(): SimNode[] {
    return [...this.nodes.values()].filter((node) => node.state === 'up');
  }

  /** The node that believes it leads with the highest term, if any. */
  leader(): SimNode | null {
    let best: SimNode | null = null;
    let bestTerm = -1;
    for (const node of this.nodes.values()) {
      if (node.state !== 'up' || node.role.role !== 'leader') continue;
      const term = node.status()?.term ?? -1;
      if (term > bestTerm) [best, bestTerm] = [node, term];
    }
    return best;
  }

  persistedAt(node: SimNode, at: number): void {
    this.queue.push(at, { kind: 'persisted', node: node.id, life: node.life });
  }

  applied(node: SimNode, entry: Entry, _change: ConfChange | null): void {
    const found = this.client.applied(node.id, node.life, entry);
    if (found !== null) this.fail(found);
  }

  readServed(node: SimNode, readState: ReadState): void {
    const found = this.client.readServed(node.id, node.life, readState);
    if (found !== null) this.fail(found);
  }

  send(from: SimNode, messages: readonly Message[]): void {
    for (const message of messages) this.sendOne(from, message);
  }

  private sendOne(from: SimNode, message: Message): void {
    freezeMessage(message);
    this.digest = mixString(this.digest, message.type);
    const to = this.nodes.get(message.to);
    if (to === undefined || to.state === 'retired' || this.network.blocked(from.id, message.to)) {
      this.report(from, message, 'unreachable', CONNECT_TIMEOUT_UNITS);
      if (message.type === 'snap') this.report(from, message, 'snapFailed', CONNECT_TIMEOUT_UNITS);
      return;
    }
    const delays = this.network.delays();
    if (delays.length === 0 && message.type === 'snap') this.report(from, message, 'snapFailed', CONNECT_TIMEOUT_UNITS);
    for (const delay of delays) this.schedule(delay, { kind: 'deliver', message, senderLife: from.life });
  }

  private report(from: SimNode, message: Message, what: 'unreachable' | 'snapOk' | 'snapFailed', delay: number): void {
    this.schedule(delay, { kind: 'report', node: from.id, life: from.life, to: message.to, what });
  }

  /** Run until the liveness phase finishes, a violation is found, or the clock passes `untilUnits`. */
  run(untilUnits: number, eventsMax: number): void {
    while (this.violation === null && this.phase !== 'done') {
      const next = this.queue.pop();
      if (next === undefined || next.time > untilUnits) return;
      if (++this.events > eventsMax) throw new Error(`simulator bug: more than ${eventsMax} events`);
      this.nowUnits = next.time;
      this.digest = mix(mix(this.digest, next.time), EVENT_CODES[next.item.kind]);
      try {
        this.dispatch(next.item);
      } catch (error) {
        this.fail(exceptionViolation('world', next.item.kind, error));
      }
    }
  }

  private dispatch(event: SimEvent): void {
    switch (event.kind) {
      case 'tick':
        return this.tick(event.node, event.life);
      case 'deliver':
        return this.deliver(event);
      case 'persisted':
        return this.persisted(event);
      case 'report':
        return this.feedback(event);
      case 'restart': {
        const node = this.nodes.get(event.node);
        if (node !== undefined) this.restart(node);
        return;
      }
      case 'retire': {
        this.client.forget(event.node);
        this.nodes.get(event.node)?.retire(this.nowUnits);
        return;
      }
      default: {
        const handler = this.handlers.get(event.kind);
        if (handler === undefined) throw new Error(`no handler for ${event.kind} events`);
        handler(event);
      }
    }
  }

  /** A frozen (paused) process handles the event when it resumes. */
  private deferIfPaused(node: SimNode, event: SimEvent): boolean {
    if (node.pausedUntil <= this.nowUnits) return false;
    this.queue.push(node.pausedUntil, event);
    return true;
  }

  private tick(id: NodeId, life: number): void {
    const node = this.nodes.get(id)!;
    if (node.life !== life || node.state !== 'up') return;
    this.schedule(node.tickUnits, { kind: 'tick', node: id, life });
    if (node.pausedUntil > this.nowUnits) return; // a frozen process misses its ticks
    node.flushDisk(this.nowUnits);
    this.digest = mixString(this.digest, id);
    node.input((raft) => raft.tick());
  }

  private deliver(event: Extract<SimEvent, { kind: 'deliver' }>): void {
    const { message } = event;
    const to = this.nodes.get(message.to);
    const sender = this.nodes.get(message.from);
    const lost = to === undefined || to.state !== 'up' || this.network.blocked(message.from, message.to);
    if (lost) {
      if (message.type === 'snap' && sender !== undefined && sender.life === event.senderLife) this.report(sender, message, 'snapFailed', 0);
      return;
    }
    if (this.deferIfPaused(to, event)) return;
    this.digest = mixString(this.digest, message.to);
    if (this.options.traceMessages) this.log(message.to, () => describeMessage(message));
    to.input((raft) => raft.step(message));
    if (message.type === 'snap' && sender !== undefined && sender.life === event.senderLife) this.report(sender, message, 'snapOk', 0);
  }

  private persisted(event: Extract<SimEvent, { kind: 'persisted' }>): void {
    const node = this.nodes.get(event.node)!;
    if (node.life !== event.life || node.state !== 'up') return;
    if (this.deferIfPaused(node, event)) return;
    node.flushDisk(this.nowUnits);
    node.onPersisted();
  }

  private feedback(event: Extract<SimEvent, { kind: 'report' }>): void {
    const node = this.nodes.get(event.node)!;
    if (node.life !== event.life || node.state !== 'up') return;
    if (this.deferIfPaused(node, event)) return;
    const { to, what } = event;
    node.input((raft) => (what === 'unreachable' ? raft.reportUnreachable(to) : raft.reportSnapshot(to, what === 'snapOk')));
  }
}

/**
 * A message is a value once sent: a core that later mutates what it sent
 * (or what it received) throws here instead of silently corrupting a copy
 * that a real transport would have serialised.
 */
function freezeMessage(message: Message): void {
  Object.freeze(message);
  Object.freeze(message.entries);
  for (const entry of message.entries) Object.freeze(entry);
  if (message.snapshot !== undefined) Object.freeze(message.snapshot.metadata);
}

export function forkRngs(root: SeededRng): WorldRngs {
  return { network: root.fork(), nodes: root.fork(), nemesis: root.fork(), workload: root.fork(), membership: root.fork() };
}
