/**
 * Start-up profile of `loconomy serve` on the embedded database: how long until /health
 * answers 200, split into the steps the server logs (loading code, opening PGlite, building or
 * copying the prepared database, migrating, seeding, schema cache), for
 *
 *   (a) a machine without the prepared database (empty LOCONOMY_CACHE_DIR): the first start
 *       after `npm install --ignore-scripts`, or after a schema change;
 *   (b) cold: a new data directory, the prepared database present (the first `npm start`
 *       after `npm install`);
 *   (c) warm: the same data directory again;
 *   (d) `--demo` from nothing but the prepared database (LOCONOMY_BENCH_DEMO_LISTINGS,
 *       default the CLI's default).
 *
 * Beside them, the baseline: PGlite alone opening the same data directory, without
 * extensions, with PostGIS, and with every extension Loconomy registers, so the report shows
 * what each extension costs and what Loconomy adds on top of the database it opens.
 *
 *   npm run bench -- start        (LOCONOMY_BENCH_RUNS, default 3, per scenario)
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const RUNS = Number(process.env.LOCONOMY_BENCH_RUNS ?? 3);
const DEMO_LISTINGS = process.env.LOCONOMY_BENCH_DEMO_LISTINGS;

interface Run {
  /** Wall time from spawning the process to the first 200 from /health. */
  total: number;
  /** Step name → ms, from the server's log. */
  steps: Map<string, number>;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Starts `loconomy serve`, waits for /health 200, stops it; returns the time and the steps. */
async function start(env: Record<string, string>, args: string[] = []): Promise<Run> {
  const port = await freePort();
  const began = performance.now();
  const child = spawn(process.execPath, [join(ROOT, 'bin/loconomy.mjs'), 'serve', '--port', String(port), ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_FORMAT: 'json', LOG_LEVEL: 'info', DATABASE_URL: '', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const steps = new Map<string, number>();
  let pending = '';
  child.stdout.on('data', (chunk: Buffer) => {
    pending += chunk.toString('utf8');
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const entry = JSON.parse(line) as { step?: string; ms?: number; msg?: string };
      if (entry.step && typeof entry.ms === 'number' && entry.msg === `${entry.step} done`) {
        steps.set(entry.step, entry.ms);
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  for (;;) {
    if (child.exitCode !== null) throw new Error(`loconomy serve exited with ${child.exitCode}`);
    const status = await fetch(`http://127.0.0.1:${port}/health`).then(
      (r) => r.status,
      () => 0,
    );
    if (status === 200) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  const total = performance.now() - began;
  child.kill('SIGTERM');
  await exited;
  return { total, steps };
}

/** PGlite alone opening a data directory with the given extensions, in a fresh process. */
async function bareOpen(pgdata: string, extensions: 'none' | 'postgis' | 'all'): Promise<number> {
  const script = `
    const t0 = performance.now();
    const { PGlite } = await import('@electric-sql/pglite');
    const ext = {};
    if ('${extensions}' !== 'none') ext.postgis = (await import('@electric-sql/pglite-postgis')).postgis;
    if ('${extensions}' === 'all') {
      ext.pg_trgm = (await import('@electric-sql/pglite/contrib/pg_trgm')).pg_trgm;
      ext.btree_gin = (await import('@electric-sql/pglite/contrib/btree_gin')).btree_gin;
      ext.btree_gist = (await import('@electric-sql/pglite/contrib/btree_gist')).btree_gist;
    }
    const pg = await PGlite.create({ dataDir: ${JSON.stringify(pgdata)}, extensions: ext });
    await pg.query('select 1');
    process.stdout.write(String(performance.now() - t0));
    await pg.close();`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`PGlite probe (${extensions}) exited with ${code}`);
  return Number(out);
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};
const seconds = (ms: number | undefined) => (ms === undefined ? '—' : (ms / 1000).toFixed(2));

/** The steps worth a column, in the order a start runs them. */
const COLUMNS: [string, (steps: Map<string, number>) => number | undefined][] = [
  ['load code', (s) => s.get('load code')],
  ['build prepared db', (s) => s.get('prepare the embedded database for this machine (once per schema change)')],
  ['copy prepared db', (s) => s.get('copy the prepared database')],
  [
    'open PGlite',
    (s) => s.get('pglite: start (incl. extensions)') ?? s.get('pglite: initdb + start (incl. extensions)'),
  ],
  ['migrate', (s) => s.get('migrate')],
  ['seed reference', (s) => s.get('seed reference data')],
  ['demo data', (s) => s.get('seed demo data')],
  ['schema cache', (s) => s.get('load schema cache')],
];

function report(name: string, runs: Run[]): string {
  const cells = COLUMNS.map(([, pick]) => {
    const values = runs.map((r) => pick(r.steps)).filter((v): v is number => v !== undefined);
    return values.length ? seconds(median(values)) : '—';
  });
  const totals = runs.map((r) => r.total);
  return `| ${name} | ${seconds(median(totals))} (${totals.map((t) => seconds(t)).join(', ')}) | ${cells.join(' | ')} |`;
}

const scratch = await mkdtemp(join(tmpdir(), 'loconomy-start-bench-'));
try {
  const cacheDir = join(scratch, 'cache');
  const rows: string[] = [];
  const fresh = (name: string) => join(scratch, `${name}-${Math.random().toString(36).slice(2)}`);

  console.log('(a) no prepared database on the machine (builds it)…');
  rows.push(
    report('(a) first start, no prepared database', [
      await start({ LOCONOMY_CACHE_DIR: cacheDir, LOCONOMY_DATA_DIR: fresh('a') }),
    ]),
  );

  console.log(`(b) cold, ${RUNS} runs…`);
  const cold: Run[] = [];
  for (let i = 0; i < RUNS; i++)
    cold.push(await start({ LOCONOMY_CACHE_DIR: cacheDir, LOCONOMY_DATA_DIR: fresh('b') }));
  rows.push(report('(b) cold: new data directory', cold));

  console.log(`(c) warm, ${RUNS} runs…`);
  const warmDir = fresh('c');
  await start({ LOCONOMY_CACHE_DIR: cacheDir, LOCONOMY_DATA_DIR: warmDir });
  const warm: Run[] = [];
  for (let i = 0; i < RUNS; i++) warm.push(await start({ LOCONOMY_CACHE_DIR: cacheDir, LOCONOMY_DATA_DIR: warmDir }));
  rows.push(report('(c) warm: existing data directory', warm));

  const demoRuns = Math.max(1, Math.min(RUNS, 2));
  console.log(`(d) --demo from nothing, ${demoRuns} runs…`);
  const demo: Run[] = [];
  const demoArgs = ['--demo', ...(DEMO_LISTINGS ? ['--listings', DEMO_LISTINGS] : [])];
  for (let i = 0; i < demoRuns; i++) {
    demo.push(await start({ LOCONOMY_CACHE_DIR: cacheDir, LOCONOMY_DATA_DIR: fresh('d') }, demoArgs));
  }
  rows.push(report(`(d) --demo${DEMO_LISTINGS ? ` --listings ${DEMO_LISTINGS}` : ''} from nothing`, demo));

  console.log(`baseline: PGlite alone opening the warm data directory, ${RUNS} runs each…`);
  const bare: Record<string, number> = {};
  for (const extensions of ['none', 'postgis', 'all'] as const) {
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) times.push(await bareOpen(join(warmDir, 'pgdata'), extensions));
    bare[extensions] = median(times);
  }

  console.log(`\n| scenario | to /health 200, s: median (runs) | ${COLUMNS.map(([n]) => n).join(' | ')} |`);
  console.log(`| --- | --- | ${COLUMNS.map(() => '---').join(' | ')} |`);
  for (const row of rows) console.log(row);
  const warmTotal = median(warm.map((r) => r.total));
  console.log(
    `\nPGlite alone (import + open + select 1): no extensions ${seconds(bare.none)} s, PostGIS ${seconds(bare.postgis)} s, all four ${seconds(bare.all)} s.`,
  );
  console.log(
    `PostGIS costs ${seconds((bare.postgis ?? 0) - (bare.none ?? 0))} s of each open; pg_trgm, btree_gin, btree_gist together ${seconds((bare.all ?? 0) - (bare.postgis ?? 0))} s.`,
  );
  console.log(
    `Warm start / PGlite alone with the same extensions: ${(warmTotal / (bare.all ?? Number.NaN)).toFixed(2)} (${seconds(warmTotal - (bare.all ?? 0))} s is Loconomy's own: Node, code, migrate check, schema cache, HTTP).`,
  );
} finally {
  await rm(scratch, { recursive: true, force: true });
}
