import type { Queryable } from '../db/database.js';
import { loadSchemaCache, type Routine, type SchemaCache, type TypeName } from '../rest/schema/cache.js';
import { TYPE_CATALOG_QUERY } from './catalog.sql.js';

/**
 * What the type generator knows of the database: the REST layer's schema cache (relations,
 * columns, foreign keys, functions — the same facts the server answers from) plus the one
 * query of catalog.sql.ts for what only types need. Loading is the only part that touches the
 * database; src/gen/types.ts renders from this alone.
 */

export interface PgType {
  readonly schema: string;
  readonly name: string;
  /** pg_type.typtype: b base, c composite, d domain, e enum, p pseudo, r range, m multirange. */
  readonly kind: string;
  /** For a composite type, the pg_class.relkind behind it: c a standalone type, r/p/v/m/f a relation's row. */
  readonly relkind: string | null;
  /** The element type of an array type. */
  readonly element: TypeName | null;
  /** The type a domain is over. */
  readonly base: TypeName | null;
  /** An enum's labels in their order. */
  readonly labels: readonly string[] | null;
  /** A standalone composite type's attributes, in order. */
  readonly attributes: readonly { readonly name: string; readonly type: TypeName }[] | null;
  /** A user-defined type that to_json renders through a cast to json (PostGIS geometry → GeoJSON). */
  readonly jsonCast: boolean;
}

export interface ColumnFacts {
  /** pg_attribute.attidentity: a generated always, d by default, '' not an identity column. */
  readonly identity: '' | 'a' | 'd';
  /** False for a view column that cannot be written (an expression, a non-updatable view). */
  readonly updatable: boolean;
}

export interface TypeCatalog {
  /** The schemas asked for, in the order given; the first is the default schema. */
  readonly schemas: readonly string[];
  /** Which of them exist. */
  readonly existing: ReadonlySet<string>;
  readonly cache: SchemaCache;
  /** Every type the schemas use or define (see catalog.sql.ts). */
  readonly types: readonly PgType[];
  type(name: TypeName): PgType | undefined;
  column(schema: string, relation: string, column: string): ColumnFacts | undefined;
  /** The planner's row estimate of a function (prorows): 0 for one that returns no set. */
  rows(routine: Routine): number | undefined;
}

interface RawCatalog {
  schemas: string[];
  types: {
    schema: string;
    name: string;
    kind: string;
    relkind: string | null;
    element_schema: string | null;
    element_name: string | null;
    base_schema: string | null;
    base_name: string | null;
    labels: string[] | null;
    attributes: { name: string; type_schema: string; type_name: string }[] | null;
    json_cast: boolean;
  }[];
  columns: { schema: string; relation: string; name: string; identity: string; updatable: boolean }[];
  functions: { schema: string; name: string; rows: number; inputs: TypeName[] }[];
}

const key = (...parts: string[]) => parts.join('\u0000');
const typeKey = (t: TypeName) => key(t.schema, t.name);
const signature = (schema: string, name: string, inputs: readonly TypeName[]) =>
  key(schema, name, ...inputs.map(typeKey));

export async function loadTypeCatalog(db: Queryable, schemas: readonly string[]): Promise<TypeCatalog> {
  // No API roles: column readers do not change types.
  const cache = await loadSchemaCache(db, schemas, []);
  const { rows } = await db.query<{ catalog: string }>(TYPE_CATALOG_QUERY, [schemas]);
  return buildTypeCatalog(JSON.parse(rows[0]?.catalog ?? '{}') as RawCatalog, cache, schemas);
}

export function buildTypeCatalog(raw: RawCatalog, cache: SchemaCache, schemas: readonly string[]): TypeCatalog {
  const ref = (schema: string | null, name: string | null): TypeName | null =>
    schema !== null && name !== null ? { schema, name } : null;
  const types = new Map<string, PgType>(
    raw.types.map((t) => [
      key(t.schema, t.name),
      {
        schema: t.schema,
        name: t.name,
        kind: t.kind,
        relkind: t.relkind,
        element: ref(t.element_schema, t.element_name),
        base: ref(t.base_schema, t.base_name),
        labels: t.labels,
        attributes:
          t.attributes?.map((a) => ({ name: a.name, type: { schema: a.type_schema, name: a.type_name } })) ?? null,
        jsonCast: t.json_cast,
      },
    ]),
  );
  const columns = new Map<string, ColumnFacts>(
    raw.columns.map((c) => [
      key(c.schema, c.relation, c.name),
      {
        identity: (c.identity === 'a' || c.identity === 'd' ? c.identity : '') as ColumnFacts['identity'],
        updatable: c.updatable,
      },
    ]),
  );
  const rows = new Map(raw.functions.map((f) => [signature(f.schema, f.name, f.inputs), f.rows]));
  return {
    schemas,
    existing: new Set(raw.schemas),
    cache,
    types: [...types.values()],
    type: (name) => types.get(typeKey(name)),
    column: (schema, relation, column) => columns.get(key(schema, relation, column)),
    rows: (routine) =>
      rows.get(
        signature(
          routine.schema,
          routine.name,
          routine.params.map((p) => p.pgType),
        ),
      ),
  };
}
