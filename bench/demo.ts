import type { ChildProcess } from 'node:child_process';
import type { Database } from '../src/db/database.js';
import { sql } from '../src/db/sql.js';
import { exited } from './loconomy.js';

/**
 * The API benchmarks' data: the demo marketplace (generated with `listings` listings if the
 * database has none) and `sample` active listing ids in public.loconomy_bench_ids (n, id), which
 * both the HTTP side and pgbench read, so they fetch the same rows. Drop the table afterwards.
 */
export async function prepareDemo(
  db: Database,
  loconomy: (args: string[]) => ChildProcess,
  options: { listings: number; sample: number; say: (line: string) => void },
): Promise<string[]> {
  const { rows: marker } = await db.query(sql`select 1 from loconomy_migrations.seeds where name = 'demo'`);
  if (marker.length === 0) await exited(loconomy(['seed', '--demo', '--listings', String(options.listings)]));
  const { rows: count } = await db.query<{ n: string }>(sql`select count(*) as n from public.listings`);
  options.say(`listings: ${count[0]?.n}`);
  // The rows earlier runs inserted and deleted stay as dead tuples where autovacuum is off (as
  // on CI machines): a listing page's sequential scan then reads through them, and the figures
  // depend on which benchmark ran before. Vacuumed, every run starts from the same heap.
  await db.exec('vacuum analyze public.listings');
  await db.exec(`drop table if exists public.loconomy_bench_ids;
    create table public.loconomy_bench_ids as
      select row_number() over ()::int as n, id from (select id from public.listings where status = 'active' and deleted_at is null order by id limit ${Number(options.sample)}) s;
    alter table public.loconomy_bench_ids add primary key (n);
    grant select on public.loconomy_bench_ids to anon, authenticated;`);
  const { rows } = await db.query<{ id: string }>(sql`select id from public.loconomy_bench_ids order by n`);
  return rows.map((r) => r.id);
}
