import { ApiError } from '../../errors.js';
import { Cursor } from './field.js';
import { type FilterNode, parseCondition, parseLogic } from './filter.js';
import { type OrderTerm, parseOrder } from './order.js';
import { parseSelect, type SelectItem } from './select.js';

/**
 * The query string of a request, split the way PostgREST splits it: reserved parameters
 * (select, order, limit, offset, on_conflict, columns) and filters, each of which may be
 * prefixed by an embedding path (`reviews.rating=gte.4`, `reviews.order=created_at.desc`).
 * Entries that are not reserved stay raw until the plan knows whether they are RPC arguments.
 */
export interface ParsedQuery {
  readonly select: readonly SelectItem[];
  /** `order` per embedding path ('' is the root, 'reviews.author' a nested embedding). */
  readonly order: ReadonlyMap<string, readonly OrderTerm[]>;
  readonly limit: ReadonlyMap<string, number>;
  readonly offset: ReadonlyMap<string, number>;
  readonly onConflict?: readonly string[];
  readonly columns?: readonly string[];
  /** Every other parameter, in order. */
  readonly rest: readonly (readonly [key: string, value: string])[];
}

export interface PathFilter {
  /** The embedding path ('' is the root). */
  readonly path: string;
  readonly node: FilterNode;
}

export function parseQuery(search: URLSearchParams): ParsedQuery {
  let select: SelectItem[] | undefined;
  const order = new Map<string, OrderTerm[]>();
  const limit = new Map<string, number>();
  const offset = new Map<string, number>();
  let onConflict: string[] | undefined;
  let columns: string[] | undefined;
  const rest: [string, string][] = [];
  for (const [key, value] of search) {
    const { path, last } = splitKey(key);
    if (key === 'select') select = parseSelect(value);
    else if (key === 'on_conflict') onConflict = nameList(value, 'on_conflict');
    else if (key === 'columns') columns = nameList(value, 'columns');
    else if (last === 'order') order.set(path, parseOrder(value));
    else if (last === 'limit') limit.set(path, nonNegative(value, key));
    else if (last === 'offset') offset.set(path, nonNegative(value, key));
    else rest.push([key, value]);
  }
  return { select: select ?? [{ kind: 'star' }], order, limit, offset, onConflict, columns, rest };
}

/** A filter entry `[path.]column=…`, `[path.]or=(…)`, `[path.]not.and=(…)`. */
export function parseFilter(key: string, value: string): PathFilter {
  const { path, last } = splitKey(key);
  const logic = /^(not\.)?(and|or)$/.exec(last);
  if (logic) return { path, node: parseLogic(logic[2] as 'and' | 'or', logic[1] !== undefined, value, key) };
  const cursor = new Cursor(last, `filter key (${key})`);
  const field = cursor.field('');
  if (!cursor.done) cursor.fail('end of the column name');
  return { path, node: parseCondition(field, value, key) };
}

/** `reviews.author.rating` → path `reviews.author`, last `rating`; JSON paths stay whole. */
function splitKey(key: string): { path: string; last: string } {
  const arrow = key.indexOf('->');
  const head = arrow < 0 ? key : key.slice(0, arrow);
  const tail = arrow < 0 ? '' : key.slice(arrow);
  const notLogic = /(^|\.)not\.(and|or)$/.exec(head);
  const cut = notLogic ? notLogic.index : head.lastIndexOf('.');
  if (cut < 0 || (notLogic && notLogic.index === 0)) return { path: '', last: key };
  return { path: head.slice(0, cut), last: head.slice(cut + 1) + tail };
}

function nameList(value: string, what: string): string[] {
  const names = value
    .split(',')
    .map((s) => s.trim())
    .map((s) => (s.startsWith('"') && s.endsWith('"') && s.length > 1 ? s.slice(1, -1) : s));
  if (names.some((n) => n === '')) {
    throw new ApiError('PGRST100', {
      message: `"failed to parse ${what} parameter (${value})"`,
      details: 'expecting a comma-separated list of column names',
    });
  }
  return names;
}

function nonNegative(value: string, key: string): number {
  if (!/^\d{1,15}$/.test(value)) {
    throw new ApiError('PGRST100', {
      message: `"failed to parse ${key} parameter (${value})"`,
      details: 'expecting a non-negative integer',
    });
  }
  return Number(value);
}

/**
 * `Range: 0-9` (with `Range-Unit: items`, the only unit): offset and limit. An open end
 * (`10-`) has no limit. A range whose end is before its start is 416, as in PostgREST.
 */
export function parseRange(header: string | undefined): { offset: number; limit?: number } | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  const match = /^\s*(?:items=)?(\d{1,15})-(\d{1,15})?\s*$/.exec(header);
  if (!match) return undefined; // PostgREST ignores a Range it cannot read
  const from = Number(match[1]);
  if (match[2] === undefined) return { offset: from };
  const to = Number(match[2]);
  if (to < from) {
    throw new ApiError('PGRST103', {
      message: 'Requested range not satisfiable',
      details: 'The lower boundary must be lower than or equal to the upper boundary in the Range header.',
    });
  }
  return { offset: from, limit: to - from + 1 };
}
