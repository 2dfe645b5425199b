import test from 'ava';
import { tokenSha256 } from '../../../src/tls/admin-tokens.js';
import { load, loadError, withMinimal } from './helpers.js';

const OPS = tokenSha256('ops-token');
const CI = tokenSha256('ci-token');

test('admin.tokens: none by default; "name:sha256" or {name, sha256}, the digest normalised to lowercase', (t) => {
  t.deepEqual(load(t, withMinimal()).admin, { tokens: [] });
  const config = load(t, withMinimal({ admin: { tokens: [`ops:${OPS.toUpperCase()}`, { name: 'ci', sha256: CI }] } }));
  t.deepEqual(config.admin.tokens, [
    { name: 'ops', sha256: OPS },
    { name: 'ci', sha256: CI },
  ]);
  t.true(Object.isFrozen(config.admin.tokens[0]));
});

test('admin.tokens from PGHERD_ADMIN_TOKENS: comma-separated "name:sha256" items', (t) => {
  t.deepEqual(load(t, withMinimal(), { PGHERD_ADMIN_TOKENS: `ops:${OPS}, ci:${CI}` }).admin.tokens.map((token) => token.name), ['ops', 'ci']);
  t.regex(loadError(t, withMinimal(), { PGHERD_ADMIN_TOKENS: 'ops:secret' }), /^admin\.tokens\.0\.sha256: expected the 64 hex digits of the token's SHA-256 .*not the token itself \(from PGHERD_ADMIN_TOKENS\)$/);
});

test('admin.tokens errors name the entry and the key', (t) => {
  t.regex(loadError(t, withMinimal({ admin: { tokens: ['ops:plain-text-token'] } })), /^admin\.tokens\.0\.sha256: expected the 64 hex digits/);
  t.regex(loadError(t, withMinimal({ admin: { tokens: [`ops:${OPS}`, { name: 'ci', sha256: OPS.slice(1) }] } })), /^admin\.tokens\.1\.sha256: /);
  t.regex(loadError(t, withMinimal({ admin: { tokens: [`Ops Team:${OPS}`] } })), /^admin\.tokens\.0\.name: expected lowercase letters/);
  t.regex(loadError(t, withMinimal({ admin: { tokens: [OPS] } })), /^admin\.tokens\.0: expected "name:sha256"/);
  t.regex(loadError(t, withMinimal({ admin: { tokens: [{ name: 'ops', sha256: OPS, token: 'x' }] } })), /^admin\.tokens\.0\.token: unknown key; known keys in admin\.tokens\.0: name, sha256$/);
  t.regex(loadError(t, withMinimal({ admin: { token_file: '/etc/pgherd/tokens' } })), /^admin\.token_file: /);
});

test('admin.tokens rules: unique names, unique tokens, and TLS', (t) => {
  t.is(
    loadError(t, withMinimal({ admin: { tokens: [`ops:${OPS}`, `ops:${CI}`] } })),
    'admin.tokens.1.name: ops is listed twice (also admin.tokens.0); names say who acted and must be unique',
  );
  t.is(
    loadError(t, withMinimal({ admin: { tokens: [`ops:${OPS}`, `ci:${OPS.toUpperCase()}`] } })),
    'admin.tokens.1.sha256: is the same token as admin.tokens.0 (ops): give each holder a token of their own',
  );
  t.regex(loadError(t, withMinimal({ tls: { insecure: true }, admin: { tokens: [`ops:${OPS}`] } })), /^admin\.tokens: bearer tokens need TLS, but tls\.insecure is true/);
  t.true(load(t, withMinimal({ tls: { insecure: true } })).tls.insecure, 'insecure without tokens stays allowed');
});
