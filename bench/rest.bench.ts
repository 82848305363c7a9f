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
 *
 * Then the embedded database (issue 10: its figures beside, not as a goal), in a data directory
 * kept between runs (LOCONOMY_BENCH_EMBEDDED_DIR, default under the system's temp directory) with
 * LOCONOMY_BENCH_EMBEDDED_LISTINGS demo listings (default: as many as on PostgreSQL; 0 skips it): the handler in
 * process, the same recorded statements through PGlite's own API, and `loconomy serve` over HTTP.
 * Without LOCONOMY_BENCH_DATABASE_URL only the embedded part runs.
 */
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import type autocannon from 'autocannon';
import type { Caller } from '../src/auth/caller.js';
import { projectKeys, userToken } from '../src/auth/keys.js';
import { loadConfig } from '../src/config.js';
import type { Database } from '../src/db/database.js';
import { openDatabase } from '../src/db/open.js';
import type { PgliteDatabase } from '../src/db/pglite.js';
import { sql } from '../src/db/sql.js';
import { createLogger } from '../src/log.js';
import { handleRest, type RestRequest } from '../src/rest/handler.js';
import { loadSchemaCache } from '../src/rest/schema/cache.js';
import { prepareDemo } from './demo.js';
import { type Figures, fmt, hasWrk, type LoadSettings, runHttp, runPgbench, runWrk, type WrkRequest } from './load.js';
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
const EMBEDDED_LISTINGS = Number(process.env.LOCONOMY_BENCH_EMBEDDED_LISTINGS ?? LISTINGS);
const EMBEDDED_DIR =
  process.env.LOCONOMY_BENCH_EMBEDDED_DIR ?? join(tmpdir(), `loconomy-bench-embedded-${EMBEDDED_LISTINGS}`);
const benchEnv = { DATABASE_URL: URL_ ?? '', LOCONOMY_JWT_SECRET: SECRET };
const benchConfig = loadConfig(benchEnv);
const LOAD: LoadSettings = { seconds: SECONDS, connections: CONNECTIONS };

const say = (line: string) => console.log(line);
if (!URL_) say('rest.bench: LOCONOMY_BENCH_DATABASE_URL is not set: the embedded database only');

type Recorded = Awaited<ReturnType<typeof recordRequest>>[number];

/** `loconomy <args>` against the bench database. */
const loconomy = (args: string[]) =>
  // As many database connections as pgbench gets, so both sides have the same concurrency.
  runLoconomy(args, { ...benchEnv, LOCONOMY_DB_POOL: String(CONNECTIONS) });

/**
 * CONNECTIONS loops calling `once` back to back for SECONDS, after two seconds of the same as a
 * warm-up, as the HTTP sides get (bench/load.ts): every connection prepares its statements and
 * V8 optimises the code. With a few hundred requests only, the code was still being optimised
 * while measured: Node's CPU per request of (b) halved between two rounds back to back.
 */
async function runLoops(once: () => Promise<void>): Promise<Figures> {
  const loops = async (seconds: number, latencies: number[]) => {
    const end = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        while (performance.now() < end) {
          const start = performance.now();
          await once();
          latencies.push(performance.now() - start);
        }
      }),
    );
  };
  await loops(2, []);
  const latencies: number[] = [];
  await loops(SECONDS, latencies);
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { rps: latencies.length / SECONDS, p50: at(0.5), p99: at(0.99) };
}

/** The handler alone: handleRest in this process, no HTTP. */
async function runInProcess(db: Database, caller: Caller, next: () => RestRequest): Promise<Figures> {
  const cache = await loadSchemaCache(db, benchConfig.db.schemas, ['anon', 'authenticated', 'service_role']);
  const deps = { db, config: benchConfig, schemaCache: () => cache };
  return runLoops(async () => {
    const response = await handleRest(deps, caller, next());
    if (response.status >= 300) throw new Error(`in-process run got ${response.status}: ${response.body}`);
  });
}

/** One benchmark case: the request on each side, and how its recorded statements vary. */
interface Case {
  name: string;
  http: autocannon.Request[];
  wrk: WrkRequest[];
  httpHeaders: Record<string, string>;
  caller: Caller;
  /** The request for the handler; `recording` gives the one whose statements are recorded. */
  request: (recording?: boolean) => RestRequest;
  /** pgbench: the expression that replaces a recorded value, or undefined to keep it. */
  vary: (v: unknown) => string | undefined;
  /** The embedded raw side: a recorded value as this run sends it. */
  fresh: (v: unknown) => unknown;
  setup: string;
}

/** The three cases over a demo database: `ids` are the sample listings of loconomy_bench_ids. */
async function benchCases(db: Database, ids: string[]): Promise<Case[]> {
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
  const randomId = () => ids[Math.floor(Math.random() * ids.length)];

  const embedQuery = 'select=*,provider:user_profiles(*),category:categories(*)&status=eq.active&limit=20';
  const byId = ids
    .slice(0, 100)
    .map((id) => ({ method: 'GET' as const, path: `/rest/v1/listings?id=eq.${id}&select=*` }));
  return [
    {
      name: '(a) one listing by id',
      http: byId,
      wrk: byId,
      httpHeaders: { apikey: keys.anon },
      caller: anon,
      // Recorded once with the first sample id, which pgbench then varies; run with random ones.
      request: (recording = false): RestRequest => ({
        method: 'GET',
        path: 'listings',
        search: new URLSearchParams(`id=eq.${recording ? ids[0] : randomId()}&select=*`),
        headers: headers(),
        body: undefined,
      }),
      vary: (v) => (v === ids[0] ? '(select id from public.loconomy_bench_ids where n = :n)' : undefined),
      fresh: (v) => (v === ids[0] ? randomId() : v),
      setup: `\\set n random(1, ${ids.length})\n`,
    },
    {
      name: '(b) 20 active listings + provider + category',
      http: [{ method: 'GET', path: `/rest/v1/listings?${embedQuery}` }],
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
      fresh: (v) => v,
      setup: '',
    },
    {
      name: '(c) insert a listing (provider token)',
      http: [
        {
          method: 'POST',
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
      vary: (v) =>
        typeof v === 'string' && v.includes(SLUG)
          ? `replace('${v.replaceAll("'", "''")}', '${SLUG}', 'pgbench-' || md5(random()::text))`
          : undefined,
      fresh: (v) => (typeof v === 'string' && v.includes(SLUG) ? v.replace(SLUG, `bench-${randomUUID()}`) : v),
      setup: '',
    },
  ];
}

const ratio = (a: Figures | undefined, b: Figures) => (a ? (a.rps / b.rps).toFixed(2) : '—');

/** REST over HTTP (autocannon, then wrk when installed) against `loconomy serve` on PORT. */
async function httpSides(c: Case): Promise<{ rest: Figures; viaWrk: Figures | undefined }> {
  const rest = await runHttp(PORT, LOAD, c.http, c.httpHeaders);
  say(`  REST     ${fmt(rest)}  (autocannon)`);
  const viaWrk = hasWrk() ? await runWrk(PORT, LOAD, c.wrk, c.httpHeaders) : undefined;
  if (viaWrk) say(`  REST     ${fmt(viaWrk)}  (wrk)`);
  return { rest, viaWrk };
}

/** PostgreSQL: REST, the handler, and pgbench running the recorded statements. */
async function onPostgres(): Promise<void> {
  say(`rest.bench: ${URL_?.replace(/\/\/[^@]*@/, '//…@')}, ${CONNECTIONS} connections, ${SECONDS} s per run`);
  say('preparing the database (migrations; demo data if there is none)…');
  await exited(loconomy(['migrate']));
  const log = createLogger('warn');
  const db = await openDatabase(loadConfig({ ...benchEnv, LOG_LEVEL: 'warn' }), log);
  try {
    // Sample ids for (a), shared by both sides through a helper table pgbench reads.
    const ids = await prepareDemo(db, loconomy, { listings: LISTINGS, sample: SAMPLE_IDS, say });
    const cases = await benchCases(db, ids);
    const scripts = [];
    for (const c of cases)
      scripts.push(pgbenchScript(await recordRequest(db, benchConfig, c.caller, c.request(true)), c.vary));
    const pooled = await openDatabase(loadConfig({ ...benchEnv, LOCONOMY_DB_POOL: String(CONNECTIONS) }), log);

    say('starting loconomy serve…');
    const server = loconomy(['serve', '--port', String(PORT)]);
    try {
      await waitForHealth(PORT);
      say('');
      const rows: string[] = [];
      if (!hasWrk()) say('wrk is not installed (Debian: apt-get install wrk): HTTP load from autocannon only\n');
      for (const [i, c] of cases.entries()) {
        say(`▶ ${c.name}`);
        const { rest, viaWrk } = await httpSides(c);
        const handler = await runInProcess(pooled, c.caller, () => c.request());
        say(`  handler  ${fmt(handler)}  (in process, no HTTP)`);
        // extended: unnamed statements, parsed and planned each time, as node-postgres sends
        // them; prepared: plans cached per connection, PostgreSQL's best case.
        const extended = await runPgbench(URL_ as string, LOAD, scripts[i] as string, c.setup, 'extended');
        say(`  pgbench -M extended  ${fmt(extended)}`);
        const prepared = await runPgbench(URL_ as string, LOAD, scripts[i] as string, c.setup, 'prepared');
        say(`  pgbench -M prepared  ${fmt(prepared)}`);
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

/**
 * The recorded statements run through PGlite's own API, one transaction per request (begin,
 * the request context, the statement, commit): the embedded database's speed, as pgbench is
 * PostgreSQL's. PGlite runs one statement at a time, whoever sends it.
 */
async function runRawPglite(pglite: PGlite, statements: Recorded[], fresh: (v: unknown) => unknown): Promise<Figures> {
  return runLoops(() =>
    pglite.transaction(async (tx) => {
      for (const s of statements) await tx.query(s.text, s.values.map(fresh) as unknown[]);
    }),
  );
}

/** The embedded database (PGlite): REST, the handler, and the same statements through PGlite itself. */
async function onPglite(): Promise<void> {
  const env = { LOCONOMY_DATA_DIR: EMBEDDED_DIR, DATABASE_URL: '', LOCONOMY_JWT_SECRET: SECRET };
  say(`\nrest.bench, embedded: ${EMBEDDED_DIR}, ${EMBEDDED_LISTINGS} listings, ${CONNECTIONS} connections`);
  const open = () =>
    openDatabase(loadConfig({ ...env, LOG_LEVEL: 'warn' }), createLogger('warn')) as Promise<PgliteDatabase>;
  let db = await open();
  const { rows: marker } = await db.query(sql`select 1 from loconomy_migrations.seeds where name = 'demo'`);
  if (marker.length === 0) {
    // `seed` opens the data directory itself: PGlite allows one process at a time.
    await db.close();
    say('generating the embedded demo data (once per directory)…');
    await exited(runLoconomy(['seed', '--demo', '--listings', String(EMBEDDED_LISTINGS)], env));
    db = await open();
  }
  const rows: string[] = [];
  const cases: Case[] = [];
  try {
    const ids = await prepareDemo(
      db,
      () => {
        throw new Error('the embedded database has no demo data');
      },
      { listings: EMBEDDED_LISTINGS, sample: SAMPLE_IDS, say },
    );
    cases.push(...(await benchCases(db, ids)));
    for (const c of cases) {
      say(`▶ ${c.name} (embedded)`);
      const statements = await recordRequest(db, benchConfig, c.caller, c.request(true));
      const handler = await runInProcess(db, c.caller, () => c.request());
      say(`  handler  ${fmt(handler)}  (in process, no HTTP)`);
      const raw = await runRawPglite(db.pglite, statements, c.fresh);
      say(`  PGlite   ${fmt(raw)}  (the same statements through PGlite's own API)`);
      rows.push(`| ${c.name} | ${handler.rps.toFixed(0)} | ${raw.rps.toFixed(0)} | ${ratio(handler, raw)} |`);
    }
  } finally {
    await db.close();
  }
  // The server holds the data directory while it runs: the HTTP side comes last.
  const server = runLoconomy(['serve', '--port', String(PORT)], env);
  try {
    await waitForHealth(PORT);
    for (const [i, c] of cases.entries()) {
      say(`▶ ${c.name} (embedded, HTTP)`);
      const { rest, viaWrk } = await httpSides(c);
      rows[i] += ` ${rest.rps.toFixed(0)} | ${viaWrk ? viaWrk.rps.toFixed(0) : '—'} |`;
    }
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('close', r));
  }
  db = await open();
  await db.exec(`delete from public.listings where slug like 'bench-%';
    drop table if exists public.loconomy_bench_ids;`);
  await db.close();
  say(
    '\n| case (embedded) | handler req/s | PGlite alone tps | handler/PGlite | REST req/s (autocannon) | REST req/s (wrk) |',
  );
  say('| --- | --- | --- | --- | --- | --- |');
  for (const row of rows) say(row);
}

if (URL_) await onPostgres();
if (EMBEDDED_LISTINGS > 0) await onPglite();
