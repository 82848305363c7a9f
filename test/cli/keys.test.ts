import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { jwtVerify } from 'jose';
import { opaqueKeys } from '../../src/auth/opaque-keys.js';
import { runCli } from '../helpers/index.js';

let dataDir: string;
before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'loconomy-keys-'));
});
after(() => rm(dataDir, { recursive: true, force: true }));

const key = (secret: string) => new TextEncoder().encode(secret);

describe('loconomy keys', () => {
  test('prints anon and service_role JWTs signed with the generated project secret', async () => {
    const result = await runCli(['keys'], { LOCONOMY_DATA_DIR: dataDir });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '');
    const keys = JSON.parse(result.stdout) as Record<string, string>;
    assert.deepEqual(Object.keys(keys).sort(), ['anon', 'service_role']);

    const secretFile = join(dataDir, 'jwt-secret');
    assert.equal((await stat(secretFile)).mode & 0o777, 0o600, 'the secret is readable by its owner only');
    const secret = (await readFile(secretFile, 'utf8')).trim();
    assert.match(secret, /^[A-Za-z0-9_-]{64}$/, '48 random bytes, base64url');

    for (const role of ['anon', 'service_role']) {
      const { payload, protectedHeader } = await jwtVerify(keys[role] as string, key(secret), {
        algorithms: ['HS256'],
        issuer: 'loconomy',
      });
      assert.equal(protectedHeader.alg, 'HS256');
      assert.equal(payload.role, role);
      const years = ((payload.exp as number) - (payload.iat as number)) / (365 * 24 * 3600);
      assert.ok(years > 9.9 && years < 10.1, `valid for about ten years, got ${years}`);
      assert.equal(payload.sub, undefined);
    }
  });

  test('keeps using the same secret on the next run', async () => {
    const secret = (await readFile(join(dataDir, 'jwt-secret'), 'utf8')).trim();
    const result = await runCli(['keys'], { LOCONOMY_DATA_DIR: dataDir });
    const keys = JSON.parse(result.stdout) as Record<string, string>;
    await jwtVerify(keys.anon as string, key(secret));
  });

  test('signs with LOCONOMY_JWT_SECRET when it is set', async () => {
    const secret = 'a-configured-secret-of-at-least-32-chars';
    const result = await runCli(['keys'], { LOCONOMY_JWT_SECRET: secret, DATABASE_URL: 'postgres://u@127.0.0.1:1/db' });
    assert.equal(result.code, 0, result.stderr);
    const keys = JSON.parse(result.stdout) as Record<string, string>;
    const { payload } = await jwtVerify(keys.service_role as string, key(secret));
    assert.equal(payload.role, 'service_role');
  });
});

describe('loconomy keys --opaque', () => {
  test('prints the publishable and secret opaque keys derived from the project secret', async () => {
    const result = await runCli(['keys', '--opaque'], { LOCONOMY_DATA_DIR: dataDir });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '');
    const keys = JSON.parse(result.stdout) as Record<string, string>;
    assert.deepEqual(Object.keys(keys), ['publishable', 'secret']);
    assert.match(keys.publishable as string, /^sb_publishable_[A-Za-z0-9_-]{32}$/);
    assert.match(keys.secret as string, /^sb_secret_[A-Za-z0-9_-]{32}$/);
    const secret = (await readFile(join(dataDir, 'jwt-secret'), 'utf8')).trim();
    assert.deepEqual(keys, { ...opaqueKeys(secret) });
  });

  test('prints the same keys on every run, and others for another secret', async () => {
    const env = {
      LOCONOMY_JWT_SECRET: 'a-configured-secret-of-at-least-32-chars',
      DATABASE_URL: 'postgres://u@127.0.0.1:1/db',
    };
    const first = JSON.parse((await runCli(['keys', '--opaque'], env)).stdout);
    const again = JSON.parse((await runCli(['keys', '--opaque'], env)).stdout);
    assert.deepEqual(again, first);
    const other = JSON.parse((await runCli(['keys', '--opaque'], { LOCONOMY_DATA_DIR: dataDir })).stdout);
    assert.notEqual(other.secret, first.secret);
  });
});

describe('loconomy token', () => {
  test('prints a user JWT with sub, role and the requested lifetime', async () => {
    const result = await runCli(['token', '--sub', 'user_2abc', '--role', 'provider', '--ttl', '120'], {
      LOCONOMY_DATA_DIR: dataDir,
    });
    assert.equal(result.code, 0, result.stderr);
    const secret = (await readFile(join(dataDir, 'jwt-secret'), 'utf8')).trim();
    const { payload } = await jwtVerify(result.stdout.trim(), key(secret), { issuer: 'loconomy' });
    assert.equal(payload.sub, 'user_2abc');
    assert.equal(payload.role, 'provider');
    assert.equal((payload.exp as number) - (payload.iat as number), 120);
  });

  test('defaults to role authenticated for an hour', async () => {
    const result = await runCli(['token', '--sub', 'user_1'], { LOCONOMY_DATA_DIR: dataDir });
    const secret = (await readFile(join(dataDir, 'jwt-secret'), 'utf8')).trim();
    const { payload } = await jwtVerify(result.stdout.trim(), key(secret));
    assert.equal(payload.role, 'authenticated');
    assert.equal((payload.exp as number) - (payload.iat as number), 3600);
  });
});
