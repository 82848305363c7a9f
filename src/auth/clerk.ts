import { createPublicKey, type KeyObject } from 'node:crypto';
import { type CompactVerifyGetKey, createLocalJWKSet, createRemoteJWKSet, errors } from 'jose';
import { ApiError, LoconomyError, oneLine } from '../errors.js';
import type { Logger } from '../log.js';
import { invalidToken } from './failures.js';
import { type Claims, checkTimeClaims, verifySignature } from './jwt.js';

/**
 * Clerk session tokens: RS256 only, verified with the public key in CLERK_JWT_KEY (PEM, no
 * network) or else the keys at CLERK_JWKS_URL. The JWKS is fetched on first use, cached, and
 * fetched again when a token names a `kid` it does not have (Clerk rotated its keys) — at
 * most once per cool-down, so made-up kids cannot make us hammer Clerk. When a refetch fails,
 * the keys fetched before keep verifying; with none that fit, Clerk is unavailable (503).
 * exp is required; exp/nbf/iat allow 5 s of clock skew, as Clerk recommends. `sub` is the
 * Clerk user id.
 */

export const CLERK_CLOCK_SKEW_S = 5;

export interface ClerkOptions {
  readonly jwksUrl?: string | undefined;
  readonly jwtKey?: string | undefined;
  /** Least time between two JWKS fetches caused by unknown kids (default 30 s). */
  readonly jwksCooldownMs?: number;
  /** How long fetched keys are used before the JWKS is fetched again (default 10 min). */
  readonly jwksMaxAgeMs?: number;
  /** How long a JWKS fetch may take before Clerk counts as unreachable (default 5 s). */
  readonly jwksTimeoutMs?: number;
}

export interface ClerkVerifier {
  /** Where keys come from, for the start-up log. */
  readonly source: 'pem' | 'jwks';
  /** The verified claims; a 401 ApiError, or a 503 when the JWKS cannot be fetched. */
  verify(token: string, now: number): Promise<Claims>;
}

/** undefined when Clerk is not configured. A bad CLERK_JWT_KEY fails here, at start-up. */
export function createClerkVerifier(options: ClerkOptions, log: Logger): ClerkVerifier | undefined {
  if (options.jwtKey !== undefined) {
    const key = publicKey(options.jwtKey);
    return { source: 'pem', verify: (token, now) => verifyClerk(token, key, now) };
  }
  if (options.jwksUrl !== undefined) {
    const jwks = remoteKeys(options.jwksUrl, options, log);
    return { source: 'jwks', verify: (token, now) => verifyClerk(token, jwks, now) };
  }
  return undefined;
}

async function verifyClerk(token: string, key: KeyObject | CompactVerifyGetKey, now: number): Promise<Claims> {
  const claims = await verifySignature(token, key, 'RS256');
  checkTimeClaims(claims, now, CLERK_CLOCK_SKEW_S, true);
  if (typeof claims.sub !== 'string' || claims.sub === '') {
    throw invalidToken('PGRST303', "The JWT 'sub' claim must be a string", 'a Clerk token names its user in sub');
  }
  return claims;
}

function publicKey(pem: string): KeyObject {
  // Environment files often carry the PEM on one line with literal \n.
  const text = pem.includes('\\n') ? pem.replaceAll('\\n', '\n') : pem;
  let key: KeyObject;
  try {
    key = createPublicKey(text);
  } catch (error) {
    throw new LoconomyError(
      'LOCO_CONFIG_INVALID',
      `CLERK_JWT_KEY is not a PEM public key (${oneLine(error)})`,
      'paste the "PEM public key" from the Clerk dashboard (API keys), or use CLERK_JWKS_URL instead',
    );
  }
  if (key.asymmetricKeyType !== 'rsa') {
    throw new LoconomyError(
      'LOCO_CONFIG_INVALID',
      `CLERK_JWT_KEY is a ${key.asymmetricKeyType} key, but Clerk signs with RSA (RS256)`,
      'paste the "PEM public key" from the Clerk dashboard (API keys)',
    );
  }
  return key;
}

function remoteKeys(url: string, options: ClerkOptions, log: Logger): CompactVerifyGetKey {
  const jwks = createRemoteJWKSet(new URL(url), {
    cooldownDuration: options.jwksCooldownMs ?? 30_000,
    cacheMaxAge: options.jwksMaxAgeMs ?? 600_000,
    timeoutDuration: options.jwksTimeoutMs ?? 5_000,
  });
  return async (header, token) => {
    try {
      return await jwks(header, token);
    } catch (error) {
      if (isNoKey(error)) {
        throw invalidToken(
          'PGRST301',
          'No suitable key or wrong key type',
          header.kid === undefined
            ? 'the token has no kid'
            : `no single Clerk key has kid ${JSON.stringify(header.kid)}`,
        );
      }
      // Unreachable, timed out, not 200, not a JWKS: Clerk's side, not the caller's token. Keys
      // fetched before still verify (stale if error); a kid they lack may be a new key: 503.
      const cached = jwks.jwks();
      log.warn(
        { jwksUrl: url, err: oneLine(error), cached: cached !== undefined },
        'the Clerk JWKS could not be fetched',
      );
      if (cached !== undefined) {
        try {
          return await createLocalJWKSet(cached)(header, token);
        } catch {
          // fall through
        }
      }
      throw new ApiError('LOCO_AUTH_UNAVAILABLE', {
        details: 'the Clerk JWKS could not be fetched',
        hint: 'retry shortly; if it persists, check CLERK_JWKS_URL',
      });
    }
  };
}

function isNoKey(error: unknown): boolean {
  return error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys;
}
