import type { Caller } from '../auth/caller.js';
import type { Queryable } from '../db/database.js';
import { sql } from '../db/sql.js';
import { type ColumnInfo, type Filter, FilterError, parseFilter } from './filter.js';

/**
 * The postgres_changes bindings of a join, checked against realtime.streamed_tables and the
 * caller's column privileges (migration 0031): each becomes a Subscription with the integer
 * id the join reply echoes and deliveries name in `ids`. A binding that cannot be served
 * refuses the whole join, with a reason realtime-js shows as the CHANNEL_ERROR's message.
 */

export type ChangeEvent = 'INSERT' | 'UPDATE' | 'DELETE' | '*';

export interface Subscription {
  /** Positive: realtime-js drops deliveries for a falsy binding id. */
  readonly id: number;
  readonly event: ChangeEvent;
  readonly schema: string;
  /** Undefined: every streamed table of the schema. */
  readonly table: string | undefined;
  readonly filter: Filter | undefined;
}

export class SubscriptionError extends Error {}

const EVENTS: readonly string[] = ['INSERT', 'UPDATE', 'DELETE', '*'];
let lastId = 0;

interface StreamedColumnRow {
  table_name: string;
  columns: ColumnInfo[] | null;
}

/**
 * Parses the join's `config.postgres_changes` for `caller`; returns the subscriptions and the
 * reply's echo (each binding as sent, plus its id). Throws SubscriptionError with the reason.
 */
export async function subscriptionsFor(
  db: Queryable,
  caller: Caller,
  bindings: readonly unknown[],
): Promise<{ subscriptions: Subscription[]; echo: object[] }> {
  const subscriptions: Subscription[] = [];
  const echo: object[] = [];
  const tablesBySchema = new Map<string, Map<string, Map<string, ColumnInfo>>>();
  for (const binding of bindings) {
    if (typeof binding !== 'object' || binding === null || Array.isArray(binding)) {
      throw new SubscriptionError('InvalidPostgresChanges: each postgres_changes binding must be an object');
    }
    const params = binding as Record<string, unknown>;
    const { event, schema, table, filter } = params;
    const described = describe(params);
    if (typeof event !== 'string' || !EVENTS.includes(event.toUpperCase())) {
      throw new SubscriptionError(`InvalidPostgresChanges: event must be INSERT, UPDATE, DELETE or * (${described})`);
    }
    if (typeof schema !== 'string' || schema === '') {
      throw new SubscriptionError(`InvalidPostgresChanges: schema is required (${described})`);
    }
    if (table !== undefined && table !== null && (typeof table !== 'string' || table === '')) {
      throw new SubscriptionError(`InvalidPostgresChanges: table must be a table name (${described})`);
    }
    if (filter !== undefined && filter !== null && typeof filter !== 'string') {
      throw new SubscriptionError(`InvalidPostgresChanges: filter must be a string (${described})`);
    }
    let tables = tablesBySchema.get(schema);
    if (tables === undefined) {
      tables = await streamedTables(db, caller.role, schema);
      tablesBySchema.set(schema, tables);
    }
    const tableName = typeof table === 'string' && table !== '*' ? table : undefined;
    const columns = tableName === undefined ? undefined : tables.get(tableName);
    if ((tableName !== undefined && columns === undefined) || tables.size === 0) {
      throw new SubscriptionError(
        `UnknownPostgresChangesTable: Unable to subscribe to changes with given parameters. Please check Realtime is enabled for the given connect parameters: [${described}] (see realtime.streamed_tables)`,
      );
    }
    let parsed: Filter | undefined;
    if (typeof filter === 'string' && filter !== '') {
      if (columns === undefined) {
        throw new SubscriptionError(`InvalidPostgresChanges: a filter needs a table (${described})`);
      }
      try {
        parsed = parseFilter(filter, columns);
      } catch (error) {
        if (!(error instanceof FilterError)) throw error;
        throw new SubscriptionError(
          `InvalidPostgresChangesFilter: Error parsing \`filter\` params: ${JSON.stringify(filter)}: ${error.message}`,
        );
      }
    }
    lastId = lastId >= 2 ** 31 - 1 ? 1 : lastId + 1;
    subscriptions.push({
      id: lastId,
      event: event.toUpperCase() as ChangeEvent,
      schema,
      table: tableName,
      filter: parsed,
    });
    echo.push({ ...params, id: lastId });
  }
  return { subscriptions, echo };
}

/** The streamed tables of `schema` with the columns `role` may SELECT (none: absent). */
async function streamedTables(
  db: Queryable,
  role: string,
  schema: string,
): Promise<Map<string, Map<string, ColumnInfo>>> {
  const { rows } = await db.query<StreamedColumnRow>(sql`
    select s.table_name,
           (select jsonb_agg(jsonb_build_object('name', a.attname, 'type', t.typname, 'category', t.typcategory)
                             order by a.attnum)
              from pg_catalog.pg_attribute a join pg_catalog.pg_type t on t.oid = a.atttypid
             where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
               and pg_catalog.has_column_privilege(${role}, c.oid, a.attnum, 'SELECT')) as columns
      from realtime.streamed_tables s
      join pg_catalog.pg_namespace n on n.nspname = s.schema_name
      join pg_catalog.pg_class c on c.relnamespace = n.oid and c.relname = s.table_name
     where s.schema_name = ${schema}`);
  const tables = new Map<string, Map<string, ColumnInfo>>();
  for (const row of rows) {
    if (row.columns === null) continue; // nothing readable: as if not streamed, for this caller
    tables.set(row.table_name, new Map(row.columns.map((c) => [c.name, c])));
  }
  return tables;
}

function describe(params: Record<string, unknown>): string {
  const show = (v: unknown) => (v === undefined || v === null ? 'nil' : String(v).slice(0, 100));
  return `event: ${show(params.event)}, schema: ${show(params.schema)}, table: ${show(params.table)}, filters: [${show(params.filter)}]`;
}
