import type { IncomingHttpHeaders } from 'node:http';
import type { Authenticator, Caller } from '../auth/caller.js';
import { checkScopes } from '../auth/scopes.js';
import { type ApiError, isApiError } from '../errors.js';

/**
 * Realtime authenticates with exactly the REST rules (src/auth/authenticate.ts): the socket's
 * `apikey` plays the `apikey` header and a join's `access_token` the Bearer token, so project
 * keys, opaque keys, Clerk tokens and Loconomy API keys all work, with the same clock skew.
 * API keys need the scope `realtime:read` to join and `realtime:write` to send.
 */

export function credentials(apikey: string | undefined, accessToken?: string): IncomingHttpHeaders {
  return {
    ...(apikey === undefined ? {} : { apikey }),
    ...(accessToken === undefined ? {} : { authorization: `Bearer ${accessToken}` }),
  };
}

export async function authenticateChannel(
  authenticator: Authenticator,
  apikey: string | undefined,
  accessToken: string | undefined,
): Promise<Caller> {
  const caller = await authenticator.authenticate(credentials(apikey, accessToken));
  checkScopes(caller, [{ resource: 'realtime', action: 'read' }]);
  return caller;
}

/** Throws 403 LOCO_AUTH_SCOPE when an API key may not send broadcasts or track presence. */
export function checkWrite(caller: Caller): void {
  checkScopes(caller, [{ resource: 'realtime', action: 'write' }]);
}

/**
 * A refusal as Realtime words a join error's `reason`, `"<Code>: <message>"`, the code being
 * Realtime's where it has one (realtime-js shows the reason as the CHANNEL_ERROR's message).
 */
export function refusalReason(error: unknown): string {
  if (!isApiError(error)) return 'Unknown Error on Channel';
  const text = error.details
    ? `${error.message} (${typeof error.details === 'string' ? error.details : ''})`
    : error.message;
  return `${realtimeCode(error)}: ${text.replace(/ \(\)$/, '')}`;
}

function realtimeCode(error: ApiError): string {
  switch (error.code) {
    case 'PGRST303':
      return 'InvalidJWTToken';
    case 'PGRST301':
      return /cryptographic/.test(error.message) ? 'JwtSignatureError' : 'MalformedJWT';
    case 'LOCO_AUTH_SCOPE':
      return 'Unauthorized';
    case 'LOCO_AUTH_RATE_LIMITED':
      return 'RateLimited';
    default:
      return error.status === 503 ? 'UnableToAuthenticate' : 'Unauthorized';
  }
}

/** When the caller's token stops being valid (its `exp`), in epoch milliseconds; API keys have none. */
export function expiresAt(caller: Caller): number | undefined {
  const exp = caller.claims.exp;
  return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
}

/** The `system` message of a channel closed because its token no longer verifies. */
export function expiryMessage(error: unknown, caller: Caller, now: number): string {
  const exp = expiresAt(caller);
  if (isApiError(error) && error.message === 'JWT expired' && exp !== undefined) {
    return `Token has expired ${Math.max(0, Math.round((now - exp) / 1000))} seconds ago`;
  }
  return refusalReason(error);
}
