import type { SchemaCache } from '../schema/cache.js';

/**
 * Plans of reads, kept for the next identical request. Parsing, planning and writing the SQL
 * of a read with embeddings was about a sixth of the server's CPU per request
 * (docs/benchmarks.md), and the reads a marketplace app sends repeat: the same list page, the
 * same detail by id. A plan depends only on what its key holds — the role (its column grants
 * expand `*`), the schema, the path, the query string, the headers that shape a read — and on
 * the schema cache, so the plans live beside the cache they were made from and go with it when
 * it is reloaded. Claims, the body and everything else about the caller are not in a plan:
 * scopes are checked and the request context is set on every request.
 */

/**
 * How many plans one schema cache keeps; the least recently used goes first. As many as the
 * statement names remembered (src/db/prepared.ts): a few kB each, 10 MB at worst.
 */
const PLANS_KEPT = 1000;

const plansByCache = new WeakMap<SchemaCache, Map<string, unknown>>();

/** The plan kept for `key` in `cache`'s generation, or `make()`'s, kept for next time. Errors are not kept. */
export function reusedPlan<T>(cache: SchemaCache, key: string, make: () => T): T {
  let plans = plansByCache.get(cache);
  if (plans === undefined) {
    plans = new Map();
    plansByCache.set(cache, plans);
  }
  const kept = plans.get(key) as T | undefined;
  if (kept !== undefined) {
    // Most recently used last: a Map iterates in insertion order.
    plans.delete(key);
    plans.set(key, kept);
    return kept;
  }
  const made = make();
  if (plans.size >= PLANS_KEPT) plans.delete(plans.keys().next().value as string);
  plans.set(key, made);
  return made;
}
