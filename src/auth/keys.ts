import type { KeyObject } from 'node:crypto';
import { type JWTPayload, SignJWT } from 'jose';
import { type Claims, checkTimeClaims, verifySignature } from './jwt.js';

/**
 * Project JWTs, signed HS256 with the project secret, shaped like Supabase's: the anon and
 * service_role API keys (long-lived, no subject) and user tokens (a Clerk user id as `sub`).
 * Tokens are signed with `iss: loconomy` but verified whatever their issuer, so tokens minted
 * for the same secret elsewhere (Supabase's carry `iss: supabase`) keep working, as they do
 * with PostgREST: the signature is what makes a token ours (decision 0008).
 */

/** Seconds of clock difference tolerated on exp, nbf and iat, as PostgREST allows. */
export const PROJECT_CLOCK_SKEW_S = 30;

export const ISSUER = 'loconomy';
const TEN_YEARS_S = 10 * 365 * 24 * 60 * 60;

function key(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}

async function sign(secret: string, claims: JWTPayload, ttlSeconds: number, now: number): Promise<string> {
  return new SignJWT({ ...claims, iss: ISSUER })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuedAt(now)
    .setExpirationTime(now + ttlSeconds)
    .sign(key(secret));
}

/** {"anon": jwt, "service_role": jwt}, valid for about ten years, as `loconomy keys` prints. */
export async function projectKeys(
  secret: string,
  now = Math.floor(Date.now() / 1000),
): Promise<{ anon: string; service_role: string }> {
  return {
    anon: await sign(secret, { role: 'anon' }, TEN_YEARS_S, now),
    service_role: await sign(secret, { role: 'service_role' }, TEN_YEARS_S, now),
  };
}

/** A user token: `sub` is the identity provider's user id (users.clerk_id). */
export function userToken(
  secret: string,
  options: { sub: string; role?: string; ttlSeconds?: number },
  now = Math.floor(Date.now() / 1000),
): Promise<string> {
  return sign(secret, { sub: options.sub, role: options.role ?? 'authenticated' }, options.ttlSeconds ?? 3600, now);
}

/**
 * Verifies an HS256 signature with the project secret and exp/nbf/iat (30 s of skew); returns
 * the claims, any issuer. Throws a 401 ApiError (PGRST301/PGRST303) otherwise.
 */
export async function verifyProjectJwt(
  secret: string | Uint8Array | KeyObject,
  token: string,
  now = Math.floor(Date.now() / 1000),
): Promise<Claims> {
  const claims = await verifySignature(token, typeof secret === 'string' ? key(secret) : secret, 'HS256');
  checkTimeClaims(claims, now, PROJECT_CLOCK_SKEW_S);
  return claims;
}
