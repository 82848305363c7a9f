import { ApiError, isApiError, oneLine } from '../errors.js';
import type { ReadyFunction } from './registry.js';
import type { FunctionContext } from './types.js';

/**
 * One call of a function's handler under its timeout. The outcome is the function's Response,
 * or an ApiError for what Supabase's edge runtime answers itself: 504 IDLE_TIMEOUT when no
 * Response came in time (the request's signal is aborted so the function can stop), 500
 * WORKER_ERROR when it threw or returned something that is not a Response. An ApiError the
 * function let through (a failed ctx.db statement: its SQLSTATE and status) is answered as is.
 */

/** Supabase's `sb-error-code` for the errors the runtime answers (docs: Edge Functions error codes). */
export const SB_ERROR_CODES: Readonly<Record<string, string>> = {
  LOCO_FUNCTION_BOOT_ERROR: 'BOOT_ERROR',
  LOCO_FUNCTION_ERROR: 'WORKER_ERROR',
  LOCO_FUNCTION_TIMEOUT: 'IDLE_TIMEOUT',
};

export interface Call {
  readonly fn: ReadyFunction;
  readonly request: Request;
  readonly ctx: FunctionContext;
  /** Aborted here on timeout; the caller aborts it when the client goes away. */
  readonly controller: AbortController;
  /** Details of a thrown error in the answer (not in production). */
  readonly production: boolean;
}

export async function invoke({ fn, request, ctx, controller, production }: Call): Promise<Response> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), fn.limits.timeoutMs);
  });
  const running = (async () => fn.handler(request, ctx))();
  try {
    const outcome = await Promise.race([running, timedOut]);
    if (outcome === 'timeout') {
      controller.abort(new DOMException(`${fn.name} did not answer within ${fn.limits.timeoutMs} ms`, 'TimeoutError'));
      // Whatever it answers later is dropped; its failure is only logged.
      running.then(
        (late) => void (late instanceof Response ? late.body?.cancel().catch(() => {}) : undefined),
        (error) => ctx.log.warn({ err: error }, 'function failed after its timeout'),
      );
      throw new ApiError('LOCO_FUNCTION_TIMEOUT', {
        message: `The function ${fn.name} did not answer within ${fn.limits.timeoutMs} ms`,
        hint: 'Make it faster, or raise its limit: export const config = { timeoutMs: … }, or LOCONOMY_FUNCTIONS_TIMEOUT_MS.',
      });
    }
    if (!(outcome instanceof Response)) {
      throw new ApiError('LOCO_FUNCTION_ERROR', {
        message: `The function ${fn.name} did not return a Response`,
        details: production ? null : `it returned ${describe(outcome)}`,
        hint: 'Return new Response(…) or Response.json(…) from the handler.',
      });
    }
    return outcome;
  } catch (error) {
    if (isApiError(error)) throw error;
    ctx.log.error({ err: error }, 'function threw');
    throw new ApiError('LOCO_FUNCTION_ERROR', {
      message: `The function ${fn.name} failed`,
      details: production ? null : oneLine(error),
    });
  } finally {
    clearTimeout(timer);
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'Object'})`;
  return typeof value;
}
