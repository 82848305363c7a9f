import { ApiError } from '../errors.js';
import type { Caller, ScopeNeed } from './caller.js';

/**
 * API-key scopes. A key's scopes are `resource:action` with `*` allowed for either part
 * (app.valid_scopes in 0013): `listings:read`, `bookings:*`, `*:read`, `*:*`. A need is met by
 * the exact scope or a wildcard; `write` does not imply `read`. Callers without an API key
 * (tokens, project keys) have no scopes to check: their role and RLS decide.
 */

/** Throws 403 LOCO_AUTH_SCOPE naming every scope the request lacks; a no-op without an API key. */
export function checkScopes(caller: Caller, needs: readonly ScopeNeed[]): void {
  if (caller.apiKey === undefined) return;
  const granted = new Set(caller.apiKey.scopes);
  const missing = needs
    .filter((need) => !grants(granted, need))
    .map((need) => `${need.resource}:${need.action}`)
    .filter((scope, i, all) => all.indexOf(scope) === i);
  if (missing.length === 0) return;
  throw new ApiError('LOCO_AUTH_SCOPE', {
    details: `API key ${caller.apiKey.prefix} lacks the scope${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`,
    hint: 'create a key with these scopes (or resource:*, *:action, *:*) using create_api_key()',
  });
}

function grants(granted: ReadonlySet<string>, { resource, action }: ScopeNeed): boolean {
  return (
    granted.has(`${resource}:${action}`) ||
    granted.has(`${resource}:*`) ||
    granted.has(`*:${action}`) ||
    granted.has('*:*')
  );
}
