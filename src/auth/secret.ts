import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config.js';
import { ensureDataDir, unusable } from '../data-dir.js';
import { LoconomyError } from '../errors.js';

/**
 * The project's HS256 secret. Configured: used as is. Unset on the embedded database: made
 * once (48 random bytes, base64url) and kept in <data dir>/jwt-secret, mode 0600, so keys and
 * tokens stay valid across restarts. Unset with DATABASE_URL: refused, because servers sharing
 * a database must share the secret and a generated one could not be shared.
 */
export async function resolveJwtSecret(config: Config): Promise<string> {
  if (config.jwtSecret !== undefined) return config.jwtSecret;
  if (config.databaseUrl !== undefined) {
    throw new LoconomyError(
      'LOCO_CONFIG_INVALID',
      'LOCONOMY_JWT_SECRET is not set',
      'set it to a random string of 32+ characters (e.g. `openssl rand -base64 48`) when using DATABASE_URL',
    );
  }
  await ensureDataDir(config.dataDir);
  const file = join(config.dataDir, 'jwt-secret');
  const existing = await readSecret(file);
  if (existing !== undefined) return existing;
  const secret = randomBytes(48).toString('base64url');
  try {
    await writeFile(file, `${secret}\n`, { flag: 'wx', mode: 0o600 });
    return secret;
  } catch (error) {
    // Another process made it first: use theirs.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return (await readSecret(file)) as string;
    throw unusable(config.dataDir, error);
  }
}

async function readSecret(file: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw unusable(file, error);
  }
  const secret = text.trim();
  if (secret.length < 32) {
    throw new LoconomyError(
      'LOCO_CONFIG_INVALID',
      `${file} does not hold a usable JWT secret (under 32 characters)`,
      'delete it to have a new one generated (existing keys and tokens stop working), or set LOCONOMY_JWT_SECRET',
    );
  }
  return secret;
}
