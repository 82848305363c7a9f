-- =============================================================================
-- 0016 API timeouts: how long one request's statement may run, per API role,
-- as Supabase sets them (anon 3 s, authenticated 8 s; service_role unlimited).
-- A request that would scan a million listings on a filter no index serves is
-- cancelled (SQLSTATE 57014) instead of holding a connection and a core.
--
-- These are role settings (ALTER ROLE … SET). A request switches role inside
-- its transaction, which does not apply them by itself, so the server reads
-- them with the schema cache and sets them in each request's context, as
-- PostgREST does. Change them here or per database:
--   alter role anon in database <db> set statement_timeout = '1s';
-- then `NOTIFY pgrst, 'reload schema'`. Embedded PGlite does not enforce them.
-- =============================================================================

do $$
begin
  alter role anon set statement_timeout = '3s';
  alter role authenticated set statement_timeout = '8s';
exception when insufficient_privilege then
  -- Roles are shared by the whole cluster; a migrating user that may not alter
  -- them leaves the timeouts to whoever administers the roles.
  raise warning 'could not set statement timeouts on anon/authenticated: %', sqlerrm;
end $$;
