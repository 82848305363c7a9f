import { type JWTPayload, jwtVerify, SignJWT } from 'jose';

/**
 * Project JWTs, signed HS256 with the project secret, shaped like Supabase's: the anon and
 * service_role API keys (long-lived, no subject) and user tokens (a Clerk user id as `sub`).
 */

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

/** Verifies signature, algorithm, issuer and expiry; returns the claims. */
export async function verifyProjectJwt(secret: string, token: string): Promise<JWTPayload> {
  const { payload } = await jwtVerify(token, key(secret), { algorithms: ['HS256'], issuer: ISSUER });
  return payload;
}
