import { Metadata, status as Status, type ServerWritableStream } from '@grpc/grpc-js';
import type { AppliedEvent } from '../cluster/state-machine.js';
import { MEMBERS_MAX, type ClusterState } from '../cluster/state.js';
import { assert } from '../lib/assert.js';
import type { Logger } from '../lib/logger.js';
import type { AdminBackend } from './backend.js';
import { AdminRefusal, invalidField, REASON_METADATA_KEY, type AdminReason } from './errors.js';
import { formatTime } from './time.js';
import { isWatchEventType, snapshotEvent, WATCH_EVENT_TYPES, watchEventsOf, type WatchEventDraft, type WatchEventType } from './watch-events.js';
import type { WireWatchEvent, WireWatchRequest } from './wire.js';

export interface WatchLimits {
  /** Events held for one client that does not read them; one more ends its stream (WATCH_OVERFLOW). */
  readonly bufferEventsMax: number;
  /** Streams served at once; one more is refused (TOO_MANY_WATCHES). */
  readonly streamsMax: number;
}

/**
 * One apply batch rarely carries more watched changes than a status report
 * per member (MEMBERS_MAX) and a few others, so a client that reads at all
 * never comes near; at about 0.5 KiB an event, at most ~0.5 MiB is held for
 * a client that stopped reading.
 */
export const WATCH_BUFFER_EVENTS_MAX = 1024;
/** Operators and dashboards, not a message bus: with the buffer bound, at most ~16 MiB held for all of them. */
export const WATCH_STREAMS_MAX = 32;
assert(WATCH_BUFFER_EVENTS_MAX >= 4 * MEMBERS_MAX, 'a Watch buffer holds a burst of status changes of every member');

export const WATCH_LIMITS_DEFAULT: WatchLimits = Object.freeze({ bufferEventsMax: WATCH_BUFFER_EVENTS_MAX, streamsMax: WATCH_STREAMS_MAX });

type WatchCall = ServerWritableStream<WireWatchRequest, WireWatchEvent>;

/**
 * The Watch RPC's edge: each stream gets the events of the changes this
 * agent applies (watch-events.ts), numbered, filtered by the types it asked
 * for. Every stream ends with a status, never silently: UNAVAILABLE
 * (AGENT_STOPPING) when the agent stops, RESOURCE_EXHAUSTED (WATCH_OVERFLOW)
 * when the client leaves more than bufferEventsMax events unread (gRPC's
 * flow control holds back what it does not read), so memory stays bounded
 * and no event is ever skipped in a stream. One line is logged per stream
 * when it ends (`admin.watch`).
 */
export class WatchStreams {
  /** Calls not yet over (counted against streamsMax until gRPC reports them over, even after an overflow). */
  private readonly open = new Set<WatchStream>();
  private readonly hubs = new WeakMap<AdminBackend, WatchHub>();
  private stopping = false;

  constructor(
    private readonly backend: () => AdminBackend | undefined,
    private readonly log: Logger,
    private readonly limits: WatchLimits = WATCH_LIMITS_DEFAULT,
  ) {
    assert(Number.isInteger(limits.bufferEventsMax) && limits.bufferEventsMax >= 1, 'watch bufferEventsMax must be a positive integer');
    assert(Number.isInteger(limits.streamsMax) && limits.streamsMax >= 1, 'watch streamsMax must be a positive integer');
  }

  /** The number of streams open now (tests, metrics). */
  get openCount(): number {
    return this.open.size;
  }

  handle(call: WatchCall): void {
    const startedMs = performance.now();
    const refusal = this.refusal(call.request);
    if (refusal !== null) {
      endCall(call, refusal.status, refusal.reason, refusal.message);
      this.log.info({ peer: call.getPeer(), outcome: 'refused', status: Status[refusal.status], reason: refusal.reason, message: refusal.message }, 'admin.watch');
      return;
    }
    const backend = this.backend()!;
    const hub = this.hubFor(backend);
    const types = call.request.types.length === 0 ? null : new Set(call.request.types as WatchEventType[]);
    const stream = new WatchStream(call, types, this.limits.bufferEventsMax, () => hub.remove(stream));
    this.open.add(stream);
    call.on('cancelled', () => {
      stream.over();
      this.open.delete(stream);
      const fields = { peer: call.getPeer(), types: call.request.types, events: stream.sent, outcome: stream.ending ?? 'cancelled', durationMs: Math.round(performance.now() - startedMs) };
      if (stream.ending === 'WATCH_OVERFLOW') this.log.warn(fields, 'admin.watch');
      else this.log.debug(fields, 'admin.watch');
    });
    // In one synchronous step: the snapshot is the state the first event follows.
    if (call.request.snapshot) stream.send(snapshotEvent(backend.local(), backend.wallNow(), backend.raft().applied));
    hub.add(stream);
  }

  /** End every stream: UNAVAILABLE (AGENT_STOPPING). Idempotent. */
  stop(): void {
    this.stopping = true;
    for (const stream of this.open) stream.end(Status.UNAVAILABLE, 'AGENT_STOPPING', 'the agent answering this stream is stopping: watch another member');
  }

  private refusal(request: WireWatchRequest): AdminRefusal | null {
    if (this.stopping) return new AdminRefusal(Status.UNAVAILABLE, 'AGENT_STOPPING', 'the agent answering this call is stopping: ask another member');
    if (this.backend() === undefined) return new AdminRefusal(Status.UNAVAILABLE, 'AGENT_STARTING', 'the agent answering this call is still starting: retry, or ask another member');
    const unknown = request.types.find((type) => !isWatchEventType(type));
    if (unknown !== undefined) return invalidField('types', `unknown event type ${JSON.stringify(unknown)}; expected some of ${WATCH_EVENT_TYPES.join(', ')}`);
    if (this.open.size >= this.limits.streamsMax) {
      return new AdminRefusal(Status.RESOURCE_EXHAUSTED, 'TOO_MANY_WATCHES', `this agent already serves ${this.limits.streamsMax} watch streams: close one, or watch another member`);
    }
    return null;
  }

  private hubFor(backend: AdminBackend): WatchHub {
    let hub = this.hubs.get(backend);
    if (hub === undefined) {
      hub = new WatchHub(backend, this.log);
      this.hubs.set(backend, hub);
    }
    return hub;
  }
}

/**
 * One subscription to the backend's applied entries while any stream is
 * open, whatever their number; it derives each entry's events once, from
 * the state before and after it, and hands them to every stream.
 */
class WatchHub {
  private readonly streams = new Set<WatchStream>();
  private unsubscribe: (() => void) | null = null;
  /** The state after the last entry seen (or at the first subscription). */
  private last: ClusterState | null = null;

  constructor(
    private readonly backend: AdminBackend,
    private readonly log: Logger,
  ) {}

  add(stream: WatchStream): void {
    if (this.unsubscribe === null) {
      this.last = this.backend.local();
      this.unsubscribe = this.backend.onApplied((event, state) => this.applied(event, state));
    }
    this.streams.add(stream);
  }

  remove(stream: WatchStream): void {
    this.streams.delete(stream);
    if (this.streams.size > 0 || this.unsubscribe === null) return;
    this.unsubscribe();
    this.unsubscribe = null;
    this.last = null;
  }

  /** Inside the Raft apply loop: quick, and never throws (a bug here ends the streams, not the agent). */
  private applied(event: AppliedEvent, state: ClusterState): void {
    const before = this.last ?? state;
    this.last = state;
    let drafts: WatchEventDraft[];
    try {
      drafts = watchEventsOf(before, state, event);
    } catch (error) {
      this.log.error({ err: error, index: event.index, command: event.command?.type }, 'admin.watch_failed');
      for (const stream of [...this.streams]) stream.end(Status.INTERNAL, 'INTERNAL', `internal error: ${(error as Error).message}`);
      return;
    }
    for (const draft of drafts) {
      for (const stream of [...this.streams]) stream.offer(draft);
    }
  }
}

/** One Watch call: numbers and writes its events until it ends. */
class WatchStream {
  /** Events written. */
  sent = 0;
  /** Why the service ended it; null while open, or when the client did. */
  ending: AdminReason | null = null;
  private live = true;

  constructor(
    private readonly call: WatchCall,
    private readonly types: ReadonlySet<WatchEventType> | null,
    private readonly bufferEventsMax: number,
    private readonly onOver: () => void,
  ) {}

  /** Write `event` if the client asked for its type; end the stream instead when the client left too many unread. */
  offer(event: WatchEventDraft): void {
    if (!this.live || (this.types !== null && !this.types.has(event.type))) return;
    if (this.call.writableLength >= this.bufferEventsMax) {
      this.end(Status.RESOURCE_EXHAUSTED, 'WATCH_OVERFLOW', `the client left ${this.call.writableLength} events unread (at most ${this.bufferEventsMax} are kept): watch again, with a snapshot to catch up`);
      return;
    }
    this.send(event);
  }

  send(event: WatchEventDraft): void {
    this.sent += 1;
    this.call.write({ seq: this.sent, at: formatTime(event.atMs), type: event.type, member: event.member ?? '', text: event.text, details_json: JSON.stringify(event.details), index: event.index });
  }

  /** End with a status (sent after the events already written). Idempotent. */
  end(code: Status, reason: AdminReason, details: string): void {
    if (!this.live) return;
    this.ending = reason;
    this.over();
    endCall(this.call, code, reason, details);
  }

  /** No more events (ended, or gRPC reports the call over). Idempotent. */
  over(): void {
    if (!this.live) return;
    this.live = false;
    this.onOver();
  }
}

/** A status with the reason in the trailing metadata, as the unary calls answer. */
function endCall(call: WatchCall, code: Status, reason: AdminReason | string, details: string): void {
  const metadata = new Metadata();
  metadata.set(REASON_METADATA_KEY, reason);
  // grpc-js: an 'error' on a server stream becomes its status, sent once the written messages are.
  call.emit('error', Object.assign(new Error(details), { code, details, metadata }));
}
