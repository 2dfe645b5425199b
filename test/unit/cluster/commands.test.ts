import test from 'ava';
import fc from 'fast-check';
import { COMMAND_TYPES, decodeCommand, encodeCommand, parseCommand } from '../../../src/cluster/commands.js';
import { REJECTION_CODES } from '../../../src/cluster/results.js';
import { commandArbitrary } from './arbitraries.js';

const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

// Command types and rejection codes are API: the log, the HA loop, logs, metrics and the admin API depend on them.
test('command types and rejection codes are stable', (t) => {
  t.deepEqual(COMMAND_TYPES, [
    'initializeClaim',
    'initializeDone',
    'registerMember',
    'updateMemberStatus',
    'removeMember',
    'renewLease',
    'promote',
    'releaseLeader',
    'setSync',
    'recordSlot',
    'dropSlot',
    'recordBootstrapPlan',
    'bootstrapFallback',
    'patchConfig',
    'requestSwitchover',
    'cancelSwitchover',
    'setPause',
    'setMembership',
    'requestMemberAction',
    'updateMemberAction',
    'requestBackup',
    'updateBackup',
  ]);
  t.deepEqual(REJECTION_CODES, [
    'ALREADY_INITIALIZED',
    'NOT_INITIALIZED',
    'NOT_INITIALIZER',
    'UNKNOWN_MEMBER',
    'TOO_MANY_MEMBERS',
    'MEMBER_IS_LEADER',
    'MEMBER_IN_SYNC',
    'MEMBER_REMOVED',
    'MEMBER_INELIGIBLE',
    'MEMBER_NOSYNC',
    'NOT_LEADER_HOLDER',
    'EPOCH_MISMATCH',
    'SYNC_EPOCH_MISMATCH',
    'TIMELINE_NOT_NEWER',
    'NOT_SYNC_STANDBY',
    'LEASE_RENEWED',
    'VERSION_MISMATCH',
    'INVALID_CONFIG',
    'SLOT_NAME_CONFLICT',
    'UNKNOWN_SLOT',
    'PLAN_CHANGED',
    'SWITCHOVER_PENDING',
    'NO_SWITCHOVER',
    'INVALID',
    'MALFORMED_COMMAND',
    'UNSAFE_LEASE_CHANGE',
    'ACTION_PENDING',
    'NO_ACTION',
    'ACTION_RUNNING',
    'BACKUP_PENDING',
    'BACKUP_RUNNING',
    'ALREADY_SCHEDULED',
    'NO_BACKUP',
    'NOT_ASKED',
    'NOT_TAKER',
  ]);
});

test('the wire form is versioned UTF-8 JSON', (t) => {
  const encoded = encodeCommand({ type: 'renewLease', atMs: 1_700_000_000_000, member: 'n1', epoch: 3 });
  t.deepEqual(JSON.parse(new TextDecoder().decode(encoded)), { v: 1, command: { type: 'renewLease', atMs: 1_700_000_000_000, member: 'n1', epoch: 3 } });
});

test('property: every command survives encode → decode, LSNs above 2^53 included', (t) => {
  fc.assert(
    fc.property(commandArbitrary, (input) => {
      const command = parseCommand(input);
      t.deepEqual(decodeCommand(encodeCommand(command)), command);
    }),
    { numRuns: 500 },
  );
  const promote = decodeCommand(
    encodeCommand({ type: 'promote', atMs: 1, candidate: 'n2', expectedEpoch: 1, timeline: 2, reason: 'x', kind: 'failover', switchLsn: '00200000/00000001' }),
  );
  t.is(promote.type === 'promote' ? promote.switchLsn : '', '200000/1');
});

test('malformed commands are refused with a typed error naming the field', (t) => {
  const refuse = (data: Uint8Array, key: string, message?: RegExp) => {
    const error = t.throws(() => decodeCommand(data), { code: 'PGHERD_CLUSTER_DECODE_FAILED', ...(message ? { message } : {}) });
    t.is((error as unknown as { key: string }).key, key);
  };
  const renew = { type: 'renewLease', atMs: 1, member: 'n1', epoch: 1 };
  refuse(new TextEncoder().encode('{not json'), 'command', /^command: is not UTF-8 JSON/);
  refuse(new Uint8Array([0xc3, 0x28]), 'command');
  refuse(bytes({ v: 2, command: renew }), 'command.v', /version 2 is not supported/);
  refuse(bytes({ command: renew }), 'command.v');
  refuse(bytes({ v: 1, command: { ...renew, type: 'launchMissiles' } }), 'command.type');
  refuse(bytes({ v: 1, command: { ...renew, epoch: -1 } }), 'command.epoch');
  refuse(bytes({ v: 1, command: { ...renew, atMs: undefined } }), 'command.atMs');
  refuse(bytes({ v: 1, command: { ...renew, member: '../etc' } }), 'command.member');
  refuse(bytes({ v: 1, command: { ...renew, member: '__proto__' } }), 'command.member');
  refuse(bytes({ v: 1, command: { ...renew, extra: true } }), 'command.extra');
  refuse(bytes({ v: 1, command: { type: 'recordSlot', atMs: 1, member: 'n2', createdAtLsn: '0/1/2', leaderEpoch: 1 } }), 'command.createdAtLsn');
  refuse(bytes({ v: 1, command: { type: 'initializeDone', atMs: 1, member: 'n1', systemIdentifier: '18446744073709551616' } }), 'command.systemIdentifier');
  refuse(bytes({ v: 1, command: { type: 'patchConfig', atMs: 1, expectedVersion: 0, patch: [1] } }), 'command.patch');
  t.throws(() => encodeCommand({ ...renew, epoch: 1.5 } as never), { code: 'PGHERD_CLUSTER_DECODE_FAILED', message: /^command\.epoch: / });
});
