import type { Queryable } from './database.js';
import { sql } from './sql.js';

/**
 * The API roles' own settings (ALTER ROLE … SET: statement_timeout, migration 0016). A request
 * switches role inside its transaction, which does not apply them, so each request sets them
 * itself. Only settings any user may change; one for this database wins over one for all.
 * The REST schema cache reads the same within its introspection (src/rest/schema/introspect.sql.ts).
 */
export async function loadRoleSettings(
  db: Queryable,
  roles: readonly string[],
): Promise<Record<string, Record<string, string>>> {
  const { rows } = await db.query<{ role: string; name: string; value: string }>(sql`
    select r.rolname as role, kv.name, kv.value
      from pg_roles r
      join pg_db_role_setting d on d.setrole = r.oid
       and d.setdatabase in (0, (select oid from pg_database where datname = current_database()))
     cross join lateral (
       select split_part(c, '=', 1) as name, substr(c, strpos(c, '=') + 1) as value from unnest(d.setconfig) c
     ) kv
      join pg_settings ps on ps.name = kv.name and ps.context = 'user'
     where r.rolname = any (${[...roles]}::text[]) and kv.name not in ('search_path', 'default_transaction_isolation')
     order by r.rolname, d.setdatabase`);
  const settings: Record<string, Record<string, string>> = {};
  for (const row of rows) {
    const own = settings[row.role] ?? {};
    own[row.name] = row.value;
    settings[row.role] = own;
  }
  return settings;
}
