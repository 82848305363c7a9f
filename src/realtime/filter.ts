/**
 * A postgres_changes `filter`, as realtime-js sends it: `column=op.value` with op one of
 * `eq neq lt lte gt gte in` (`in.(a,b,c)`, at most 100 values), parsed strictly against the
 * table's columns, and matched against a captured row with the column's type in mind
 * (numbers and times compare as such, everything else as text).
 */

export type FilterOp = 'eq' | 'neq' | 'lt' | 'lte' | 'gt' | 'gte' | 'in';

/** What the filter needs to know of a column: its pg_type category (N numeric, D date/time, B boolean…). */
export interface ColumnInfo {
  readonly name: string;
  readonly type: string;
  readonly category: string;
}

export interface Filter {
  readonly column: string;
  readonly op: FilterOp;
  readonly category: string;
  readonly values: readonly string[];
}

const OPS: readonly FilterOp[] = ['eq', 'neq', 'lt', 'lte', 'gt', 'gte', 'in'];
const MAX_IN_VALUES = 100;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class FilterError extends Error {}

/** Parses `filter` for a table with `columns`; throws FilterError saying what is wrong. */
export function parseFilter(filter: string, columns: ReadonlyMap<string, ColumnInfo>): Filter {
  const match = /^([^=]+)=([a-z]+)\.(.*)$/s.exec(filter);
  if (match === null) throw new FilterError('expected column=operator.value');
  const [, column = '', opText = '', raw = ''] = match;
  const info = columns.get(column);
  if (info === undefined) throw new FilterError(`column ${JSON.stringify(column)} is not a column the caller may read`);
  if (!(OPS as readonly string[]).includes(opText)) {
    throw new FilterError(`operator ${JSON.stringify(opText)} is not one of ${OPS.join(', ')}`);
  }
  const op = opText as FilterOp;
  let values: string[];
  if (op === 'in') {
    const list = /^\((.*)\)$/s.exec(raw);
    if (list === null) throw new FilterError('in takes a list: in.(a,b,c)');
    values = (list[1] ?? '').split(',').map((v) => v.trim().replace(/^"(.*)"$/s, '$1'));
    if (values.length > MAX_IN_VALUES) throw new FilterError(`in takes at most ${MAX_IN_VALUES} values`);
  } else {
    values = [raw];
  }
  for (const value of values) checkValue(value, info);
  if ((op === 'lt' || op === 'lte' || op === 'gt' || op === 'gte') && info.category === 'B') {
    throw new FilterError(`${op} does not apply to the boolean column ${column}`);
  }
  return { column, op, category: info.category, values };
}

function checkValue(value: string, info: ColumnInfo): void {
  const bad = () => new FilterError(`${JSON.stringify(value)} is not a valid ${info.type} (column ${info.name})`);
  if (info.category === 'N' && (value.trim() === '' || !Number.isFinite(Number(value)))) throw bad();
  if (info.category === 'D' && Number.isNaN(Date.parse(value))) throw bad();
  if (info.category === 'B' && !['true', 'false', 't', 'f'].includes(value)) throw bad();
  if (info.type === 'uuid' && !UUID.test(value)) throw bad();
}

/** Whether `row` (a captured row as JSON) passes the filter. A missing or null value never does. */
export function matches(filter: Filter, row: Readonly<Record<string, unknown>> | null | undefined): boolean {
  const value = row?.[filter.column];
  if (value === undefined || value === null) return false;
  const results = filter.values.map((wanted) => compare(filter.category, value, wanted));
  switch (filter.op) {
    case 'eq':
      return results[0] === 0;
    case 'neq':
      return results[0] !== 0;
    case 'lt':
      return (results[0] ?? 0) < 0;
    case 'lte':
      return (results[0] ?? 1) <= 0;
    case 'gt':
      return (results[0] ?? 0) > 0;
    case 'gte':
      return (results[0] ?? -1) >= 0;
    case 'in':
      return results.includes(0);
  }
}

/** -1, 0 or 1 as `value` is below, equal to or above `wanted`; NaN when they cannot be compared. */
function compare(category: string, value: unknown, wanted: string): number {
  if (category === 'N') return sign(Number(value) - Number(wanted));
  if (category === 'D') return sign(Date.parse(String(value)) - Date.parse(wanted));
  if (category === 'B') return String(value) === String(wanted === 'true' || wanted === 't') ? 0 : Number.NaN;
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  if (UUID.test(wanted)) return text.toLowerCase() === wanted.toLowerCase() ? 0 : text < wanted ? -1 : 1;
  return text === wanted ? 0 : text < wanted ? -1 : 1;
}

function sign(n: number): number {
  return Number.isNaN(n) ? Number.NaN : Math.sign(n);
}
