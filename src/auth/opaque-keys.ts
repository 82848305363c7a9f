import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Opaque API keys in Supabase's newer format: `sb_publishable_<x>` acts as anon and
 * `sb_secret_<x>` as service_role. x is derived from the project secret (HMAC-SHA256 of a
 * fixed label, base64url, first 32 characters: 192 bits), so every server sharing the secret
 * accepts the same keys, `loconomy keys --opaque` can print them, and rotating the secret
 * rotates them with the JWT keys.
 */

export const PUBLISHABLE_PREFIX = 'sb_publishable_';
export const SECRET_PREFIX = 'sb_secret_';

const LABELS = {
  publishable: 'loconomy opaque API key: publishable (anon) v1',
  secret: 'loconomy opaque API key: secret (service_role) v1',
} as const;

const LENGTH = 32;

export interface OpaqueKeys {
  readonly publishable: string;
  readonly secret: string;
}

function derive(secret: string, label: string): string {
  return createHmac('sha256', secret).update(label).digest('base64url').slice(0, LENGTH);
}

/** {"publishable": "sb_publishable_…", "secret": "sb_secret_…"}, as `loconomy keys --opaque` prints. */
export function opaqueKeys(secret: string): OpaqueKeys {
  return {
    publishable: `${PUBLISHABLE_PREFIX}${derive(secret, LABELS.publishable)}`,
    secret: `${SECRET_PREFIX}${derive(secret, LABELS.secret)}`,
  };
}

export function isOpaqueKey(credential: string): boolean {
  return credential.startsWith(PUBLISHABLE_PREFIX) || credential.startsWith(SECRET_PREFIX);
}

/** The role a presented opaque key grants, or undefined when it is not one of this project's. */
export function opaqueKeyRole(keys: OpaqueKeys, presented: string): 'anon' | 'service_role' | undefined {
  if (presented.startsWith(PUBLISHABLE_PREFIX)) return same(presented, keys.publishable) ? 'anon' : undefined;
  if (presented.startsWith(SECRET_PREFIX)) return same(presented, keys.secret) ? 'service_role' : undefined;
  return undefined;
}

/** Constant time for equal lengths; the length of a valid key is no secret. */
function same(presented: string, expected: string): boolean {
  const a = Buffer.from(presented, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}
