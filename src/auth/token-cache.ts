import type { Caller } from './caller.js';

/**
 * JWTs already verified, by token string, so a client sending the same token on every request
 * (the anon key, a user's session token) pays for the signature once rather than per request:
 * an HMAC through WebCrypto cost about a third of a small request's CPU. PostgREST caches for
 * the same reason (jwt-cache-max-lifetime).
 *
 * The rules (decision 0014, "Node CPU per request"):
 * - only a token that passed every check (signature, alg, exp/nbf/iat, role) is stored; a
 *   failure is never stored, so a bad token is verified, and refused, every time;
 * - a hit is served only while the token's exp (plus the verifier's skew) has not passed,
 *   checked against the clock on every hit exactly as verification would, and for at most
 *   `maxLifetimeMs` after verification (default 5 minutes) — then the token is verified again;
 * - at most `maxEntries` tokens (default 1000); the least recently used goes first.
 * What is stored: project JWTs (HS256: the anon and service_role keys, user tokens), which
 * nothing revokes but a new secret, and that needs a restart (an empty cache); and Clerk tokens
 * when Clerk's key is fixed (CLERK_JWT_KEY, also changed by a restart). Never stored: Clerk
 * tokens verified with keys from CLERK_JWKS_URL (Clerk may withdraw a key, and its tokens must
 * fail from the next refetch on), and API keys (`lk_…`), which are counted in the database on
 * every request and fail at once when revoked.
 */

export interface TokenCacheOptions {
  /** Tokens kept (default 1000). */
  readonly maxEntries?: number;
  /** Longest a verification is reused, in milliseconds (default 300 000); 0 turns the cache off. */
  readonly maxLifetimeMs?: number;
}

export const DEFAULT_TOKEN_CACHE_ENTRIES = 1000;
export const DEFAULT_TOKEN_CACHE_LIFETIME_MS = 300_000;

interface Entry {
  readonly caller: Caller;
  /** The token's exp claim (seconds), if it has one. */
  readonly exp: number | undefined;
  /** The clock skew its verifier allows on exp (seconds). */
  readonly skew: number;
  /** When the verification stops being reused (milliseconds). */
  readonly until: number;
}

export class VerifiedTokens {
  readonly #entries = new Map<string, Entry>();
  readonly #max: number;
  readonly #lifetime: number;

  constructor(options: TokenCacheOptions = {}) {
    this.#max = options.maxEntries ?? DEFAULT_TOKEN_CACHE_ENTRIES;
    this.#lifetime = options.maxLifetimeMs ?? DEFAULT_TOKEN_CACHE_LIFETIME_MS;
    if (!Number.isSafeInteger(this.#max) || this.#max < 1)
      throw new RangeError('maxEntries must be a positive integer');
    if (!Number.isFinite(this.#lifetime) || this.#lifetime < 0) throw new RangeError('maxLifetimeMs must be ≥ 0');
  }

  /** The caller a still-valid verification of `token` gave, or undefined: verify it. `now` in ms. */
  get(token: string, now: number): Caller | undefined {
    const entry = this.#entries.get(token);
    if (entry === undefined) return undefined;
    // The same test as checkTimeClaims: expired once now (whole seconds) - skew passes exp.
    const expired = entry.exp !== undefined && Math.floor(now / 1000) - entry.skew > entry.exp;
    if (expired || now >= entry.until) {
      this.#entries.delete(token);
      return undefined;
    }
    // Most recently used last, so eviction takes the least recently used.
    this.#entries.delete(token);
    this.#entries.set(token, entry);
    return entry.caller;
  }

  /** Stores a verified token's caller; `claims.exp` and `skew` as its verifier checked them. */
  set(token: string, caller: Caller, skew: number, now: number): void {
    if (this.#lifetime === 0) return;
    const exp = typeof caller.claims.exp === 'number' ? caller.claims.exp : undefined;
    this.#entries.delete(token);
    if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value as string);
    this.#entries.set(token, { caller, exp, skew, until: now + this.#lifetime });
  }

  get size(): number {
    return this.#entries.size;
  }
}
