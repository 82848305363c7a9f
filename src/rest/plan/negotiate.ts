import { ApiError } from '../../errors.js';

/**
 * Content negotiation as PostgREST does it: the first acceptable of the media types the
 * endpoint offers, by the Accept header's order and q-values; 406 when none is.
 */
export type MediaType =
  | 'json'
  | 'object'
  /** `application/vnd.pgrst.array+json;nulls=stripped`: the array without null-valued keys. */
  | 'json-stripped'
  /** `application/vnd.pgrst.object+json;nulls=stripped`. */
  | 'object-stripped'
  /** `application/geo+json`: a FeatureCollection of the rows (PostGIS ST_AsGeoJSON). */
  | 'geojson'
  | 'csv'
  | 'openapi';

/** What reads, function calls and a write's representation offer, the first the default. */
export const ROW_MEDIA: readonly MediaType[] = ['json', 'object', 'csv', 'json-stripped', 'object-stripped', 'geojson'];

const OFFERS: Record<string, MediaType> = {
  'application/json': 'json',
  'application/vnd.pgrst.array+json': 'json',
  'application/vnd.pgrst.array': 'json',
  'application/vnd.pgrst.object+json': 'object',
  'application/vnd.pgrst.object': 'object',
  'application/geo+json': 'geojson',
  'text/csv': 'csv',
  'application/openapi+json': 'openapi',
};

/** With `nulls=stripped`, the array and object types strip null-valued keys (PostgREST 11.2+). */
const STRIPPED: Partial<Record<MediaType, MediaType>> = { json: 'json-stripped', object: 'object-stripped' };

/** vnd.pgrst.object, stripped or not: one row, 406 otherwise. */
export function isSingular(media: MediaType): boolean {
  return media === 'object' || media === 'object-stripped';
}

export function negotiate(accept: string | undefined, offered: readonly MediaType[]): MediaType {
  const fallback = offered[0] as MediaType;
  if (accept === undefined || accept.trim() === '') return fallback;
  const ranges = accept
    .split(',')
    .map((part, index) => {
      const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
      const q = params.find((p) => p.startsWith('q='));
      const stripped = params.includes('nulls=stripped');
      return { type, q: q ? Number(q.slice(2)) : 1, index, stripped };
    })
    .filter((r) => r.type !== '' && !(r.q <= 0))
    .sort((a, b) => b.q - a.q || a.index - b.index);
  for (const range of ranges) {
    if (range.type === '*/*' || range.type === 'application/*') return fallback;
    const plain = OFFERS[range.type];
    // Only the array type (application/json is not one) takes nulls=stripped.
    const media = range.stripped && plain && range.type.startsWith('application/vnd.pgrst.') ? STRIPPED[plain] : plain;
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
  'json-stripped': 'application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8',
  'object-stripped': 'application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8',
  geojson: 'application/geo+json; charset=utf-8',
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
  const [type = '', ...params] = splitParams(accept);
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
    const eq = param.indexOf('=');
    const name = (eq < 0 ? param : param.slice(0, eq)).trim();
    const value = eq < 0 ? '' : param.slice(eq + 1).trim();
    if (name === 'for') target = negotiate(value.replace(/^"|"$/g, ''), ROW_MEDIA);
    else if (name === 'options') {
      // postgrest-js's `.explain()` without options sends `options=;`: none.
      for (const option of value.split('|').filter((o) => o !== '')) {
        if (!EXPLAIN_OPTIONS.has(option)) {
          throw new ApiError('PGRST107', { status: 406, message: `The plan option '${option}' is not known` });
        }
        options.add(option as ExplainOption);
      }
    }
  }
  return { format, for: target, options };
}

/** `a; b="c;d"; e` → a, b="c;d", e: a quoted parameter value may hold a `;` (for="…;nulls=stripped"). */
function splitParams(text: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    if (ch === ';' && !quoted) {
      parts.push(current.trim());
      current = '';
    } else current += ch;
  }
  parts.push(current.trim());
  return parts;
}

export function planContentType(plan: PlanRequest): string {
  const forType = CONTENT_TYPES[plan.for].replace(/; charset=utf-8$/, '');
  return `application/vnd.pgrst.plan+${plan.format}; for="${forType}"; charset=utf-8`;
}
