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
