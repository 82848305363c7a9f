/**
 * create_booking throughput on PostgreSQL (issue 8): 16 concurrent clients (each its own
 * customer), through `loconomy serve` over HTTP (POST /rest/v1/rpc/create_booking with a user
 * token) and, in the same run, the very same SQL straight through node-postgres: begin, the
 * request-context statement (role and claims), `select * from create_booking(…)`, commit.
 *
 *   (a) distinct slots: each client books its own provider, a new hour each time — no waiting
 *       on another client;
 *   (b) contended slots: all clients book one provider, 16 requests for each slot — one wins,
 *       15 are answered 409 (slot taken); every answer counts.
 *
 *   LOCONOMY_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/loconomy_bench npm run bench -- bookings
 *
 * The database is migrated and given demo data (LOCONOMY_BENCH_LISTINGS, default 2000) if it has
 * none; the bench adds its own providers and customers (marked bench_booking_*) and removes its
 * bookings afterwards. Settings: LOCONOMY_BENCH_SECONDS (default 10 per run),
 * LOCONOMY_BENCH_CONNECTIONS (16), LOCONOMY_BENCH_WARMUP (3 requests per client, not counted).
 *
 * The warm-up matters: a client's first request runs on a fresh connection, whose backend
 * compiles every PL/pgSQL function and trigger a booking touches and plans their statements
 * (~100–250 ms alone, ~0.5–1.2 s when sixteen do it at once on two cores). Counted, those
 * sixteen requests were the p99. They are reported apart, as "cold".
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { projectKeys, userToken } from '../src/auth/keys.js';
import { exited, runLoconomy, waitForHealth } from './loconomy.js';

const URL_ = process.env.LOCONOMY_BENCH_DATABASE_URL ?? process.env.DATABASE_URL;
const SECONDS = Number(process.env.LOCONOMY_BENCH_SECONDS ?? 10);
const CLIENTS = Number(process.env.LOCONOMY_BENCH_CONNECTIONS ?? 16);
const LISTINGS = Number(process.env.LOCONOMY_BENCH_LISTINGS ?? 2000);
const WARMUP = Number(process.env.LOCONOMY_BENCH_WARMUP ?? 3);
const SECRET = process.env.LOCONOMY_JWT_SECRET ?? 'loconomy-bench-secret-loconomy-bench-secret-0123';
const PORT = 54391;
const HOUR = 3_600_000;

if (!URL_) {
  console.error(
    'bookings.bench: set LOCONOMY_BENCH_DATABASE_URL to an empty or demo PostgreSQL database (with PostGIS), e.g. postgres://postgres@127.0.0.1:5432/loconomy_bench',
  );
  process.exit(1);
}

const say = (line: string) => console.log(line);

/** `loconomy <args>` against the bench database. */
const loconomy = (args: string[]) =>
  runLoconomy(args, { DATABASE_URL: URL_, LOCONOMY_JWT_SECRET: SECRET, LOCONOMY_DB_POOL: String(CLIENTS) });

interface Figures {
  rps: number;
  ok: number;
  taken: number;
  p50: number;
  p99: number;
  /** The slowest first request of a client (a fresh connection), ms. */
  cold: number;
}

/** A booking request: which client, which listing, which start. */
interface Ask {
  client: number;
  listing: string;
  startsAt: string;
}

/**
 * CLIENTS loops sending requests back to back for SECONDS, after WARMUP requests each that are
 * not counted; `send` answers 200 or 409.
 */
async function drive(next: (client: number) => Ask, send: (ask: Ask) => Promise<number>): Promise<Figures> {
  const latencies: number[] = [];
  let ok = 0;
  let taken = 0;
  let cold = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, client) => {
      for (let i = 0; i < WARMUP; i++) {
        const start = performance.now();
        const status = await send(next(client));
        if (i === 0) cold = Math.max(cold, performance.now() - start);
        if (status !== 200 && status !== 409) throw new Error(`create_booking answered ${status}`);
      }
    }),
  );
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, client) => {
      while (performance.now() < end) {
        const ask = next(client);
        const start = performance.now();
        const status = await send(ask);
        latencies.push(performance.now() - start);
        if (status === 200) ok++;
        else if (status === 409) taken++;
        else throw new Error(`create_booking answered ${status}`);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { rps: latencies.length / SECONDS, ok, taken, p50: at(0.5), p99: at(0.99), cold };
}

const fmt = (f: Figures) =>
  `${f.rps.toFixed(0).padStart(6)} req/s (${f.ok} booked, ${f.taken} × 409)  p50 ${f.p50.toFixed(2).padStart(6)} ms  p99 ${f.p99.toFixed(2).padStart(6)} ms  (cold first request ≤ ${f.cold.toFixed(0)} ms)`;

/** Slot k of a listing: one hour, 00:00–23:00 UTC of successive days from `from`. */
const slot = (from: number, k: number) =>
  new Date(from + Math.floor(k / 23) * 24 * HOUR + (k % 23) * HOUR).toISOString();

async function main(): Promise<void> {
  say(`bookings.bench: ${URL_?.replace(/\/\/[^@]*@/, '//…@')}, ${CLIENTS} clients, ${SECONDS} s per run`);
  await exited(loconomy(['migrate']));
  const pool = new pg.Pool({ connectionString: URL_, max: CLIENTS });
  try {
    const { rows: marker } = await pool.query(`select 1 from loconomy_migrations.seeds where name = 'demo'`);
    if (marker.length === 0) await exited(loconomy(['seed', '--demo', '--listings', String(LISTINGS)]));
    const { rows: count } = await pool.query<{ n: string }>('select count(*) as n from public.listings');
    say(`listings: ${count[0]?.n}`);

    // Bench people: CLIENTS customers and CLIENTS + 1 providers, each open around the clock in
    // UTC with one listing bookable two years ahead without notice.
    const run = randomUUID().slice(0, 8);
    const { rows: people } = await pool.query<{ kind: string; clerk_id: string; listing_id: string | null }>(
      `with tenant as (select id from public.tenants where is_default),
            people as (
              insert into public.users (tenant_id, clerk_id, email, role, status, first_name, last_name, time_zone)
              select tenant.id, format('bench_booking_%s_%s_%s', $1::text, kind, n), format('bench_booking_%s_%s_%s@example.com', $1::text, kind, n),
                     kind::public.user_role, 'active', 'Bench', kind || n, 'UTC'
                from tenant, (select 'customer' as kind, n from generate_series(1, $2::int) n
                              union all select 'provider', n from generate_series(0, $2::int) n) k
              returning id, clerk_id, role::text as kind),
            listings as (
              insert into public.listings (provider_id, category_id, title, description, slug, pricing_type,
                                           hourly_rate_cents, location, service_radius_m, status,
                                           min_notice_minutes, advance_booking_days)
              select p.id, (select id from public.categories where slug = 'plumbing' and tenant_id is null),
                     'Bench plumbing', 'Booked by the benchmark', 'bench-booking-' || replace(p.clerk_id, '_', '-'), 'hourly', 6000,
                     extensions.st_point(-73.99, 40.73)::extensions.geography, 10000, 'active', 0, 730
                from people p where p.kind = 'provider'
              returning id, provider_id)
       select p.kind, p.clerk_id, l.id as listing_id from people p left join listings l on l.provider_id = p.id
        order by p.kind, p.clerk_id`,
      [run, CLIENTS],
    );
    await pool.query(
      `insert into public.provider_availability (provider_id, day_of_week, start_time, end_time, time_zone)
       select u.id, d, '00:00', '24:00', 'UTC' from public.users u, generate_series(1, 7) d
        where u.clerk_id like format('bench\\_booking\\_%s\\_provider\\_%%', $1::text)`,
      [run],
    );
    const customers = people.filter((p) => p.kind === 'customer');
    const listings = people.filter((p) => p.kind === 'provider').map((p) => p.listing_id as string);
    const contended = listings[0] as string;
    const distinct = listings.slice(1);
    const tokens = await Promise.all(customers.map((c) => userToken(SECRET, { sub: c.clerk_id, ttlSeconds: 3600 })));
    const keys = await projectKeys(SECRET);

    // Each side books its own days: REST from day 2, SQL from day 200 (the horizon is 730 days).
    const day = (n: number) => {
      const d = new Date(Date.now() + n * 24 * HOUR);
      d.setUTCHours(0, 0, 0, 0);
      return d.getTime();
    };

    const viaRest = (ask: Ask) =>
      fetch(`http://127.0.0.1:${PORT}/rest/v1/rpc/create_booking`, {
        method: 'POST',
        headers: {
          apikey: keys.anon,
          authorization: `Bearer ${tokens[ask.client]}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ listing_id: ask.listing, starts_at: ask.startsAt, idempotency_key: randomUUID() }),
      }).then(async (response) => {
        await response.arrayBuffer();
        return response.status;
      });

    // The statements the REST layer runs for the call, straight through node-postgres.
    const viaSql = async (ask: Ask) => {
      const client = await pool.connect();
      try {
        await client.query('begin');
        await client.query(
          `select set_config('role', 'authenticated', true), set_config('request.jwt.claims', $1, true),
                  set_config('search_path', 'public, extensions', true)`,
          [JSON.stringify({ sub: customers[ask.client]?.clerk_id, role: 'authenticated' })],
        );
        try {
          await client.query('select * from public.create_booking($1::uuid, $2::timestamptz, null, null, null, $3)', [
            ask.listing,
            ask.startsAt,
            randomUUID(),
          ]);
          await client.query('commit');
          return 200;
        } catch (error) {
          await client.query('rollback');
          if ((error as { code?: string }).code === 'PT409') return 409;
          throw error;
        }
      } finally {
        client.release();
      }
    };

    say('starting loconomy serve…');
    const server = loconomy(['serve', '--port', String(PORT)]);
    const table: string[] = [];
    try {
      await waitForHealth(PORT);
      for (const [name, firstDay] of [
        ['(a) distinct slots: one provider per client', 0],
        ['(b) contended slots: one provider, 16 requests per slot', 1],
      ] as const) {
        say(`\n▶ ${name}`);
        const sides: Figures[] = [];
        for (const [label, send, from] of [
          ['REST', viaRest, day(2 + firstDay * 100)],
          ['SQL ', viaSql, day(300 + firstDay * 100)],
        ] as const) {
          const counters = Array(CLIENTS).fill(0);
          let shared = 0;
          const next =
            firstDay === 0
              ? (client: number): Ask => ({
                  client,
                  listing: distinct[client] as string,
                  startsAt: slot(from, counters[client]++),
                })
              : (client: number): Ask => ({
                  client,
                  listing: contended,
                  startsAt: slot(from, Math.floor(shared++ / CLIENTS)),
                });
          const figures = await drive(next, send);
          say(`  ${label} ${fmt(figures)}`);
          sides.push(figures);
        }
        const [rest, direct] = sides as [Figures, Figures];
        const ratio = (rest.rps / direct.rps).toFixed(2);
        say(`  REST/SQL throughput: ${ratio}`);
        table.push(
          `| ${name} | ${rest.rps.toFixed(0)} | ${rest.p50.toFixed(1)} / ${rest.p99.toFixed(1)} | ${rest.ok} / ${rest.taken} | ${direct.rps.toFixed(0)} | ${direct.p50.toFixed(1)} / ${direct.p99.toFixed(1)} | ${direct.ok} / ${direct.taken} | ${ratio} |`,
        );
      }
      say(
        '\n| case | REST req/s | REST p50 / p99 ms | REST booked / 409 | SQL req/s | SQL p50 / p99 ms | SQL booked / 409 | REST/SQL |',
      );
      say('| --- | --- | --- | --- | --- | --- | --- | --- |');
      for (const row of table) say(row);
    } finally {
      server.kill('SIGTERM');
      await new Promise((r) => server.once('close', r));
    }
    // Leave the demo as it was: the bench's bookings go, its listings are soft-deleted.
    await pool.query('delete from public.bookings where listing_id = any($1::uuid[])', [listings]);
    await pool.query('update public.listings set deleted_at = now() where id = any($1::uuid[])', [listings]);
  } finally {
    await pool.end();
  }
}

await main();
