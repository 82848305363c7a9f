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
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import type { Caller } from '../src/auth/caller.js';
import { projectKeys, userToken } from '../src/auth/keys.js';
import { loadConfig } from '../src/config.js';
import { enterRequestContext, searchPathValue } from '../src/db/context.js';
import type { Database, Transaction } from '../src/db/database.js';
import { openDatabase } from '../src/db/open.js';
import { type Query, sql } from '../src/db/sql.js';
import { createLogger } from '../src/log.js';
import { handleRest, type RestRequest } from '../src/rest/handler.js';
import { loadSchemaCache } from '../src/rest/schema/cache.js';
import { exited, runLoconomy, waitForHealth } from './loconomy.js';

const URL_ = process.env.LOCONOMY_BENCH_DATABASE_URL ?? process.env.DATABASE_URL;
const SECONDS = Number(process.env.LOCONOMY_BENCH_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.LOCONOMY_BENCH_CONNECTIONS ?? 32);
const LISTINGS = Number(process.env.LOCONOMY_BENCH_LISTINGS ?? 100_000);
const SECRET = process.env.LOCONOMY_JWT_SECRET ?? 'loconomy-bench-secret-loconomy-bench-secret-0123';
const PORT = 54390;
const SAMPLE_IDS = 1000;
const SLUG = 'bench-slug-token';

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

/** A transaction that records every statement it runs (text and values) and runs it. */
function recording(tx: Transaction, log: { text: string; values: readonly unknown[] }[]): Transaction {
  const record = (query: Query | string, params?: readonly unknown[]): Query => {
    const q = typeof query === 'string' ? { text: query, values: params ?? [] } : query;
    log.push({ text: q.text, values: q.values });
    return q;
  };
  return {
    ...tx,
    query: (query, params) => tx.query(record(query, params)),
    last: (query, params) => tx.last(record(query, params)),
  };
}

/** Runs one request through the REST handler, as the server would, and returns its statements. */
async function recordRequest(db: Database, caller: Caller, request: RestRequest) {
  const config = loadConfig({ DATABASE_URL: URL_, LOCONOMY_JWT_SECRET: SECRET });
  const cache = await loadSchemaCache(db, config.db.schemas, ['anon', 'authenticated', 'service_role']);
  const statements: { text: string; values: readonly unknown[] }[] = [];
  const spy: Database = {
    ...db,
    asRole: (role, claims, fn, info) =>
      db.transaction(
        async (tx) => {
          const rec = recording(tx, statements);
          await enterRequestContext(rec, role, claims, info, searchPathValue(config.db.extraSearchPath));
          return fn(rec);
        },
        { end: 'rollback' }, // leave nothing behind
      ),
  };
  const response = await handleRest({ db: spy, config, schemaCache: () => cache }, caller, request);
  if (response.status >= 300) throw new Error(`recording got ${response.status}: ${response.body}`);
  return statements;
}

/** A value as a SQL literal for a pgbench script, or the expression that varies it. */
function literal(value: unknown, vary: (v: unknown) => string | undefined): string {
  const varied = vary(value);
  if (varied) return varied;
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number') return String(value);
  const text = Array.isArray(value)
    ? `{${value.map((v) => `"${String(v).replaceAll('"', '\\"')}"`).join(',')}}`
    : String(value);
  return `'${text.replaceAll("'", "''")}'`;
}

function pgbenchScript(
  statements: { text: string; values: readonly unknown[] }[],
  vary: (v: unknown) => string | undefined,
) {
  const body = statements.map(
    (s) => `${s.text.replace(/\$(\d+)/g, (_, n) => literal(s.values[Number(n) - 1], vary)).replace(/\s*\n\s*/g, ' ')};`,
  );
  return ['begin;', ...body, 'commit;', ''].join('\n');
}

interface Figures {
  rps: number;
  p50: number;
  p99: number;
}

async function runPgbench(script: string, setup: string, mode: 'extended' | 'prepared'): Promise<Figures> {
  const dir = await mkdtemp(join(tmpdir(), 'loconomy-pgbench-'));
  try {
    await writeFile(join(dir, 'bench.sql'), `${setup}${script}`);
    const args = [
      '-n',
      '-M',
      mode,
      '-c',
      String(CONNECTIONS),
      '-j',
      '2',
      '-T',
      String(SECONDS),
      '-f',
      'bench.sql',
      '-l',
      '--log-prefix',
      'tx',
      URL_ as string,
    ];
    const child = spawn('pgbench', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    await new Promise<void>((resolve, reject) =>
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`pgbench failed:\n${out}`)))),
    );
    const tps = Number(/tps = ([\d.]+)/.exec(out)?.[1]);
    const latencies: number[] = [];
    for (const file of (await readdir(dir)).filter((f) => f.startsWith('tx'))) {
      for (const line of (await readFile(join(dir, file), 'utf8')).split('\n')) {
        const us = Number(line.split(' ')[2]);
        if (Number.isFinite(us) && line !== '') latencies.push(us / 1000);
      }
    }
    latencies.sort((a, b) => a - b);
    const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
    return { rps: tps, p50: at(0.5), p99: at(0.99) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function runHttp(requests: autocannon.Request[], headers: Record<string, string>): Promise<Figures> {
  const run = (duration: number) =>
    autocannon({ url: `http://127.0.0.1:${PORT}`, connections: CONNECTIONS, duration, headers, requests });
  await run(2); // warm-up: connections, plan caches, JIT
  const result = await run(SECONDS);
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`HTTP run had ${result.non2xx} non-2xx and ${result.errors} errors`);
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

/** Whether `wrk` (Debian package `wrk`) is on the PATH. */
function hasWrk(): boolean {
  return spawnSync('wrk', ['--version']).error === undefined;
}

/** A request for wrk: `__UNIQUE__` in the body becomes a value unique to the request. */
interface WrkRequest {
  method: string;
  path: string;
  body?: string;
}

/**
 * The same load from wrk, a C load generator with a Lua script (2 threads), which takes far less
 * of the shared CPU than autocannon does, so the server's own figure shows more clearly.
 */
async function runWrk(requests: WrkRequest[], headers: Record<string, string>): Promise<Figures> {
  const dir = await mkdtemp(join(tmpdir(), 'loconomy-wrk-'));
  try {
    const long = (text: string) => `[==[${text}]==]`;
    const script = [
      `local requests = {${requests.map((r) => `{method=${long(r.method)}, path=${long(r.path)}, body=${r.body === undefined ? 'nil' : long(r.body)}}`).join(',\n')}}`,
      `local headers = {${Object.entries(headers)
        .map(([k, v]) => `[ ${long(k)} ] = ${long(v)}`)
        .join(', ')}}`,
      'local threads = 0',
      'function setup(thread) threads = threads + 1; thread:set("id", threads) end',
      'local counter = 0',
      'function init(args) math.randomseed(os.time() + (id or 0)) end',
      'function request()',
      '  counter = counter + 1',
      '  local r = requests[(counter % #requests) + 1]',
      '  local body = r.body',
      '  if body then body = body:gsub("__UNIQUE__", (id or 0) .. "-" .. counter .. "-" .. math.random(1, 1000000000)) end',
      '  return wrk.format(r.method, r.path, headers, body)',
      'end',
      '',
    ].join('\n');
    await writeFile(join(dir, 'bench.lua'), script);
    const run = async (seconds: number) => {
      const args = ['-t', '2', '-c', String(CONNECTIONS), '-d', `${seconds}s`, '--latency', '-s', 'bench.lua'];
      const child = spawn('wrk', [...args, `http://127.0.0.1:${PORT}`], {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      await new Promise<void>((resolve, reject) =>
        child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`wrk failed:\n${out}`)))),
      );
      return out;
    };
    await run(2); // warm-up, as for autocannon
    const out = await run(SECONDS);
    const bad = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
    const errors = /Socket errors: (.*)/.exec(out)?.[1];
    if (bad > 0 || errors) throw new Error(`wrk run had ${bad} non-2xx responses, socket errors: ${errors ?? 'none'}`);
    const ms = (q: string) => {
      const m = new RegExp(`^\\s+${q}%\\s+([\\d.]+)(us|ms|s)$`, 'm').exec(out);
      if (!m) return Number.NaN;
      const value = Number(m[1]);
      return m[2] === 'us' ? value / 1000 : m[2] === 's' ? value * 1000 : value;
    };
    return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]), p50: ms('50'), p99: ms('99') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

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

const fmt = (f: Figures) =>
  `${f.rps.toFixed(0).padStart(6)} req/s  p50 ${f.p50.toFixed(2).padStart(6)} ms  p99 ${f.p99.toFixed(2).padStart(6)} ms`;

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
    const { rows: marker } = await db.query(sql`select 1 from loconomy_migrations.seeds where name = 'demo'`);
    if (marker.length === 0) await exited(loconomy(['seed', '--demo', '--listings', String(LISTINGS)]));
    const { rows: count } = await db.query<{ n: string }>(sql`select count(*) as n from public.listings`);
    say(`listings: ${count[0]?.n}`);

    // Sample ids for (a), shared by both sides through a helper table pgbench reads.
    await db.exec(`drop table if exists public.loconomy_bench_ids;
      create table public.loconomy_bench_ids as
        select row_number() over ()::int as n, id from (select id from public.listings where status = 'active' and deleted_at is null order by id limit ${SAMPLE_IDS}) s;
      alter table public.loconomy_bench_ids add primary key (n);
      grant select on public.loconomy_bench_ids to anon, authenticated;`);
    const { rows: ids } = await db.query<{ id: string }>(sql`select id from public.loconomy_bench_ids order by n`);
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
    for (const c of cases) scripts.push(pgbenchScript(await recordRequest(db, c.caller, c.request(true)), c.vary));
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
        const rest = await runHttp(c.http as autocannon.Request[], c.httpHeaders as Record<string, string>);
        say(`  REST     ${fmt(rest)}  (autocannon)`);
        const viaWrk = wrk ? await runWrk(c.wrk, c.httpHeaders as Record<string, string>) : undefined;
        if (viaWrk) say(`  REST     ${fmt(viaWrk)}  (wrk)`);
        const handler = await runInProcess(pooled, c.caller, () => c.request());
        say(`  handler  ${fmt(handler)}  (in process, no HTTP)`);
        // extended: unnamed statements, parsed and planned each time, as node-postgres sends
        // them; prepared: plans cached per connection, PostgreSQL's best case.
        const extended = await runPgbench(scripts[i] as string, c.setup, 'extended');
        say(`  pgbench -M extended  ${fmt(extended)}`);
        const prepared = await runPgbench(scripts[i] as string, c.setup, 'prepared');
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
