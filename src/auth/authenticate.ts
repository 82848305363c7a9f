import { createSecretKey } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Database } from '../db/database.js';
import type { Logger } from '../log.js';
import { apiKeyCaller, isApiKey } from './api-keys.js';
import type { Authenticator, Caller } from './caller.js';
import { CLERK_CLOCK_SKEW_S, type ClerkOptions, createClerkVerifier } from './clerk.js';
import { invalidApiKey, invalidToken } from './failures.js';
import { type Claims, readHeader } from './jwt.js';
import { PROJECT_CLOCK_SKEW_S, verifyProjectJwt } from './keys.js';
import { isOpaqueKey, opaqueKeyRole, opaqueKeys } from './opaque-keys.js';
import { type TokenCacheOptions, VerifiedTokens } from './token-cache.js';

/**
 * Who a request is from, from the `apikey` and `Authorization: Bearer` headers as Supabase
 * clients send them (decision 0008):
 *
 * 1. neither header: the anon role, claims `{role: anonRole}` (PostgREST's behaviour);
 * 2. `apikey`, when present, must be a valid credential, else 401;
 * 3. a Bearer token, when present, decides the role and claims; otherwise `apikey` does.
 *
 * A credential is one of: a Loconomy API key (`lk_…`), an opaque key (`sb_publishable_…`,
 * `sb_secret_…`), or a JWT whose `alg` picks the verifier — HS256: the project secret; RS256:
 * Clerk; anything else is refused. A verified JWT is remembered by its string until its exp,
 * for at most a few minutes (src/auth/token-cache.ts has the rules); API keys are checked on
 * every request.
 */

export interface AuthenticatorOptions {
  readonly db: Database;
  readonly jwtSecret: string;
  /** LOCONOMY_DB_ANON_ROLE. */
  readonly anonRole: string;
  readonly clerk: ClerkOptions;
  readonly log: Logger;
  /** The clock, in milliseconds (default Date.now); token times are checked against it. */
  readonly now?: () => number;
  /** Reuse of verified JWTs (default: 1000 tokens, 5 minutes). */
  readonly tokenCache?: TokenCacheOptions;
  /**
   * Called with the claims of each newly verified Clerk token, before the request goes on: creates
   * the account of a sub that has none (src/integrations/clerk/accounts.ts, just in time).
   */
  readonly ensureClerkAccount?: (claims: Claims) => Promise<void>;
}

export function createAuthenticator(options: AuthenticatorOptions): Authenticator {
  const { db, anonRole, log } = options;
  const now = options.now ?? Date.now;
  // Imported once: jose would import raw bytes again on every verification.
  const secret = createSecretKey(Buffer.from(options.jwtSecret, 'utf8'));
  const opaque = opaqueKeys(options.jwtSecret);
  const clerk = createClerkVerifier(options.clerk, log);
  const verified = new VerifiedTokens(options.tokenCache);
  const anon: Caller = { role: anonRole, claims: { role: anonRole } };
  const serviceRole: Caller = { role: 'service_role', claims: { role: 'service_role' } };
  log.debug({ anonRole, clerk: clerk?.source ?? 'off' }, 'authenticator ready');

  const seconds = () => Math.floor(now() / 1000);

  /** A project JWT's role claim: anon (or the configured anon role, or none), authenticated, service_role. */
  function projectCaller(claims: Claims): Caller {
    const claimed = claims.role;
    let role: string;
    if (claimed === undefined || claimed === 'anon' || claimed === anonRole) role = anonRole;
    else if (claimed === 'authenticated' || claimed === 'service_role') role = claimed;
    else {
      // Never `set role` to whatever a token names (postgres, a table owner…).
      throw invalidToken(
        'PGRST303',
        "The JWT 'role' claim must be anon, authenticated or service_role",
        `got ${JSON.stringify(claimed).slice(0, 100)}`,
      );
    }
    return { role, claims: { ...claims, role } };
  }

  async function jwtCaller(token: string): Promise<Caller> {
    const known = verified.get(token, now());
    if (known !== undefined) return known;
    const { alg } = readHeader(token);
    if (alg === 'HS256') {
      const caller = projectCaller(await verifyProjectJwt(secret, token, seconds()));
      verified.set(token, caller, PROJECT_CLOCK_SKEW_S, now());
      return caller;
    }
    if (alg === 'RS256') {
      if (clerk === undefined) {
        throw invalidToken(
          'PGRST301',
          'Wrong or unsupported encoding algorithm',
          'RS256 tokens are Clerk session tokens, and Clerk is not configured (CLERK_JWKS_URL or CLERK_JWT_KEY)',
        );
      }
      // Clerk vouches for who the user is, not for database roles: always authenticated.
      const claims = await clerk.verify(token, seconds());
      await options.ensureClerkAccount?.(claims);
      const caller: Caller = { role: 'authenticated', claims: { ...claims, role: 'authenticated' } };
      // Keys from a JWKS can be withdrawn by Clerk at any time, and a token signed with one must
      // fail from then on: only a fixed key (CLERK_JWT_KEY, changed by a restart) is reused.
      if (clerk.source === 'pem') verified.set(token, caller, CLERK_CLOCK_SKEW_S, now());
      return caller;
    }
    throw invalidToken(
      'PGRST301',
      'Wrong or unsupported encoding algorithm',
      `${JSON.stringify(alg).slice(0, 40)} is not accepted: HS256 (project tokens) or RS256 (Clerk session tokens)`,
    );
  }

  function resolve(credential: string): Promise<Caller> {
    if (isApiKey(credential)) return apiKeyCaller(db, credential);
    if (isOpaqueKey(credential)) {
      const role = opaqueKeyRole(opaque, credential);
      if (role === undefined) throw invalidApiKey("not this project's publishable or secret key");
      return Promise.resolve(role === 'anon' ? anon : serviceRole);
    }
    return jwtCaller(credential);
  }

  return {
    async authenticate(headers: IncomingHttpHeaders): Promise<Caller> {
      const apikey = apikeyHeader(headers.apikey);
      const bearer = headers.authorization === undefined ? undefined : bearerToken(headers.authorization);
      if (bearer === undefined) return apikey === undefined ? anon : resolve(apikey);
      const caller = await resolve(bearer);
      // supabase-js sends the same key in both headers: verify (and count) it once.
      if (apikey === undefined || apikey === bearer) return caller;
      const keyCaller = await resolve(apikey);
      // The bearer decides; an API key in apikey was still counted, so its limits are reported.
      if (caller.responseHeaders === undefined && keyCaller.responseHeaders !== undefined) {
        return { ...caller, responseHeaders: keyCaller.responseHeaders };
      }
      return caller;
    },
  };
}

function apikeyHeader(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value) && value.length !== 1) throw invalidApiKey('send one apikey header');
  const key = (Array.isArray(value) ? (value[0] as string) : value).trim();
  if (key === '') throw invalidApiKey('the apikey header is empty');
  return key;
}

/** The token of `Authorization: Bearer <token>` (scheme in any case, as RFC 7235 allows). */
function bearerToken(value: string): string {
  const match = /^Bearer(?: +(\S*))? *$/i.exec(value.trim());
  if (match === null) {
    throw invalidToken(
      'PGRST301',
      'The Authorization header must be "Bearer <token>"',
      'send the token (a JWT or an API key) as Authorization: Bearer <token>',
    );
  }
  return match[1] ?? '';
}
