import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { type ApiError, isApiError } from '../../src/errors.js';

/* What the test/auth files share: asserting the ApiError an authentication attempt ends in. */

export const SECRET = 'auth-test-secret-auth-test-secret-0123456789';

export interface Expected {
  readonly status: number;
  readonly code: string;
  readonly message?: string | RegExp;
}

/** Awaits a rejection and checks it is the ApiError expected; 401s must say WWW-Authenticate. */
export async function refused(attempt: Promise<unknown>, expected: Expected): Promise<ApiError> {
  let error: unknown;
  try {
    await attempt;
  } catch (caught) {
    error = caught;
  }
  assert.ok(isApiError(error), `expected an ApiError, got ${error === undefined ? 'success' : String(error)}`);
  assert.equal(error.status, expected.status, `status (${error.code}: ${error.message})`);
  assert.equal(error.code, expected.code, `code (${error.message})`);
  if (typeof expected.message === 'string') assert.equal(error.message, expected.message);
  else if (expected.message) assert.match(error.message, expected.message);
  if (error.status === 401) {
    assert.equal(
      error.headers['WWW-Authenticate'],
      `Bearer error="invalid_token", error_description=${JSON.stringify(error.message)}`,
    );
  }
  return error;
}

export function bearer(token: string, extra: IncomingHttpHeaders = {}): IncomingHttpHeaders {
  return { authorization: `Bearer ${token}`, ...extra };
}
