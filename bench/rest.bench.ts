/**
 * REST vs raw SQL, on PostgreSQL with the demo data (issue 4):
 *   (a) one listing by id, (b) 20 active listings with provider and category embedded,
 *   (c) an insert as a provider — each at 32 concurrent connections, through `loconomy serve`
 *   (load from autocannon) and, in the same run, the very SQL the REST layer sends, through
 *   pgbench: begin, the request-context statement (role and claims), the statement, commit.
 *
 *   LOCONOMY_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/loconomy_bench npm run bench -- rest
 *
 * The database is migrated and given demo data (LOCONOMY_BENCH_LISTINGS, default 100000) if it
 * has none. Settings: LOCONOMY_BENCH_SECONDS (default 10 per run), LOCONOMY_BENCH_CONNECTIONS (32).
 * With `wrk` on the PATH (apt-get install wrk), the HTTP side also runs under wrk, beside autocannon.
 * A third side runs the REST handler in this process (no HTTP, no load generator) over a pool
 * of the same size: what the REST layer itself costs beyond the database.
 * The SQL for pgbench is recorded by running each request once through the REST handler in
 * this process, so both sides run the same statements; values become literals (bench tooling,
 * trusted values) and the varying ones pgbench variables.
 */
import { randomUUID } from 'node:crypto';
import type autocannon from 'autocannon';
import type { Caller } from '../src/auth/caller.js';
import { projectKeys, userToken } from '../src/auth/keys.js';
import { loadConfig } from '../src/config.js';
import type { Database } from '../src/db/database.js';
import { openDatabase } from '../src/db/open.js';
import { sql } from '../src/db/sql.js';
import { createLogger } from '../src/log.js';
import { handleRest, type RestRequest } from '../src/rest/handler.js';
import { loadSchemaCache } from '../src/rest/schema/cache.js';
import { prepareDemo } from './demo.js';
import { type Figures, fmt, hasWrk, type LoadSettings, runHttp, runPgbench, runWrk } from './load.js';
import { exited, runLoconomy, waitForHealth } from './loconomy.js';
import { pgbenchScript, recordRequest } from './rest-sql.js';

const URL_ = process.env.LOCONOMY_BENCH_DATABASE_URL ?? process.env.DATABASE_URL;
const SECONDS = Number(process.env.LOCONOMY_BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.LOCONOMY_BENCH_CONNECTIONS ?? 32);
const LISTINGS = Number(process.env.LOCONOMY_BENCH_LISTINGS ?? 100_000);
const SECRET = process.env.LOCONOMY_JWT_SECRET ?? 'loconomy-bench-secret-loconomy-bench-secret-0123';
const PORT = 54390;
const SAMPLE_IDS = 1000;
const SLUG = 'bench-slug-token';
const benchConfig = loadConfig({ DATABASE_URL: URL_ ?? '', LOCONOMY_JWT_SECRET: SECRET });
const LOAD: LoadSettings = { seconds: SECONDS, connections: CONNECTIONS };

if (!URL_) {
  console.error(
    'rest.bench: set LOCONOMY_BENCH_DATABASE_URL to an empty or demo PostgreSQL database (with PostGIS), e.g. postgres://postgres@127.0.0.1:5432/loconomy_bench',
  );
  process.exit(1);
}

const say = (line: string) => console.log(line);

/** `loconomy <args>` against the bench database. */
const loconomy = (args: string[]) =>
  // As many database connections as pgbench gets, so both sides have the same concurrency.
  runLoconomy(args, { DATABASE_URL: URL_, LOCONOMY_JWT_SECRET: SECRET, LOCONOMY_DB_POOL: String(CONNECTIONS) });

/** The handler alone: CONNECTIONS loops calling handleRest back to back for SECONDS. */
async function runInProcess(db: Database, caller: Caller, next: () => RestRequest): Promise<Figures> {
  const config = loadConfig({ DATABASE_URL: URL_, LOCONOMY_JWT_SECRET: SECRET });
  const cache = await loadSchemaCache(db, config.db.schemas, ['anon', 'authenticated', 'service_role']);
  const deps = { db, config, schemaCache: () => cache };
  const once = async () => {
    const response = await handleRest(deps, caller, next());
    if (response.status >= 300) throw new Error(`in-process run got ${response.status}: ${response.body}`);
  };
  for (let i = 0; i < CONNECTIONS * 5; i++) await once(); // warm: every connection prepares
  const latencies: number[] = [];
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (performance.now() < end) {
        const start = performance.now();
        await once();
        latencies.push(performance.now() - start);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { rps: latencies.length / SECONDS, p50: at(0.5), p99: at(0.99) };
}

async function main(): Promise<void> {
  say(`rest.bench: ${URL_?.replace(/\/\/[^@]*@/, '//…@')}, ${CONNECTIONS} connections, ${SECONDS} s per run`);
  say('preparing the database (migrations; demo data if there is none)…');
  await exited(loconomy(['migrate']));
  const log = createLogger('warn');
  const db = await openDatabase(
    loadConfig({ DATABASE_URL: URL_, LOCONOMY_JWT_SECRET: SECRET, LOG_LEVEL: 'warn' }),
    log,
  );
  try {
    // Sample ids for (a), shared by both sides through a helper table pgbench reads.
    const ids = (await prepareDemo(db, loconomy, { listings: LISTINGS, sample: SAMPLE_IDS, say })).map((id) => ({
      id,
    }));
    const { rows: who } = await db.query<{ clerk_id: string; id: string; category_id: string }>(sql`
      select u.clerk_id, u.id, (select category_id from public.listings where provider_id = u.id limit 1) as category_id
        from public.users u where u.clerk_id = 'demo_user_000001'`);
    const provider = who[0];
    if (!provider) throw new Error('demo_user_000001 is missing: the demo data is not the generator’s');

    const keys = await projectKeys(SECRET);
    const token = await userToken(SECRET, { sub: provider.clerk_id, ttlSeconds: 3600 });
    const anon: Caller = { role: 'anon', claims: { role: 'anon' } };
    const user: Caller = { role: 'authenticated', claims: { sub: provider.clerk_id, role: 'authenticated' } };
    const headers = (extra: Record<string, string> = {}) => ({
      'user-agent': 'loconomy-bench',
      accept: '*/*',
      ...extra,
    });
    const body = (slug: string) =>
      JSON.stringify({
        provider_id: provider.id,
        category_id: provider.category_id,
        title: 'Bench listing',
        description: 'Inserted by the REST benchmark',
        slug,
        pricing_type: 'hourly',
        hourly_rate_cents: 5000,
        location: 'SRID=4326;POINT(-73.99 40.73)',
        service_radius_m: 5000,
        status: 'draft',
      });

    const embedQuery = 'select=*,provider:user_profiles(*),category:categories(*)&status=eq.active&limit=20';
    const cases = [
      {
        name: '(a) one listing by id',
        http: ids
          .slice(0, 100)
          .map((r) => ({ method: 'GET' as const, path: `/rest/v1/listings?id=eq.${r.id}&select=*` })),
        wrk: ids.slice(0, 100).map((r) => ({ method: 'GET', path: `/rest/v1/listings?id=eq.${r.id}&select=*` })),
        httpHeaders: { apikey: keys.anon },
        caller: anon,
        // Recorded once with the first sample id, which pgbench then varies; run with random ones.
        request: (recording = false): RestRequest => {
          const id = recording ? ids[0]?.id : ids[Math.floor(Math.random() * ids.length)]?.id;
          return {
            method: 'GET',
            path: 'listings',
            search: new URLSearchParams(`id=eq.${id}&select=*`),
            headers: headers(),
            body: undefined,
          };
        },
        vary: (v: unknown) =>
          v === ids[0]?.id ? '(select id from public.loconomy_bench_ids where n = :n)' : undefined,
        setup: `\\set n random(1, ${ids.length})\n`,
      },
      {
        name: '(b) 20 active listings + provider + category',
        http: [{ method: 'GET' as const, path: `/rest/v1/listings?${embedQuery}` }],
        wrk: [{ method: 'GET', path: `/rest/v1/listings?${embedQuery}` }],
        httpHeaders: { apikey: keys.anon },
        caller: anon,
        request: (): RestRequest => ({
          method: 'GET',
          path: 'listings',
          search: new URLSearchParams(embedQuery),
          headers: headers(),
          body: undefined,
        }),
        vary: () => undefined,
        setup: '',
      },
      {
        name: '(c) insert a listing (provider token)',
        http: [
          {
            method: 'POST' as const,
            path: '/rest/v1/listings',
            setupRequest: (req: autocannon.Request) => ({ ...req, body: body(`bench-${randomUUID()}`) }),
          },
        ],
        wrk: [{ method: 'POST', path: '/rest/v1/listings', body: body('bench-__UNIQUE__') }],
        httpHeaders: { apikey: keys.anon, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        caller: user,
        // Recorded with a marker slug, which pgbench replaces; run with a fresh one each time.
        request: (recording = false): RestRequest => ({
          method: 'POST',
          path: 'listings',
          search: new URLSearchParams(),
          headers: headers({ 'content-type': 'application/json' }),
          body: JSON.parse(body(recording ? SLUG : `bench-${randomUUID()}`)),
        }),
        vary: (v: unknown) =>
          typeof v === 'string' && v.includes(SLUG)
            ? `replace('${v.replaceAll("'", "''")}', '${SLUG}', 'pgbench-' || md5(random()::text))`
            : undefined,
        setup: '',
      },
    ];

    const scripts = [];
    for (const c of cases)
      scripts.push(pgbenchScript(await recordRequest(db, benchConfig, c.caller, c.request(true)), c.vary));
    const pooled = await openDatabase(
      loadConfig({ DATABASE_URL: URL_, LOCONOMY_JWT_SECRET: SECRET, LOCONOMY_DB_POOL: String(CONNECTIONS) }),
      log,
    );

    say('starting loconomy serve…');
    const server = loconomy(['serve', '--port', String(PORT)]);
    try {
      await waitForHealth(PORT);
      say('');
      const rows: string[] = [];
      const wrk = hasWrk();
      if (!wrk) say('wrk is not installed (Debian: apt-get install wrk): HTTP load from autocannon only\n');
      for (const [i, c] of cases.entries()) {
        say(`▶ ${c.name}`);
        const rest = await runHttp(PORT, LOAD, c.http as autocannon.Request[], c.httpHeaders as Record<string, string>);
        say(`  REST     ${fmt(rest)}  (autocannon)`);
        const viaWrk = wrk ? await runWrk(PORT, LOAD, c.wrk, c.httpHeaders as Record<string, string>) : undefined;
        if (viaWrk) say(`  REST     ${fmt(viaWrk)}  (wrk)`);
        const handler = await runInProcess(pooled, c.caller, () => c.request());
        say(`  handler  ${fmt(handler)}  (in process, no HTTP)`);
        // extended: unnamed statements, parsed and planned each time, as node-postgres sends
        // them; prepared: plans cached per connection, PostgreSQL's best case.
        const extended = await runPgbench(URL_ as string, LOAD, scripts[i] as string, c.setup, 'extended');
        say(`  pgbench -M extended  ${fmt(extended)}`);
        const prepared = await runPgbench(URL_ as string, LOAD, scripts[i] as string, c.setup, 'prepared');
        say(`  pgbench -M prepared  ${fmt(prepared)}`);
        const ratio = (a: Figures | undefined, b: Figures) => (a ? (a.rps / b.rps).toFixed(2) : '—');
        say(`  REST/pgbench throughput: ${ratio(rest, extended)} (extended), ${ratio(rest, prepared)} (prepared)`);
        if (viaWrk) say(`  REST (wrk)/pgbench prepared: ${ratio(viaWrk, prepared)}`);
        say(`  handler/pgbench prepared: ${ratio(handler, prepared)}`);
        rows.push(
          `| ${c.name} | ${rest.rps.toFixed(0)} | ${rest.p50.toFixed(1)} / ${rest.p99.toFixed(1)} | ${viaWrk ? viaWrk.rps.toFixed(0) : '—'} | ${handler.rps.toFixed(0)} | ${extended.rps.toFixed(0)} | ${extended.p50.toFixed(1)} / ${extended.p99.toFixed(1)} | ${prepared.rps.toFixed(0)} | ${ratio(rest, extended)} | ${ratio(rest, prepared)} | ${ratio(viaWrk, prepared)} | ${ratio(handler, prepared)} |`,
        );
      }
      say(
        '\n| case | REST req/s (autocannon) | its p50 / p99 ms | REST req/s (wrk) | handler req/s | pgbench extended tps | its p50 / p99 ms | pgbench prepared tps | REST/extended | REST/prepared | REST (wrk)/prepared | handler/prepared |',
      );
      say('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
      for (const row of rows) say(row);
    } finally {
      server.kill('SIGTERM');
      await new Promise((r) => server.once('close', r));
      await pooled.close();
    }
    await db.exec(`delete from public.listings where slug like 'bench-%' or slug like 'pgbench-%';
      drop table if exists public.loconomy_bench_ids;`);
  } finally {
    await db.close();
  }
}

await main();
