import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { assert } from '../lib/assert.js';

/**
 * Bearer tokens of the admin service (config `admin.tokens`).
 *
 * The configuration holds a name and the SHA-256 of each token, never the
 * token: a leaked configuration file (or a config dump in a support ticket)
 * opens nothing, and tokens never reach the cluster state. A presented token
 * is hashed and compared with every configured digest in constant time
 * (timingSafeEqual on equal-length digests, no early exit), so the answer
 * time says nothing about how close a guess was or which entry matched.
 *
 * A token is what `pgherd token create` prints: 32 random bytes, base64url.
 * Its entropy is what protects the cluster: SHA-256 without a salt is fine
 * for random 256-bit secrets (unlike passwords, nothing to brute-force).
 */

export interface AdminTokenEntry {
  /** Who holds the token: recorded as the `by` of its actions and in the admin log. */
  readonly name: string;
  /** Hex SHA-256 of the token (64 lowercase hex digits). */
  readonly sha256: string;
}

/** Longest token accepted in a request; anything longer is refused unhashed (bounded work per call). */
export const TOKEN_CHARS_MAX = 512;
/** Random bytes of a generated token (256 bits). */
export const TOKEN_BYTES = 32;
export const SHA256_HEX_PATTERN = /^[0-9a-f]{64}$/;

/** The form admin.tokens stores: lowercase hex SHA-256 of the token's UTF-8 bytes (what `printf %s TOKEN | sha256sum` prints). */
export function tokenSha256(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** A new random token (base64url, 43 characters). */
export function generateToken(): string {
  return randomBytes(TOKEN_BYTES).toString('base64url');
}

export class AdminTokens {
  private readonly entries: readonly { readonly name: string; readonly digest: Buffer }[];

  constructor(entries: readonly AdminTokenEntry[]) {
    this.entries = entries.map((entry) => {
      assert(SHA256_HEX_PATTERN.test(entry.sha256), () => `admin token ${entry.name}: the configuration schema admits only hex SHA-256 digests`);
      return { name: entry.name, digest: Buffer.from(entry.sha256, 'hex') };
    });
  }

  get size(): number {
    return this.entries.length;
  }

  /** The name of the configured token `token` is, or undefined. Constant time in the token and over every entry. */
  match(token: string): string | undefined {
    if (token.length === 0 || token.length > TOKEN_CHARS_MAX) return undefined;
    const digest = createHash('sha256').update(token, 'utf8').digest();
    let matched: string | undefined;
    for (const entry of this.entries) {
      // Every entry is compared, also after a match: the time does not depend on which one matched.
      if (timingSafeEqual(digest, entry.digest) && matched === undefined) matched = entry.name;
    }
    return matched;
  }
}

export type BearerOf =
  | { readonly kind: 'none' }
  | { readonly kind: 'malformed'; readonly why: string }
  | { readonly kind: 'token'; readonly token: string };

/**
 * The token of the `authorization` metadata values of one call (RFC 6750:
 * `Bearer <token>`, the scheme case-insensitive). Absent: none; more than
 * one value, another scheme, or an empty or oversized token: malformed.
 */
export function bearerOf(values: readonly unknown[]): BearerOf {
  if (values.length === 0) return { kind: 'none' };
  if (values.length > 1) return { kind: 'malformed', why: 'more than one authorization header' };
  const value = values[0];
  if (typeof value !== 'string') return { kind: 'malformed', why: 'the authorization header is not text' };
  const match = /^bearer +(\S+) *$/i.exec(value);
  if (match === null) return { kind: 'malformed', why: 'the authorization header is not "Bearer <token>"' };
  const token = match[1]!;
  if (token.length > TOKEN_CHARS_MAX) return { kind: 'malformed', why: `the token is longer than ${TOKEN_CHARS_MAX} characters` };
  return { kind: 'token', token };
}
