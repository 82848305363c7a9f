/**
 * Node CPU per REST request (issue 10): on a 2-core machine Node competes with PostgreSQL for
 * the CPU, so what decides REST's throughput against pgbench is how much CPU the server spends
 * on each request. Throughput on a shared machine is noise; CPU time per request is not.
 *
 *   LOCONOMY_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/loconomy_bench npm run bench -- rest-cpu
 *
 * Cases (a) one listing by id and (b) 20 active listings with provider and category, as in
 * bench/rest.bench.ts, each measured as process.cpuUsage() (user + system, every thread of
 * this process: GC, libuv) divided by the requests served:
 *   - handler: handleRest called in this process (no HTTP, caller already known);
 *   - http: the whole server (buildServer: Fastify, authentication from the anon key, CORS,
 *     request ids, the request log) listening in this process, loaded by `wrk` in its own
 *     process (whose CPU is not counted), with LOG_LEVEL warn and info (log lines to /dev/null),
 *     two servers whose runs alternate, so the pair shares the machine's conditions;
 *   - graphql: one whole server (NODE_ENV=production), the same two reads asked of /rest/v1 and
 *     of /graphql/v1 for the same fields (bench/api-cases.ts), their runs alternated.
 * Each figure is the median of LOCONOMY_BENCH_REPEATS (3) runs.
 *
 * Settings: LOCONOMY_BENCH_REQUESTS (handler requests per run, 5000), LOCONOMY_BENCH_SECONDS
 * (per http run, 4), LOCONOMY_BENCH_CONNECTIONS (32), LOCONOMY_BENCH_CPU_MODES (handler,http,graphql),
 * LOCONOMY_BENCH_PROFILE=<dir>: also write a CPU profile of each measured run there
 * (.cpuprofile, open in Chrome DevTools) and print its top functions by self time.
 * The database needs demo data (`loconomy seed --demo`; 20,000 listings are plenty).
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Caller } from '../src/auth/caller.js';
import { projectKeys } from '../src/auth/keys.js';
import { loadConfig } from '../src/config.js';
import type { Database } from '../src/db/database.js';
import { openDatabase } from '../src/db/open.js';
import { sql } from '../src/db/sql.js';
import { createLogger } from '../src/log.js';
import { handleRest, type RestRequest } from '../src/rest/handler.js';
import { loadSchemaCache } from '../src/rest/schema/cache.js';
import { buildServer } from '../src/server.js';
import { BY_ID_GQL, EMBED, EMBED_GQL, graphqlBody, LISTING } from './api-cases.js';
import type { WrkRequest } from './load.js';

const URL_ = process.env.LOCONOMY_BENCH_DATABASE_URL ?? process.env.DATABASE_URL;
const REQUESTS = Number(process.env.LOCONOMY_BENCH_REQUESTS ?? 5000);
const SECONDS = Number(process.env.LOCONOMY_BENCH_SECONDS ?? 4);
const CONNECTIONS = Number(process.env.LOCONOMY_BENCH_CONNECTIONS ?? 32);
const REPEATS = Number(process.env.LOCONOMY_BENCH_REPEATS ?? 3);
const MODES = (process.env.LOCONOMY_BENCH_CPU_MODES ?? 'handler,http,graphql').split(',');
const PROFILE_DIR = process.env.LOCONOMY_BENCH_PROFILE;
const SECRET = process.env.LOCONOMY_JWT_SECRET ?? 'loconomy-bench-secret-loconomy-bench-secret-0123';

if (!URL_) {
  console.error('rest-cpu.bench: set LOCONOMY_BENCH_DATABASE_URL to a PostgreSQL database with demo data');
  process.exit(1);
}

const say = (line: string) => console.log(line);
const config = (extra: Record<string, string> = {}) =>
  loadConfig({
    DATABASE_URL: URL_ as string,
    LOCONOMY_JWT_SECRET: SECRET,
    LOCONOMY_DB_POOL: String(CONNECTIONS),
    LOG_LEVEL: 'warn',
    ...extra,
  });

/** CPU µs (user + system) spent by this process while fn runs, optionally profiled. */
async function cpuOf(
  label: string,
  fn: () => Promise<number>,
): Promise<{ us: number; system: number; requests: number }> {
  const session = PROFILE_DIR ? new Session() : undefined;
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.start');
  }
  const before = process.cpuUsage();
  const requests = await fn();
  const used = process.cpuUsage(before);
  if (session && PROFILE_DIR) {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    await mkdir(PROFILE_DIR, { recursive: true });
    const file = join(PROFILE_DIR, `${label.replace(/[^a-z0-9]+/gi, '-')}.cpuprofile`);
    await writeFile(file, JSON.stringify(profile));
    say(`    profile: ${file}`);
    for (const line of topSelf(profile, 15)) say(`      ${line}`);
  }
  return { us: used.user + used.system, system: used.system, requests };
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

/** The functions with the most samples of their own, as "share%  name  file:line". */
function topSelf(profile: { nodes: ProfileNode[] }, n: number): string[] {
  const hits = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const count = node.hitCount ?? 0;
    total += count;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url.replace(/^.*node_modules\//, '~/').replace(/^file:\/\/.*?\/(src|bench)\//, '$1/');
    const key = `${functionName || '(anonymous)'}  ${where}:${lineNumber + 1}`;
    hits.set(key, (hits.get(key) ?? 0) + count);
  }
  return [...hits]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([key, count]) => `${((100 * count) / total).toFixed(1).padStart(5)}%  ${key}`);
}

/** REQUESTS requests through handleRest, CONNECTIONS at a time; returns how many ran. */
async function handlerRun(db: Database, caller: Caller, next: () => RestRequest, count: number): Promise<number> {
  const cache = await loadSchemaCache(db, config().db.schemas, ['anon', 'authenticated', 'service_role']);
  const deps = { db, config: config(), schemaCache: () => cache };
  let left = count;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (left-- > 0) {
        const response = await handleRest(deps, caller, next());
        if (response.status >= 300) throw new Error(`handler got ${response.status}: ${response.body}`);
      }
    }),
  );
  return count;
}

/** wrk against the server for `seconds`; wrk runs in its own process, its CPU is not ours. */
async function wrkRun(port: number, requests: WrkRequest[], headers: Record<string, string>, seconds: number) {
  const dir = await mkdtemp(join(tmpdir(), 'loconomy-wrk-'));
  try {
    const long = (text: string) => `[==[${text}]==]`;
    await writeFile(
      join(dir, 'bench.lua'),
      [
        `local requests = {${requests.map((r) => `{${long(r.method)}, ${long(r.path)}, ${r.body === undefined ? 'nil' : long(r.body)}}`).join(',')}}`,
        `local headers = {${Object.entries(headers)
          .map(([k, v]) => `[ ${long(k)} ] = ${long(v)}`)
          .join(', ')}}`,
        'local counter = 0',
        'function request()',
        '  counter = counter + 1',
        '  local r = requests[(counter % #requests) + 1]',
        '  return wrk.format(r[1], r[2], headers, r[3])',
        'end',
        '',
      ].join('\n'),
    );
    const args = ['-t', '1', '-c', String(CONNECTIONS), '-d', `${seconds}s`, '-s', 'bench.lua'];
    const child = spawn('wrk', [...args, `http://127.0.0.1:${port}`], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    await new Promise<void>((resolve, reject) =>
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`wrk failed:\n${out}`)))),
    );
    const bad = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
    if (bad > 0) throw new Error(`wrk got ${bad} non-2xx responses`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  say(`rest-cpu.bench: ${URL_?.replace(/\/\/[^@]*@/, '//…@')}, ${CONNECTIONS} connections, median of ${REPEATS}`);
  const log = createLogger('warn');
  const db = await openDatabase(config(), log);
  try {
    const { rows: ids } = await db.query<{ id: string }>(
      sql`select id from public.listings where status = 'active' and deleted_at is null order by id limit 1000`,
    );
    if (ids.length === 0) throw new Error('no active listings: seed the database with `loconomy seed --demo`');
    const keys = await projectKeys(SECRET);
    const anon: Caller = { role: 'anon', claims: { role: 'anon' } };
    const headers = { 'user-agent': 'loconomy-bench', accept: '*/*' };
    const embedQuery = 'select=*,provider:user_profiles(*),category:categories(*)&status=eq.active&limit=20';
    const pick = () => ids[Math.floor(Math.random() * ids.length)]?.id as string;
    const cases = [
      {
        name: '(a) one listing by id',
        request: (): RestRequest => ({
          method: 'GET',
          path: 'listings',
          search: new URLSearchParams(`id=eq.${pick()}&select=*`),
          headers,
          body: undefined,
        }),
        paths: ids.slice(0, 100).map((r) => `/rest/v1/listings?id=eq.${r.id}&select=*`),
      },
      {
        name: '(b) 20 listings + provider + category',
        request: (): RestRequest => ({
          method: 'GET',
          path: 'listings',
          search: new URLSearchParams(embedQuery),
          headers,
          body: undefined,
        }),
        paths: [`/rest/v1/listings?${embedQuery}`],
      },
    ];
    const rows: string[] = [];
    /** figures: [total, system] µs per request of each run. */
    const record = (name: string, mode: string, figures: [number, number][]) => {
      const [us, system] = [...figures].sort((a, b) => a[0] - b[0])[Math.floor(figures.length / 2)] as [number, number];
      const runs = figures.map((f) => f[0].toFixed(0)).join(', ');
      say(
        `  ${mode.padEnd(22)} ${us.toFixed(0).padStart(6)} µs CPU per request, ${system.toFixed(0)} of it system  (runs: ${runs})`,
      );
      rows.push(`| ${name} | ${mode} | ${us.toFixed(0)} | ${system.toFixed(0)} |`);
    };

    if (MODES.includes('handler')) {
      const pooled = await openDatabase(config(), log);
      try {
        for (const c of cases) {
          say(`▶ ${c.name}`);
          await handlerRun(pooled, anon, c.request, CONNECTIONS * 20); // warm: JIT, every connection prepares
          const figures: [number, number][] = [];
          for (let i = 0; i < REPEATS; i++) {
            const { us, system, requests } = await cpuOf(`handler ${c.name} ${i}`, () =>
              handlerRun(pooled, anon, c.request, REQUESTS),
            );
            figures.push([us / requests, system / requests]);
          }
          record(c.name, 'handler', figures);
        }
      } finally {
        await pooled.close();
      }
    }

    if (MODES.includes('http')) {
      // One server per log level, both up at once, their runs alternated: the pair is compared
      // under the same load from whatever else shares the machine.
      const levels = ['warn', 'info'];
      const servers = [];
      for (const level of levels) {
        const serverConfig = config({ LOG_LEVEL: level });
        const serverDb = await openDatabase(serverConfig, log);
        // Log lines written as `loconomy serve` writes them (synchronously), to /dev/null.
        const serverLog = pino(
          { level, base: { service: 'loconomy' } },
          pino.destination({ dest: '/dev/null', sync: true }),
        );
        const app = await buildServer({ db: serverDb, config: serverConfig, log: serverLog, jwtSecret: SECRET });
        await app.listen({ port: 0, host: '127.0.0.1' });
        const server = { level, app, db: serverDb, port: (app.server.address() as AddressInfo).port, served: 0 };
        app.server.on('request', () => server.served++);
        servers.push(server);
      }
      try {
        const h = { apikey: keys.anon, 'user-agent': 'loconomy-bench', accept: '*/*' };
        for (const c of cases) {
          say(`▶ ${c.name}, http (whole server), LOG_LEVEL ${levels.join(' / ')}`);
          const figures = servers.map(() => [] as [number, number][]);
          const gets = c.paths.map((path) => ({ method: 'GET', path }));
          for (const server of servers) await wrkRun(server.port, gets, h, 2); // warm-up
          for (let i = 0; i < REPEATS; i++) {
            for (const [k, server] of servers.entries()) {
              const { us, system, requests } = await cpuOf(`http ${server.level} ${c.name} ${i}`, async () => {
                const start = server.served;
                await wrkRun(server.port, gets, h, SECONDS);
                return server.served - start;
              });
              figures[k]?.push([us / requests, system / requests]);
            }
          }
          for (const [k, server] of servers.entries()) {
            record(c.name, `http, LOG_LEVEL=${server.level}`, figures[k] as [number, number][]);
          }
        }
      } finally {
        for (const server of servers) {
          await server.app.close();
          await server.db.close();
        }
      }
    }
    if (MODES.includes('graphql')) {
      const serverConfig = config({ NODE_ENV: 'production' });
      const serverDb = await openDatabase(serverConfig, log);
      const serverLog = pino({ level: 'warn' }, pino.destination({ dest: '/dev/null', sync: true }));
      const app = await buildServer({ db: serverDb, config: serverConfig, log: serverLog, jwtSecret: SECRET });
      await app.listen({ port: 0, host: '127.0.0.1' });
      const port = (app.server.address() as AddressInfo).port;
      let served = 0;
      app.server.on('request', () => served++);
      try {
        const h = { apikey: keys.anon, 'content-type': 'application/json', 'user-agent': 'loconomy-bench' };
        const sample = ids.slice(0, 100).map((r) => r.id);
        const apiCases = [
          {
            name: '(a) one listing by id',
            rest: sample.map((id) => ({ method: 'GET', path: `/rest/v1/listings?id=eq.${id}&select=${LISTING}` })),
            graphql: sample.map((id) => ({
              method: 'POST',
              path: '/graphql/v1',
              body: graphqlBody(BY_ID_GQL, { id }),
            })),
          },
          {
            name: '(b) 20 listings + provider + category',
            rest: [{ method: 'GET', path: `/rest/v1/listings?${EMBED}` }],
            graphql: [{ method: 'POST', path: '/graphql/v1', body: graphqlBody(EMBED_GQL) }],
          },
        ];
        for (const c of apiCases) {
          say(`▶ ${c.name}, REST and GraphQL for the same fields (whole server, NODE_ENV=production)`);
          const sides = [
            { mode: 'http, REST (same fields)', requests: c.rest as WrkRequest[], figures: [] as [number, number][] },
            { mode: 'http, GraphQL', requests: c.graphql as WrkRequest[], figures: [] as [number, number][] },
          ];
          for (const side of sides) await wrkRun(port, side.requests, h, 2); // warm-up: JIT, plans, the schema
          for (let i = 0; i < REPEATS; i++) {
            for (const side of sides) {
              const { us, system, requests } = await cpuOf(`${side.mode} ${c.name} ${i}`, async () => {
                const start = served;
                await wrkRun(port, side.requests, h, SECONDS);
                return served - start;
              });
              side.figures.push([us / requests, system / requests]);
            }
          }
          for (const side of sides) record(c.name, side.mode, side.figures);
        }
      } finally {
        await app.close();
        await serverDb.close();
      }
    }
    say('\n| case | mode | Node CPU µs per request | of it system |');
    say('| --- | --- | --- | --- |');
    for (const row of rows) say(row);
  } finally {
    await db.close();
  }
}

await main();
