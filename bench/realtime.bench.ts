/**
 * Realtime at scale (issue 11), through `loconomy serve` on PostgreSQL:
 *   (1) postgres_changes under RLS: LOCONOMY_BENCH_SUBSCRIBERS (500) users, each on their own
 *       socket and channel subscribed to INSERTs on public.notifications, whose RLS lets a user
 *       read only their own rows; a writer commits one-row transactions, each for one of them,
 *       at increasing rates (LOCONOMY_BENCH_RATES, changes/s, then `max`: as fast as the writers
 *       go) for LOCONOMY_BENCH_STEP_SECONDS each. Reported per step: changes/s committed and
 *       delivered, p50/p95/p99 from COMMIT returning to the row arriving at its owner, and
 *       misdeliveries (a row arriving at anyone but its owner: must be 0) and rows lost.
 *       Beside it, the raw SQL: the same inserts by the same writers, server not running.
 *   (2) broadcast fan-out: LOCONOMY_BENCH_CLIENTS (5000) sockets joined to one topic, one
 *       sender broadcasting LOCONOMY_BENCH_BROADCAST_RATE (10) messages/s for
 *       LOCONOMY_BENCH_SECONDS (10); then the same clients spread over LOCONOMY_BENCH_TOPICS
 *       (100) topics, the sender sending that rate to each. Reported: connection set-up time,
 *       deliveries/s, p50/p95/p99 latency, and the CPU the server and the load generator used.
 *
 *   LOCONOMY_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/loconomy_bench npm run bench -- realtime
 *
 * The clients are raw `ws` sockets speaking Phoenix vsn 2.0.0 exactly as realtime-js does
 * (bench/realtime-protocol.ts) in a child process (bench/realtime-clients.ts), not supabase-js
 * clients: 5,000 of those would measure supabase-js. Subscribers join with project-signed user
 * tokens for users that exist in the database, as the tests do. The bench creates its own
 * tenant and users (clerk ids `rtbench-…`) and deletes them, their rows and their captured
 * changes at the end; the demo data is not read or changed. Needs only migrations.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { projectKeys, userToken } from '../src/auth/keys.js';
import { cpuSeconds, exited, openFileLimits, runLoconomy, waitForHealth } from './loconomy.js';
import type { ClientSpec, Command, Reply } from './realtime-clients.js';
import { encodeBroadcastPush, join, joinPayload, now, openSocket, percentile } from './realtime-protocol.js';

const URL_ = process.env.LOCONOMY_BENCH_DATABASE_URL ?? process.env.DATABASE_URL;
const int = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const SUBSCRIBERS = int('LOCONOMY_BENCH_SUBSCRIBERS', 500);
const RATES = (process.env.LOCONOMY_BENCH_RATES ?? '100,300,600,1000,max').split(',').map((r) => r.trim());
const STEP_SECONDS = int('LOCONOMY_BENCH_STEP_SECONDS', 5);
const WRITERS = int('LOCONOMY_BENCH_WRITERS', 8);
const CLIENTS = int('LOCONOMY_BENCH_CLIENTS', 5000);
const BROADCAST_RATE = int('LOCONOMY_BENCH_BROADCAST_RATE', 10);
const SECONDS = int('LOCONOMY_BENCH_SECONDS', 10);
const TOPICS = int('LOCONOMY_BENCH_TOPICS', 100);
const CONNECT_CONCURRENCY = int('LOCONOMY_BENCH_CONNECT_CONCURRENCY', 50);
const CASES = (process.env.LOCONOMY_BENCH_CASES ?? 'changes,broadcast').split(',');
const SECRET = process.env.LOCONOMY_JWT_SECRET ?? 'loconomy-bench-secret-loconomy-bench-secret-0123';
const PORT = 54391;
const BASE = `http://127.0.0.1:${PORT}`;
/** What Supabase publishes for postgres_changes with RLS at 500 subscribers (its Realtime docs). */
const REFERENCE_CHANGES_PER_S = 30;
/** Rows not arrived after this long with nothing arriving count as lost, even if the server is busy. */
const DRAIN_MS = 60_000;

if (!URL_) {
  console.error(
    'realtime.bench: set LOCONOMY_BENCH_DATABASE_URL to a PostgreSQL database (migrated by the bench if needed), e.g. postgres://postgres@127.0.0.1:5432/loconomy_bench',
  );
  process.exit(1);
}

const say = (line: string) => console.log(line);
const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : '—');
const run = `rtbench-${randomUUID().slice(0, 8)}`;

/** The load generator, with the open-file limit raised to `openFiles` (fork's IPC survives exec). */
class Clients {
  private readonly child: ChildProcess;
  private readonly waiting: ((reply: Reply) => boolean)[] = [];

  constructor(openFiles: number) {
    const script = fileURLToPath(new URL('./realtime-clients.ts', import.meta.url));
    this.child = spawn(
      '/bin/sh',
      ['-c', 'ulimit -n "$0" && exec "$@"', String(openFiles), process.execPath, '--import', 'tsx', script],
      { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
    );
    this.child.on('message', (reply: Reply) => {
      if (reply.type === 'progress') return say(`  … ${reply.connected} connected`);
      const index = this.waiting.findIndex((w) => w(reply));
      if (index >= 0) this.waiting.splice(index, 1);
    });
  }

  get pid(): number {
    return this.child.pid as number;
  }

  ask<T extends Reply['type']>(command: Command, type: T): Promise<Extract<Reply, { type: T }>> {
    return new Promise((resolve, reject) => {
      const onExit = () => reject(new Error('the load generator exited'));
      this.child.once('exit', onExit);
      this.waiting.push((reply) => {
        if (reply.type !== type) return false;
        this.child.off('exit', onExit);
        resolve(reply as Extract<Reply, { type: T }>);
        return true;
      });
      this.child.send(command);
    });
  }

  async connect(apikey: string, clients: ClientSpec[]): Promise<Extract<Reply, { type: 'connected' }>> {
    const started = cpuSeconds(this.pid);
    const result = await this.ask(
      { cmd: 'connect', url: BASE, apikey, concurrency: CONNECT_CONCURRENCY, clients },
      'connected',
    );
    const p = (q: number) => ms(percentile(result.perClient, q));
    say(
      `  ${result.perClient.length} joined in ${(result.ms / 1000).toFixed(2)} s (${(result.perClient.length / (result.ms / 1000)).toFixed(0)}/s, ${CONNECT_CONCURRENCY} at a time): open + join p50 ${p(0.5)} / p95 ${p(0.95)} / p99 ${p(0.99)} ms; load generator CPU ${(cpuSeconds(this.pid) - started).toFixed(1)} s`,
    );
    if (result.failed > 0) throw new Error(`${result.failed} clients failed to join, first: ${result.firstError}`);
    return result;
  }

  /**
   * Waits until `count` says `done`; or until nothing new has arrived for 3 s while the server
   * is idle (under 5% of a core over the last second: no batch still being worked on); or
   * nothing new for DRAIN_MS whatever the server does.
   */
  async drain(done: (c: Extract<Reply, { type: 'count' }>) => boolean, serverPid: number): Promise<void> {
    let last = -1;
    let since = now();
    const cpu: [number, number][] = [];
    for (;;) {
      const c = await this.ask({ cmd: 'count' }, 'count');
      if (done(c)) return;
      const t = now();
      cpu.push([t, cpuSeconds(serverPid)]);
      while (cpu.length > 1 && (cpu[0] as [number, number])[0] < t - 1000) cpu.shift();
      const [t0, c0] = cpu[0] as [number, number];
      const busy = t - t0 > 500 ? (cpuSeconds(serverPid) - c0) / ((t - t0) / 1000) : 1;
      const seen = c.changes + c.broadcasts;
      if (seen !== last) {
        last = seen;
        since = t;
      } else if ((t - since > 3000 && busy < 0.05) || t - since > DRAIN_MS) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  stop(): void {
    this.child.disconnect();
  }
}

interface StepResult {
  rate: string;
  committed: number;
  committedPerS: number;
  delivered: number;
  deliveredPerS: number;
  lost: number;
  duplicates: number;
  misdeliveries: number;
  /** Every row delivered, and latency not growing through the step (median of the last quarter ≤ 2 × the first's + 250 ms). */
  keptUp: boolean;
  p50: number;
  p95: number;
  p99: number;
  serverCpu: number;
  clientCpu: number;
}

/**
 * Commits one-row inserts into public.notifications from WRITERS connections, at `rate`
 * transactions per second (or as fast as they go) for `seconds`; returns [seq, owner index,
 * time COMMIT returned] per row. Row i goes to user i mod the user count.
 */
async function write(
  writers: pg.Client[],
  users: { id: string }[],
  rate: number | 'max',
  seconds: number,
  firstSeq: number,
): Promise<{ seq: number; user: number; committedAt: number }[]> {
  const commits: { seq: number; user: number; committedAt: number }[] = [];
  const start = now();
  const end = start + seconds * 1000;
  let next = 0;
  await Promise.all(
    writers.map(async (client) => {
      for (;;) {
        const i = next++;
        const due = rate === 'max' ? now() : start + (i * 1000) / rate;
        if (due >= end) return;
        const wait = due - now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        const seq = firstSeq + i;
        const user = seq % users.length;
        // Autocommit: one transaction, one change, one NOTIFY per row.
        await client.query(
          `insert into public.notifications (user_id, type, title, data)
           values ($1, 'system_alert', 'realtime bench', jsonb_build_object('rtbench', $2::text, 'seq', $3::int))`,
          [users[user]?.id, run, seq],
        );
        commits.push({ seq, user, committedAt: now() });
      }
    }),
  );
  return commits;
}

/** Case (1) before the server starts: its users, and the raw SQL side. */
async function changesCase(admin: pg.Client, writers: pg.Client[]) {
  say(`\n▶ (1) postgres_changes under RLS: ${SUBSCRIBERS} subscribers, one-row transactions on public.notifications`);
  const { rows: users } = await admin.query<{ id: string; clerk_id: string }>(
    `insert into public.users (tenant_id, clerk_id, email, role, status, first_name, last_name)
     select t.id, $1 || '_' || n, $1 || '_' || n || '@example.com', 'customer', 'active', 'Bench', n::text
       from generate_series(1, $2::int) n, public.tenants t where t.slug = $1
     returning id, clerk_id`,
    [run, SUBSCRIBERS],
  );
  users.sort((a, b) => Number(a.clerk_id.split('_').pop()) - Number(b.clerk_id.split('_').pop()));
  say(`  ${users.length} users created (tenant ${run})`);

  // Raw SQL first, with no server listening: what the writers can commit at all.
  say(`  raw SQL: the same inserts, ${WRITERS} writers, as fast as they go for ${STEP_SECONDS} s, no server…`);
  await write(writers, users, 'max', 1, 0); // warm: connections, plans
  const rawStarted = now();
  const raw = await write(writers, users, 'max', STEP_SECONDS, 0);
  const rawPerS = raw.length / ((now() - rawStarted) / 1000);
  say(`  raw SQL: ${rawPerS.toFixed(0)} commits/s`);
  return { users, rawPerS };
}

/** Runs the steps of case (1) against the running server. */
async function changesSteps(
  clients: Clients,
  writers: pg.Client[],
  users: { id: string; clerk_id: string }[],
  anonKey: string,
  serverPid: number,
): Promise<StepResult[]> {
  say(`  connecting ${users.length} subscribers, each with its own token and channel…`);
  const specs: ClientSpec[] = [];
  for (const [i, u] of users.entries()) {
    specs.push({
      name: `rtbench-inbox-${i}`,
      token: await userToken(SECRET, { sub: u.clerk_id, ttlSeconds: 3600 }),
      owner: u.id,
    });
  }
  await clients.connect(anonKey, specs);
  await clients.ask({ cmd: 'collect' }, 'collected'); // start the counters from here

  const results: StepResult[] = [];
  let seq = 1_000_000;
  let behind = false;
  for (const rate of RATES) {
    if (behind && rate !== 'max') continue;
    const offered = rate === 'max' ? 'max' : Number(rate);
    const serverCpu0 = cpuSeconds(serverPid);
    const clientCpu0 = cpuSeconds(clients.pid);
    const started = now();
    const commits = await write(writers, users, offered, STEP_SECONDS, seq);
    const writeSeconds = (now() - started) / 1000;
    seq += commits.length + 1000;
    await clients.drain((c) => c.changes >= commits.length, serverPid);
    const got = await clients.ask({ cmd: 'collect' }, 'collected');
    const bySeq = new Map(commits.map((c) => [c.seq, c]));
    const seen = new Map<number, number>(); // seq → latency
    let duplicates = 0;
    let firstArrival = Number.POSITIVE_INFINITY;
    let lastArrival = Number.NEGATIVE_INFINITY;
    for (const [s, at] of got.changes) {
      const commit = bySeq.get(s);
      if (commit === undefined) continue; // a row of an earlier step
      if (seen.has(s)) {
        duplicates++;
        continue;
      }
      seen.set(s, at - commit.committedAt);
      firstArrival = Math.min(firstArrival, at);
      lastArrival = Math.max(lastArrival, at);
    }
    const latencies = [...seen.values()].sort((a, b) => a - b);
    // Falling behind shows as latency growing through the step: compare its first and last quarter.
    const quarter = (from: number, to: number) =>
      percentile(
        commits
          .slice(Math.floor(from * commits.length), Math.floor(to * commits.length))
          .map((c) => seen.get(c.seq) ?? Number.POSITIVE_INFINITY)
          .sort((a, b) => a - b),
        0.5,
      );
    const [early, late] = [quarter(0, 0.25), quarter(0.75, 1)];
    const committedPerS = commits.length / writeSeconds;
    // Arrivals per second from the first to the last (a backlog drained after the step counts).
    const deliveredPerS = (seen.size - 1) / ((lastArrival - firstArrival) / 1000);
    const result: StepResult = {
      rate: String(rate),
      committed: commits.length,
      committedPerS,
      delivered: seen.size,
      deliveredPerS,
      lost: commits.length - seen.size,
      duplicates,
      misdeliveries: got.misdeliveries,
      keptUp: seen.size === commits.length && late <= 2 * early + 250,
      p50: percentile(latencies, 0.5),
      p95: percentile(latencies, 0.95),
      p99: percentile(latencies, 0.99),
      serverCpu: cpuSeconds(serverPid) - serverCpu0,
      clientCpu: cpuSeconds(clients.pid) - clientCpu0,
    };
    results.push(result);
    say(
      `  rate ${String(rate).padStart(5)}: ${result.keptUp ? 'kept up' : 'BEHIND'}, median latency first → last quarter ${ms(early)} → ${ms(late)} ms; committed ${result.committedPerS.toFixed(0)}/s, delivered ${result.deliveredPerS.toFixed(0)}/s, p50 ${ms(result.p50)} / p95 ${ms(result.p95)} / p99 ${ms(result.p99)} ms, lost ${result.lost}, duplicates ${duplicates}, misdelivered ${got.misdeliveries}; CPU server ${result.serverCpu.toFixed(1)} s, clients ${result.clientCpu.toFixed(1)} s`,
    );
    if (!result.keptUp && rate !== 'max') {
      say('  delivery fell behind (a row lost, or latency growing through the step): no higher paced rate');
      behind = true;
    }
  }
  await clients.ask({ cmd: 'disconnect' }, 'disconnected');
  return results;
}

interface FanoutResult {
  name: string;
  setupS: number;
  setupP95: number;
  sent: number;
  expected: number;
  delivered: number;
  deliveredPerS: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  serverCpu: number;
  clientCpu: number;
}

/** Case (2) with the clients spread over `topics` topics. */
async function fanout(clients: Clients, anonKey: string, serverPid: number, topics: number): Promise<FanoutResult> {
  const name = topics === 1 ? 'one topic' : `${topics} topics`;
  say(
    `\n▶ (2) broadcast fan-out, ${CLIENTS} clients on ${name}, ${BROADCAST_RATE} messages/s per topic for ${SECONDS} s`,
  );
  const topicOf = (i: number) => `rtbench-fanout-${i % topics}`;
  const connected = await clients.connect(
    anonKey,
    Array.from({ length: CLIENTS }, (_, i) => ({ name: topicOf(i) })),
  );
  const sender = await openSocket(BASE, anonKey);
  const names = Array.from({ length: topics }, (_, i) => topicOf(i));
  for (const [i, topic] of names.entries()) await join(sender, topic, joinPayload(anonKey), String(i + 1), () => {});
  await clients.ask({ cmd: 'collect' }, 'collected');

  const serverCpu0 = cpuSeconds(serverPid);
  const clientCpu0 = cpuSeconds(clients.pid);
  const started = now();
  let sent = 0;
  for (let tick = 0; ; tick++) {
    const due = started + (tick * 1000) / BROADCAST_RATE;
    if (due >= started + SECONDS * 1000) break;
    const wait = due - now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    for (const [i, topic] of names.entries()) {
      sender.send(encodeBroadcastPush(String(i + 1), '', `realtime:${topic}`, 'tick', { seq: tick, t: now() }));
      sent++;
    }
  }
  const expected = BROADCAST_RATE * SECONDS * CLIENTS;
  await clients.drain((c) => c.broadcasts >= expected, serverPid);
  const got = await clients.ask({ cmd: 'collect' }, 'collected');
  const elapsed = (now() - started) / 1000;
  sender.close();
  const result: FanoutResult = {
    name,
    setupS: connected.ms / 1000,
    setupP95: percentile(connected.perClient, 0.95),
    sent,
    expected,
    delivered: got.broadcasts,
    deliveredPerS: got.broadcasts / Math.min(elapsed, SECONDS + got.broadcastMs.max / 1000),
    ...got.broadcastMs,
    serverCpu: cpuSeconds(serverPid) - serverCpu0,
    clientCpu: cpuSeconds(clients.pid) - clientCpu0,
  };
  say(
    `  sent ${sent}, delivered ${result.delivered} of ${expected} (${result.deliveredPerS.toFixed(0)}/s), latency p50 ${ms(result.p50)} / p95 ${ms(result.p95)} / p99 ${ms(result.p99)} / max ${ms(result.max)} ms; CPU server ${result.serverCpu.toFixed(1)} s, clients ${result.clientCpu.toFixed(1)} s`,
  );
  await clients.ask({ cmd: 'disconnect' }, 'disconnected');
  return result;
}

async function cleanUp(admin: pg.Client): Promise<void> {
  // Deleting the tenant deletes its users and, through them, their notifications; the captured
  // changes (inserts and the deletes just made) go too, whoever would have pruned them.
  await admin.query('delete from public.tenants where slug = $1', [run]);
  await admin.query(
    `delete from realtime.changes where table_name = 'notifications'
        and coalesce(record, old_record) -> 'data' ->> 'rtbench' = $1`,
    [run],
  );
}

async function main(): Promise<void> {
  const needFiles = Math.max(SUBSCRIBERS, CLIENTS) + 1000;
  const limits = openFileLimits();
  say(
    `realtime.bench: ${URL_?.replace(/\/\/[^@]*@/, '//…@')}, cases ${CASES.join(' + ')}; open files soft ${limits.soft} / hard ${limits.hard}, need ${needFiles}`,
  );
  if (limits.hard < needFiles) {
    throw new Error(
      `the hard open-file limit (${limits.hard}) is below the ${needFiles} sockets this run needs: raise it (as root: ulimit -Hn ${needFiles}, or LimitNOFILE= for a service) or lower LOCONOMY_BENCH_CLIENTS`,
    );
  }
  const openFiles = Math.min(limits.hard, Math.max(limits.soft, needFiles));
  if (openFiles > limits.soft) say(`raising the server's and the load generator's open-file limit to ${openFiles}`);

  say('preparing the database (migrations)…');
  await exited(runLoconomy(['migrate'], { DATABASE_URL: URL_ as string, LOCONOMY_JWT_SECRET: SECRET }));
  const admin = new pg.Client({ connectionString: URL_ });
  await admin.connect();
  const writers = Array.from({ length: WRITERS }, () => new pg.Client({ connectionString: URL_ }));
  await Promise.all(writers.map((w) => w.connect()));
  // Leftovers of an interrupted run first.
  const { rows: old } = await admin.query<{ slug: string }>(
    `select slug from public.tenants where slug like 'rtbench-%'`,
  );
  await admin.query(`delete from public.tenants where slug like 'rtbench-%'`);
  await admin.query(
    `delete from realtime.changes where table_name = 'notifications' and coalesce(record, old_record) -> 'data' ? 'rtbench'`,
  );
  if (old.length > 0) say(`removed ${old.length} tenant(s) left by an interrupted run`);
  await admin.query(`insert into public.tenants (name, slug) values ('Realtime bench', $1)`, [run]);

  const keys = await projectKeys(SECRET);
  let server: ChildProcess | undefined;
  let clients: Clients | undefined;
  try {
    const prepared = CASES.includes('changes') ? await changesCase(admin, writers) : undefined;

    say('starting loconomy serve…');
    server = runLoconomy(
      ['serve', '--port', String(PORT)],
      {
        DATABASE_URL: URL_ as string,
        LOCONOMY_JWT_SECRET: SECRET,
        // The sender pushes rate × topics messages per second on one socket and joins every topic.
        LOCONOMY_REALTIME_MAX_EVENTS_PER_SECOND: String(Math.max(100, BROADCAST_RATE * TOPICS * 2)),
        LOCONOMY_REALTIME_MAX_CHANNELS: String(Math.max(100, TOPICS)),
      },
      { openFiles },
    );
    await waitForHealth(PORT);
    const serverPid = server.pid as number;
    clients = new Clients(openFiles);

    const lines: string[] = [];
    if (prepared) {
      const steps = await changesSteps(clients, writers, prepared.users, keys.anon, serverPid);
      const kept = steps.filter((s) => s.keptUp && s.rate !== 'max');
      const best = kept.reduce<StepResult | undefined>(
        (a, s) => (a && a.deliveredPerS >= s.deliveredPerS ? a : s),
        undefined,
      );
      const max = steps.find((s) => s.rate === 'max');
      const misdelivered = steps.reduce((n, s) => n + s.misdeliveries + s.duplicates, 0);
      lines.push(
        `### postgres_changes under RLS, ${SUBSCRIBERS} subscribers (${WRITERS} writers, ${STEP_SECONDS} s per step)`,
        '',
        '| offered /s | committed /s | delivered /s | kept up | p50 / p95 / p99 ms (commit → client) | lost | misdelivered + duplicates | CPU s server / clients |',
        '| ---------- | ------------ | ------------ | ------- | ------------------------------------ | ---- | ------------------------- | ---------------------- |',
        ...steps.map(
          (s) =>
            `| ${s.rate} | ${s.committedPerS.toFixed(0)} | ${s.deliveredPerS.toFixed(0)} | ${s.keptUp ? 'yes' : 'no'} | ${ms(s.p50)} / ${ms(s.p95)} / ${ms(s.p99)} | ${s.lost} | ${s.misdeliveries + s.duplicates} | ${s.serverCpu.toFixed(1)} / ${s.clientCpu.toFixed(1)} |`,
        ),
        '',
        `Raw SQL, same inserts and writers, no server: ${prepared.rawPerS.toFixed(0)} commits/s.` +
          (best
            ? ` Highest paced step kept up: ${best.deliveredPerS.toFixed(0)} changes/s (${(best.deliveredPerS / prepared.rawPerS).toFixed(2)} of raw SQL, ${(best.deliveredPerS / REFERENCE_CHANGES_PER_S).toFixed(1)}× the reference's ~${REFERENCE_CHANGES_PER_S}/s; aim ≥ 300/s).`
            : ' No step was delivered in full.') +
          (max
            ? ` Writers unpaced: ${max.deliveredPerS.toFixed(0)} delivered/s of ${max.committedPerS.toFixed(0)} committed/s.`
            : '') +
          ` Misdeliveries and duplicates in all: ${misdelivered}.`,
        '',
      );
      if (misdelivered > 0) process.exitCode = 1;
    }
    if (CASES.includes('broadcast')) {
      const fanouts = [await fanout(clients, keys.anon, serverPid, 1)];
      if (TOPICS > 1) fanouts.push(await fanout(clients, keys.anon, serverPid, TOPICS));
      lines.push(
        `### Broadcast fan-out, ${CLIENTS} clients, ${BROADCAST_RATE} messages/s per topic, ${SECONDS} s`,
        '',
        '| topics | set-up s (p95 per client ms) | delivered / expected | delivered /s | p50 / p95 / p99 ms | CPU s server / clients |',
        '| ------ | ---------------------------- | -------------------- | ------------ | ------------------ | ---------------------- |',
        ...fanouts.map(
          (f) =>
            `| ${f.name} | ${f.setupS.toFixed(1)} (${ms(f.setupP95)}) | ${f.delivered} / ${f.expected} | ${f.deliveredPerS.toFixed(0)} | ${ms(f.p50)} / ${ms(f.p95)} / ${ms(f.p99)} | ${f.serverCpu.toFixed(1)} / ${f.clientCpu.toFixed(1)} |`,
        ),
        '',
      );
    }
    say(`\n${lines.join('\n')}`);
  } finally {
    clients?.stop();
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await new Promise((r) => server?.once('close', r));
    }
    await cleanUp(admin);
    await Promise.all([admin, ...writers].map((c) => c.end()));
  }
}

await main();
