import { spawn, type ChildProcess } from 'node:child_process';
import { isAbsolute } from 'node:path';
import { assert } from '../lib/assert.js';
import { ConfigError } from '../lib/errors.js';
import { silentLogger, type Logger } from '../lib/logger.js';

/**
 * User callback scripts, as Patroni runs them.
 *
 * Notifications (`on_start`, `on_stop`, `on_restart`, `on_reload`,
 * `on_role_change`) are fire-and-forget: `notify` only enqueues; one script
 * runs at a time, in order, from a bounded queue (full: the oldest pending is
 * dropped and counted). A newer `on_role_change` supersedes older ones: pending
 * ones are removed and a running one is killed, since only the latest role
 * matters to the scripts that move addresses or re-point poolers.
 *
 * `pre_promote` is a fence awaited by the caller: a non-zero exit, a timeout or
 * a script that cannot be started aborts the promotion. It runs at once,
 * beside (not behind) the notification queue: it is on the failover path.
 *
 * Every script: execFile semantics (no shell), argv `<action> <role> <cluster>`,
 * stdin ignored, the last `outputTailBytes` of stdout/stderr kept, environment
 * inherited plus PGHERD_CLUSTER/ROLE/ACTION. It runs as the leader of its own
 * process group; the group is SIGTERMed on timeout (SIGKILL after
 * `killGraceMs`) and SIGKILLed once the script exits, so background children
 * do not outlive it (as Patroni's `_kill_children`). A run always settles
 * within timeout + killGraceMs + reapWaitMs, even if the kernel never reaps it.
 */

export const NOTIFY_ACTIONS = ['on_start', 'on_stop', 'on_restart', 'on_reload', 'on_role_change'] as const;
export type NotifyAction = (typeof NOTIFY_ACTIONS)[number];
export type CallbackName = NotifyAction | 'pre_promote';
export const CALLBACK_NAMES: readonly CallbackName[] = [...NOTIFY_ACTIONS, 'pre_promote'];
export type CallbackRole = 'primary' | 'replica' | 'demoted' | 'uninitialized';
const ROLES: readonly CallbackRole[] = ['primary', 'replica', 'demoted', 'uninitialized'];

/** Absolute paths of executables; a missing entry means "no callback". Shape of `postgresql.callbacks`. */
export type CallbackPaths = Partial<Readonly<Record<CallbackName, string>>>;

export interface CallbackLimits {
  /** Pending notifications besides the running one; full → the oldest pending is dropped. */
  readonly queueLengthMax: number;
  /** A notification script running longer is killed. */
  readonly notifyTimeoutMs: number;
  /** SIGTERM → SIGKILL (of the process group) on timeout or cancellation. */
  readonly killGraceMs: number;
  /** After exit (or SIGKILL): how long to wait for the output pipes to close / the kernel to reap. */
  readonly reapWaitMs: number;
  /** Bytes of stdout and of stderr kept (the last ones) per run. */
  readonly outputTailBytes: number;
}

export const CALLBACK_LIMITS_DEFAULT: CallbackLimits = Object.freeze({
  // Patroni keeps the latest role change only; 16 is room for a flapping minute of start/stop/role events.
  queueLengthMax: 16,
  notifyTimeoutMs: 60_000,
  killGraceMs: 5_000,
  reapWaitMs: 1_000,
  outputTailBytes: 4096,
});

export interface CallbackRunnerOptions {
  /** `postgresql.callbacks` from the config. */
  readonly paths: CallbackPaths;
  /** `cluster_name`; the third argument and PGHERD_CLUSTER. */
  readonly clusterName: string;
  readonly log?: Logger;
  readonly limits?: Partial<CallbackLimits>;
}

export type PrePromoteResult =
  | { readonly ok: true; readonly durationMs: number }
  | {
      readonly ok: false;
      readonly reason: 'exit_code' | 'timeout' | 'spawn_failed';
      /** Set for 'exit_code' when the script exited (absent when a foreign signal killed it; see `signal`). */
      readonly exitCode?: number;
      readonly signal?: NodeJS.Signals;
      /** For 'spawn_failed': the spawn error (e.g. "ENOENT: ..."). */
      readonly stderrTail: string;
      readonly durationMs: number;
    };

export interface CallbackStats {
  readonly pendingCount: number;
  readonly running: { readonly action: NotifyAction; readonly role: CallbackRole; readonly pid: number | null } | null;
  /** Pending notifications dropped because the queue was full. */
  readonly droppedCount: number;
  /** on_role_change notifications removed from the queue or killed because a newer one arrived. */
  readonly supersededCount: number;
  /** Notification runs killed (timeout, superseded, close). */
  readonly killedCount: number;
  readonly failedCount: number;
  readonly finishedCount: number;
  readonly spawnFailedCount: number;
}

/** The longest a run can take from spawn to settling, for a given script timeout. */
export function runDurationMsMax(timeoutMs: number, limits: CallbackLimits): number {
  return timeoutMs + limits.killGraceMs + limits.reapWaitMs;
}

export class CallbackRunner {
  private readonly paths: CallbackPaths;
  private readonly clusterName: string;
  private readonly log: Logger;
  readonly limits: CallbackLimits;

  private readonly queue: Pending[] = [];
  private running: { readonly item: Pending; readonly run: ScriptRun } | null = null;
  private pumping: Promise<void> | null = null;
  private prePromoteRun: Promise<PrePromoteResult> | null = null;
  private accepting = true;
  private stopping = false;
  /** Paths already warned about as not runnable; at most one entry per callback name. */
  private readonly warnedPaths = new Set<string>();
  private counts = { dropped: 0, superseded: 0, killed: 0, failed: 0, finished: 0, spawnFailed: 0 };

  constructor(options: CallbackRunnerOptions) {
    this.paths = validatePaths(options.paths);
    if (options.clusterName === '') throw new ConfigError('cluster_name', 'must not be empty');
    this.clusterName = options.clusterName;
    this.limits = Object.freeze({ ...CALLBACK_LIMITS_DEFAULT, ...options.limits });
    assertLimits(this.limits);
    this.log = (options.log ?? silentLogger).child({ component: 'callbacks' });
  }

  /** Enqueue a notification; never blocks, never throws for script problems. No-op when not configured or closed. */
  notify(action: NotifyAction, role: CallbackRole): void {
    assert(NOTIFY_ACTIONS.includes(action), () => `notify: unknown action ${String(action)}`);
    assert(ROLES.includes(role), () => `notify: unknown role ${String(role)}`);
    const path = this.paths[action];
    if (path === undefined) return;
    if (!this.accepting) {
      this.log.debug({ action, role }, 'callback.ignored_closed');
      return;
    }
    if (action === 'on_role_change') this.supersedeRoleChanges();
    if (this.queue.length >= this.limits.queueLengthMax) {
      const dropped = this.queue.shift()!;
      this.counts.dropped += 1;
      this.log.warn({ action: dropped.action, role: dropped.role, droppedCount: this.counts.dropped, queueLengthMax: this.limits.queueLengthMax }, 'callback.dropped');
    }
    this.queue.push({ action, role, path });
    assert(this.queue.length <= this.limits.queueLengthMax, 'callback queue over its bound');
    this.kick();
  }

  /**
   * Run pre_promote and wait for it: ok only on exit 0 within `timeoutMs`.
   * Not configured → ok at once. Settles within runDurationMsMax(timeoutMs).
   */
  async prePromote(timeoutMs: number): Promise<PrePromoteResult> {
    assert(Number.isInteger(timeoutMs) && timeoutMs > 0, 'prePromote: timeoutMs must be a positive integer');
    assert(this.prePromoteRun === null, 'prePromote: already running (the caller must await the previous one)');
    const path = this.paths.pre_promote;
    if (path === undefined) return { ok: true, durationMs: 0 };
    if (!this.accepting) return { ok: false, reason: 'spawn_failed', stderrTail: 'callback runner closed', durationMs: 0 };
    const pending = this.runPrePromote(path, timeoutMs);
    this.prePromoteRun = pending;
    try {
      return await pending;
    } finally {
      this.prePromoteRun = null;
    }
  }

  /** Resolves when no notification is pending or running. */
  async idle(): Promise<void> {
    while (this.pumping !== null) await this.pumping;
  }

  /**
   * Stop accepting notifications; let the queue run for up to `drainMs`, then
   * drop what is pending and kill what runs. A running pre_promote is awaited,
   * not killed (its own timeout bounds it). Idempotent.
   */
  async close(drainMs = 0): Promise<void> {
    assert(drainMs >= 0, 'close: drainMs must be >= 0');
    this.accepting = false;
    if (drainMs > 0) await raceTimeout(this.idle(), drainMs);
    this.stopping = true;
    if (this.queue.length > 0) {
      this.log.info({ pendingCount: this.queue.length }, 'callback.pending_discarded');
      this.queue.length = 0;
    }
    this.running?.run.kill('closed');
    await this.idle();
    if (this.prePromoteRun !== null) await this.prePromoteRun;
  }

  stats(): CallbackStats {
    const running = this.running === null ? null : { action: this.running.item.action as NotifyAction, role: this.running.item.role, pid: this.running.run.pid };
    const c = this.counts;
    return {
      pendingCount: this.queue.length,
      running,
      droppedCount: c.dropped,
      supersededCount: c.superseded,
      killedCount: c.killed,
      failedCount: c.failed,
      finishedCount: c.finished,
      spawnFailedCount: c.spawnFailed,
    };
  }

  private supersedeRoleChanges(): void {
    const before = this.queue.length;
    const kept = this.queue.filter((item) => item.action !== 'on_role_change');
    const removed = before - kept.length;
    if (removed > 0) {
      this.queue.splice(0, before, ...kept);
      this.counts.superseded += removed;
      this.log.info({ action: 'on_role_change', removedCount: removed }, 'callback.superseded');
    }
    if (this.running?.item.action === 'on_role_change') this.running.run.kill('superseded');
  }

  private kick(): void {
    if (this.pumping !== null || this.stopping) return;
    this.pumping = this.pump().finally(() => {
      this.pumping = null;
      if (this.queue.length > 0 && !this.stopping) this.kick();
    });
  }

  private async pump(): Promise<void> {
    while (this.queue.length > 0 && !this.stopping) {
      const item = this.queue.shift()!;
      const run = new ScriptRun(this.request(item.action, item.role, item.path, this.limits.notifyTimeoutMs), this.limits);
      this.running = { item, run };
      const outcome = await run.done;
      this.running = null;
      this.countOutcome(outcome);
      this.logOutcome(item, outcome, false);
    }
  }

  private async runPrePromote(path: string, timeoutMs: number): Promise<PrePromoteResult> {
    const item: Pending = { action: 'pre_promote', role: 'replica', path };
    const outcome = await new ScriptRun(this.request(item.action, item.role, path, timeoutMs), this.limits).done;
    this.logOutcome(item, outcome, true);
    return toPrePromoteResult(outcome);
  }

  private request(action: CallbackName, role: CallbackRole, path: string, timeoutMs: number): RunRequest {
    return { action, role, path, clusterName: this.clusterName, timeoutMs };
  }

  private countOutcome(outcome: RunOutcome): void {
    if (outcome.kind === 'finished') this.counts.finished += 1;
    else if (outcome.kind === 'failed') this.counts.failed += 1;
    else if (outcome.kind === 'killed') this.counts.killed += 1;
    else this.counts.spawnFailed += 1;
    if (outcome.killReason === 'superseded') this.counts.superseded += 1;
  }

  /** One line per run end; output tails only on failure. A missing script warns once per path (always for pre_promote). */
  private logOutcome(item: Pending, outcome: RunOutcome, fence: boolean): void {
    const fields = { action: item.action, role: item.role, path: item.path, pid: outcome.pid, exitCode: outcome.exitCode, signal: outcome.signal, durationMs: outcome.durationMs };
    const tails = { stdoutTail: outcome.stdoutTail, stderrTail: outcome.stderrTail };
    switch (outcome.kind) {
      case 'finished':
        this.warnedPaths.delete(item.path);
        this.log.info(fields, 'callback.finished');
        return;
      case 'failed':
        this.log.warn({ ...fields, ...tails }, 'callback.failed');
        return;
      case 'killed':
        this.log.warn({ ...fields, reason: outcome.killReason, reaped: outcome.reaped, ...tails }, 'callback.killed');
        return;
      case 'spawn_failed': {
        const first = !this.warnedPaths.has(item.path);
        this.warnedPaths.add(item.path);
        const spawnFields = { action: item.action, path: item.path, error: outcome.spawnError };
        if (first || fence) this.log.warn(spawnFields, 'callback.spawn_failed');
        else this.log.debug(spawnFields, 'callback.spawn_failed');
        return;
      }
    }
  }
}

function toPrePromoteResult(outcome: RunOutcome): PrePromoteResult {
  const { durationMs, stderrTail } = outcome;
  switch (outcome.kind) {
    case 'finished':
      return { ok: true, durationMs };
    case 'spawn_failed':
      return { ok: false, reason: 'spawn_failed', stderrTail: outcome.spawnError ?? '', durationMs };
    case 'killed':
      return { ok: false, reason: 'timeout', stderrTail, durationMs };
    case 'failed':
      return outcome.exitCode !== null
        ? { ok: false, reason: 'exit_code', exitCode: outcome.exitCode, stderrTail, durationMs }
        : { ok: false, reason: 'exit_code', signal: outcome.signal ?? 'SIGKILL', stderrTail, durationMs };
  }
}

function validatePaths(paths: CallbackPaths): CallbackPaths {
  const out: Partial<Record<CallbackName, string>> = {};
  for (const [name, path] of Object.entries(paths)) {
    if (path === undefined) continue;
    const key = `postgresql.callbacks.${name}`;
    if (!(CALLBACK_NAMES as readonly string[]).includes(name)) throw new ConfigError(key, `unknown callback; expected one of ${CALLBACK_NAMES.join(', ')}`);
    if (typeof path !== 'string' || !isAbsolute(path)) throw new ConfigError(key, 'expected an absolute path to an executable');
    out[name as CallbackName] = path;
  }
  return Object.freeze(out);
}

function assertLimits(limits: CallbackLimits): void {
  const intIn = (value: number, min: number, max: number): boolean => Number.isInteger(value) && value >= min && value <= max;
  assert(intIn(limits.queueLengthMax, 1, 1024), 'callbacks: queueLengthMax must be in 1..1024');
  assert(intIn(limits.notifyTimeoutMs, 1, 3_600_000), 'callbacks: notifyTimeoutMs must be in 1..3600000');
  assert(intIn(limits.killGraceMs, 1, 60_000), 'callbacks: killGraceMs must be in 1..60000');
  assert(intIn(limits.reapWaitMs, 1, 10_000), 'callbacks: reapWaitMs must be in 1..10000');
  assert(intIn(limits.outputTailBytes, 256, 1024 * 1024), 'callbacks: outputTailBytes must be in 256..1048576');
  // The grace extends a timed-out run; it must not dominate it.
  assert(limits.killGraceMs <= limits.notifyTimeoutMs, 'callbacks: killGraceMs must be <= notifyTimeoutMs');
}

function raceTimeout(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------
// One script run.

interface Pending {
  readonly action: CallbackName;
  readonly role: CallbackRole;
  readonly path: string;
}

interface RunRequest extends Pending {
  readonly clusterName: string;
  readonly timeoutMs: number;
}

type KillReason = 'timeout' | 'superseded' | 'closed';

interface RunOutcome {
  readonly kind: 'finished' | 'failed' | 'killed' | 'spawn_failed';
  readonly pid: number | null;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly killReason: KillReason | null;
  /** False when the process had not exited when we stopped waiting (after SIGKILL + reapWaitMs). */
  readonly reaped: boolean;
  readonly spawnError: string | null;
  readonly stdoutTail: string;
  readonly stderrTail: string;
  readonly durationMs: number;
}

/** The last `bytesMax` bytes of a stream. */
class Tail {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;

  constructor(private readonly bytesMax: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    while (this.chunks.length > 1 && this.bytes - this.chunks[0]!.length >= this.bytesMax) this.bytes -= this.chunks.shift()!.length;
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    let start = Math.max(0, all.length - this.bytesMax);
    // Do not start inside a UTF-8 sequence (a cut one would decode as U+FFFD).
    while (start > 0 && start < all.length && (all[start]! & 0xc0) === 0x80) start += 1;
    return all.subarray(start).toString('utf8');
  }
}

class ScriptRun {
  readonly done: Promise<RunOutcome>;
  readonly pid: number | null;
  private readonly started = performance.now();
  private readonly stdout: Tail;
  private readonly stderr: Tail;
  private readonly timers = new Set<NodeJS.Timeout>();
  private child: ChildProcess | null = null;
  private exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  private killReason: KillReason | null = null;
  private settled = false;
  private resolve!: (outcome: RunOutcome) => void;

  constructor(
    private readonly request: RunRequest,
    private readonly limits: CallbackLimits,
  ) {
    this.stdout = new Tail(limits.outputTailBytes);
    this.stderr = new Tail(limits.outputTailBytes);
    this.done = new Promise((resolve) => (this.resolve = resolve));
    this.pid = this.start();
  }

  /** SIGTERM the process group now, SIGKILL after killGraceMs; settle at the latest reapWaitMs later. Idempotent. */
  kill(reason: KillReason): void {
    // Already exited: it ran to its end (its group was SIGKILLed on exit); only the pipes are draining.
    if (this.settled || this.killReason !== null || this.exit !== null) return;
    this.killReason = reason;
    this.signalGroup('SIGTERM');
    this.after(this.limits.killGraceMs, () => this.signalGroup('SIGKILL'));
    this.after(this.limits.killGraceMs + this.limits.reapWaitMs, () => this.settle());
  }

  private start(): number | null {
    const { path, action, role, clusterName } = this.request;
    let child: ChildProcess;
    try {
      child = spawn(path, [action, role, clusterName], {
        detached: true,
        shell: false,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, PGHERD_CLUSTER: clusterName, PGHERD_ROLE: role, PGHERD_ACTION: action },
      });
    } catch (error) {
      this.settleSpawnFailed(error);
      return null;
    }
    this.child = child;
    child.on('error', (error) => {
      if (child.pid === undefined) this.settleSpawnFailed(error);
    });
    if (child.pid === undefined) return null; // 'error' follows
    child.stdout!.on('data', (chunk: Buffer) => this.stdout.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => this.stderr.push(chunk));
    child.once('exit', (code, signal) => this.onExit(code, signal));
    child.once('close', () => this.settle());
    this.after(this.request.timeoutMs, () => this.kill('timeout'));
    return child.pid;
  }

  private onExit(code: number | null, signal: NodeJS.Signals | null): void {
    this.exit = { code, signal };
    // Background children of the script die with it; they may also hold the pipes open.
    this.signalGroup('SIGKILL');
    this.after(this.limits.reapWaitMs, () => this.settle());
  }

  private signalGroup(signal: NodeJS.Signals): void {
    if (this.pid === null) return;
    try {
      process.kill(-this.pid, signal);
    } catch {
      // ESRCH: the group is gone already. EPERM: a member changed identity; nothing more we can do.
    }
  }

  private after(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  private settleSpawnFailed(error: unknown): void {
    const code = (error as NodeJS.ErrnoException | undefined)?.code ?? 'UNKNOWN';
    const message = error instanceof Error ? error.message : String(error);
    this.finish({ kind: 'spawn_failed', exitCode: null, signal: null, reaped: true, spawnError: `${code}: ${message}` });
  }

  private settle(): void {
    if (this.settled) return;
    const exit = this.exit;
    const reaped = exit !== null;
    let kind: RunOutcome['kind'];
    if (this.killReason !== null) kind = 'killed';
    else if (exit !== null && exit.code === 0) kind = 'finished';
    else kind = 'failed';
    this.finish({ kind, exitCode: exit?.code ?? null, signal: exit?.signal ?? null, reaped, spawnError: null });
  }

  private finish(partial: Pick<RunOutcome, 'kind' | 'exitCode' | 'signal' | 'reaped' | 'spawnError'>): void {
    if (this.settled) return;
    this.settled = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.child?.stdout?.destroy();
    this.child?.stderr?.destroy();
    this.resolve({
      ...partial,
      pid: this.pid ?? null,
      killReason: this.killReason,
      stdoutTail: this.stdout.text(),
      stderrTail: this.stderr.text(),
      durationMs: Math.round(performance.now() - this.started),
    });
  }
}
