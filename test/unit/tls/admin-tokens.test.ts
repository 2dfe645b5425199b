/**
 * Bearer tokens and the call gate's rules, as pure functions: digests,
 * constant-time matching, the authorization header, and who may call
 * which service with what.
 */
import { createHash } from 'node:crypto';
import test from 'ava';
import { AdminTokens, bearerOf, generateToken, TOKEN_CHARS_MAX, tokenSha256 } from '../../../src/tls/admin-tokens.js';
import { callerOf, CALLER_METADATA_KEY, decide } from '../../../src/tls/call-gate.js';
import { Metadata } from '@grpc/grpc-js';

const tokens = new AdminTokens([
  { name: 'ops', sha256: tokenSha256('ops-token') },
  { name: 'ci', sha256: tokenSha256('ci-token') },
]);

test('the stored form is the hex SHA-256 of the token, as sha256sum prints it', (t) => {
  t.is(tokenSha256('ops-token'), createHash('sha256').update('ops-token').digest('hex'));
  t.is(tokenSha256('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
});

test('match: the name of the configured token, nothing for anything else', (t) => {
  t.is(tokens.match('ops-token'), 'ops');
  t.is(tokens.match('ci-token'), 'ci');
  t.is(tokens.match('ops-token '), undefined);
  t.is(tokens.match('OPS-TOKEN'), undefined);
  t.is(tokens.match(''), undefined);
  t.is(tokens.match(tokenSha256('ops-token')), undefined, 'the digest itself is not the token');
  t.is(tokens.match('x'.repeat(TOKEN_CHARS_MAX + 1)), undefined);
  t.is(new AdminTokens([]).match('ops-token'), undefined);
  t.is(tokens.size, 2);
});

test('generated tokens are 256 random bits in base64url, and differ', (t) => {
  const a = generateToken();
  t.regex(a, /^[A-Za-z0-9_-]{43}$/);
  t.not(a, generateToken());
});

test('bearerOf: RFC 6750 "Bearer <token>", the scheme in any case; anything else is malformed', (t) => {
  t.deepEqual(bearerOf([]), { kind: 'none' });
  t.deepEqual(bearerOf(['Bearer abc']), { kind: 'token', token: 'abc' });
  t.deepEqual(bearerOf(['bearer abc']), { kind: 'token', token: 'abc' });
  for (const values of [['Basic abc'], ['Bearer'], ['Bearer '], ['Bearer a b'], ['abc'], ['Bearer a', 'Bearer b'], [Buffer.from('Bearer a')], [`Bearer ${'x'.repeat(TOKEN_CHARS_MAX + 1)}`]]) {
    t.is(bearerOf(values).kind, 'malformed', JSON.stringify(values));
  }
});

const ADMIN = '/pgherd.admin.v1.Admin/Pause';
const RAFT = '/pgherd.raft.v1.RaftPeer/Send';

test('decide: the admin service admits a verified certificate or a valid token; a sent token must be valid', (t) => {
  t.deepEqual(decide({ path: ADMIN, certificateName: 'n2', authorization: [] }, tokens), { admitted: true, caller: { kind: 'certificate', name: 'n2' } });
  t.deepEqual(decide({ path: ADMIN, certificateName: undefined, authorization: ['Bearer ci-token'] }, tokens), { admitted: true, caller: { kind: 'token', name: 'ci' } });
  t.deepEqual(decide({ path: ADMIN, certificateName: 'n2', authorization: ['Bearer ops-token'] }, tokens), { admitted: true, caller: { kind: 'token', name: 'ops' } });
  t.like(decide({ path: ADMIN, certificateName: 'n2', authorization: ['Bearer wrong'] }, tokens), { admitted: false, why: 'the bearer token matches no admin.tokens entry of this agent' });
  t.like(decide({ path: ADMIN, certificateName: undefined, authorization: ['Bearer wrong'] }, tokens), { admitted: false });
  t.like(decide({ path: ADMIN, certificateName: undefined, authorization: ['Basic x'] }, tokens), { admitted: false });
  const none = decide({ path: ADMIN, certificateName: undefined, authorization: [] }, tokens);
  t.false(none.admitted);
  t.regex(!none.admitted ? none.why : '', /need a client certificate of the cluster CA or a bearer token/);
});

test('decide: every other service (Raft, anything unknown) admits a verified certificate only, whatever token comes with the call', (t) => {
  t.deepEqual(decide({ path: RAFT, certificateName: 'n2', authorization: [] }, tokens), { admitted: true, caller: { kind: 'certificate', name: 'n2' } });
  t.deepEqual(decide({ path: RAFT, certificateName: 'n2', authorization: ['Bearer wrong'] }, tokens), { admitted: true, caller: { kind: 'certificate', name: 'n2' } });
  for (const path of [RAFT, '/pgherd.raft.v1.RaftPeer/GetPosition', '/grpc.health.v1.Health/Check', '/pgherd.admin.v1.AdminX/Pause', 'garbage']) {
    const decision = decide({ path, certificateName: undefined, authorization: ['Bearer ops-token'] }, tokens);
    t.false(decision.admitted, path);
  }
});

test('callerOf reads what the gate set; anything else is no caller', (t) => {
  const with_ = (value: string): Metadata => {
    const metadata = new Metadata();
    metadata.set(CALLER_METADATA_KEY, value);
    return metadata;
  };
  t.deepEqual(callerOf(with_('token ops')), { kind: 'token', name: 'ops' });
  t.deepEqual(callerOf(with_('certificate n2')), { kind: 'certificate', name: 'n2' });
  t.is(callerOf(with_('root')), undefined);
  t.is(callerOf(new Metadata()), undefined);
});
