import { createHash, timingSafeEqual } from 'node:crypto';

/** The metadata key of the shared token: `authorization: Bearer <token>` (gRPC's convention, RFC 6750's form). */
export const AUTHORIZATION_KEY = 'authorization';

/** What the server answers a missing or wrong token with; it never says which, nor echoes the token. */
export const UNAUTHENTICATED_DETAILS = 'missing or wrong token';

/** A token travels as an HTTP/2 header value: visible ASCII only (no spaces, which HTTP trims). */
const TOKEN_TEXT = /^[\x21-\x7e]+$/;

export function isValidTokenText(token: string): boolean {
  return TOKEN_TEXT.test(token);
}

export function bearerValue(token: string): string {
  return `Bearer ${token}`;
}

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/**
 * Whether an `authorization` value carries `expected`. Compared in constant
 * time over SHA-256 digests, so neither the content nor the length of the
 * expected token leaks through response timing.
 */
export function bearerMatches(expected: string, value: string | undefined): boolean {
  if (value === undefined) return false;
  const m = /^bearer +(\S+)$/i.exec(value.trim());
  const given = m?.[1] ?? '';
  // Always compare, even for a malformed value: the time does not depend on the input's shape.
  return timingSafeEqual(digest(expected), digest(given)) && given.length > 0;
}
