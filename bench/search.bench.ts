/**
 * The search page on PostgreSQL with the demo data (issue 8): latency p50/p95 of
 *   (a) a city radius + text query: `query` + `lat`/`lon` + `radius_m` 15 km, sorted by relevance;
 *   (b) "providers who serve my address": `serving: true` at a point in a city, one category;
 *   (c) the same without a category: everyone who serves the point (tens of thousands in a big city);
 *   (d) the same, nearest first (sort: distance);
 * each on three sides, one request at a time (latency, not throughput):
 *   REST      GET /rest/v1/rpc/search_listings through `loconomy serve` (HTTP, anon key);
 *   function  `select public.search_listings(…)` as anon in a transaction, as REST runs it;
 *   SQL       the statements app.search_page runs for that request (app.search_sql's text: its
 *             bounded steps near the point, then the whole search if they did not settle the
 *             page), run directly by the owner: the index work alone, without validation,
 *             cursor, cards.
 * Ratios: REST/SQL and function/SQL.
 *
 *   LOCONOMY_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/loconomy_bench npm run bench -- search
 *
 * The database is migrated and given demo data (LOCONOMY_BENCH_LISTINGS, default 100000) if it
 * has none. LOCONOMY_BENCH_ITERATIONS (default 300 per side and case) after 30 warm-up runs.
 * Requests cycle through the ten busiest demo cities and a list of queries, identically on
 * every side.
 */
import pg from 'pg';
import { projectKeys } from '../src/auth/keys.js';
import { exited, runLoconomy, waitForHealth } from './loconomy.js';

const URL_ = process.env.LOCONOMY_BENCH_DATABASE_URL ?? process.env.DATABASE_URL;
const LISTINGS = Number(process.env.LOCONOMY_BENCH_LISTINGS ?? 100_000);
const ITERATIONS = Number(process.env.LOCONOMY_BENCH_ITERATIONS ?? 300);
const WARMUP = 30;
const SECRET = process.env.LOCONOMY_JWT_SECRET ?? 'loconomy-bench-secret-loconomy-bench-secret-0123';
const PORT = 54391;
const QUERIES = [
  'plumbing',
  'house cleaning',
  'dog walking',
  'leak repair',
  'tutoring',
  'massage',
  'electrical',
  'painting',
];
const CATEGORIES = ['plumbing', 'house-cleaning', 'electrical', 'dog-walking', 'tutoring', 'painting'];

if (!URL_) {
  console.error(
    'search.bench: set LOCONOMY_BENCH_DATABASE_URL to an empty or demo PostgreSQL database (with PostGIS), e.g. postgres://postgres@127.0.0.1:5432/loconomy_bench',
  );
  process.exit(1);
}
const say = (line: string) => console.log(line);

/** `loconomy <args>` against the bench database. */
const loconomy = (args: string[]) => runLoconomy(args, { DATABASE_URL: URL_, LOCONOMY_JWT_SECRET: SECRET });

interface Figures {
  p50: number;
  p95: number;
  mean: number;
}

/** Runs `once(i)` WARMUP times, then ITERATIONS times, and returns latency percentiles (ms). */
async function measure(once: (i: number) => Promise<void>): Promise<Figures> {
  for (let i = 0; i < WARMUP; i++) await once(i);
  const latencies: number[] = [];
  for (let i = 0; i < ITERATIONS; i++) {
    const start = performance.now();
    await once(i);
    latencies.push(performance.now() - start);
  }
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  return { p50: at(0.5), p95: at(0.95), mean: latencies.reduce((a, b) => a + b, 0) / latencies.length };
}

/** A request's values for search_listings' named arguments $1…$7 (lat, lon, radius_m, query, serving, category, sort). */
const functionArgs = (r: Record<string, unknown>): unknown[] => [
  r.lat,
  r.lon,
  r.radius_m ?? null,
  r.query ?? null,
  r.serving ?? false,
  r.category ?? null,
  r.sort ?? 'relevance',
];

const fmt = (f: Figures) => `p50 ${f.p50.toFixed(2).padStart(7)} ms  p95 ${f.p95.toFixed(2).padStart(7)} ms`;

async function main(): Promise<void> {
  say(`search.bench: ${URL_?.replace(/\/\/[^@]*@/, '//…@')}, ${ITERATIONS} requests per side and case, one at a time`);
  say('preparing the database (migrations; demo data if there is none)…');
  await exited(loconomy(['migrate']));
  const client = new pg.Client({ connectionString: URL_ });
  await client.connect();
  try {
    const marker = await client.query(`select 1 from loconomy_migrations.seeds where name = 'demo'`);
    if (marker.rowCount === 0) await exited(loconomy(['seed', '--demo', '--listings', String(LISTINGS)]));
    await client.query('analyze public.listings; analyze public.listing_service_areas');
    const count = await client.query<{ n: string; areas: string }>(
      `select (select count(*) from public.listings) as n, (select count(*) from public.listing_service_areas) as areas`,
    );
    say(`listings: ${count.rows[0]?.n}, service areas: ${count.rows[0]?.areas}`);
    const { rows: cities } = await client.query<{ name: string; lat: number; lon: number; n: string }>(`
      select c.name, st_y(c.location::geometry) as lat, st_x(c.location::geometry) as lon, count(*) as n
      from public.cities c join public.listings l on l.city_id = c.id
      group by c.id order by count(*) desc limit 10`);
    say(`cities: ${cities.map((c) => `${c.name} (${c.n})`).join(', ')}`);

    const cases: { name: string; request: (i: number) => Record<string, unknown> }[] = [
      {
        name: '(a) city radius 15 km + text',
        request: (i) => {
          const c = cities[i % cities.length] as (typeof cities)[number];
          return { query: QUERIES[i % QUERIES.length], lat: c.lat, lon: c.lon, radius_m: 15000 };
        },
      },
      {
        name: '(b) serves my address + category',
        request: (i) => {
          const c = cities[i % cities.length] as (typeof cities)[number];
          return { lat: c.lat + 0.01, lon: c.lon - 0.01, serving: true, category: CATEGORIES[i % CATEGORIES.length] };
        },
      },
      {
        name: '(c) serves my address, all categories',
        request: (i) => {
          const c = cities[i % cities.length] as (typeof cities)[number];
          return { lat: c.lat + 0.01, lon: c.lon - 0.01, serving: true };
        },
      },
      {
        name: '(d) serves my address, nearest first',
        request: (i) => {
          const c = cities[i % cities.length] as (typeof cities)[number];
          return { lat: c.lat + 0.01, lon: c.lon - 0.01, serving: true, sort: 'distance' };
        },
      },
    ];

    // The statements app.search_page runs for each request (as anon of the default tenant):
    // its bounded steps near the point (migration 0029), then the whole search if they did
    // not settle the page.
    const statements = new Map<string, string[]>();
    const statementsFor = async (request: Record<string, unknown>) => {
      const key = JSON.stringify(request);
      let texts = statements.get(key);
      if (!texts) {
        const { rows } = await client.query<{ texts: string[] }>(
          `with p as (select app.search_page($1::jsonb) as p), s as (select app.search_spec($1::jsonb) as spec)
           select array(
             select app.search_sql(s.spec || jsonb_build_object('within_m', w::float8), p.p ->> 'query_mode')
             from jsonb_array_elements_text(p.p -> 'steps') with ordinality as t (w, n) order by n)
             || case when (p.p ->> 'whole')::boolean then array[app.search_sql(s.spec, p.p ->> 'query_mode')] else '{}' end
             as texts
           from p, s`,
          [key],
        );
        texts = rows[0]?.texts as string[];
        statements.set(key, texts);
      }
      return texts;
    };
    const keys = await projectKeys(SECRET);
    const query = (request: Record<string, unknown>) =>
      new URLSearchParams(Object.entries(request).map(([k, v]): [string, string] => [k, String(v)])).toString();

    say('starting loconomy serve…');
    const server = loconomy(['serve', '--port', String(PORT)]);
    const table: string[] = [];
    try {
      await waitForHealth(PORT);
      for (const c of cases) {
        say(`\n▶ ${c.name}`);
        const sample = (
          await client.query<{ r: { total: number } }>(
            `select public.search_listings(lat => $1, lon => $2, radius_m => $3, query => $4, serving => $5, category => $6, sort => $7, with_total => true) as r`,
            functionArgs(c.request(0)),
          )
        ).rows[0]?.r;
        say(`  first request matches ${sample?.total} listings`);
        const rest = await measure(async (i) => {
          const response = await fetch(`http://127.0.0.1:${PORT}/rest/v1/rpc/search_listings?${query(c.request(i))}`, {
            headers: { apikey: keys.anon },
          });
          if (!response.ok) throw new Error(`REST ${response.status}: ${await response.text()}`);
          await response.arrayBuffer();
        });
        say(`  REST      ${fmt(rest)}`);
        const fn = await measure(async (i) => {
          await client.query('begin');
          await client.query(`set local role anon`);
          await client.query(`select set_config('request.jwt.claims', '{"role":"anon"}', true)`);
          await client.query(
            'select public.search_listings(lat => $1, lon => $2, radius_m => $3, query => $4, serving => $5, category => $6, sort => $7)',
            functionArgs(c.request(i)),
          );
          await client.query('commit');
        });
        say(`  function  ${fmt(fn)}`);
        for (let i = 0; i < WARMUP + ITERATIONS; i++) await statementsFor(c.request(i));
        const raw = await measure(async (i) => {
          for (const text of await statementsFor(c.request(i))) await client.query(text);
        });
        say(`  SQL       ${fmt(raw)}`);
        say(`  p95 ratios: REST/SQL ${(rest.p95 / raw.p95).toFixed(2)}, function/SQL ${(fn.p95 / raw.p95).toFixed(2)}`);
        table.push(
          `| ${c.name} | ${rest.p50.toFixed(1)} / ${rest.p95.toFixed(1)} | ${fn.p50.toFixed(1)} / ${fn.p95.toFixed(1)} | ${raw.p50.toFixed(1)} / ${raw.p95.toFixed(1)} | ${(rest.p95 / raw.p95).toFixed(2)} | ${(fn.p95 / raw.p95).toFixed(2)} |`,
        );
      }
    } finally {
      server.kill('SIGTERM');
      await new Promise((r) => server.once('close', r));
    }
    say(
      `\n| case (${count.rows[0]?.n} listings) | REST p50 / p95 ms | function p50 / p95 ms | SQL p50 / p95 ms | REST/SQL p95 | function/SQL p95 |`,
    );
    say('| --- | --- | --- | --- | --- | --- |');
    for (const row of table) say(row);
  } finally {
    await client.end();
  }
}

await main();
