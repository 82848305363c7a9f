import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { loadConfig } from '../../src/config.js';
import { openPglite } from '../../src/db/pglite.js';
import { openPostgres } from '../../src/db/postgres.js';
import { prepareDatabase } from '../../src/db/prepare.js';
import { sql } from '../../src/db/sql.js';
import { ensureTemplate, templateHash } from '../../src/db/template.js';
import { silentLogger } from '../../src/log.js';

/**
 * Migrated and seeded templates, built once per `npm test` run (by scripts/test.ts) and cloned
 * by every test file: the prepared PGlite database copied with fs.cp, or a PostgreSQL database
 * used as CREATE DATABASE … TEMPLATE. Migrations never run per test file. Templates are keyed by a
 * hash of everything that shapes them, so a changed migration builds a new one.
 */

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CACHE_DIR = join(ROOT, '.loconomy-test');

/**
 * The prepared PGlite database (src/db/template.ts) in the machine's cache, the same one
 * `npm install` and `loconomy serve` use: it holds pgdata/, migrated and seeded.
 */
export async function ensurePgliteTemplate(): Promise<string> {
  return ensureTemplate({ cacheDir: loadConfig().cacheDir, log: silentLogger() });
}

/** A PGlite data directory that was only initialised: no extensions, no migrations. */
export async function ensureEmptyPgliteTemplate(): Promise<string> {
  const dir = join(CACHE_DIR, 'empty-pglite');
  if (existsSync(dir)) return dir;
  await buildDir(dir, async (building) => {
    const db = await openPglite({ dataDir: building, searchPath: '"public"', log: silentLogger(), extensions: false });
    await db.close();
  });
  return dir;
}

/** Builds into a private directory and renames it into place, so concurrent builders are safe. */
async function buildDir(dir: string, build: (building: string) => Promise<void>): Promise<void> {
  const building = `${dir}.building-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await build(building);
    await rm(join(building, 'loconomy.pid'), { force: true });
    await rename(building, dir).catch((error: NodeJS.ErrnoException) => {
      // Someone else finished first; theirs is as good as ours.
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
    });
  } finally {
    await rm(building, { recursive: true, force: true });
  }
}

/** The PostgreSQL server tests run on, if any. */
export function testDatabaseUrl(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.LOCONOMY_TEST_DATABASE_URL || env.DATABASE_URL || undefined;
}

/** The same URL pointing at another database on that server. */
export function withDatabaseName(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

/** Runs fn with a connection to the test server's own database (for CREATE/DROP DATABASE). */
export async function withAdmin<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A migrated and seeded template database on the test server; built if missing. */
export async function ensurePostgresTemplate(url: string): Promise<string> {
  const name = `loconomy_tpl_${await templateHash()}`;
  const exists = await withAdmin(url, async (admin) => {
    const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [name]);
    return rowCount === 1;
  });
  if (exists) return name;
  const building = `${name}_b${randomBytes(3).toString('hex')}`;
  await withAdmin(url, (admin) => admin.query(sql`create database ${sql.ident(building)}`.text));
  try {
    const db = openPostgres({
      url: withDatabaseName(url, building),
      searchPath: '"public", "extensions"',
      log: silentLogger(),
    });
    try {
      await prepareDatabase(db, { log: silentLogger() });
    } finally {
      await db.close();
    }
    await withAdmin(url, async (admin) => {
      try {
        await admin.query(sql`alter database ${sql.ident(building)} rename to ${sql.ident(name)}`.text);
      } catch (error) {
        if ((error as { code?: string }).code !== '42P04') throw error; // built concurrently by another run
      }
    });
  } finally {
    await withAdmin(url, (admin) => admin.query(sql`drop database if exists ${sql.ident(building)} with (force)`.text));
  }
  return name;
}
