import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Database } from '../src/db/database.js';
import { sql } from '../src/db/sql.js';
import { installQueueSchema, startJobs } from '../src/jobs/runner.js';
import { deliverWebhook } from '../src/jobs/tasks/deliver-webhook.js';
import { silentLogger } from '../src/log.js';
import { onBothBackends } from './backends.js';

const EVENTS = Number(process.env.LOCONOMY_BENCH_WEBHOOK_EVENTS ?? 20);
const ENDPOINTS = Number(process.env.LOCONOMY_BENCH_WEBHOOK_ENDPOINTS ?? 100);
const CONCURRENCY = Number(process.env.LOCONOMY_BENCH_WEBHOOK_CONCURRENCY ?? 8);
const FANOUT_ROUNDS = 15;
const URL_ = process.env.LOCONOMY_BENCH_DATABASE_URL;
const log = silentLogger();
process.env.LOCONOMY_WEBHOOKS_ALLOW_PRIVATE = 'true'; // the receiver is on 127.0.0.1

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
const ms = (n: number) => `${n.toFixed(1)} ms`;
const one = async <T>(db: Database, query: ReturnType<typeof sql>) => (await db.query<T>(query)).rows[0] as T;

/** A tenant, a provider with a listing, a customer, and the endpoints' owner. */
async function marketplace(db: Database, tag: string) {
  const { id: tenantId } = await one<{ id: string }>(
    db,
    sql`insert into public.tenants (name, slug) values (${`Bench ${tag}`}, ${`bench-${tag}`}) returning id`,
  );
  const user = async (role: string, n: string) =>
    (
      await one<{ id: string }>(
        db,
        sql`insert into public.users (tenant_id, clerk_id, email, role, status)
            values (${tenantId}, ${`user_${tag}_${n}`}, ${`${tag}-${n}@example.com`}, ${role}::public.user_role, 'active')
            returning id`,
      )
    ).id;
  const provider = await user('provider', 'p');
  const customer = await user('customer', 'c');
  const owner = await user('admin', 'o');
  const { id: listing } = await one<{ id: string }>(
    db,
    sql`insert into public.listings (provider_id, category_id, title, description, slug, pricing_type, hourly_rate_cents,
                                     location, service_radius_m, status)
        select ${provider}, id, 'Bench plumbing', 'Bench listing', ${`bench-${tag}`}, 'hourly', 8000,
               public.geo_point(-73.99, 40.73), 15000, 'active'
          from public.categories where slug = 'plumbing' and tenant_id is null returning id`,
  );
  return { tenantId, provider, customer, owner, listing };
}

function booking(m: Awaited<ReturnType<typeof marketplace>>, i: number) {
  return sql`insert into public.bookings (listing_id, provider_id, customer_id, tenant_id, starts_at, ends_at, time_zone,
                                          service_title, currency, base_price_cents, total_cents, status)
             values (${m.listing}, ${m.provider}, ${m.customer}, ${m.tenantId},
                     now() + make_interval(hours => ${48 + i * 2}), now() + make_interval(hours => ${49 + i * 2}),
                     'UTC', 'Bench', 'USD', 8000, 8000, 'pending') returning id`;
}

async function measure(label: string, db: Database, databaseUrl?: string): Promise<void> {
  const tag = Math.random().toString(36).slice(2, 8);
  const arrivals: { booking: string; at: number }[] = [];
  let expected = 0;
  let done: (() => void) | undefined;
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = performance.now();
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { data: { id: string } };
      arrivals.push({ booking: body.data.id, at });
      res.writeHead(204).end();
      if (arrivals.length === expected) done?.();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

  const m = await marketplace(db, tag);
  // The baseline: the same inserts with no endpoint subscribed (raw SQL, no fan-out).
  const raw: number[] = [];
  for (let i = 0; i < EVENTS; i++) {
    const t = performance.now();
    await db.query(booking(m, 1000 + i));
    raw.push(performance.now() - t);
  }
  for (let i = 0; i < ENDPOINTS; i++)
    await db.query(sql`insert into public.webhook_endpoints (user_id, url, events, secret)
                       values (${m.owner}, ${`${base}/hook/${i}`}, '{booking.*}', app.new_webhook_secret())`);

  // The fan-out statement alone, before any worker runs: one event to every endpoint through
  // app.emit_event (deliveries in one insert, jobs in one add_jobs), against the same rows
  // enqueued one add_job per endpoint (app.enqueue_webhook_delivery, what emit_event did before
  // migration 0039). Each in a transaction that is rolled back.
  await installQueueSchema(db, databaseUrl, log);
  const rollback = new Error('rollback');
  const timed = async (query: ReturnType<typeof sql>) => {
    const t = performance.now();
    await db
      .transaction(async (tx) => {
        await tx.query(query);
        throw rollback;
      })
      .catch((error: unknown) => {
        if (error !== rollback) throw error;
      });
    return performance.now() - t;
  };
  const perEndpoint: number[] = [];
  const batched: number[] = [];
  for (let round = 0; round < FANOUT_ROUNDS; round++) {
    perEndpoint.push(
      await timed(sql`select count(app.enqueue_webhook_delivery(w.id, 'msg_bench', 'booking.created', '{}'::jsonb))
                        from public.webhook_endpoints w where w.tenant_id = ${m.tenantId}`),
    );
    batched.push(await timed(sql`select app.emit_event('booking.created', ${m.tenantId}, '{}'::jsonb)`));
  }
  perEndpoint.sort((a, b) => a - b);
  batched.sort((a, b) => a - b);
  console.log(
    `${label}: one event to ${ENDPOINTS} endpoints, the enqueueing transaction alone (median of ${FANOUT_ROUNDS}): ` +
      `add_jobs batch ${ms(pct(batched, 0.5))} vs ${ms(pct(perEndpoint, 0.5))} with one add_job per endpoint`,
  );

  const jobs = await startJobs({
    db,
    databaseUrl,
    log,
    tasks: [deliverWebhook],
    schedule: false,
    concurrency: CONCURRENCY,
    pollInterval: 500,
  });
  const committed = new Map<string, number>();
  const commit: number[] = [];
  expected = EVENTS * ENDPOINTS;
  const all = new Promise<void>((resolve) => {
    done = resolve;
  });
  try {
    const first = performance.now();
    for (let i = 0; i < EVENTS; i++) {
      const t = performance.now();
      const { id } = await one<{ id: string }>(db, booking(m, i));
      const at = performance.now();
      committed.set(id, at);
      commit.push(at - t);
    }
    await all;
    const last = Math.max(...arrivals.map((a) => a.at));
    const latency = arrivals.map((a) => a.at - (committed.get(a.booking) ?? Number.NaN)).sort((a, b) => a - b);
    const seconds = (last - first) / 1000;
    commit.sort((a, b) => a - b);
    raw.sort((a, b) => a - b);
    console.log(
      `${label}: ${EVENTS} events × ${ENDPOINTS} endpoints = ${arrivals.length} deliveries in ${seconds.toFixed(2)} s ` +
        `(${(arrivals.length / seconds).toFixed(0)} deliveries/s, ${(EVENTS / seconds).toFixed(1)} events/s, ${CONCURRENCY} jobs at once); ` +
        `commit→delivery p50 ${ms(pct(latency, 0.5))}, p95 ${ms(pct(latency, 0.95))}, max ${ms(latency.at(-1) ?? 0)}; ` +
        `emitting insert p50 ${ms(pct(commit, 0.5))} vs ${ms(pct(raw, 0.5))} with no endpoint (raw)`,
    );
  } finally {
    await jobs.stop();
    await new Promise((resolve) => receiver.close(resolve));
  }
}

await onBothBackends(
  { name: 'webhooks', url: URL_, log, labels: { pglite: 'embedded (PGlite)', postgres: 'PostgreSQL' } },
  measure,
);
