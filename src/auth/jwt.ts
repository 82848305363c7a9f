import { type CompactVerifyGetKey, compactVerify, decodeProtectedHeader, errors, type KeyInput } from 'jose';
import { ApiError } from '../errors.js';
import { invalidToken } from './failures.js';

/**
 * What every JWT goes through, whoever signed it: its shape, its header (whose `alg` picks
 * the verifier), its signature, and the time claims. Failures carry PostgREST's codes and
 * messages (src/PostgREST/Error.hs): PGRST301 for decoding and signatures, PGRST303 for claims.
 */

export type Claims = Record<string, unknown>;

/** The unverified protected header: only for choosing a verifier, never for trusting. */
export function readHeader(token: string): { alg: string; kid?: string } {
  if (token === '') throw invalidToken('PGRST301', 'Empty JWT is sent in Authorization header');
  const parts = token.split('.').length;
  if (parts !== 3) throw invalidToken('PGRST301', `Expected 3 parts in JWT; got ${parts}`);
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw invalidToken('PGRST301', "JWT couldn't be decoded");
  }
  if (typeof header.alg !== 'string') throw invalidToken('PGRST301', 'Wrong or unsupported encoding algorithm');
  return { alg: header.alg, ...(typeof header.kid === 'string' ? { kid: header.kid } : {}) };
}

/**
 * Verifies the signature with exactly one algorithm and returns the claims (a JSON object).
 * An ApiError thrown by `key` (a JWKS that cannot be fetched) passes through unchanged.
 */
export async function verifySignature(
  token: string,
  key: KeyInput | CompactVerifyGetKey,
  algorithm: 'HS256' | 'RS256',
): Promise<Claims> {
  let payload: Uint8Array;
  try {
    ({ payload } = await compactVerify(token, key as KeyInput, { algorithms: [algorithm] }));
  } catch (error) {
    if (error instanceof ApiError) throw error;
    throw decodeFailure(error);
  }
  let claims: unknown;
  try {
    claims = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch {
    claims = undefined;
  }
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) {
    throw invalidToken('PGRST303', 'Parsing claims failed');
  }
  return claims as Claims;
}

function decodeFailure(error: unknown): ApiError {
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return invalidToken('PGRST301', 'JWT cryptographic operation failed');
  }
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return invalidToken('PGRST301', 'Wrong or unsupported encoding algorithm');
  }
  // jose rejects a key of the wrong type (an RSA key for HS256, a short modulus) with a TypeError.
  if (error instanceof TypeError) return invalidToken('PGRST301', 'No suitable key or wrong key type');
  return invalidToken('PGRST301', "JWT couldn't be decoded");
}

/**
 * exp, nbf and iat, each optional unless `requireExp`, each a number, checked against `now`
 * (seconds) with `skew` seconds of tolerance both ways, as PostgREST checks them.
 */
export function checkTimeClaims(claims: Claims, now: number, skew: number, requireExp = false): void {
  const exp = numericClaim(claims, 'exp', requireExp);
  const nbf = numericClaim(claims, 'nbf', false);
  const iat = numericClaim(claims, 'iat', false);
  if (exp !== undefined && now - skew > exp) throw invalidToken('PGRST303', 'JWT expired');
  if (nbf !== undefined && now + skew < nbf) throw invalidToken('PGRST303', 'JWT not yet valid');
  if (iat !== undefined && now + skew < iat) throw invalidToken('PGRST303', 'JWT issued at future');
}

function numericClaim(claims: Claims, name: 'exp' | 'nbf' | 'iat', required: boolean): number | undefined {
  const value = claims[name];
  if (value === undefined && !required) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw invalidToken('PGRST303', `The JWT '${name}' claim must be a number`);
  }
  return value;
}
