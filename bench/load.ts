import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';

/*
 * The load generators the API benchmarks share (rest.bench.ts, graphql.bench.ts): pgbench on a
 * script of SQL, autocannon and wrk on HTTP requests, each at the same concurrency for the same
 * time, answering throughput and latency the same way.
 */

export interface LoadSettings {
  /** Seconds per measured run (after a 2 s warm-up for HTTP). */
  readonly seconds: number;
  /** Concurrent connections (pgbench clients, HTTP connections). */
  readonly connections: number;
}

export interface Figures {
  rps: number;
  p50: number;
  p99: number;
}

export async function runPgbench(
  url: string,
  settings: LoadSettings,
  script: string,
  setup: string,
  mode: 'extended' | 'prepared',
): Promise<Figures> {
  const dir = await mkdtemp(join(tmpdir(), 'loconomy-pgbench-'));
  try {
    await writeFile(join(dir, 'bench.sql'), `${setup}${script}`);
    const args = [
      '-n',
      '-M',
      mode,
      '-c',
      String(settings.connections),
      '-j',
      '2',
      '-T',
      String(settings.seconds),
      '-f',
      'bench.sql',
      '-l',
      '--log-prefix',
      'tx',
      url,
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

export async function runHttp(
  port: number,
  settings: LoadSettings,
  requests: autocannon.Request[],
  headers: Record<string, string>,
): Promise<Figures> {
  const run = (duration: number) =>
    autocannon({ url: `http://127.0.0.1:${port}`, connections: settings.connections, duration, headers, requests });
  await run(2); // warm-up: connections, plan caches, JIT
  const result = await run(settings.seconds);
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`HTTP run had ${result.non2xx} non-2xx and ${result.errors} errors`);
  return { rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99 };
}

/** Whether `wrk` (Debian package `wrk`) is on the PATH. */
export function hasWrk(): boolean {
  return spawnSync('wrk', ['--version']).error === undefined;
}

/** A request for wrk: `__UNIQUE__` in the body becomes a value unique to the request. */
export interface WrkRequest {
  method: string;
  path: string;
  body?: string;
}

/**
 * The same load from wrk, a C load generator with a Lua script (2 threads), which takes far less
 * of the shared CPU than autocannon does, so the server's own figure shows more clearly.
 */
export async function runWrk(
  port: number,
  settings: LoadSettings,
  requests: WrkRequest[],
  headers: Record<string, string>,
): Promise<Figures> {
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
      // A slow response is latency, not an error: wrk's own timeout (2 s) is shorter than a queue
      // of 32 requests on the embedded database, which runs one statement at a time.
      const args = ['-t', '2', '-c', String(settings.connections), '-d', `${seconds}s`, '--timeout', '30s'];
      args.push('--latency', '-s', 'bench.lua');
      const child = spawn('wrk', [...args, `http://127.0.0.1:${port}`], {
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
    const out = await run(settings.seconds);
    const bad = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
    const errors = /Socket errors: (.*)/.exec(out)?.[1];
    if (bad > 0 || errors) throw new Error(`wrk run had ${bad} non-2xx responses, socket errors: ${errors ?? 'none'}`);
    const ms = (q: string) => {
      const m = new RegExp(`^\\s+${q}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(out); // "2.50s " has a trailing space
      if (!m) return Number.NaN;
      const value = Number(m[1]);
      return m[2] === 'us' ? value / 1000 : m[2] === 's' ? value * 1000 : value;
    };
    return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]), p50: ms('50'), p99: ms('99') };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export const fmt = (f: Figures) =>
  `${f.rps.toFixed(0).padStart(6)} req/s  p50 ${f.p50.toFixed(2).padStart(6)} ms  p99 ${f.p99.toFixed(2).padStart(6)} ms`;
