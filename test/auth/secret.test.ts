import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { resolveJwtSecret } from '../../src/auth/secret.js';
import { loadConfig } from '../../src/config.js';
import { LoconomyError } from '../../src/errors.js';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'loconomy-secret-'));
});
after(() => rm(root, { recursive: true, force: true }));

describe('the project JWT secret', () => {
  test('is generated once for the embedded database, kept with mode 0600, then reused', async () => {
    const config = loadConfig({ LOCONOMY_DATA_DIR: join(root, 'a') });
    const first = await resolveJwtSecret(config);
    assert.equal(Buffer.from(first, 'base64url').length, 48);
    assert.equal((await stat(join(root, 'a', 'jwt-secret'))).mode & 0o777, 0o600);
    assert.equal(await resolveJwtSecret(config), first);
  });

  test('is the configured one when LOCONOMY_JWT_SECRET is set, and nothing is written', async () => {
    const secret = 's'.repeat(40);
    assert.equal(
      await resolveJwtSecret(loadConfig({ LOCONOMY_JWT_SECRET: secret, LOCONOMY_DATA_DIR: join(root, 'b') })),
      secret,
    );
    await assert.rejects(stat(join(root, 'b')), { code: 'ENOENT' });
  });

  test('must be configured when the database is PostgreSQL', async () => {
    await assert.rejects(resolveJwtSecret(loadConfig({ DATABASE_URL: 'postgres://localhost/x' })), (error: unknown) => {
      assert.ok(error instanceof LoconomyError);
      assert.match(error.message, /^LOCONOMY_JWT_SECRET is not set — set it to a random string of 32\+ characters/);
      return true;
    });
  });

  test('is refused when the kept file was truncated', async () => {
    const dir = join(root, 'c');
    const config = loadConfig({ LOCONOMY_DATA_DIR: dir });
    await resolveJwtSecret(config);
    await writeFile(join(dir, 'jwt-secret'), 'short\n');
    await assert.rejects(resolveJwtSecret(config), /does not hold a usable JWT secret/);
    assert.equal((await readFile(join(dir, 'jwt-secret'), 'utf8')).trim(), 'short', 'left for the operator to decide');
  });
});
