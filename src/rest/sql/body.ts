import { type SqlFragment, sql } from '../../db/sql.js';
import type { SelectPlan } from '../plan/types.js';

/**
 * The response body, aggregated in the database over the rows `"_t"`: a JSON array, or for
 * `Accept: text/csv` what PostgREST sends — a header line of the column names, then each row
 * in PostgreSQL's own record text (quoted where needed, arrays as `{a,b}`, numerics as
 * stored), no newline at the end; an empty result is a lone newline.
 */
export type BodyFormat = 'json' | 'json-stripped' | 'geojson' | 'csv';

export function bodySql(format: BodyFormat, select: SelectPlan): SqlFragment {
  if (format === 'json') return sql`coalesce(pg_catalog.json_agg("_t"), '[]')::text`;
  // nulls=stripped: every null-valued key goes, in embedded objects too (json_strip_nulls recurses).
  if (format === 'json-stripped')
    return sql`pg_catalog.json_strip_nulls(coalesce(pg_catalog.json_agg("_t"), '[]'))::text`;
  if (format === 'geojson') {
    // PostGIS makes each row a Feature (its first geometry or geography column the geometry, the
    // others properties); found through the request's search_path (LOCONOMY_DB_EXTRA_SEARCH_PATH),
    // wherever the extension is installed, as PostgREST does.
    return sql`pg_catalog.json_build_object('type', 'FeatureCollection', 'features', coalesce(pg_catalog.json_agg(st_asgeojson("_t")::json), '[]'))::text`;
  }
  const header = select.items.map((item) => item.name).join(',');
  const row = sql`pg_catalog.substr("_t"::text, 2, pg_catalog.length("_t"::text) - 2)`;
  return sql`(case when pg_catalog.count(*) = 0 then '' else ${header}::text end) || E'\\n' || coalesce(pg_catalog.string_agg(${row}, E'\\n'), '')`;
}
