import type { Caller } from '../src/auth/caller.js';
import type { Config } from '../src/config.js';
import { enterRequestContext, searchPathValue } from '../src/db/context.js';
import type { Database, Transaction } from '../src/db/database.js';
import type { Query } from '../src/db/sql.js';
import { handleRest, type RestRequest } from '../src/rest/handler.js';
import { loadSchemaCache } from '../src/rest/schema/cache.js';

/*
 * The SQL a REST request runs, recorded and turned into a pgbench script, so a benchmark can
 * compare an API with the very statements behind it (rest.bench.ts, graphql.bench.ts).
 */

/** A transaction that records every statement it runs (text and values) and runs it. */
function recording(tx: Transaction, log: { text: string; values: readonly unknown[] }[]): Transaction {
  const record = (query: Query | string, params?: readonly unknown[]): Query => {
    const q = typeof query === 'string' ? { text: query, values: params ?? [] } : query;
    log.push({ text: q.text, values: q.values });
    return q;
  };
  return {
    ...tx,
    query: (query, params) => tx.query(record(query, params)),
    last: (query, params) => tx.last(record(query, params)),
  };
}

/** Runs one request through the REST handler, as the server would, and returns its statements. */
export async function recordRequest(db: Database, config: Config, caller: Caller, request: RestRequest) {
  const cache = await loadSchemaCache(db, config.db.schemas, ['anon', 'authenticated', 'service_role']);
  const statements: { text: string; values: readonly unknown[] }[] = [];
  const spy: Database = {
    ...db,
    asRole: (role, claims, fn, info) =>
      db.transaction(
        async (tx) => {
          const rec = recording(tx, statements);
          await enterRequestContext(rec, role, claims, info, searchPathValue(config.db.extraSearchPath));
          return fn(rec);
        },
        { end: 'rollback' }, // leave nothing behind
      ),
  };
  const response = await handleRest({ db: spy, config, schemaCache: () => cache }, caller, request);
  if (response.status >= 300) throw new Error(`recording got ${response.status}: ${response.body}`);
  return statements;
}

/** A value as a SQL literal for a pgbench script, or the expression that varies it. */
function literal(value: unknown, vary: (v: unknown) => string | undefined): string {
  const varied = vary(value);
  if (varied) return varied;
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number') return String(value);
  const text = Array.isArray(value)
    ? `{${value.map((v) => `"${String(v).replaceAll('"', '\\"')}"`).join(',')}}`
    : String(value);
  return `'${text.replaceAll("'", "''")}'`;
}

export function pgbenchScript(
  statements: { text: string; values: readonly unknown[] }[],
  vary: (v: unknown) => string | undefined,
) {
  const body = statements.map(
    (s) => `${s.text.replace(/\$(\d+)/g, (_, n) => literal(s.values[Number(n) - 1], vary)).replace(/\s*\n\s*/g, ' ')};`,
  );
  return ['begin;', ...body, 'commit;', ''].join('\n');
}
