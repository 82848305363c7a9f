import { ApiError } from '../../errors.js';
import { type Context, type RestResponse, txOverridable } from '../context.js';
import { type PreferenceName, preferenceApplied } from '../parse/prefer.js';
import { CONTENT_TYPES, isSingular, type MediaType } from '../plan/negotiate.js';
import { contentRange } from '../respond/range.js';

/**
 * A page of rows as the response: Content-Range, 206/416, Preference-Applied, and the singular
 * object of vnd.pgrst.object (406 unless exactly one row).
 */

export interface PageResult {
  readonly pageTotal: number;
  /** The database's JSON (or CSV): text, or its bytes when the statement asked for them (reads on PostgreSQL). */
  readonly body: string | Buffer;
  readonly total?: number;
  /** The total is the planner's estimate, not a count. */
  readonly estimated?: boolean;
}

/** What a read echoes in Preference-Applied; a function call also its params. */
export const READ_ECHO: readonly PreferenceName[] = ['count', 'tx', 'handling', 'timezone'];

export const CALL_ECHO: readonly PreferenceName[] = ['params', 'count', 'tx', 'handling', 'timezone', 'max-affected'];

export function respondRows(
  ctx: Context,
  media: MediaType,
  result: PageResult,
  offset: number,
  status: number,
  echo: readonly PreferenceName[] = READ_ECHO,
): RestResponse {
  const headers: Record<string, string> = {
    'content-type': CONTENT_TYPES[media],
    'content-range': contentRange(offset, result.pageTotal, result.total),
  };
  const applied = preferenceApplied(ctx.prefer, echo, txOverridable(ctx));
  if (applied) headers['preference-applied'] = applied;
  if (isSingular(media)) return { status, headers, body: singular(media, result.pageTotal, result.body.toString()) };
  if (offset > 0 && result.total !== undefined && !result.estimated && offset >= result.total && result.total > 0) {
    throw new ApiError('PGRST103', {
      message: 'Requested range not satisfiable',
      details: `An offset of ${offset} was requested, but there are only ${result.total} rows.`,
      headers: { 'content-range': `*/${result.total}`, ...(applied ? { 'preference-applied': applied } : {}) },
    });
  }
  const partial = status === 200 && result.total !== undefined && (offset > 0 || result.pageTotal < result.total);
  return { status: partial ? 206 : status, headers, body: ctx.request.method === 'HEAD' ? undefined : result.body };
}

/**
 * Whether respondRows may still refuse a page once its statement has run: 406 for a singular
 * object, 416 for an offset past a counted total. Then the statement cannot be the
 * transaction's last (`tx.last`), since the refusal must roll the transaction back.
 */
export function mayRefuse(media: MediaType, offset: number, counted: boolean): boolean {
  return isSingular(media) || (offset > 0 && counted);
}

/** The body of a representation: the array, or for vnd.pgrst.object its one row (406 otherwise). */
export function singular(media: MediaType, rows: number, body: string): string {
  if (!isSingular(media)) return body;
  if (rows !== 1) {
    throw new ApiError('PGRST116', {
      message: 'Cannot coerce the result to a single JSON object',
      details: `The result contains ${rows} rows`,
    });
  }
  return body.slice(1, -1).trim();
}
