import { ApiError } from '../../errors.js';

/**
 * Content negotiation as PostgREST does it: the first acceptable of the media types the
 * endpoint offers, by the Accept header's order and q-values; 406 when none is.
 */
export type MediaType = 'json' | 'object' | 'csv' | 'openapi';

const OFFERS: Record<string, MediaType> = {
  'application/json': 'json',
  'application/vnd.pgrst.object+json': 'object',
  'application/vnd.pgrst.object': 'object',
  'text/csv': 'csv',
  'application/openapi+json': 'openapi',
};

export function negotiate(accept: string | undefined, offered: readonly MediaType[]): MediaType {
  const fallback = offered[0] as MediaType;
  if (accept === undefined || accept.trim() === '') return fallback;
  const ranges = accept
    .split(',')
    .map((part, index) => {
      const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
      const q = params.find((p) => p.startsWith('q='));
      return { type, q: q ? Number(q.slice(2)) : 1, index };
    })
    .filter((r) => r.type !== '' && !(r.q <= 0))
    .sort((a, b) => b.q - a.q || a.index - b.index);
  for (const range of ranges) {
    if (range.type === '*/*' || range.type === 'application/*') return fallback;
    const media = OFFERS[range.type];
    if (media && offered.includes(media)) return media;
  }
  throw new ApiError('PGRST107', {
    status: 406,
    message: `None of these media types are available: ${ranges.map((r) => r.type).join(', ')}`,
  });
}

export const CONTENT_TYPES: Record<MediaType, string> = {
  json: 'application/json; charset=utf-8',
  object: 'application/vnd.pgrst.object+json; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  openapi: 'application/openapi+json; charset=utf-8',
};

/**
 * `Accept: application/vnd.pgrst.plan[+json|+text]; for="…"; options=analyze|verbose|…`: the
 * request asks for the query plan instead of the rows (PostgREST's db-plan-enabled).
 */
export interface PlanRequest {
  readonly format: 'json' | 'text';
  /** The media type whose statement is explained. */
  readonly for: MediaType;
  readonly options: ReadonlySet<ExplainOption>;
}

export type ExplainOption = 'analyze' | 'verbose' | 'settings' | 'buffers' | 'wal';
const EXPLAIN_OPTIONS = new Set<string>(['analyze', 'verbose', 'settings', 'buffers', 'wal']);
const PLAN_TYPES: Record<string, 'json' | 'text'> = {
  'application/vnd.pgrst.plan': 'text',
  'application/vnd.pgrst.plan+text': 'text',
  'application/vnd.pgrst.plan+json': 'json',
};

export function planRequest(accept: string | undefined, enabled: boolean): PlanRequest | undefined {
  if (accept === undefined) return undefined;
  const [type = '', ...params] = accept.split(';').map((s) => s.trim());
  const format = PLAN_TYPES[type.toLowerCase()];
  if (format === undefined) return undefined;
  if (!enabled) {
    throw new ApiError('PGRST107', {
      status: 406,
      message: `None of these media types are available: ${type}`,
      hint: 'Query plans are off; set LOCONOMY_DB_PLAN_ENABLED=true to allow them.',
    });
  }
  let target: MediaType = 'json';
  const options = new Set<ExplainOption>();
  for (const param of params) {
    const [name = '', value = ''] = param.split('=', 2).map((s) => s.trim());
    if (name === 'for') target = negotiate(value.replace(/^"|"$/g, ''), ['json', 'object', 'csv']);
    else if (name === 'options') {
      for (const option of value.split('|')) {
        if (!EXPLAIN_OPTIONS.has(option)) {
          throw new ApiError('PGRST107', { status: 406, message: `The plan option '${option}' is not known` });
        }
        options.add(option as ExplainOption);
      }
    }
  }
  return { format, for: target, options };
}

export function planContentType(plan: PlanRequest): string {
  const forType = CONTENT_TYPES[plan.for].split(';')[0] as string;
  return `application/vnd.pgrst.plan+${plan.format}; for="${forType}"; charset=utf-8`;
}
