import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../src/config.js';
import { LoconomyError } from '../src/errors.js';

function failure(env: NodeJS.ProcessEnv): LoconomyError {
  try {
    loadConfig(env, '/srv/app');
  } catch (error) {
    assert.ok(error instanceof LoconomyError, `expected a LoconomyError, got ${error}`);
    assert.equal(error.code, 'LOCO_CONFIG_INVALID');
    assert.doesNotMatch(error.message, /\n/, 'one line');
    return error;
  }
  assert.fail('expected the configuration to be refused');
}

describe('configuration', () => {
  test('has the documented defaults when nothing is set', () => {
    const config = loadConfig({}, '/srv/app');
    assert.equal(config.port, 54321);
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.databaseUrl, undefined);
    assert.equal(config.dataDir, '/srv/app/.loconomy');
    assert.equal(config.jwtSecret, undefined);
    assert.deepEqual(config.db, {
      schemas: ['public'],
      anonRole: 'anon',
      extraSearchPath: ['public', 'extensions'],
      maxRows: undefined,
      pool: 10,
      preparedStatements: true,
      planEnabled: false,
      txEnd: 'commit',
      aggregatesEnabled: false,
    });
    assert.equal(config.logLevel, 'info');
  });

  test('reads every setting from the environment', () => {
    const config = loadConfig(
      {
        PORT: '8080',
        HOST: '0.0.0.0',
        DATABASE_URL: 'postgresql://u:p@db.example:6543/market',
        LOCONOMY_DATA_DIR: '/var/lib/loconomy',
        LOCONOMY_JWT_SECRET: 'x'.repeat(40),
        CLERK_JWKS_URL: 'https://clerk.example/.well-known/jwks.json',
        CLERK_JWT_KEY: '-----BEGIN PUBLIC KEY-----',
        CLERK_WEBHOOK_SECRET: 'whsec_a',
        LOCONOMY_CLERK_TRUSTED_METADATA: 'role, tenant_id, role',
        LOCONOMY_CLERK_ORGANIZATION_TENANTS: 'yes',
        CLERK_SECRET_KEY: 'sk_live_abc',
        LOCONOMY_CLERK_API_URL: 'http://127.0.0.1:9999',
        STRIPE_SECRET_KEY: 'sk_test_a',
        STRIPE_WEBHOOK_SECRET: 'whsec_b, whsec_c',
        LOCONOMY_STRIPE_API_URL: 'http://127.0.0.1:12111',
        LOCONOMY_STRIPE_RETURN_ORIGINS: 'https://app.example.com, http://localhost:3000/',
        LOCONOMY_DB_SCHEMAS: 'api, public',
        LOCONOMY_DB_ANON_ROLE: 'web_anon',
        LOCONOMY_DB_EXTRA_SEARCH_PATH: 'public,extensions, postgis',
        LOCONOMY_DB_MAX_ROWS: '1000',
        LOCONOMY_DB_POOL: '32',
        LOCONOMY_DB_PREPARED_STATEMENTS: 'off',
        LOCONOMY_DB_PLAN_ENABLED: 'true',
        LOCONOMY_DB_TX_END: 'rollback-allow-override',
        LOCONOMY_DB_AGGREGATES_ENABLED: 'yes',
        LOG_LEVEL: 'debug',
      },
      '/srv/app',
    );
    assert.equal(config.port, 8080);
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.databaseUrl, 'postgresql://u:p@db.example:6543/market');
    assert.equal(config.dataDir, '/var/lib/loconomy');
    assert.equal(config.jwtSecret, 'x'.repeat(40));
    assert.deepEqual(config.clerk, {
      jwksUrl: 'https://clerk.example/.well-known/jwks.json',
      jwtKey: '-----BEGIN PUBLIC KEY-----',
      webhookSecret: 'whsec_a',
      trustedMetadata: ['role', 'tenant_id'],
      organizationTenants: true,
      secretKey: 'sk_live_abc',
      apiUrl: 'http://127.0.0.1:9999',
    });
    assert.deepEqual(config.stripe, {
      secretKey: 'sk_test_a',
      webhookSecrets: ['whsec_b', 'whsec_c'],
      apiUrl: 'http://127.0.0.1:12111',
      returnOrigins: ['https://app.example.com', 'http://localhost:3000'],
    });
    assert.deepEqual(config.db, {
      schemas: ['api', 'public'],
      anonRole: 'web_anon',
      extraSearchPath: ['public', 'extensions', 'postgis'],
      maxRows: 1000,
      pool: 32,
      preparedStatements: false,
      planEnabled: true,
      txEnd: 'rollback-allow-override',
      aggregatesEnabled: true,
    });
    assert.equal(config.logLevel, 'debug');
  });

  test('treats an empty variable as unset', () => {
    assert.equal(loadConfig({ PORT: '', DATABASE_URL: '' }).port, 54321);
    assert.equal(loadConfig({ DATABASE_URL: '' }).databaseUrl, undefined);
  });

  test('resolves a relative data directory against the working directory', () => {
    assert.equal(loadConfig({ LOCONOMY_DATA_DIR: 'data' }, '/srv/app').dataDir, '/srv/app/data');
  });

  test('refuses a DATABASE_URL that is not a postgres:// URL, in one line saying how to write it', () => {
    for (const bad of ['mysql://localhost/db', 'not a url', 'postgres://', 'localhost:5432']) {
      const error = failure({ DATABASE_URL: bad });
      assert.match(error.message, /^DATABASE_URL is not a valid postgres:\/\/ URL/);
      assert.match(error.todo, /postgres:\/\/user:password@host:5432\/dbname/);
    }
  });

  test('accepts both postgres:// and postgresql://', () => {
    assert.ok(loadConfig({ DATABASE_URL: 'postgres://localhost/db' }).databaseUrl);
    assert.ok(loadConfig({ DATABASE_URL: 'postgresql://localhost/db' }).databaseUrl);
  });

  test('never echoes a password or a secret in its errors', () => {
    const error = failure({ DATABASE_URL: 'mysql://admin:hunter2@db/x' });
    assert.doesNotMatch(error.message, /hunter2/);
    const secret = failure({ LOCONOMY_JWT_SECRET: 'short-secret' });
    assert.doesNotMatch(secret.message, /short-secret/);
    assert.match(secret.message, /at least 32 characters/);
  });

  test('refuses ports outside 1..65535 and non-numbers', () => {
    for (const bad of ['0', '65536', 'abc', '80.5', '-1']) {
      assert.match(failure({ PORT: bad }).message, /^PORT must be an integer between 1 and 65535/);
    }
  });

  test('refuses a boolean that is not true/false', () => {
    assert.match(
      failure({ LOCONOMY_DB_PLAN_ENABLED: 'maybe' }).message,
      /LOCONOMY_DB_PLAN_ENABLED must be true or false/,
    );
  });

  test('refuses an unknown transaction end', () => {
    assert.match(failure({ LOCONOMY_DB_TX_END: 'abort' }).message, /LOCONOMY_DB_TX_END must be one of commit/);
  });

  test('refuses a max-rows that is not a positive integer', () => {
    for (const bad of ['0', '-5', 'ten', '1.5']) {
      assert.match(failure({ LOCONOMY_DB_MAX_ROWS: bad }).message, /LOCONOMY_DB_MAX_ROWS must be a positive integer/);
      assert.match(
        failure({ LOCONOMY_DB_POOL: bad }).message,
        /LOCONOMY_DB_POOL must be an integer between 1 and 1000/,
      );
    }
  });

  test('refuses an empty schema list and an unknown log level', () => {
    assert.match(failure({ LOCONOMY_DB_SCHEMAS: ' , ' }).message, /LOCONOMY_DB_SCHEMAS must name at least one schema/);
    assert.match(failure({ LOG_LEVEL: 'loud' }).message, /LOG_LEVEL must be one of/);
  });

  test('LOCONOMY_TRUST_PROXY: off by default; true, false or proxy addresses and CIDR ranges; anything else refused', () => {
    assert.equal(loadConfig({}, '/srv/app').trustProxy, false);
    assert.equal(loadConfig({ LOCONOMY_TRUST_PROXY: 'true' }, '/srv/app').trustProxy, true);
    assert.equal(loadConfig({ LOCONOMY_TRUST_PROXY: 'off' }, '/srv/app').trustProxy, false);
    assert.deepEqual(loadConfig({ LOCONOMY_TRUST_PROXY: '10.0.0.0/8, 192.168.1.10, ::1' }, '/srv/app').trustProxy, [
      '10.0.0.0/8',
      '192.168.1.10',
      '::1',
    ]);
    for (const bad of ['2', 'proxy.local', '10.0.0.0/33', '10.0.0.1/8/1']) {
      assert.match(
        failure({ LOCONOMY_TRUST_PROXY: bad }).message,
        /LOCONOMY_TRUST_PROXY must be true, false or a comma-separated list/,
      );
    }
  });

  test('refuses a Clerk JWKS URL that is not http(s)', () => {
    assert.match(failure({ CLERK_JWKS_URL: 'ftp://x' }).message, /CLERK_JWKS_URL is not a valid http\(s\) URL/);
  });

  test('refuses a Clerk secret key that is not one, without echoing it', () => {
    const error = failure({ CLERK_SECRET_KEY: 'pk_test_abc' });
    assert.match(error.message, /CLERK_SECRET_KEY must be a Clerk secret key \(sk_live_… or sk_test_…\)/);
    assert.doesNotMatch(error.message, /pk_test_abc/);
    assert.match(failure({ LOCONOMY_CLERK_API_URL: 'api.clerk.com' }).message, /LOCONOMY_CLERK_API_URL is not a valid/);
  });

  test('Stripe: refuses a key that is not a secret key, non-whsec signing secrets and return origins with a path', () => {
    const key = failure({ STRIPE_SECRET_KEY: 'pk_test_publishable' });
    assert.match(key.message, /STRIPE_SECRET_KEY must be a Stripe secret key/);
    assert.doesNotMatch(key.message, /pk_test_publishable/);
    assert.match(
      failure({ STRIPE_WEBHOOK_SECRET: 'whsec_a, nope' }).message,
      /STRIPE_WEBHOOK_SECRET must list webhook/,
    );
    assert.match(failure({ LOCONOMY_STRIPE_API_URL: 'ftp://x' }).message, /LOCONOMY_STRIPE_API_URL is not a valid/);
    assert.match(
      failure({ LOCONOMY_STRIPE_RETURN_ORIGINS: 'https://app.example.com/payouts' }).message,
      /LOCONOMY_STRIPE_RETURN_ORIGINS must list origins/,
    );
    assert.deepEqual(loadConfig({}).stripe, {
      secretKey: undefined,
      webhookSecrets: [],
      apiUrl: undefined,
      returnOrigins: undefined,
    });
  });
});
