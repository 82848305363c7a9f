import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { buildServer } from '../../src/server.js';
import { getTestDatabase, TEST_JWT_SECRET, type TestDatabase, testBackend } from '../helpers/index.js';

/*
 * The request log: one JSON line per request when it completes (method, url, status, time,
 * request id), not Fastify's two; the incoming line only at debug.
 */

let db: TestDatabase;
before(async () => {
  db = await getTestDatabase();
});
after(() => db?.dispose());

/** A server logging at `level` into an array of parsed lines. */
async function logged(level: string) {
  const lines: Record<string, unknown>[] = [];
  const out = new PassThrough();
  out.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line !== '') lines.push(JSON.parse(line));
  });
  const app = await buildServer({
    db,
    config: loadConfig({}),
    log: createLogger(level, out),
    jwtSecret: TEST_JWT_SECRET,
  });
  return { app, lines };
}

describe(`request log (${testBackend()})`, () => {
  test('at info, one line per request, when it completes, with request, status and time', async () => {
    const { app, lines } = await logged('info');
    try {
      lines.length = 0;
      const response = await app.inject({ url: '/health?x=1', headers: { 'x-request-id': 'log-test-1' } });
      assert.equal(response.statusCode, 200);
      const mine = lines.filter((l) => l.reqId === 'log-test-1');
      assert.equal(mine.length, 1, JSON.stringify(lines));
      const [line] = mine as [Record<string, unknown>];
      assert.equal(line.msg, 'request completed');
      assert.equal(line.level, 30);
      assert.deepEqual((line.req as Record<string, unknown>).method, 'GET');
      assert.deepEqual((line.req as Record<string, unknown>).url, '/health?x=1');
      assert.deepEqual(line.res, { statusCode: 200 });
      assert.equal(typeof line.responseTime, 'number');
    } finally {
      await app.close();
    }
  });

  test('at debug, the incoming line is written too', async () => {
    const { app, lines } = await logged('debug');
    try {
      await app.inject({ url: '/health', headers: { 'x-request-id': 'log-test-2' } });
      const messages = lines.filter((l) => l.reqId === 'log-test-2').map((l) => l.msg);
      assert.deepEqual(messages, ['incoming request', 'request completed']);
    } finally {
      await app.close();
    }
  });

  test('at warn, nothing per request', async () => {
    const { app, lines } = await logged('warn');
    try {
      await app.inject({ url: '/health', headers: { 'x-request-id': 'log-test-3' } });
      assert.deepEqual(
        lines.filter((l) => l.reqId === 'log-test-3'),
        [],
      );
    } finally {
      await app.close();
    }
  });
});
