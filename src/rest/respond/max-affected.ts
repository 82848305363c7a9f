import { ApiError } from '../../errors.js';
import type { Context } from '../context.js';

/**
 * Prefer: handling=strict, max-affected=N: the rows a write changed, or a set-returning function
 * returned, are counted after the statement, and too many undo it (PGRST124, rolled back). The
 * check needs the statement not to end the transaction, so only requests that ask pay for it.
 */
export function strictMaxAffected(ctx: Context): boolean {
  return ctx.prefer.maxAffected !== undefined && ctx.prefer.handling === 'strict';
}

export function checkMaxAffected(ctx: Context, affected: number): void {
  const max = ctx.prefer.maxAffected;
  if (max !== undefined && strictMaxAffected(ctx) && affected > max) {
    throw new ApiError('PGRST124', {
      message: 'Query result exceeds max-affected preference constraint',
      details: `The query affects ${affected} rows`,
    });
  }
}
