import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../src/config.js';
import { buildServer } from '../../src/server.js';
import { getTestDatabase, TEST_JWT_SECRET, type TestDatabase, testBackend, testLogger } from '../helpers/index.js';

/* CORS as Supabase answers it: any origin reflected, supabase-js's headers (storage-js's too) allowed and exposed. */

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

const EXPOSED =
  'content-range, content-location, location, preference-applied, retry-after, ratelimit-limit, ratelimit-remaining, ratelimit-reset, x-request-id, content-length, content-disposition, etag, last-modified, accept-ranges';

describe(`CORS (${testBackend()})`, () => {
  test('a request with an Origin gets it back, with the exposed headers and Vary: Origin', async () => {
    const response = await app.inject({ url: '/health', headers: { origin: 'https://app.example' } });
    assert.equal(response.statusCode, 200);
    assert.equal(response.headers['access-control-allow-origin'], 'https://app.example');
    assert.equal(response.headers['access-control-expose-headers'], EXPOSED);
    assert.equal(response.headers.vary, 'Origin');
  });

  test('a request without an Origin gets no allowed origin, still the exposed headers', async () => {
    const response = await app.inject({ url: '/health' });
    assert.equal(response.headers['access-control-allow-origin'], undefined);
    assert.equal(response.headers['access-control-expose-headers'], EXPOSED);
  });

  test('a preflight is answered 204 with the methods, allowed headers and max age', async () => {
    const response = await app.inject({
      method: 'OPTIONS',
      url: '/rest/v1/listings',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'PATCH' },
    });
    assert.equal(response.statusCode, 204);
    assert.equal(response.headers['access-control-allow-origin'], 'https://app.example');
    assert.equal(response.headers['access-control-allow-methods'], 'GET, HEAD, POST, PATCH, PUT, DELETE, OPTIONS');
    assert.equal(
      response.headers['access-control-allow-headers'],
      'authorization, apikey, content-type, accept, accept-profile, content-profile, prefer, range, range-unit, x-client-info, x-request-id, x-supabase-api-version, x-upsert, x-metadata, cache-control',
    );
    assert.equal(response.headers['access-control-max-age'], '86400');
    assert.equal(response.body, '');
  });

  test('a preflight without Access-Control-Request-Method is refused 400', async () => {
    const response = await app.inject({
      method: 'OPTIONS',
      url: '/rest/v1/listings',
      headers: { origin: 'https://a.example' },
    });
    assert.equal(response.statusCode, 400);
  });
});
