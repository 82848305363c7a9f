/**
 * Slots for 30 days for one listing (issue 8): `listing_slots` through `loconomy serve`
 * (POST /rest/v1/rpc/listing_slots with the anon key) beside the same SQL run directly in the
 * same run — `select * from public.listing_slots($1, $2, $3)` in a transaction as the anon role
 * with its claims, as the REST layer runs it — one call at a time, so each figure is the
 * latency of one call; and the mean cost of one call inside the database (100 calls in one
 * statement, no round trips). Listings are drawn at random from active demo listings whose provider
 * keeps a weekly schedule.
 *
 *   LOCONOMY_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/loconomy_bench npm run bench -- slots
 *
 * The database is migrated and given demo data (LOCONOMY_BENCH_LISTINGS, default 100000) if it
 * has none. LOCONOMY_BENCH_CALLS (default 500) calls per side, after 50 warm-up calls.
 */
import { projectKeys } from '../src/auth/keys.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/open.js';
import { sql } from '../src/db/sql.js';
import { createLogger } from '../src/log.js';
import { exited, runLoconomy, waitForHealth } from './loconomy.js';

const URL_ = process.env.LOCONOMY_BENCH_DATABASE_URL ?? process.env.DATABASE_URL;
const LISTINGS = Number(process.env.LOCONOMY_BENCH_LISTINGS ?? 100_000);
const CALLS = Number(process.env.LOCONOMY_BENCH_CALLS ?? 500);
const WARM = 50;
const SECRET = process.env.LOCONOMY_JWT_SECRET ?? 'loconomy-bench-secret-loconomy-bench-secret-0123';
const PORT = 54391;
const DAYS = 30;

if (!URL_) {
  console.error(
    'slots.bench: set LOCONOMY_BENCH_DATABASE_URL to an empty or demo PostgreSQL database (with PostGIS), e.g. postgres://postgres@127.0.0.1:5432/loconomy_bench',
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
  slots: number;
}

/** Runs `call` WARM times, then CALLS times, timing each; call returns the slot count. */
async function measure(call: () => Promise<number>): Promise<Figures> {
  for (let i = 0; i < WARM; i++) await call();
  const latencies: number[] = [];
  let slots = 0;
  for (let i = 0; i < CALLS; i++) {
    const start = performance.now();
    slots += await call();
    latencies.push(performance.now() - start);
  }
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { p50: at(0.5), p95: at(0.95), mean: latencies.reduce((a, b) => a + b, 0) / CALLS, slots: slots / CALLS };
}

const fmt = (f: Figures) =>
  `p50 ${f.p50.toFixed(2).padStart(6)} ms  p95 ${f.p95.toFixed(2).padStart(6)} ms  mean ${f.mean.toFixed(2).padStart(6)} ms  (${f.slots.toFixed(0)} slots per call)`;

async function main(): Promise<void> {
  say(`slots.bench: ${URL_?.replace(/\/\/[^@]*@/, '//…@')}, ${CALLS} calls per side, one at a time`);
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
    const { rows: sample } = await db.query<{ id: string }>(sql`
      select l.id from public.listings l
      where l.status = 'active' and l.deleted_at is null
        and exists (select 1 from public.provider_availability pa where pa.provider_id = l.provider_id)
      order by l.id limit 200`);
    if (sample.length === 0) throw new Error('no active listing whose provider keeps a schedule');
    say(`listings: ${count[0]?.n}; sample: ${sample.length} scheduled active listings; ${DAYS} days per call`);
    const pick = () => sample[Math.floor(Math.random() * sample.length)]?.id as string;
    const range = () => {
      const from = new Date(Date.now() + 86_400_000);
      return { from_at: from.toISOString(), to_at: new Date(from.getTime() + DAYS * 86_400_000).toISOString() };
    };

    const keys = await projectKeys(SECRET);
    say('starting loconomy serve…');
    const server = loconomy(['serve', '--port', String(PORT)]);
    try {
      await waitForHealth(PORT);
      const rest = await measure(async () => {
        const response = await fetch(`http://127.0.0.1:${PORT}/rest/v1/rpc/listing_slots`, {
          method: 'POST',
          headers: { apikey: keys.anon, 'content-type': 'application/json' },
          body: JSON.stringify({ listing_id: pick(), ...range() }),
        });
        const body = (await response.json()) as unknown[];
        if (!response.ok) throw new Error(`REST answered ${response.status}: ${JSON.stringify(body)}`);
        return body.length;
      });
      say(`  REST rpc      ${fmt(rest)}`);
      const direct = await measure(async () => {
        const { from_at, to_at } = range();
        const { rows } = await db.asRole('anon', { role: 'anon' }, (tx) =>
          tx.query(
            sql`select * from public.listing_slots(${pick()}::uuid, ${from_at}::timestamptz, ${to_at}::timestamptz)`,
          ),
        );
        return rows.length;
      });
      say(`  direct SQL    ${fmt(direct)}`);
      // Inside the database: one statement calling listing_slots for 100 listings, per call.
      const ids = Array.from({ length: 100 }, pick);
      const { from_at, to_at } = range();
      const inside = await db.asRole('anon', { role: 'anon' }, async (tx) => {
        await tx.query(
          sql`select count(*) from unnest(${ids}::uuid[]) id, public.listing_slots(id, ${from_at}::timestamptz, ${to_at}::timestamptz)`,
        );
        const start = performance.now();
        await tx.query(
          sql`select count(*) from unnest(${ids}::uuid[]) id, public.listing_slots(id, ${from_at}::timestamptz, ${to_at}::timestamptz)`,
        );
        return (performance.now() - start) / ids.length;
      });
      say(
        `  in-database   mean ${inside.toFixed(2).padStart(6)} ms per call (100 calls in one statement, no round trips)`,
      );
      say(`  REST/direct p50: ${(rest.p50 / direct.p50).toFixed(2)}, p95: ${(rest.p95 / direct.p95).toFixed(2)}`);
      say(
        '\n| case | REST p50 / p95 ms | direct SQL p50 / p95 ms | REST/direct (p50) | in-database ms/call | slots per call |',
      );
      say('| --- | --- | --- | --- | --- | --- |');
      say(
        `| listing_slots, ${DAYS} days | ${rest.p50.toFixed(2)} / ${rest.p95.toFixed(2)} | ${direct.p50.toFixed(2)} / ${direct.p95.toFixed(2)} | ${(rest.p50 / direct.p50).toFixed(2)} | ${inside.toFixed(2)} | ${rest.slots.toFixed(0)} |`,
      );
    } finally {
      server.kill('SIGTERM');
      await new Promise((r) => server.once('close', r));
    }
  } finally {
    await db.close();
  }
}

await main();
