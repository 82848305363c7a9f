import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { createServer } from 'node:net';
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

async function poll(url: string, child: ChildProcess, timeoutMs: number): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`serve exited early with code ${child.exitCode}`);
    try {
      return await fetch(url);
    } catch {
      if (Date.now() > deadline) throw new Error(`no answer from ${url} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe(`loconomy serve (${testBackend()})`, () => {
  test('starts, answers GET /health with the database details, and stops cleanly on SIGTERM', async () => {
    const where = await location();
    const port = await freePort();
    const child = spawn(process.execPath, [BIN, 'serve', '--port', String(port), '--host', '127.0.0.1'], {
      cwd: ROOT,
      env: cleanEnv(where.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d) => {
      stderr += d;
    });
    child.stdout?.resume();
    cleanups.push(async () => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });

    const response = await poll(`http://127.0.0.1:${port}/health`, child, 90_000);
    assert.equal(response.status, 200, stderr);
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
    assert.equal(stderr, '');
  });

  test('refuses a port that is already taken, in one line', async () => {
    const where = await location();
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => blocker.close(resolve)));
    const address = blocker.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const result = await runCli(['serve', '--port', String(port)], where.env);
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      `loconomy: port ${port} on 127.0.0.1 is already in use — stop the other process or choose another port with --port (or PORT)\n`,
    );
  });
});
