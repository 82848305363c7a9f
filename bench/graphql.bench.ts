/**
 * GraphQL vs REST vs raw SQL, on PostgreSQL with the demo data (issue 14): the REST benchmark's
 * read cases — (a) one listing by id, (b) 20 listings (anon: active ones) with provider and category — asked
 * of `/graphql/v1` and of `/rest/v1` for the same fields, against the same `loconomy serve`, at
 * 32 concurrent connections, with the SQL the REST request runs through pgbench -M prepared in
 * the same run (the rows both APIs return).
 *
 *   LOCONOMY_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/loconomy_bench npm run bench -- graphql
 *
 * Settings as rest.bench.ts: LOCONOMY_BENCH_SECONDS (10), LOCONOMY_BENCH_CONNECTIONS (32),
 * LOCONOMY_BENCH_LISTINGS (100000, when the database has no demo data). HTTP load from wrk when
 * it is installed, else autocannon. The server runs with NODE_ENV=production (schema built at
 * start, no development checks), as a deployment would.
 */
import { randomInt } from 'node:crypto';
import type autocannon from 'autocannon';
import type { Caller } from '../src/auth/caller.js';
import { projectKeys } from '../src/auth/keys.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/open.js';
import { createLogger } from '../src/log.js';
import type { RestRequest } from '../src/rest/handler.js';
import { BY_ID_GQL, EMBED, EMBED_GQL, graphqlBody, LISTING } from './api-cases.js';
import { prepareDemo } from './demo.js';
import { type Figures, fmt, hasWrk, type LoadSettings, runHttp, runPgbench, runWrk, type WrkRequest } from './load.js';
import { exited, runLoconomy, waitForHealth } from './loconomy.js';
import { pgbenchScript, recordRequest } from './rest-sql.js';

const URL_ = process.env.LOCONOMY_BENCH_DATABASE_URL ?? process.env.DATABASE_URL;
const LOAD: LoadSettings = {
  seconds: Number(process.env.LOCONOMY_BENCH_SECONDS ?? 10),
  connections: Number(process.env.LOCONOMY_BENCH_CONNECTIONS ?? 32),
};
const LISTINGS = Number(process.env.LOCONOMY_BENCH_LISTINGS ?? 100_000);
const SECRET = process.env.LOCONOMY_JWT_SECRET ?? 'loconomy-bench-secret-loconomy-bench-secret-0123';
const PORT = 54391;
const SAMPLE_IDS = 1000;

if (!URL_) {
  console.error(
    'graphql.bench: set LOCONOMY_BENCH_DATABASE_URL to an empty or demo PostgreSQL database (with PostGIS), e.g. postgres://postgres@127.0.0.1:5432/loconomy_bench',
  );
  process.exit(1);
}

const say = (line: string) => console.log(line);
const loconomy = (args: string[]) =>
  runLoconomy(args, {
    DATABASE_URL: URL_,
    LOCONOMY_JWT_SECRET: SECRET,
    LOCONOMY_DB_POOL: String(LOAD.connections),
    NODE_ENV: 'production',
  });

async function main(): Promise<void> {
  say(
    `graphql.bench: ${URL_?.replace(/\/\/[^@]*@/, '//…@')}, ${LOAD.connections} connections, ${LOAD.seconds} s per run`,
  );
  say('preparing the database (migrations; demo data if there is none)…');
  await exited(loconomy(['migrate']));
  const config = loadConfig({ DATABASE_URL: URL_, LOCONOMY_JWT_SECRET: SECRET, LOG_LEVEL: 'warn' });
  const db = await openDatabase(config, createLogger('warn'));
  try {
    const ids = await prepareDemo(db, loconomy, { listings: LISTINGS, sample: SAMPLE_IDS, say });
    const keys = await projectKeys(SECRET);
    const anon: Caller = { role: 'anon', claims: { role: 'anon' } };
    const rest = (search: string): RestRequest => ({
      method: 'GET',
      path: 'listings',
      search: new URLSearchParams(search),
      headers: { 'user-agent': 'loconomy-bench', accept: '*/*' },
      body: undefined,
    });
    const cases = [
      {
        name: '(a) one listing by id',
        restPaths: ids.slice(0, 100).map((id) => `/rest/v1/listings?id=eq.${id}&select=${LISTING}`),
        graphqlBodies: ids.slice(0, 100).map((id) => graphqlBody(BY_ID_GQL, { id })),
        recorded: rest(`id=eq.${ids[0]}&select=${LISTING}`),
        vary: (v: unknown) => (v === ids[0] ? '(select id from public.loconomy_bench_ids where n = :n)' : undefined),
        setup: `\\set n random(1, ${ids.length})\n`,
      },
      {
        name: '(b) 20 listings + provider + category',
        restPaths: [`/rest/v1/listings?${EMBED}`],
        graphqlBodies: [graphqlBody(EMBED_GQL)],
        recorded: rest(EMBED),
        vary: () => undefined,
        setup: '',
      },
    ];
    const scripts = [];
    for (const c of cases) scripts.push(pgbenchScript(await recordRequest(db, config, anon, c.recorded), c.vary));

    say('starting loconomy serve (NODE_ENV=production)…');
    const server = loconomy(['serve', '--port', String(PORT)]);
    try {
      await waitForHealth(PORT);
      await firstAnswer(keys.anon, cases[0]?.graphqlBodies[0] as string); // the schema is built
      const wrk = hasWrk();
      say(wrk ? 'HTTP load from wrk\n' : 'wrk is not installed (apt-get install wrk): HTTP load from autocannon\n');
      const headers = { apikey: keys.anon, 'content-type': 'application/json', 'user-agent': 'loconomy-bench' };
      const http = (requests: WrkRequest[]): Promise<Figures> =>
        wrk ? runWrk(PORT, LOAD, requests, headers) : runHttp(PORT, LOAD, requests as autocannon.Request[], headers);
      const rows: string[] = [];
      for (const [i, c] of cases.entries()) {
        say(`▶ ${c.name}`);
        const viaRest = await http(c.restPaths.map((path) => ({ method: 'GET', path })));
        say(`  REST     ${fmt(viaRest)}`);
        const viaGraphql = await http(c.graphqlBodies.map((body) => ({ method: 'POST', path: '/graphql/v1', body })));
        say(`  GraphQL  ${fmt(viaGraphql)}`);
        const prepared = await runPgbench(URL_ as string, LOAD, scripts[i] as string, c.setup, 'prepared');
        say(`  pgbench -M prepared  ${fmt(prepared)}`);
        const ratio = (a: Figures, b: Figures) => (a.rps / b.rps).toFixed(2);
        say(
          `  GraphQL/REST ${ratio(viaGraphql, viaRest)}, GraphQL/pgbench ${ratio(viaGraphql, prepared)}, REST/pgbench ${ratio(viaRest, prepared)}`,
        );
        rows.push(
          `| ${c.name} | ${viaGraphql.rps.toFixed(0)} | ${viaGraphql.p99.toFixed(1)} | ${viaRest.rps.toFixed(0)} | ${viaRest.p99.toFixed(1)} | ${prepared.rps.toFixed(0)} | ${ratio(viaGraphql, viaRest)} | ${ratio(viaGraphql, prepared)} | ${ratio(viaRest, prepared)} |`,
        );
      }
      say(
        '\n| case | GraphQL req/s | its p99 ms | REST req/s | its p99 ms | pgbench prepared tps | GraphQL/REST | GraphQL/pgbench | REST/pgbench |',
      );
      say('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
      for (const row of rows) say(row);
    } finally {
      server.kill('SIGTERM');
      await new Promise((r) => server.once('close', r));
    }
    await db.exec('drop table if exists public.loconomy_bench_ids;');
  } finally {
    await db.close();
  }
}

/** Waits for a GraphQL answer without errors (the production server builds its schema at start). */
async function firstAnswer(apikey: string, body: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const response = await fetch(`http://127.0.0.1:${PORT}/graphql/v1`, {
      method: 'POST',
      headers: { apikey, 'content-type': 'application/json' },
      body,
    });
    const json = (await response.json()) as { errors?: unknown };
    if (response.status === 200 && json.errors === undefined) return;
    if (attempt >= 100) throw new Error(`GraphQL does not answer: ${response.status} ${JSON.stringify(json)}`);
    await new Promise((resolve) => setTimeout(resolve, 100 + randomInt(50)));
  }
}

await main();
