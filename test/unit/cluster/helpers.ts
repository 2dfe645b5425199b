import type { ExecutionContext } from 'ava';
import { applyCommand } from '../../../src/cluster/apply.js';
import { parseCommand, type ClusterCommand, type ClusterCommandInput } from '../../../src/cluster/commands.js';
import type { ApplyOutcome, ApplyRejection, ApplySuccess } from '../../../src/cluster/results.js';
import { initialClusterState, type ClusterState, type MemberTags } from '../../../src/cluster/state.js';

export const T0_MS = 1_700_000_000_000;

/** Role passwords as initializeDone carries them (test values, long enough for the schema). */
export const TEST_CREDENTIALS = Object.freeze({
  superuserPassword: 'superuser-password-0123456789',
  replicationPassword: 'replication-password-0123456789',
  rewindPassword: 'rewind-password-0123456789',
});

/** A command with defaults filled, as decodeCommand would return it. */
export function cmd(input: ClusterCommandInput): ClusterCommand {
  return parseCommand(input);
}

export function register(member: string, tags: Partial<MemberTags> = {}, atMs = T0_MS): ClusterCommand {
  return cmd({
    type: 'registerMember',
    atMs,
    member,
    raftAddress: `${member}:7400`,
    postgresHost: member,
    postgresPort: 5432,
    httpAddress: `${member}:8008`,
    tags,
  });
}

export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  for (const child of Object.values(value)) deepFreeze(child);
  return Object.freeze(value);
}

/** Apply to a deep-frozen input, so any mutation of it throws. */
export function step(state: ClusterState, command: ClusterCommand): ApplyOutcome {
  return applyCommand(deepFreeze(state), command);
}

export function expectOk(t: ExecutionContext, state: ClusterState, input: ClusterCommandInput): { state: ClusterState; result: ApplySuccess } {
  const outcome = step(state, cmd(input));
  if (!outcome.result.ok) t.fail(`${input.type} refused: ${outcome.result.code} ${outcome.result.reason}`);
  return outcome as { state: ClusterState; result: ApplySuccess };
}

/** Expect a refusal with `code`, and that nothing changed. */
export function expectRefused(t: ExecutionContext, state: ClusterState, input: ClusterCommandInput, code: ApplyRejection['code']): ApplyRejection {
  const outcome = step(state, cmd(input));
  t.false(outcome.result.ok, `${input.type} should be refused with ${code}`);
  const result = outcome.result as ApplyRejection;
  t.is(result.code, code, result.reason);
  t.is(outcome.state, state, 'a refused command returns the same state');
  return result;
}

export function applyOk(state: ClusterState, inputs: readonly ClusterCommandInput[]): ClusterState {
  let current = state;
  for (const input of inputs) {
    const outcome = applyCommand(current, cmd(input));
    if (!outcome.result.ok) throw new Error(`${input.type} refused: ${outcome.result.code} ${outcome.result.reason}`);
    current = outcome.state;
  }
  return current;
}

/** n1, n2, n3 registered; n1 initialized the database and is the primary at epoch 1 on timeline 1. */
export function runningCluster(): ClusterState {
  let state = initialClusterState();
  for (const member of ['n1', 'n2', 'n3']) state = applyCommand(state, register(member)).state;
  return applyOk(state, [
    { type: 'initializeClaim', atMs: T0_MS + 1, member: 'n1' },
    { type: 'initializeDone', atMs: T0_MS + 2, member: 'n1', systemIdentifier: '7301234567890123456', credentials: TEST_CREDENTIALS },
    { type: 'promote', atMs: T0_MS + 3, candidate: 'n1', expectedEpoch: 0, timeline: 1, reason: 'bootstrap', kind: 'manual', switchLsn: '0/0' },
  ]);
}
