import { ApiError } from '../errors.js';

/**
 * The 401s of authentication, shaped as PostgREST shapes them: PGRST301 when a credential
 * cannot be decoded or verified, PGRST303 when its claims are not acceptable, each with
 * `WWW-Authenticate: Bearer error="invalid_token", error_description="<message>"`.
 * Messages are PostgREST's own where PostgREST has the case ("JWT expired", …).
 */
export function invalidToken(code: 'PGRST301' | 'PGRST303', message: string, details?: string): ApiError {
  return new ApiError(code, {
    message,
    details: details ?? null,
    headers: { 'WWW-Authenticate': `Bearer error="invalid_token", error_description=${JSON.stringify(message)}` },
  });
}

/** PGRST301 for a credential that is not a JWT and not one of ours (opaque or lk_ keys). */
export function invalidApiKey(details: string): ApiError {
  return invalidToken('PGRST301', 'Invalid API key', details);
}
