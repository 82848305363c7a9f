import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { MIGRATIONS_DIR } from '../../src/db/migrator.js';
import {
  BIN,
  cleanEnv,
  createTestDatabaseLocation,
  freePort,
  ROOT,
  runCli,
  type TestDatabaseLocation,
  testBackend,
} from '../helpers/index.js';

/* `loconomy serve` as a user runs it: a real process on a real port, stopped with SIGTERM. */

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function location(): Promise<TestDatabaseLocation> {
  const where = await createTestDatabaseLocation('migrated');
  cleanups.push(() => where.dispose());
  return where;
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

/**
 * Polls until the server is ready (200); returns that response and the answers before it
 * (503 "starting" while the database is prepared).
 */
async function poll(
  url: string,
  child: ChildProcess,
  timeoutMs: number,
): Promise<{ ready: Response; before: { status: number; body: unknown }[] }> {
  const deadline = Date.now() + timeoutMs;
  const before: { status: number; body: unknown }[] = [];
  for (;;) {
    if (child.exitCode !== null) throw new Error(`serve exited early with code ${child.exitCode}`);
    const response = await fetch(url).catch(() => undefined);
    if (response?.status === 200) return { ready: response, before };
    if (response) before.push({ status: response.status, body: await response.json() });
    if (Date.now() > deadline) throw new Error(`no answer from ${url} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, response ? 20 : 100));
  }
}

function spawnServe(port: number, env: Record<string, string>, command = [process.execPath, BIN]): ChildProcess {
  const [file, ...args] = command as [string, ...string[]];
  const child = spawn(file, [...args, 'serve', '--port', String(port), '--host', '127.0.0.1'], {
    cwd: ROOT,
    env: cleanEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanups.push(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  return child;
}

function collect(stream: NodeJS.ReadableStream | null): () => string {
  let text = '';
  stream?.on('data', (d) => {
    text += d;
  });
  return () => text;
}

describe(`loconomy serve (${testBackend()})`, () => {
  test('starts, answers GET /health with the database details, and stops cleanly on SIGTERM', async () => {
    const where = await location();
    const port = await freePort();
    const child = spawnServe(port, where.env);
    const stderr = collect(child.stderr);
    child.stdout?.resume();

    const { ready: response } = await poll(`http://127.0.0.1:${port}/health`, child, 90_000);
    assert.equal(response.status, 200, stderr());
    assert.match(response.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    const body = (await response.json()) as { status: string; database: Record<string, unknown> };
    const files = (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql')).sort();
    assert.deepEqual(body, {
      status: 'ok',
      database: {
        kind: testBackend(),
        version: body.database.version,
        postgis: body.database.postgis,
        schema_version: files.at(-1)?.split('_')[0] ?? null,
      },
    });
    assert.match(String(body.database.version), /^\d+\.\d+/);
    if (files.length > 0) assert.match(String(body.database.postgis), /^3\./);

    const echoed = await fetch(`http://127.0.0.1:${port}/health`, { headers: { 'x-request-id': 'trace-42' } });
    assert.equal(echoed.headers.get('x-request-id'), 'trace-42');

    child.kill('SIGTERM');
    assert.equal(await exited(child), 0);
    assert.equal(stderr(), '');
  });

  test('answers /health with 503 "starting" and the step under way, then 200 "ok"', async () => {
    // A new data directory: on PGlite it is copied from the prepared database and opened,
    // seconds during which the port already answers.
    const dataDir = await mkdtemp(join(tmpdir(), 'loconomy-serve-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const env = testBackend() === 'pglite' ? { LOCONOMY_DATA_DIR: dataDir } : (await location()).env;
    const port = await freePort();
    const child = spawnServe(port, env);
    child.stdout?.resume();
    const stderr = collect(child.stderr);
    const { ready, before } = await poll(`http://127.0.0.1:${port}/health`, child, 90_000);
    assert.equal(((await ready.json()) as { status: string }).status, 'ok', stderr());
    if (testBackend() === 'pglite') assert.ok(before.length > 0, 'the port answered before the database was ready');
    for (const answer of before) {
      assert.equal(answer.status, 503);
      const body = answer.body as { status: string; step: string; elapsed_ms: number };
      assert.equal(body.status, 'starting');
      assert.equal(typeof body.step, 'string');
      assert.ok(body.step.length > 0);
      assert.ok(Number.isInteger(body.elapsed_ms));
    }
    child.kill('SIGTERM');
    assert.equal(await exited(child), 0);
  });

  test('a request to the API while starting gets 503 with Retry-After, not a refused connection', {
    skip: testBackend() !== 'pglite' && 'the embedded database gives the seconds of start-up this needs',
  }, async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'loconomy-serve-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const port = await freePort();
    const child = spawnServe(port, { LOCONOMY_DATA_DIR: dataDir }, [process.execPath, BIN]);
    child.stdout?.resume();
    let answer: Response | undefined;
    while (answer === undefined && child.exitCode === null) {
      answer = await fetch(`http://127.0.0.1:${port}/rest/v1/listings`).catch(() => undefined);
      if (answer === undefined) await new Promise((r) => setTimeout(r, 20));
    }
    // The port answers within the code's load; the embedded database takes seconds more.
    assert.equal(answer?.status, 503);
    assert.equal(answer.headers.get('retry-after'), '1');
    const body = (await answer.json()) as { code: string; message: string; hint: string };
    assert.equal(body.code, 'LOCO_STARTING');
    assert.match(body.message, /^Loconomy is starting \(.+\)$/);
    await poll(`http://127.0.0.1:${port}/health`, child, 90_000);
    child.kill('SIGTERM');
    assert.equal(await exited(child), 0);
  });

  test('npm start: SIGTERM to npm stops the server cleanly and frees the port and the data directory', async () => {
    const where = await location();
    const port = await freePort();
    const npm = spawn('npm', ['start', '--', '--port', String(port), '--host', '127.0.0.1'], {
      cwd: ROOT,
      env: cleanEnv({ ...where.env, LOG_LEVEL: 'info' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanups.push(async () => {
      if (npm.exitCode === null) npm.kill('SIGKILL');
    });
    const stdout = collect(npm.stdout);
    await poll(`http://127.0.0.1:${port}/health`, npm, 90_000);
    npm.kill('SIGTERM');
    await exited(npm);
    // The server itself is gone, not orphaned: its port refuses connections...
    await assert.rejects(fetch(`http://127.0.0.1:${port}/health`));
    // ...after it closed the database (PGlite's lock file is removed on a clean stop).
    assert.match(stdout(), /"msg":"stopped"/);
    if (where.backend === 'pglite') assert.equal(existsSync(join(where.dataDir as string, 'loconomy.pid')), false);
  });

  test('LOG_FORMAT=pretty: short lines for people and a summary with the URLs and the anon key', async () => {
    const where = await location();
    const port = await freePort();
    const child = spawnServe(port, { ...where.env, LOG_FORMAT: 'pretty', LOG_LEVEL: 'info' });
    const stdout = collect(child.stdout);
    child.stderr?.resume();
    await poll(`http://127.0.0.1:${port}/health`, child, 90_000);
    child.kill('SIGTERM');
    assert.equal(await exited(child), 0);
    const text = stdout();
    assert.doesNotMatch(text, /^\{/m, 'no JSON lines');
    assert.match(text, /✓ migrate \(\d+(\.\d)? m?s\)/);
    assert.match(text, new RegExp(`REST API +http://127\\.0\\.0\\.1:${port}/rest/v1`));
    const anon = /anon key +(\S+)/.exec(text)?.[1] ?? '';
    const claims = JSON.parse(Buffer.from(anon.split('.')[1] ?? '', 'base64url').toString()) as { role: string };
    assert.equal(claims.role, 'anon');
    assert.match(text, /GET \/health → 200 \(\d+ ms\)/);
    assert.match(text, /stopped/);
  });

  test('--no-migrate on a database that was never migrated refuses to start, in one line, and changes nothing', async () => {
    const where = await createTestDatabaseLocation('empty');
    cleanups.push(() => where.dispose());
    const files = (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql')).sort();
    const latest = files.at(-1)?.split('_')[0];
    const port = await freePort();
    const expected = `loconomy: the database is behind this Loconomy: ${files.length} pending migrations (never migrated, latest ${latest}) — run \`loconomy migrate\` (the release step), or serve without --no-migrate / LOCONOMY_SERVE_MIGRATE=false to migrate on start\n`;
    const refused = await runCli(['serve', '--no-migrate', '--port', String(port)], {
      ...where.env,
      LOG_LEVEL: 'info',
    });
    assert.equal(refused.code, 1);
    assert.equal(refused.stderr, expected);
    assert.doesNotMatch(refused.stdout, /applied \d{4}_/);
    // The setting does the same, and a second start still finds nothing migrated.
    const again = await runCli(['serve', '--port', String(port)], {
      ...where.env,
      LOCONOMY_SERVE_MIGRATE: 'false',
      LOG_LEVEL: 'info',
    });
    assert.equal(again.code, 1);
    assert.equal(again.stderr, expected);
    // The port was let go: nothing listens on it.
    await assert.rejects(fetch(`http://127.0.0.1:${port}/health`));
  });

  test('--no-migrate on a migrated database serves, without a migrate step', async () => {
    const where = await location();
    const port = await freePort();
    const [file, ...args] = [process.execPath, BIN];
    const child = spawn(file, [...args, 'serve', '--no-migrate', '--port', String(port), '--host', '127.0.0.1'], {
      cwd: ROOT,
      env: cleanEnv({ ...where.env, LOG_LEVEL: 'info' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    const stdout = collect(child.stdout);
    const stderr = collect(child.stderr);
    const { ready } = await poll(`http://127.0.0.1:${port}/health`, child, 90_000);
    assert.equal(((await ready.json()) as { status: string }).status, 'ok', stderr());
    const rest = await fetch(`http://127.0.0.1:${port}/rest/v1/categories?select=id&limit=1`);
    assert.equal(rest.status, 200);
    child.kill('SIGTERM');
    assert.equal(await exited(child), 0);
    assert.match(stdout(), /"step":"check migrations"/);
    assert.doesNotMatch(stdout(), /"step":"migrate"/);
    assert.equal(stderr(), '');
  });

  test('refuses a port that is already taken, in one line', async () => {
    const where = await location();
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => blocker.close(resolve)));
    const address = blocker.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const result = await runCli(['serve', '--port', String(port)], { ...where.env, LOG_LEVEL: 'info' });
    assert.equal(result.code, 1);
    // Refused before any slow work: the database was never opened.
    assert.doesNotMatch(result.stdout, /open database|migrate/);
    assert.equal(
      result.stderr,
      `loconomy: port ${port} on 127.0.0.1 is already in use — stop the other process or choose another port with --port (or PORT)\n`,
    );
  });
});
