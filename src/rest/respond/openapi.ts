import type { Config } from '../../config.js';
import { type Column, exposedOverRpc, type Relation, type SchemaCache } from '../schema/cache.js';

/**
 * `GET /rest/v1/`: the exposed schema as OpenAPI 2.0, the version PostgREST serves, with the
 * descriptions from COMMENT ON. Only what the caller's role may read is listed as columns.
 */
export function openApi(cache: SchemaCache, config: Config, role: string): object {
  const schema = config.db.schemas[0] as string;
  const relations = cache.relations.filter((r) => r.schema === schema);
  // Only what /rpc calls (PostgREST's rule): no computed fields, no other unnamed parameters.
  const routines = cache.allRoutines.filter((r) => r.schema === schema && exposedOverRpc(r));
  const paths: Record<string, object> = {
    '/': { get: { summary: 'OpenAPI description (this document)', responses: ok } },
  };
  const definitions: Record<string, object> = {};
  for (const relation of relations) {
    definitions[relation.name] = definition(relation, role);
    const ref = { $ref: `#/definitions/${relation.name}` };
    const ops: Record<string, object> = {
      get: {
        tags: [relation.name],
        summary: relation.comment ?? undefined,
        parameters: [{ $ref: '#/parameters/select' }, { $ref: '#/parameters/order' }, { $ref: '#/parameters/range' }],
        responses: {
          200: { description: 'OK', schema: { type: 'array', items: ref } },
          206: { description: 'Partial Content' },
        },
      },
    };
    if (relation.insertable)
      ops.post = {
        tags: [relation.name],
        parameters: [body(ref), { $ref: '#/parameters/prefer' }],
        responses: { 201: { description: 'Created' } },
      };
    if (relation.updatable)
      ops.patch = {
        tags: [relation.name],
        parameters: [body(ref), { $ref: '#/parameters/prefer' }],
        responses: { 204: { description: 'No Content' } },
      };
    if (relation.deletable)
      ops.delete = {
        tags: [relation.name],
        parameters: [{ $ref: '#/parameters/prefer' }],
        responses: { 204: { description: 'No Content' } },
      };
    paths[`/${relation.name}`] = ops;
  }
  for (const routine of routines) {
    const args = {
      type: 'object',
      required: routine.params.filter((p) => !p.hasDefault && p.name !== '').map((p) => p.name),
      properties: Object.fromEntries(
        routine.params.filter((p) => p.name !== '').map((p) => [p.name, { format: p.type, ...jsonType(p.type) }]),
      ),
    };
    paths[`/rpc/${routine.name}`] = {
      post: {
        tags: [`(rpc) ${routine.name}`],
        summary: routine.comment ?? undefined,
        parameters: [{ name: 'args', in: 'body', required: true, schema: args }],
        responses: ok,
      },
      ...(routine.volatility === 'volatile'
        ? {}
        : { get: { tags: [`(rpc) ${routine.name}`], summary: routine.comment ?? undefined, responses: ok } }),
    };
  }
  return {
    swagger: '2.0',
    info: {
      title: 'Loconomy REST API',
      description: 'PostgREST-compatible API over the exposed schema.',
      version: '0.1.0',
    },
    basePath: '/rest/v1',
    schemes: ['http', 'https'],
    consumes: ['application/json', 'application/vnd.pgrst.object+json'],
    produces: ['application/json', 'application/vnd.pgrst.object+json', 'text/csv'],
    paths,
    definitions,
    parameters: {
      select: { name: 'select', in: 'query', type: 'string', description: 'Columns and embedded resources to return' },
      order: { name: 'order', in: 'query', type: 'string', description: 'Ordering' },
      range: { name: 'Range', in: 'header', type: 'string', description: 'Limit and offset, e.g. 0-24' },
      prefer: {
        name: 'Prefer',
        in: 'header',
        type: 'string',
        description: 'return=representation, count=exact, resolution=merge-duplicates…',
      },
    },
  };
}

const ok = { 200: { description: 'OK' } };

function body(ref: object) {
  return { name: 'body', in: 'body', required: true, schema: ref };
}

function definition(relation: Relation, role: string): object {
  const visible = [...relation.columns.values()].filter(
    (c) => c.readers.has(role) || relation.kind === 'function result',
  );
  return {
    type: 'object',
    description: relation.comment ?? undefined,
    required: visible.filter((c) => !c.nullable && !c.hasDefault).map((c) => c.name),
    properties: Object.fromEntries(visible.map((c) => [c.name, property(c, relation)])),
  };
}

function property(column: Column, relation: Relation): object {
  const pk = relation.primaryKey.includes(column.name) ? 'Primary key.' : '';
  const description = [column.comment, pk].filter(Boolean).join(' ') || undefined;
  return {
    format: column.type,
    description,
    ...(column.enumValues ? { enum: column.enumValues } : {}),
    ...jsonType(column.type),
  };
}

function jsonType(type: string): { type: string } {
  if (type.endsWith('[]')) return { type: 'array' };
  if (/^(integer|bigint|smallint)$/.test(type)) return { type: 'integer' };
  if (/^(numeric|real|double precision)/.test(type)) return { type: 'number' };
  if (type === 'boolean') return { type: 'boolean' };
  if (type === 'json' || type === 'jsonb') return { type: 'object' };
  return { type: 'string' };
}
