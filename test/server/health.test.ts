import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.js';
import { buildServer } from '../../src/server.js';
import { getTestDatabase, TEST_JWT_SECRET, type TestDatabase, testBackend, testLogger } from '../helpers/index.js';

let db: TestDatabase;
let app: FastifyInstance;
before(async () => {
  db = await getTestDatabase();
  app = await buildServer({ db, config: loadConfig({}), log: testLogger(), jwtSecret: TEST_JWT_SECRET });
});
after(async () => {
  await app?.close();
  await db?.dispose();
});

describe(`GET /health (${testBackend()})`, () => {
  test('answers 200 with the database kind and versions', async () => {
    const response = await app.inject({ method: 'GET', url: '/health' });
    assert.equal(response.statusCode, 200);
    const body = response.json();
    assert.equal(body.status, 'ok');
    assert.equal(body.database.kind, testBackend());
    assert.match(body.database.version, /^\d+\.\d+/);
  });

  test('echoes a plain X-Request-Id and replaces a hostile one', async () => {
    const kept = await app.inject({ url: '/health', headers: { 'x-request-id': 'abc-123' } });
    assert.equal(kept.headers['x-request-id'], 'abc-123');
    const replaced = await app.inject({ url: '/health', headers: { 'x-request-id': 'a b\u0007<script>' } });
    assert.match(String(replaced.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  });

  test('answers 503 "unavailable" when the database query fails', async () => {
    const broken = await getTestDatabase('empty');
    const brokenApp = await buildServer({
      db: broken,
      config: loadConfig({}),
      log: testLogger(),
      jwtSecret: TEST_JWT_SECRET,
    });
    try {
      await broken.dispose(); // a real database, closed under the server
      const response = await brokenApp.inject({ url: '/health' });
      assert.equal(response.statusCode, 503);
      assert.deepEqual(response.json(), { status: 'unavailable', database: { kind: testBackend() } });
    } finally {
      await brokenApp.close();
    }
  });
});
