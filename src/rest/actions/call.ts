import type { ScopeNeed } from '../../auth/caller.js';
import { checkScopes } from '../../auth/scopes.js';
import { ApiError } from '../../errors.js';
import {
  type Context,
  filtersOf,
  formatOf,
  header,
  pageOf,
  type RestResponse,
  selectContext,
  txOverridable,
} from '../context.js';
import { preferenceApplied } from '../parse/prefer.js';
import { parseQuery } from '../parse/query.js';
import { RawBody } from '../parse/raw.js';
import { CONTENT_TYPES, negotiate, ROW_MEDIA } from '../plan/negotiate.js';
import { closest, nearest, planSelect } from '../plan/select.js';
import type { Source } from '../plan/types.js';
import { checkMaxAffected, strictMaxAffected } from '../respond/max-affected.js';
import { contentRange } from '../respond/range.js';
import { CALL_ECHO, mayRefuse, respondRows } from '../respond/rows.js';
import { exposedOverRpc, type Routine, routineRelation } from '../schema/cache.js';
import { readSql, scalarCallSql } from '../sql/read.js';
import { explain, planOf, run } from '../transaction.js';
import { countOf, pageResult } from './read.js';

/** /rpc/<function>: GET (read-only, arguments in the query string) or POST (in the body). */

/** RPC: GET (arguments in the query string, read-only) or POST (arguments in the body). */
export async function call(ctx: Context, name: string): Promise<RestResponse> {
  const { request, cache, schema } = ctx;
  if (request.method !== 'GET' && request.method !== 'HEAD' && request.method !== 'POST') {
    throw new ApiError('PGRST101', { message: `Cannot use the ${request.method} method on RPC` });
  }
  const query = parseQuery(request.search);
  // Only what PostgREST exposes over RPC: computed fields (an unnamed row parameter) and other
  // unnamed parameters are not callable, except one unnamed json, jsonb, text, xml or bytea.
  const candidates = cache.routines(schema, name).filter(exposedOverRpc);
  const readOnly = request.method !== 'POST';
  const singleObject = ctx.prefer.params === 'single-object';
  const raw = request.body instanceof RawBody ? request.body : undefined;
  const given = new Map<string, unknown>();
  let argKeys: Set<string>;
  if (readOnly) {
    const names = new Set(candidates.flatMap((r) => r.params.map((p) => p.name)));
    argKeys = new Set(query.rest.map(([k]) => k).filter((k) => names.has(k)));
    for (const [k, v] of query.rest) {
      if (!argKeys.has(k)) continue;
      const previous = given.get(k);
      given.set(k, previous === undefined ? v : Array.isArray(previous) ? [...previous, v] : [previous, v]);
    }
  } else {
    argKeys = new Set();
    const body = request.body ?? {};
    if (!singleObject && !raw) {
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        // A JSON array or scalar only fits a single unnamed json/jsonb parameter.
        if (!candidates.some((r) => takesWholeBody(r, 'json'))) {
          throw new ApiError('PGRST102', {
            message: 'The body of a function call must be a JSON object of its arguments',
          });
        }
      } else for (const [k, v] of Object.entries(body)) given.set(k, v);
    }
  }
  const routine = pickRoutine(ctx, name, candidates, given, {
    singleObject,
    // A POST body goes whole to a single unnamed parameter of its content's type.
    whole: readOnly ? undefined : (raw?.type ?? 'json'),
    // For the error: a GET's arguments are all its non-reserved parameters, as PostgREST reads them.
    argNames: readOnly ? [...new Set(query.rest.map(([k]) => k))] : [...given.keys()],
  });
  const single = singleObject || (routine.params.length === 1 && routine.params[0]?.name === '' && !readOnly);
  const args = single ? new Map<string, unknown>([['', raw ?? request.body ?? {}]]) : given;
  const action = readOnly || routine.volatility !== 'volatile' ? 'read' : 'write';
  const needs: ScopeNeed[] = [{ resource: name, action }];
  const source: Source = { kind: 'call', routine, args, singleObject: single };
  const plan = planOf(ctx);
  const media = plan?.for ?? negotiate(header(ctx, 'accept'), ROW_MEDIA);
  const settings: Record<string, string> = readOnly ? { transaction_read_only: 'on' } : {};

  const relation = routineRelation(cache, routine);
  if (routine.returnsScalar || !relation) {
    checkScopes(ctx.caller, needs);
    if (plan) {
      const mode = routine.returnType.name === 'void' ? 'void' : routine.returnsSet ? 'set' : 'one';
      return explain(ctx, plan, [scalarCallSql(source, mode)], settings);
    }
    return run(
      ctx,
      async (tx): Promise<RestResponse> => {
        const headers: Record<string, string> = { 'content-range': '0-0/*' };
        const applied = preferenceApplied(ctx.prefer, CALL_ECHO, txOverridable(ctx));
        if (applied) headers['preference-applied'] = applied;
        // Nothing checks the result: the call ends the transaction (one round trip on PostgreSQL).
        if (routine.returnType.name === 'void') {
          await tx.last(scalarCallSql(source, 'void'));
          return { status: 204, headers };
        }
        const statement = scalarCallSql(source, routine.returnsSet ? 'set' : 'one');
        type Row = { body: string; page_total?: number };
        // max-affected counts a set's rows, and too many undo the call: it cannot end the transaction.
        const limited = routine.returnsSet && strictMaxAffected(ctx);
        const { rows } = limited ? await tx.query<Row>(statement) : await tx.last<Row>(statement);
        // A scalar is one row; a set of scalars counts its rows. Prefer: count names the total.
        const n = rows[0]?.page_total ?? 1;
        if (limited) checkMaxAffected(ctx, n);
        headers['content-range'] = contentRange(0, n, countOf(ctx).read ? n : undefined);
        return {
          status: 200,
          headers: { ...headers, 'content-type': CONTENT_TYPES.json },
          body: request.method === 'HEAD' ? undefined : (rows[0]?.body ?? 'null'),
        };
      },
      settings,
    );
  }
  const page = pageOf(ctx, query);
  const select = planSelect(selectContext(ctx, needs), relation, query, filtersOf(query, argKeys), page);
  checkScopes(ctx.caller, needs);
  const count = countOf(ctx);
  const statement = readSql(source, select, { count: count.read, format: formatOf(media) });
  if (plan) return explain(ctx, plan, [statement], settings);
  const limited = routine.returnsSet && strictMaxAffected(ctx);
  const closing = !limited && !mayRefuse(media, page.offset ?? 0, count.read !== undefined || count.planned);
  return run(
    ctx,
    async (tx) => {
      const result = await pageResult(tx, statement, count, source, select, closing);
      if (limited) checkMaxAffected(ctx, result.pageTotal);
      const response = respondRows(ctx, media, result, page.offset ?? 0, 200, CALL_ECHO);
      if (routine.returnsSet || (media !== 'json' && media !== 'json-stripped')) return response;
      // A function returning one row answers with that row, as PostgREST does.
      const body = result.pageTotal === 1 ? result.body.toString().slice(1, -1).trim() : 'null';
      return { ...response, body: request.method === 'HEAD' ? undefined : body };
    },
    settings,
  );
}

/** PGRST202 worded as PostgREST words it, with the nearest function (or signature) as hint. */
function noFunction(
  ctx: Context,
  name: string,
  overloads: readonly Routine[],
  options: { singleObject: boolean; argNames: readonly string[] },
): ApiError {
  const fn = `${ctx.schema}.${name}`;
  const args = options.argNames;
  const list = args.join(', ');
  const post = ctx.request.method === 'POST';
  const withArgs = args.length === 0 ? ' without parameters' : ` with parameter${args.length > 1 ? 's' : ''} ${list}`;
  const searched = options.singleObject
    ? ' with a single json/jsonb parameter'
    : `${withArgs}${post ? ' or with a single unnamed json/jsonb parameter' : ''}`;
  const sortedList = (names: readonly string[]) => `(${[...names].sort().join(', ')})`;
  let near: string | undefined;
  if (overloads.length === 0) {
    near = closest(
      name,
      ctx.cache.allRoutines.filter((r) => r.schema === ctx.schema && exposedOverRpc(r)).map((r) => r.name),
    );
  } else {
    // The function exists but not with these arguments: always show its real parameters (the
    // nearest overload's), so an unknown or misspelt argument names the fix.
    const signatures = overloads.map((r) => sortedList(r.params.map((p) => p.name)));
    const signature = nearest(sortedList(args), signatures);
    near = signature === undefined ? undefined : `${name}${signature}`;
  }
  return new ApiError('PGRST202', {
    message: `Could not find the function ${fn}${options.singleObject ? '' : `(${list})`} in the schema cache`,
    details: `Searched for the function ${fn}${searched}, but no matches were found in the schema cache.`,
    hint: !options.singleObject && near ? `Perhaps you meant to call the function ${ctx.schema}.${near}` : null,
  });
}

/** The parameter types a whole body can go to, by what the body is. */
const WHOLE_BODY_TYPES: Record<'json' | RawBody['type'], readonly string[]> = {
  json: ['json', 'jsonb'],
  text: ['text'],
  xml: ['xml'],
  bytea: ['bytea'],
};

/** A function with one unnamed parameter that a POST body of this kind is passed to whole. */
function takesWholeBody(routine: Routine, kind: 'json' | RawBody['type']): boolean {
  const [only] = routine.params;
  return (
    routine.params.length === 1 &&
    only?.name === '' &&
    only.pgType.schema === 'pg_catalog' &&
    WHOLE_BODY_TYPES[kind].includes(only.pgType.name)
  );
}

/**
 * PostgREST's overload resolution: the functions whose parameters the arguments fit; when none
 * does, the ones taking the whole body (one unnamed parameter of the body's type). One is
 * called, several are 300 PGRST203 (listed in the schema cache's order), none is 404 PGRST202.
 */
function pickRoutine(
  ctx: Context,
  name: string,
  candidates: readonly Routine[],
  given: ReadonlyMap<string, unknown>,
  options: { singleObject: boolean; whole?: 'json' | RawBody['type']; argNames: readonly string[] },
): Routine {
  const { schema } = ctx;
  const fits = (r: Routine): boolean => {
    if (options.singleObject)
      return r.params.length === 1 && ['json', 'jsonb'].includes(r.params[0]?.pgType.name ?? '');
    // A raw body is no arguments, and only goes whole.
    if (options.whole !== undefined && options.whole !== 'json') return false;
    const names = new Set(r.params.map((p) => p.name));
    return [...given.keys()].every((k) => names.has(k)) && r.params.every((p) => p.hasDefault || given.has(p.name));
  };
  let matches = candidates.filter(fits);
  const whole = options.whole;
  if (matches.length === 0 && whole !== undefined) matches = candidates.filter((r) => takesWholeBody(r, whole));
  if (matches.length === 1) return matches[0] as Routine;
  if (matches.length === 0) {
    throw noFunction(ctx, name, candidates, {
      singleObject: options.singleObject || (whole === 'json' && candidates.some((r) => takesWholeBody(r, 'json'))),
      argNames: options.argNames,
    });
  }
  throw new ApiError('PGRST203', {
    message: `Could not choose the best candidate function between: ${matches
      .map((r) => `${schema}.${name}(${r.params.map((p) => `${p.name} => ${p.type}`).join(', ')})`)
      .join(', ')}`,
    hint: 'Try renaming the parameters or the function itself in the database so function overloading can be resolved',
  });
}
