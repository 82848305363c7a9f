import type { ScopeNeed } from '../../auth/caller.js';
import { ApiError } from '../../errors.js';
import { defaultName, type Field } from '../parse/field.js';
import type { FilterNode } from '../parse/filter.js';
import type { OrderTerm } from '../parse/order.js';
import type { ParsedQuery, PathFilter } from '../parse/query.js';
import type { EmbedItem, SelectItem } from '../parse/select.js';
import type { Relation, Relationship, SchemaCache, TypeName } from '../schema/cache.js';
import type { EmbedPlan, FilterPlan, OrderPlan, OutputItem, SelectPlan } from './types.js';

/**
 * Resolves a select list, its embeddings and the filters, orders and limits aimed at each
 * level against the schema cache. Every column, relationship and cast is checked here, so the
 * SQL stage only ever sees names that exist.
 */

export interface SelectContext {
  readonly cache: SchemaCache;
  /** The caller's database role: `*` expands to the columns it may read. */
  readonly role: string;
  readonly aggregatesEnabled: boolean;
  /** Collects `resource:read` for every relation touched (API-key scopes). */
  readonly needs: ScopeNeed[];
}

interface Level {
  readonly relation: Relation;
  readonly items: readonly OutputItem[];
  readonly grouped: boolean;
  readonly embeds: readonly LevelEmbed[];
}

type LevelEmbed = Omit<EmbedPlan, 'select'> & { readonly level: Level };

export function planSelect(
  ctx: SelectContext,
  relation: Relation,
  query: Pick<ParsedQuery, 'select' | 'order' | 'limit' | 'offset'>,
  filters: readonly PathFilter[],
  rootLimit?: { limit?: number; offset?: number },
): SelectPlan {
  const levels = new Map<string, Level>();
  const root = buildLevel(ctx, relation, query.select, '', levels);
  const where = new Map<string, FilterPlan[]>();
  for (const filter of filters) {
    const level = levelAt(levels, filter.path);
    where.set(filter.path, [...(where.get(filter.path) ?? []), resolveFilter(ctx.cache, level, filter.node)]);
  }
  for (const path of [...query.order.keys(), ...query.limit.keys(), ...query.offset.keys()]) levelAt(levels, path);

  const finish = (level: Level, path: string): SelectPlan => ({
    items: level.items,
    grouped: level.grouped,
    embeds: level.embeds.map(({ level: child, ...embed }) => ({
      ...embed,
      select: finish(child, path === '' ? embed.name : `${path}.${embed.name}`),
    })),
    where: where.get(path) ?? [],
    order: (query.order.get(path) ?? []).map((t) => resolveOrder(ctx, level.relation, t)),
    limit: path === '' && rootLimit?.limit !== undefined ? rootLimit.limit : query.limit.get(path),
    offset: path === '' && rootLimit?.offset !== undefined ? rootLimit.offset : query.offset.get(path),
  });
  return finish(root, '');
}

/** The filters of a write: on the target's own columns (embedded paths are refused before). */
export function planFilters(cache: SchemaCache, relation: Relation, filters: readonly PathFilter[]): FilterPlan[] {
  const level: Level = { relation, items: [], grouped: false, embeds: [] };
  return filters.map((f) => resolveFilter(cache, level, f.node));
}

/** An order on the relation's own columns (a limited write picks its rows by it). */
export function planOrder(cache: SchemaCache, relation: Relation, term: OrderTerm): OrderPlan {
  if (term.relation !== undefined) {
    throw new ApiError('PGRST118', {
      message: `A related order on '${term.relation}' is not possible here`,
      details: 'A limited write orders by the columns of the table it changes',
    });
  }
  return { field: resolveField(cache, relation, term.field), direction: term.direction, nulls: term.nulls };
}

function levelAt(levels: Map<string, Level>, path: string): Level {
  const level = levels.get(path);
  if (!level) {
    throw new ApiError('PGRST108', {
      message: `'${path}' is not an embedded resource in this request`,
      hint: `Verify that '${path}' is included in the 'select' query parameter.`,
    });
  }
  return level;
}

/**
 * What `*` is for a role: the columns it may read, as output items. The same for every request
 * until the schema cache is rebuilt (new Relation objects), so made once per relation and role.
 */
function starColumns(relation: Relation, role: string): readonly OutputItem[] {
  let byRole = starCache.get(relation);
  if (byRole === undefined) {
    byRole = new Map();
    starCache.set(relation, byRole);
  }
  let items = byRole.get(role);
  if (items === undefined) {
    const made: OutputItem[] = [];
    for (const column of relation.columns.values()) {
      if (isRoutineRelation(relation) || column.readers.has(role)) {
        made.push({ kind: 'column', field: { name: column.name, path: [] }, name: column.name });
      }
    }
    items = made;
    byRole.set(role, items);
  }
  return items;
}

const starCache = new WeakMap<Relation, Map<string, readonly OutputItem[]>>();

function buildLevel(
  ctx: SelectContext,
  relation: Relation,
  items: readonly SelectItem[],
  path: string,
  levels: Map<string, Level>,
): Level {
  const out: OutputItem[] = [];
  const embeds: LevelEmbed[] = [];
  let grouped = false;
  for (const item of items) {
    switch (item.kind) {
      case 'star':
        for (const column of starColumns(relation, ctx.role)) out.push(column);
        break;
      case 'field': {
        if (path !== '' && isLegacyCount(ctx.cache, relation, item)) {
          // `books(count)`: PostgREST's count from before aggregates, still what clients send,
          // and allowed when aggregates are not (it is one count per parent row).
          grouped = true;
          out.push({ kind: 'count', name: item.alias ?? 'count', cast: item.cast ? castType(item.cast) : undefined });
          break;
        }
        const field = resolveField(ctx.cache, relation, item.field);
        if (item.aggregate) {
          requireAggregates(ctx);
          grouped = true;
        }
        out.push({
          kind: 'column',
          field,
          name: item.alias ?? (item.aggregate ? item.aggregate.fn : defaultName(item.field)),
          cast: item.cast ? castType(item.cast) : undefined,
          aggregate: item.aggregate
            ? { fn: item.aggregate.fn, cast: item.aggregate.cast ? castType(item.aggregate.cast) : undefined }
            : undefined,
        });
        break;
      }
      case 'count':
        requireAggregates(ctx);
        grouped = true;
        out.push({ kind: 'count', name: item.alias ?? 'count', cast: item.cast ? castType(item.cast) : undefined });
        break;
      case 'embed': {
        const name = item.alias ?? item.relation;
        const { relationship, target } = resolveRelationship(ctx.cache, relation, item);
        ctx.needs.push({ resource: target.name, action: 'read' });
        const toOne = relationship.cardinality === 'many-to-one' || relationship.cardinality === 'one-to-one';
        // A to-many spread (PostgREST 13) hoists each column as the array of its values.
        const child = buildLevel(ctx, target, item.select, path === '' ? name : `${path}.${name}`, levels);
        const index = embeds.length;
        embeds.push({
          name,
          relationship,
          target,
          toOne,
          inner: item.join === 'inner',
          spread: item.spread,
          level: child,
        });
        if (item.spread) {
          for (const childItem of child.items) {
            out.push({ kind: 'spread', name: childItem.name, embed: index, column: childItem.name });
          }
        } else if (item.select.length > 0) out.push({ kind: 'embed', name, embed: index });
        // An empty embedding, `books()`, only joins (for !inner and filters): not in the output.
        break;
      }
    }
  }
  const level: Level = { relation, items: out, grouped, embeds };
  levels.set(path, level);
  return level;
}

/** A bare `count` inside an embedding, where the embedded relation has no field of that name. */
function isLegacyCount(cache: SchemaCache, relation: Relation, item: Extract<SelectItem, { kind: 'field' }>): boolean {
  return (
    item.field.name === 'count' &&
    item.field.path.length === 0 &&
    item.aggregate === undefined &&
    !relation.columns.has('count') &&
    cache.computedField(relation, 'count') === undefined
  );
}

/** Whether a plan calls a function of the row (a computed field or relationship) anywhere. */
export function usesComputed(plan: SelectPlan): boolean {
  const fields = [
    ...plan.items.flatMap((i) => (i.kind === 'column' ? [i.field] : [])),
    ...plan.order.map((o) => o.field),
  ];
  return (
    fields.some((f) => f.computed !== undefined) ||
    plan.embeds.some((e) => e.relationship.computed !== undefined || usesComputed(e.select))
  );
}

/** The columns of a `returns table (…)` function carry no column privileges. */
function isRoutineRelation(relation: Relation): boolean {
  return relation.kind === 'function result';
}

function requireAggregates(ctx: SelectContext): void {
  if (!ctx.aggregatesEnabled) {
    throw new ApiError('PGRST123', {
      message: 'Use of aggregate functions is not allowed',
      hint: 'Set LOCONOMY_DB_AGGREGATES_ENABLED=true to allow them.',
    });
  }
}

/** A column of the relation, or one of its computed fields (a function of its row). */
function resolveField(cache: SchemaCache, relation: Relation, field: Field): Field {
  if (relation.columns.has(field.name)) return field;
  const computed = cache.computedField(relation, field.name);
  if (computed) return { ...field, computed: { schema: computed.schema, name: computed.name } };
  throw unknownColumn(relation, field.name);
}

export function unknownColumn(relation: Relation, name: string): ApiError {
  const near = closest(name, [...relation.columns.keys()]);
  return ApiError.fromDatabase(400, {
    code: '42703',
    message: `column ${relation.name}.${name} does not exist`,
    hint: near ? `Perhaps you meant to reference the column "${relation.name}.${near}".` : null,
  });
}

/** The candidate nearest to `name` by edit distance, if it is close. */
export function closest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(name.length / 3)) + 1;
  for (const candidate of candidates) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** The candidate nearest to name, however far (closest() gives up beyond a third of the name). */
export function nearest(name: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const d = distance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] as number;
      row[j] = Math.min((row[j] as number) + 1, (row[j - 1] as number) + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length] as number;
}

/** SQL type names a cast may use, to their pg_catalog names; anything else is a type name as written. */
const CAST_ALIASES: Record<string, string> = {
  int: 'int4',
  integer: 'int4',
  int4: 'int4',
  bigint: 'int8',
  int8: 'int8',
  smallint: 'int2',
  int2: 'int2',
  text: 'text',
  varchar: 'varchar',
  'character varying': 'varchar',
  char: 'bpchar',
  numeric: 'numeric',
  decimal: 'numeric',
  real: 'float4',
  float4: 'float4',
  float: 'float8',
  float8: 'float8',
  'double precision': 'float8',
  bool: 'bool',
  boolean: 'bool',
  json: 'json',
  jsonb: 'jsonb',
  uuid: 'uuid',
  date: 'date',
  time: 'time',
  timestamp: 'timestamp',
  timestamptz: 'timestamptz',
  'timestamp with time zone': 'timestamptz',
  interval: 'interval',
  money: 'money',
  bytea: 'bytea',
};

export function castType(text: string): TypeName {
  const lower = text.toLowerCase().replace(/\s+/g, ' ');
  const array = lower.endsWith('[]');
  const base = array ? lower.replace(/(\[\])+$/, '') : lower;
  const known = CAST_ALIASES[base];
  if (known) return { schema: 'pg_catalog', name: array ? `_${known}` : known };
  if (!/^[a-z_][a-z0-9_]*$/.test(base)) {
    throw new ApiError('PGRST100', { message: `"failed to parse cast (${text})"`, details: 'expecting a type name' });
  }
  // An unqualified type: resolved by the search_path (public, extensions), as PostgREST does.
  return { schema: '', name: array ? `_${base}` : base };
}

function resolveRelationship(
  cache: SchemaCache,
  source: Relation,
  item: EmbedItem,
): { relationship: Relationship; target: Relation } {
  const from = { schema: source.schema, name: source.name };
  const all = cache.relationshipsFrom(from);
  const computed = all.filter((r) => r.computed?.name === item.relation);
  const candidates = computed.length > 0 ? computed : all.filter((r) => !r.computed && matches(cache, r, item));
  if (candidates.length === 0) {
    throw new ApiError('PGRST200', {
      message: `Could not find a relationship between '${source.name}' and '${item.relation}' in the schema cache`,
      details: `Searched for a foreign key relationship between '${source.name}' and '${item.relation}'${item.hint ? ` using the hint '${item.hint}'` : ''} in the schema '${source.schema}', but no matches were found.`,
    });
  }
  if (candidates.length > 1) {
    throw new ApiError('PGRST201', {
      message: `Could not embed because more than one relationship was found for '${source.name}' and '${item.relation}'`,
      details: candidates.map((r) => ({
        cardinality: r.cardinality,
        embedding: `${source.name} with ${r.target.name}`,
        relationship: r.junction
          ? `${r.junction.relation.name} using ${r.junction.sourceConstraint}(${r.junction.sourceColumns.join(', ')}) and ${r.junction.targetConstraint}(${r.junction.targetColumns.join(', ')})`
          : `${r.constraint} using ${source.name}(${r.sourceColumns.join(', ')}) and ${r.target.name}(${r.targetColumns.join(', ')})`,
      })),
      hint: `Try changing '${item.relation}' to one of the following: ${candidates
        .map((r) => `'${r.target.name}!${r.junction ? r.junction.relation.name : r.constraint}'`)
        .join(', ')}. Find the desired relationship in the 'details' key.`,
    });
  }
  const relationship = candidates[0] as Relationship;
  const target = cache.relation(relationship.target.schema, relationship.target.name);
  if (!target) throw new ApiError('PGRST200', { message: `'${item.relation}' is not in the schema cache` });
  return { relationship, target };
}

/**
 * Whether `relation!hint` names this relationship, by PostgREST's rules: the target's name,
 * or (tables only) a foreign key's name or single column; a hint narrows by constraint,
 * column or junction. A self-reference has two directions under one key: the table name
 * means its children, the column name its parent, and a hint picks children by their column.
 */
function matches(cache: SchemaCache, r: Relationship, item: EmbedItem): boolean {
  const { relation: name, hint } = item;
  const single = (columns: readonly string[]) => (columns.length === 1 ? columns[0] : undefined);
  const toMany = r.cardinality === 'one-to-many';
  if (!r.junction && r.source.schema === r.target.schema && r.source.name === r.target.name) {
    if (hint === undefined) {
      return (
        (r.target.name === name && toMany) || (single(r.sourceColumns) === name && r.cardinality === 'many-to-one')
      );
    }
    return r.target.name === name && toMany && single(r.targetColumns) === hint;
  }
  if (hint === undefined) {
    const targetIsView = cache.relation(r.target.schema, r.target.name)?.kind === 'view';
    return (
      r.target.name === name ||
      (!targetIsView && !r.junction && (r.constraint === name || single(r.sourceColumns) === name))
    );
  }
  return (
    r.target.name === name &&
    (r.constraint === hint ||
      r.junction?.relation.name === hint ||
      r.junction?.sourceConstraint === hint ||
      single(r.sourceColumns) === hint ||
      single(r.targetColumns) === hint)
  );
}

function resolveFilter(cache: SchemaCache, level: Level, node: FilterNode): FilterPlan {
  if (node.kind === 'logic') {
    return {
      kind: 'logic',
      op: node.op,
      negate: node.negate,
      children: node.children.map((c) => resolveFilter(cache, level, c)),
    };
  }
  const embedIndex = level.embeds.findIndex((e) => e.name === node.field.name);
  const value = typeof node.value === 'string' ? node.value : '';
  const nullTest = node.op === 'is' && (value === 'null' || value === 'not_null');
  // `embedding=is.null` tests the embedding; any other filter on that name is a column filter.
  if (embedIndex >= 0 && nullTest && node.field.path.length === 0 && !level.relation.columns.has(node.field.name)) {
    return { kind: 'embedded', embed: embedIndex, present: (value === 'not_null') !== node.negate };
  }
  return { kind: 'condition', condition: { ...node, field: resolveField(cache, level.relation, node.field) } };
}

function resolveOrder(ctx: SelectContext, relation: Relation, term: OrderTerm): OrderPlan {
  if (term.relation === undefined) {
    return { field: resolveField(ctx.cache, relation, term.field), direction: term.direction, nulls: term.nulls };
  }
  const { relationship, target } = resolveRelationship(ctx.cache, relation, {
    kind: 'embed',
    relation: term.relation,
    spread: false,
    select: [],
  });
  if (relationship.cardinality !== 'many-to-one' && relationship.cardinality !== 'one-to-one') {
    throw new ApiError('PGRST118', {
      message: `A related order on '${term.relation}' is not possible`,
      details: `'${relation.name}' and '${term.relation}' do not form a many-to-one or one-to-one relationship`,
    });
  }
  const field = resolveField(ctx.cache, target, term.field);
  ctx.needs.push({ resource: target.name, action: 'read' });
  return { field, direction: term.direction, nulls: term.nulls, via: { relationship, target } };
}
