/**
 * Inbound Clerk webhooks (issue 12), through `loconomy serve` on PostgreSQL: LOCONOMY_BENCH_EVENTS
 * (2000) deliveries to POST /webhooks/clerk, pre-signed as Svix signs them (standardwebhooks,
 * a whsec_ secret), sent by LOCONOMY_BENCH_CONCURRENCY (16) concurrent connections. The
 * deliveries are user.created for distinct users, then user.updated for every other user; 10 %
 * are exact redeliveries of an earlier one (same svix-id, same body): half right behind their
 * original, so they race it on another connection, half later.
 *
 * Reported: deliveries/s, p50/p95/p99 latency, the statuses and outcomes; then the database is
 * checked: every distinct event recorded exactly once in inbound_webhook_events (attempts 1,
 * processed), one account per user.created, every update applied, every duplicate answered
 * `duplicate`. Anything processed twice (or not at all) makes the run exit 1.
 * Beside it, raw SQL: the same events (other user ids) applied by app.clerk_apply_event as
 * service_role, one transaction each, over the same number of connections, server not running.
 *
 *   LOCONOMY_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/loconomy_bench npm run bench -- clerk-webhooks
 *
 * The bench creates its own tenant (slug `ckbench-…`; users reach it through trusted
 * public_metadata.tenant_id) and deletes it, its users, their Clerk sync state and its events
 * at the end; nothing else is read or changed. Needs only migrations.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { Webhook } from 'standardwebhooks';
import { exited, runLoconomy, waitForHealth } from './loconomy.js';

const URL_ = process.env.LOCONOMY_BENCH_DATABASE_URL ?? process.env.DATABASE_URL;
const int = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const DELIVERIES = int('LOCONOMY_BENCH_EVENTS', 2000);
const CONCURRENCY = int('LOCONOMY_BENCH_CONCURRENCY', 16);
const SECRET = process.env.LOCONOMY_JWT_SECRET ?? 'loconomy-bench-secret-loconomy-bench-secret-0123';
const WEBHOOK_SECRET = `whsec_${Buffer.from('loconomy-clerk-webhook-bench-secret').toString('base64')}`;
const PORT = 54392;
const URL_HOOK = `http://127.0.0.1:${PORT}/webhooks/clerk`;

if (!URL_) {
  console.error(
    'clerk-webhooks.bench: set LOCONOMY_BENCH_DATABASE_URL to a PostgreSQL database (migrated by the bench if needed), e.g. postgres://postgres@127.0.0.1:5432/loconomy_bench',
  );
  process.exit(1);
}

const say = (line: string) => console.log(line);
const run = `ckbench-${randomUUID().slice(0, 8)}`;
const tag = run.replace('-', '_');

interface Delivery {
  readonly id: string;
  readonly type: 'user.created' | 'user.updated';
  readonly user: string;
  readonly body: string;
  readonly duplicate: boolean;
}

/** A Clerk user.created / user.updated event as Clerk sends it (the fields Loconomy reads). */
function userEvent(type: Delivery['type'], id: string, tenantId: string, updatedAt: number, first: string) {
  return {
    data: {
      id,
      object: 'user',
      first_name: first,
      last_name: 'Bench',
      image_url: 'https://img.clerk.com/default.png',
      has_image: false,
      primary_email_address_id: 'idn_email',
      email_addresses: [
        {
          id: 'idn_email',
          object: 'email_address',
          email_address: `${id.toLowerCase()}@example.com`,
          verification: { status: 'verified', strategy: 'email_code' },
        },
      ],
      primary_phone_number_id: null,
      phone_numbers: [],
      public_metadata: { tenant_id: tenantId },
      private_metadata: {},
      unsafe_metadata: {},
      external_id: null,
      banned: false,
      locked: false,
      created_at: 1_700_000_000_000,
      updated_at: updatedAt,
      last_sign_in_at: null,
    },
    instance_id: 'ins_bench',
    object: 'event',
    timestamp: updatedAt,
    type,
  };
}

/** A deterministic shuffle source, so every run sends the same pattern. */
function random(seed: number) {
  let s = seed;
  return () => {
    s = (s * 1_103_515_245 + 12_345) % 2_147_483_648;
    return s / 2_147_483_648;
  };
}

/**
 * The delivery list: distinct events (created, then updated for every other user), and 10 % redeliveries
 * of earlier ones, every other one right behind its original (they race), the rest later.
 */
function deliveries(prefix: string, tenantId: string): Delivery[] {
  const duplicates = Math.round(DELIVERIES * 0.1);
  const distinct = DELIVERIES - duplicates;
  const updates = Math.floor(distinct / 3);
  const users = distinct - updates;
  const events: Delivery[] = [];
  for (let i = 0; i < users; i++) {
    const user = `user_${prefix}_${i}`;
    const body = JSON.stringify(userEvent('user.created', user, tenantId, 1_700_000_000_000, 'Created'));
    events.push({ id: `msg_${prefix}_c${i}`, type: 'user.created', user, body, duplicate: false });
  }
  for (let i = 0; i < updates; i++) {
    const user = `user_${prefix}_${i * 2}`;
    const body = JSON.stringify(userEvent('user.updated', user, tenantId, 1_700_000_100_000, 'Updated'));
    events.push({ id: `msg_${prefix}_u${i}`, type: 'user.updated', user, body, duplicate: false });
  }
  const next = random(12);
  const list = [...events];
  for (let d = 0; d < duplicates; d++) {
    const original = events[Math.floor(next() * events.length)] as Delivery;
    const at = list.indexOf(original);
    const copy = { ...original, duplicate: true };
    const place = d % 2 === 0 ? at + 1 : at + 1 + Math.floor(next() * (list.length - at));
    list.splice(place, 0, copy);
  }
  return list;
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;

/** Runs `send` over the list with `CONCURRENCY` workers; per-delivery latencies in ms. */
async function drive(
  list: Delivery[],
  send: (d: Delivery) => Promise<void>,
): Promise<{ seconds: number; latency: number[] }> {
  const latency: number[] = [];
  let next = 0;
  let done = 0;
  const started = performance.now();
  const step = Math.max(1, Math.floor(list.length / 4));
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < list.length) {
        const delivery = list[next++] as Delivery;
        const t = performance.now();
        await send(delivery);
        latency.push(performance.now() - t);
        if (++done % step === 0) say(`  … ${done}/${list.length}`);
      }
    }),
  );
  return { seconds: (performance.now() - started) / 1000, latency: latency.sort((a, b) => a - b) };
}

/** What the database holds for one prefix; problems, one line each (none when all is right). */
async function check(admin: pg.Client, prefix: string, list: Delivery[]): Promise<string[]> {
  const distinct = list.filter((d) => !d.duplicate);
  const created = distinct.filter((d) => d.type === 'user.created').length;
  const updated = distinct.filter((d) => d.type === 'user.updated').length;
  const { rows } = await admin.query<Record<string, number>>(
    `select (select count(*)::int from public.inbound_webhook_events where provider = 'clerk' and event_id like $1) as rows,
            (select count(distinct event_id)::int from public.inbound_webhook_events where provider = 'clerk' and event_id like $1) as ids,
            (select count(*)::int from public.inbound_webhook_events where provider = 'clerk' and event_id like $1
               and (attempts <> 1 or processed_at is null or last_error is not null)) as odd,
            (select count(*)::int from public.users where clerk_id like $2) as users,
            (select count(distinct clerk_id)::int from public.users where clerk_id like $2) as user_ids,
            (select count(*)::int from public.users where clerk_id like $2 and first_name = 'Updated') as updated`,
    [`msg\\_${prefix}\\_%`, `user\\_${prefix}\\_%`],
  );
  const r = rows[0] as Record<string, number>;
  const problems: string[] = [];
  if (r.rows !== distinct.length || r.ids !== distinct.length)
    problems.push(`${r.rows} inbound_webhook_events rows (${r.ids} ids) for ${distinct.length} distinct events`);
  if (r.odd !== 0) problems.push(`${r.odd} events with attempts ≠ 1, unprocessed or failed`);
  if (r.users !== created || r.user_ids !== created) problems.push(`${r.users} accounts for ${created} user.created`);
  if (r.updated !== updated) problems.push(`${r.updated} accounts updated for ${updated} user.updated`);
  return problems;
}

async function cleanUp(admin: pg.Client, like: string) {
  // Clerk's sync state is keyed by sha256 of the Clerk id; users go with their tenant.
  await admin.query(
    `delete from app.clerk_users where clerk_id_hash in
       (select app.clerk_id_hash(clerk_id) from public.users where clerk_id like $1)`,
    [`user\\_${like}%`],
  );
  await admin.query(`delete from public.inbound_webhook_events where provider = 'clerk' and event_id like $1`, [
    `msg\\_${like}%`,
  ]);
  await admin.query(`delete from public.tenants where slug like $1`, [`${like.replace('_', '-')}%`]);
}

async function main() {
  await exited(runLoconomy(['migrate'], { DATABASE_URL: URL_ as string, LOCONOMY_JWT_SECRET: SECRET }));
  const admin = new pg.Client({ connectionString: URL_ });
  await admin.connect();
  let server: ReturnType<typeof runLoconomy> | undefined;
  const pool = new pg.Pool({ connectionString: URL_, max: CONCURRENCY });
  let failed = false;
  try {
    await cleanUp(admin, 'ckbench'); // leftovers of an interrupted run
    const { rows } = await admin.query<{ id: string }>(
      `insert into public.tenants (name, slug) values ($1, $2) returning id`,
      [`Clerk bench ${run}`, run],
    );
    const tenantId = (rows[0] as { id: string }).id;
    const http = deliveries(`${tag}h`, tenantId);
    const raw = deliveries(`${tag}r`, tenantId);
    const duplicates = http.filter((d) => d.duplicate).length;
    say(
      `${http.length} deliveries (${http.length - duplicates} distinct events: ` +
        `${http.filter((d) => !d.duplicate && d.type === 'user.created').length} user.created, ` +
        `${http.filter((d) => !d.duplicate && d.type === 'user.updated').length} user.updated; ${duplicates} duplicates), ` +
        `${CONCURRENCY} connections`,
    );

    // Raw SQL first, the server not yet running: the function the route calls, one transaction each.
    say('raw SQL: app.clerk_apply_event as service_role …');
    const rawOutcomes = new Map<string, number>();
    const rawRun = await drive(raw, async (d) => {
      const client = await pool.connect();
      try {
        await client.query('begin');
        await client.query('set local role service_role');
        const { rows: out } = await client.query<{ r: { outcome: string } }>(
          `select app.clerk_apply_event($1, $2::jsonb, $3::text[]) as r`,
          [d.id, d.body, ['tenant_id']],
        );
        await client.query('commit');
        const outcome = out[0]?.r.outcome ?? 'none';
        rawOutcomes.set(outcome, (rawOutcomes.get(outcome) ?? 0) + 1);
      } catch (error) {
        await client.query('rollback').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    });

    server = runLoconomy(['serve', '--port', String(PORT)], {
      DATABASE_URL: URL_ as string,
      LOCONOMY_JWT_SECRET: SECRET,
      CLERK_WEBHOOK_SECRET: WEBHOOK_SECRET,
      LOCONOMY_CLERK_TRUSTED_METADATA: 'tenant_id',
      LOCONOMY_DB_POOL: String(CONCURRENCY),
    });
    await waitForHealth(PORT);
    // Signed now, before sending: the 5-minute tolerance covers the run.
    const signer = new Webhook(WEBHOOK_SECRET);
    const at = new Date();
    const signed = new Map(http.map((d) => [d, signer.sign(d.id, at, d.body)]));
    say('HTTP: POST /webhooks/clerk …');
    const statuses = new Map<number, number>();
    const outcomes = new Map<string, number>();
    const httpRun = await drive(http, async (d) => {
      const response = await fetch(URL_HOOK, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'svix-id': d.id,
          'svix-timestamp': String(Math.floor(at.getTime() / 1000)),
          'svix-signature': signed.get(d) as string,
        },
        body: d.body,
      });
      const answer = (await response.json()) as { outcome?: string };
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      const outcome = answer.outcome ?? 'error';
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    });

    const distinct = http.length - duplicates;
    const answerProblems: string[] = [];
    for (const [label, counts] of [
      ['HTTP', outcomes],
      ['raw SQL', rawOutcomes],
    ] as const) {
      const dup = counts.get('duplicate') ?? 0;
      const once = (counts.get('applied') ?? 0) + (counts.get('ignored') ?? 0);
      if (dup !== duplicates || once !== distinct)
        answerProblems.push(
          `${label}: ${once} applied/ignored, ${dup} duplicate; expected ${distinct} and ${duplicates}`,
        );
    }
    if ((statuses.get(200) ?? 0) !== http.length) answerProblems.push(`HTTP: not every delivery answered 200`);
    const problems = [
      ...answerProblems,
      ...(await check(admin, `${tag}h`, http)).map((p) => `HTTP: ${p}`),
      ...(await check(admin, `${tag}r`, raw)).map((p) => `raw SQL: ${p}`),
    ];

    const f = (n: number) => n.toFixed(1);
    const rate = (r: typeof httpRun) => http.length / r.seconds;
    const fmt = (m: Map<string | number, number>) => [...m].map(([k, v]) => `${k} ${v}`).join(', ');
    say('');
    say(`| path | deliveries/s | p50 ms | p95 ms | p99 ms | answers |`);
    say(`|---|---:|---:|---:|---:|---|`);
    say(
      `| POST /webhooks/clerk (loconomy serve) | ${rate(httpRun).toFixed(0)} | ${f(pct(httpRun.latency, 0.5))} | ${f(pct(httpRun.latency, 0.95))} | ${f(pct(httpRun.latency, 0.99))} | ${fmt(statuses)}; ${fmt(outcomes)} |`,
    );
    say(
      `| raw SQL: app.clerk_apply_event | ${rate(rawRun).toFixed(0)} | ${f(pct(rawRun.latency, 0.5))} | ${f(pct(rawRun.latency, 0.95))} | ${f(pct(rawRun.latency, 0.99))} | ${fmt(rawOutcomes)} |`,
    );
    say('');
    say(`HTTP / raw SQL: ${(rate(httpRun) / rate(rawRun)).toFixed(2)}× the throughput`);
    if (problems.length === 0) {
      say(
        `checked: ${distinct} distinct events recorded once each and applied once, on both paths; nothing processed twice`,
      );
    } else {
      failed = true;
      for (const p of problems) say(`✖ ${p}`);
    }
  } finally {
    if (server) {
      const closed = new Promise((r) => server?.once('close', r));
      server.kill('SIGTERM');
      await closed;
    }
    await pool.end();
    await cleanUp(admin, run.replace('-', '_'));
    await admin.end();
  }
  if (failed) process.exit(1);
}

await main();
