import { ApiError } from '../../errors.js';
import type { Preferences } from '../parse/prefer.js';
import type { Relation } from '../schema/cache.js';
import type { FilterPlan, OrderPlan, SelectPlan } from './types.js';

/**
 * Writes: INSERT (bulk, upsert), UPDATE, DELETE and PUT, checked against the schema cache.
 * The body stays JSON; the SQL stage hands it to json_populate_record(set) as one parameter.
 */
export interface MutatePlan {
  readonly kind: 'insert' | 'update' | 'delete';
  readonly relation: Relation;
  /** Columns written (insert/update). */
  readonly columns: readonly string[];
  /**
   * Insert: runs of consecutive rows giving the same columns (missing=default: the others take
   * their defaults); otherwise one group of every column.
   */
  readonly groups: readonly { readonly columns: readonly string[]; readonly rows: readonly unknown[] }[];
  /** Update: the values to set. */
  readonly values?: Record<string, unknown>;
  readonly onConflict?: { readonly columns: readonly string[]; readonly action: 'update' | 'nothing' };
  readonly where: readonly FilterPlan[];
  /** PATCH/DELETE with `limit` (and `offset`): only the first rows by `order` are written. */
  readonly limited?: { readonly order: readonly OrderPlan[]; readonly limit: number; readonly offset?: number };
  /** What to return: rows (return=representation), primary keys (headers-only), or nothing. */
  readonly returning: 'representation' | 'headers-only' | 'minimal';
  readonly select?: SelectPlan;
}

export function bodyRows(body: unknown): Record<string, unknown>[] {
  const rows = Array.isArray(body) ? body : [body];
  if (
    body === undefined ||
    body === null ||
    rows.some((r) => typeof r !== 'object' || r === null || Array.isArray(r))
  ) {
    throw new ApiError('PGRST102', {
      message: 'The request body must be a JSON object or an array of JSON objects',
    });
  }
  return rows as Record<string, unknown>[];
}

export function checkBodyColumns(relation: Relation, columns: readonly string[]): void {
  for (const column of columns) {
    if (!relation.columns.has(column)) {
      throw new ApiError('PGRST204', {
        message: `Could not find the '${column}' column of '${relation.name}' in the schema cache`,
      });
    }
  }
}

/** The columns and row groups of an insert, following PostgREST's rules for keys and `columns=`. */
export function insertGroups(
  relation: Relation,
  rows: readonly Record<string, unknown>[],
  columnsParam: readonly string[] | undefined,
  prefer: Preferences,
): { columns: string[]; groups: MutatePlan['groups'] } {
  if (columnsParam) {
    checkBodyColumns(relation, columnsParam);
    if (prefer.missing !== 'default') return { columns: [...columnsParam], groups: [{ columns: columnsParam, rows }] };
    // Runs of consecutive rows with the same keys, not one group per key set: the groups'
    // rows come back in their order, so the representation keeps the body's order.
    const groups: { columns: string[]; rows: unknown[] }[] = [];
    let key: string | undefined;
    for (const row of rows) {
      const present = columnsParam.filter((c) => Object.hasOwn(row, c));
      const rowKey = present.join('\u0000');
      if (rowKey !== key || groups.length === 0) groups.push({ columns: present, rows: [] });
      key = rowKey;
      groups.at(-1)?.rows.push(row);
    }
    return { columns: [...columnsParam], groups };
  }
  const first = Object.keys(rows[0] ?? {});
  for (const row of rows) {
    const keys = Object.keys(row);
    if (keys.length !== first.length || keys.some((k) => !first.includes(k))) {
      throw new ApiError('PGRST102', { message: 'All object keys must match' });
    }
  }
  checkBodyColumns(relation, first);
  return { columns: first, groups: [{ columns: first, rows }] };
}
