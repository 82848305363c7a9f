import type { Queryable } from '../../db/database.js';
import { INTROSPECTION_QUERY } from './introspect.sql.js';

/**
 * The schema cache: what the REST layer knows of the exposed schemas, built from one catalog
 * query (introspect.sql.ts) at start and rebuilt on `NOTIFY pgrst, 'reload schema'`. Parse
 * and plan stages read it and nothing else, so they stay pure functions of request + cache.
 */

/** A type as (schema, name) from pg_type, for casts through sql.ident. */
export interface TypeName {
  readonly schema: string;
  readonly name: string;
}

export interface Column {
  readonly name: string;
  /** format_type(): `integer`, `timestamp with time zone`, `public.listing_status`… */
  readonly type: string;
  readonly pgType: TypeName;
  /** pg_type.typcategory of the (base) type: N numeric, S string, B boolean, A array, U user… */
  readonly category: string;
  readonly nullable: boolean;
  readonly hasDefault: boolean;
  readonly generated: boolean;
  readonly comment: string | null;
  readonly enumValues: readonly string[] | null;
  /** The API roles that may select it (column privileges). */
  readonly readers: ReadonlySet<string>;
}

export type RelationKind =
  | 'table'
  | 'view'
  | 'materialized view'
  | 'foreign table'
  | 'partitioned table'
  /** The columns of a `returns table (…)` function (see routineRelation). */
  | 'function result';

export interface Relation {
  readonly schema: string;
  readonly name: string;
  readonly kind: RelationKind;
  readonly comment: string | null;
  readonly columns: ReadonlyMap<string, Column>;
  readonly primaryKey: readonly string[];
  /** Unique constraints (and the primary key), each a column list. */
  readonly uniqueKeys: readonly (readonly string[])[];
  readonly insertable: boolean;
  readonly updatable: boolean;
  readonly deletable: boolean;
}

export interface ForeignKey {
  readonly name: string;
  readonly schema: string;
  readonly table: string;
  readonly columns: readonly string[];
  readonly refSchema: string;
  readonly refTable: string;
  readonly refColumns: readonly string[];
}

/**
 * A way to embed `target` in `source`. Many-to-one and one-to-one follow a foreign key either
 * way; many-to-many goes through a junction table with foreign keys to both.
 */
export interface Relationship {
  readonly cardinality: 'many-to-one' | 'one-to-many' | 'one-to-one' | 'many-to-many';
  readonly source: RelationRef;
  readonly target: RelationRef;
  /** The foreign key's name (for many-to-many, the one from the junction to the target). */
  readonly constraint: string;
  /** Columns of source joined to targetColumns of target (direct relationships). */
  readonly sourceColumns: readonly string[];
  readonly targetColumns: readonly string[];
  /** A computed relationship: the function (taking a row of source) that returns the target rows. */
  readonly computed?: RelationRef;
  readonly junction?: {
    readonly relation: RelationRef;
    /** The junction's foreign key to the source, and its columns (→ sourceColumns). */
    readonly sourceConstraint: string;
    readonly sourceColumns: readonly string[];
    /** The junction's foreign key to the target, and its columns (→ targetColumns). */
    readonly targetConstraint: string;
    readonly targetColumns: readonly string[];
  };
}

export interface RelationRef {
  readonly schema: string;
  readonly name: string;
}

export interface RoutineArg {
  readonly name: string;
  /** i in, o out, b inout, v variadic, t table column. */
  readonly mode: 'i' | 'o' | 'b' | 'v' | 't';
  readonly type: string;
  readonly pgType: TypeName;
  readonly hasDefault: boolean;
}

export interface Routine {
  readonly schema: string;
  readonly name: string;
  readonly comment: string | null;
  readonly volatility: 'immutable' | 'stable' | 'volatile';
  readonly returnsSet: boolean;
  readonly returnType: TypeName;
  /** The table or view whose rows it returns (a composite return type of a relation). */
  readonly returnsRelation: RelationRef | null;
  /** Returns a scalar (not a row type or `table (...)`): the body is the value itself. */
  readonly returnsScalar: boolean;
  /** Input arguments, in order. */
  readonly params: readonly RoutineArg[];
  /** OUT / INOUT / TABLE columns (a `returns table (...)` function's columns). */
  readonly outputs: readonly RoutineArg[];
  readonly variadic: boolean;
  /** The planner's row estimate (`rows N`); 1 on a set-returning function marks it to-one. */
  readonly rows: number;
}

export interface SchemaCache {
  readonly schemas: readonly string[];
  relation(schema: string, name: string): Relation | undefined;
  readonly relations: readonly Relation[];
  routines(schema: string, name: string): readonly Routine[];
  readonly allRoutines: readonly Routine[];
  /**
   * Every relationship from `source` (by schema and name) embeddable as `name`: the target's
   * name, or a computed relationship's function name (which then hides the others).
   */
  relationships(source: RelationRef, name: string): readonly Relationship[];
  /** Every relationship from `source`, computed ones included. */
  relationshipsFrom(source: RelationRef): readonly Relationship[];
  /** The role's own settings (ALTER ROLE … SET: statement_timeout…), to set in each request. */
  roleSettings(role: string): Readonly<Record<string, string>>;
  /** A computed field of a relation: a function of one row of it returning a scalar. */
  computedField(source: RelationRef, name: string): Routine | undefined;
  readonly foreignKeys: readonly ForeignKey[];
  /**
   * A check constraint of a table or domain in the exposed schemas, by the fields of a 23514
   * error (schema, table or data type, constraint name).
   */
  check(schema: string, owner: string, name: string): CheckConstraint | undefined;
}

export interface CheckConstraint {
  readonly schema: string;
  /** The table, or the domain when `domain`. */
  readonly owner: string;
  readonly domain: boolean;
  readonly name: string;
  /** `comment on constraint`: the rule in words ("title must be 3 to 200 characters"). */
  readonly comment: string | null;
  /** pg_get_constraintdef: `CHECK ((length(title) >= 3) AND …)`. */
  readonly definition: string;
}

interface RawColumn {
  name: string;
  type: string;
  type_schema: string;
  type_name: string;
  category: string;
  nullable: boolean;
  has_default: boolean;
  generated: boolean;
  comment: string | null;
  enum_values: string[] | null;
  readers: string[];
}
interface RawRelation {
  schema: string;
  name: string;
  kind: string;
  comment: string | null;
  insertable: boolean;
  updatable: boolean;
  deletable: boolean;
  columns: RawColumn[];
  keys: { type: 'p' | 'u'; name: string; columns: string[] }[];
  /** Views: the base table column each view column reads, where it is a plain reference. */
  origins: { column: string; schema: string; table: string; source: string }[];
}
interface RawForeignKey {
  name: string;
  schema: string;
  table: string;
  columns: string[];
  ref_schema: string;
  ref_table: string;
  ref_columns: string[];
}
interface RawFunction {
  schema: string;
  name: string;
  comment: string | null;
  volatility: 'i' | 's' | 'v';
  returns_set: boolean;
  return_type_schema: string;
  return_type_name: string;
  return_type_kind: string;
  return_relation: string | null;
  return_relation_schema: string | null;
  rows: number;
  nargs: number;
  ndefaults: number;
  variadic: boolean;
  args: { name: string; mode: RoutineArg['mode']; type: string; type_schema: string; type_name: string }[];
}
interface RawCache {
  role_settings: Record<string, Record<string, string>>;
  checks?: CheckConstraint[];
  relations: RawRelation[];
  foreign_keys: RawForeignKey[];
  functions: RawFunction[];
}

const KINDS: Record<string, RelationKind> = {
  r: 'table',
  p: 'partitioned table',
  v: 'view',
  m: 'materialized view',
  f: 'foreign table',
};
const VOLATILITY = { i: 'immutable', s: 'stable', v: 'volatile' } as const;

export async function loadSchemaCache(
  db: Queryable,
  schemas: readonly string[],
  roles: readonly string[],
): Promise<SchemaCache> {
  const { rows } = await db.query<{ cache: string }>(INTROSPECTION_QUERY, [schemas, roles]);
  return buildSchemaCache(JSON.parse(rows[0]?.cache ?? '{}') as RawCache, schemas);
}

const key = (schema: string, name: string) => `${schema}\u0000${name}`;

export function buildSchemaCache(raw: RawCache, schemas: readonly string[]): SchemaCache {
  const relations = raw.relations.map(toRelation);
  const byName = new Map(relations.map((r) => [key(r.schema, r.name), r]));
  const tableKeys: ForeignKey[] = raw.foreign_keys.map((f) => ({
    name: f.name,
    schema: f.schema,
    table: f.table,
    columns: f.columns,
    refSchema: f.ref_schema,
    refTable: f.ref_table,
    refColumns: f.ref_columns,
  }));
  const foreignKeys = withViews(tableKeys, raw.relations);
  const checks = new Map((raw.checks ?? []).map((c) => [`${key(c.schema, c.owner)}\u0000${c.name}`, c]));
  const relationships = deriveRelationships(foreignKeys, byName);
  const routines = raw.functions.map(toRoutine);
  const routinesByName = new Map<string, Routine[]>();
  for (const routine of routines) {
    const k = key(routine.schema, routine.name);
    routinesByName.set(k, [...(routinesByName.get(k) ?? []), routine]);
  }
  const computedFields = new Map<string, Routine>();
  for (const { routine, source } of rowFunctions(routines, byName)) {
    if (routine.returnsRelation) {
      const toOne = !routine.returnsSet || routine.rows === 1;
      addTo(relationships, key(source.schema, source.name), {
        cardinality: toOne ? 'many-to-one' : 'one-to-many',
        source: { schema: source.schema, name: source.name },
        target: routine.returnsRelation,
        constraint: routine.name,
        sourceColumns: [],
        targetColumns: [],
        computed: { schema: routine.schema, name: routine.name },
      });
    } else if (routine.returnsScalar && !routine.returnsSet) {
      computedFields.set(`${key(source.schema, source.name)}\u0000${routine.name}`, routine);
    }
  }
  return {
    schemas,
    relations,
    relation: (schema, name) => byName.get(key(schema, name)),
    allRoutines: routines,
    routines: (schema, name) => routinesByName.get(key(schema, name)) ?? [],
    relationships: (source, name) => {
      const all = relationships.get(key(source.schema, source.name)) ?? [];
      const computed = all.filter((r) => r.computed?.name === name);
      return computed.length > 0 ? computed : all.filter((r) => !r.computed && r.target.name === name);
    },
    roleSettings: (role) => raw.role_settings?.[role] ?? {},
    relationshipsFrom: (source) => relationships.get(key(source.schema, source.name)) ?? [],
    computedField: (source, name) => computedFields.get(`${key(source.schema, source.name)}\u0000${name}`),
    foreignKeys,
    check: (schema, owner, name) => checks.get(`${key(schema, owner)}\u0000${name}`),
  };
}

function toRelation(r: RawRelation): Relation {
  const columns = new Map<string, Column>(
    r.columns.map((c) => [
      c.name,
      {
        name: c.name,
        type: c.type,
        pgType: { schema: c.type_schema, name: c.type_name },
        category: c.category,
        nullable: c.nullable,
        hasDefault: c.has_default,
        generated: c.generated,
        comment: c.comment,
        enumValues: c.enum_values,
        readers: new Set(c.readers),
      },
    ]),
  );
  return {
    schema: r.schema,
    name: r.name,
    kind: KINDS[r.kind] ?? 'table',
    comment: r.comment,
    columns,
    primaryKey: r.keys.find((k) => k.type === 'p')?.columns ?? [],
    uniqueKeys: r.keys.map((k) => k.columns),
    insertable: r.insertable,
    updatable: r.updatable,
    deletable: r.deletable,
  };
}

function toRoutine(f: RawFunction): Routine {
  const inputs = f.args.filter((a) => a.mode === 'i' || a.mode === 'b' || a.mode === 'v');
  const firstDefault = inputs.length - f.ndefaults;
  const tableColumns = f.args.some((a) => a.mode === 't' || a.mode === 'o' || a.mode === 'b');
  return {
    schema: f.schema,
    name: f.name,
    comment: f.comment,
    volatility: VOLATILITY[f.volatility],
    rows: f.rows,
    returnsSet: f.returns_set,
    returnType: { schema: f.return_type_schema, name: f.return_type_name },
    returnsRelation:
      f.return_relation && f.return_relation_schema
        ? { schema: f.return_relation_schema, name: f.return_relation }
        : null,
    returnsScalar: f.return_type_kind !== 'c' && !(f.return_type_name === 'record' && tableColumns),
    params: inputs.map((a, i) => ({
      name: a.name,
      mode: a.mode,
      type: a.type,
      pgType: { schema: a.type_schema, name: a.type_name },
      hasDefault: i >= firstDefault,
    })),
    outputs: f.args
      .filter((a) => a.mode === 'o' || a.mode === 'b' || a.mode === 't')
      .map((a) => ({
        name: a.name,
        mode: a.mode,
        type: a.type,
        pgType: { schema: a.type_schema, name: a.type_name },
        hasDefault: false,
      })),
    variadic: f.variadic,
  };
}

/** True when `columns` are exactly covered by a unique key (or the primary key) of the relation. */
function isUnique(relation: Relation | undefined, columns: readonly string[]): boolean {
  if (!relation) return false;
  return relation.uniqueKeys.some((k) => k.length === columns.length && k.every((c) => columns.includes(c)));
}

/** Junction detection as PostgREST does it: the foreign-key columns are part of a key of the junction. */
function partOfKey(relation: Relation | undefined, columns: readonly string[]): boolean {
  if (!relation) return false;
  return relation.uniqueKeys.some((k) => columns.every((c) => k.includes(c)));
}

function addTo<T>(map: Map<string, T[]>, k: string, value: T): void {
  map.set(k, [...(map.get(k) ?? []), value]);
}

/**
 * The foreign keys of the tables, and the same keys seen through views: a view that reads a
 * key's columns (or the referenced columns) unchanged from the table takes part in the
 * relationship, under the key's name, as PostgREST does. `base` keeps the table's own key,
 * whose uniqueness decides one-to-one.
 */
function withViews(fks: readonly ForeignKey[], relations: readonly RawRelation[]): ViewedKey[] {
  const views = relations.filter((r) => r.origins.length > 0);
  const through = (schema: string, table: string, columns: readonly string[]) => {
    const out = [{ schema, name: table, columns }];
    for (const view of views) {
      const mapped = columns.map(
        (c) => view.origins.find((o) => o.schema === schema && o.table === table && o.source === c)?.column,
      );
      if (mapped.every((c) => c !== undefined)) out.push({ schema: view.schema, name: view.name, columns: mapped });
    }
    return out;
  };
  const out: ViewedKey[] = [];
  for (const fk of fks) {
    for (const child of through(fk.schema, fk.table, fk.columns)) {
      for (const parent of through(fk.refSchema, fk.refTable, fk.refColumns)) {
        out.push({
          name: fk.name,
          schema: child.schema,
          table: child.name,
          columns: child.columns,
          refSchema: parent.schema,
          refTable: parent.name,
          refColumns: parent.columns,
          base: fk,
        });
      }
    }
  }
  return out;
}

type ViewedKey = ForeignKey & { readonly base: ForeignKey };

/** Functions of one row of a relation (computed fields and relationships), with that relation. */
function rowFunctions(routines: readonly Routine[], byName: Map<string, Relation>) {
  return routines.flatMap((routine) => {
    const [param] = routine.params;
    if (routine.params.length !== 1 || !param) return [];
    const source = byName.get(key(param.pgType.schema, param.pgType.name));
    return source ? [{ routine, source }] : [];
  });
}

function deriveRelationships(fks: readonly ViewedKey[], byName: Map<string, Relation>): Map<string, Relationship[]> {
  const out = new Map<string, Relationship[]>();
  const add = (r: Relationship) => addTo(out, key(r.source.schema, r.source.name), r);
  for (const fk of fks) {
    const child = { schema: fk.schema, name: fk.table };
    const parent = { schema: fk.refSchema, name: fk.refTable };
    const oneToOne = isUnique(byName.get(key(fk.base.schema, fk.base.table)), fk.base.columns);
    add({
      cardinality: oneToOne ? 'one-to-one' : 'many-to-one',
      source: child,
      target: parent,
      constraint: fk.name,
      sourceColumns: fk.columns,
      targetColumns: fk.refColumns,
    });
    add({
      cardinality: oneToOne ? 'one-to-one' : 'one-to-many',
      source: parent,
      target: child,
      constraint: fk.name,
      sourceColumns: fk.refColumns,
      targetColumns: fk.columns,
    });
  }
  // Many-to-many: a junction with two foreign keys whose columns are part of its keys.
  const byTable = new Map<string, ViewedKey[]>();
  for (const fk of fks) addTo(byTable, key(fk.schema, fk.table), fk);
  for (const [junctionKey, list] of byTable) {
    const junction = byName.get(junctionKey);
    for (const a of list) {
      for (const b of list) {
        if (a.base === b.base || !partOfKey(junction, a.columns) || !partOfKey(junction, b.columns)) continue;
        add({
          cardinality: 'many-to-many',
          source: { schema: a.refSchema, name: a.refTable },
          target: { schema: b.refSchema, name: b.refTable },
          constraint: b.name,
          sourceColumns: a.refColumns,
          targetColumns: b.refColumns,
          junction: {
            relation: { schema: a.schema, name: a.table },
            sourceConstraint: a.name,
            sourceColumns: a.columns,
            targetConstraint: b.name,
            targetColumns: b.columns,
          },
        });
      }
    }
  }
  return out;
}

/** The relation a function's rows have: its return table or view, or its OUT/TABLE columns. */
export function routineRelation(cache: SchemaCache, routine: Routine): Relation | undefined {
  if (routine.returnsRelation) return cache.relation(routine.returnsRelation.schema, routine.returnsRelation.name);
  if (routine.outputs.length === 0) return undefined;
  return {
    schema: routine.schema,
    name: routine.name,
    kind: 'function result',
    comment: routine.comment,
    columns: new Map(
      routine.outputs.map((o) => [
        o.name,
        {
          name: o.name,
          type: o.type,
          pgType: o.pgType,
          category: '',
          nullable: true,
          hasDefault: false,
          generated: false,
          comment: null,
          enumValues: null,
          readers: new Set<string>(),
        },
      ]),
    ),
    primaryKey: [],
    uniqueKeys: [],
    insertable: false,
    updatable: false,
    deletable: false,
  };
}

/** PostgREST's rule for what /rpc exposes: named parameters, or one unnamed of a body type. */
export function exposedOverRpc(routine: Routine): boolean {
  if (routine.params.every((p) => p.name !== '')) return true;
  const [only] = routine.params;
  return (
    routine.params.length === 1 &&
    only?.pgType.schema === 'pg_catalog' &&
    ['json', 'jsonb', 'text', 'xml', 'bytea'].includes(only.pgType.name)
  );
}
