import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.js';
import type { Database, Transaction } from '../../src/db/database.js';
import { openPglite } from '../../src/db/pglite.js';
import { openPostgres } from '../../src/db/postgres.js';
import { sql } from '../../src/db/sql.js';
import { createLogger, type Logger } from '../../src/log.js';
import {
  ensureEmptyPgliteTemplate,
  ensurePgliteTemplate,
  ensurePostgresTemplate,
  testDatabaseUrl,
  withAdmin,
  withDatabaseName,
} from './template.js';

/**
 * Test databases. Which backend: LOCONOMY_TEST_BACKEND (set by scripts/test.ts), else
 * PostgreSQL when LOCONOMY_TEST_DATABASE_URL/DATABASE_URL is set, else PGlite. Each call gives
 * a private database cloned from the migrated template (or an empty one), so test files run in
 * parallel without seeing each other's rows.
 */

export type Backend = 'pglite' | 'postgres';

export function testBackend(): Backend {
  const chosen = process.env.LOCONOMY_TEST_BACKEND;
  if (chosen === 'pglite' || chosen === 'postgres') return chosen;
  return testDatabaseUrl() ? 'postgres' : 'pglite';
}

/** Quiet unless LOG_LEVEL asks otherwise, so test output stays readable. */
export function testLogger(): Logger {
  return createLogger(process.env.LOG_LEVEL ?? 'silent');
}

/**
 * Where a private test database lives, without opening it: the environment a `loconomy`
 * process needs to use it (LOCONOMY_DATA_DIR, or DATABASE_URL and a JWT secret).
 */
export interface TestDatabaseLocation {
  readonly backend: Backend;
  /** PGlite: the data directory. */
  readonly dataDir?: string;
  /** PostgreSQL: the database URL. */
  readonly url?: string;
  readonly env: Record<string, string>;
  dispose(): Promise<void>;
}

export interface TestDatabase extends Database {
  readonly location: TestDatabaseLocation;
  /** Closes the database and deletes it. Call from `after()`. */
  dispose(): Promise<void>;
}

export const TEST_JWT_SECRET = 'test-secret-test-secret-test-secret-0123456789';

/** A private copy of the migrated+seeded template ('migrated') or a blank database ('empty'). */
export async function createTestDatabaseLocation(
  kind: 'migrated' | 'empty' = 'migrated',
): Promise<TestDatabaseLocation> {
  if (testBackend() === 'pglite') {
    const template =
      kind === 'migrated'
        ? (process.env.LOCONOMY_TEST_PGLITE_TEMPLATE ?? (await ensurePgliteTemplate()))
        : await ensureEmptyPgliteTemplate();
    const dataDir = await mkdtemp(join(tmpdir(), 'loconomy-test-'));
    await cp(join(template, 'pgdata'), join(dataDir, 'pgdata'), { recursive: true });
    return {
      backend: 'pglite',
      dataDir,
      env: { LOCONOMY_DATA_DIR: dataDir },
      dispose: () => rm(dataDir, { recursive: true, force: true }),
    };
  }
  const server = testDatabaseUrl() as string;
  const name = `loconomy_t_${randomBytes(6).toString('hex')}`;
  const template =
    kind === 'migrated'
      ? (process.env.LOCONOMY_TEST_PG_TEMPLATE ?? (await ensurePostgresTemplate(server)))
      : 'template1';
  await withAdmin(server, (admin) =>
    admin.query(sql`create database ${sql.ident(name)} template ${sql.ident(template)}`.text),
  );
  const url = withDatabaseName(server, name);
  return {
    backend: 'postgres',
    url,
    env: { DATABASE_URL: url, LOCONOMY_JWT_SECRET: TEST_JWT_SECRET },
    dispose: () =>
      withAdmin(server, (admin) => admin.query(sql`drop database if exists ${sql.ident(name)} with (force)`.text)).then(
        () => {},
      ),
  };
}

/** Opens a private test database; `kind: 'empty'` gives one without migrations or extensions. */
export async function getTestDatabase(kind: 'migrated' | 'empty' = 'migrated'): Promise<TestDatabase> {
  const location = await createTestDatabaseLocation(kind);
  const log = testLogger();
  const searchPath = '"public", "extensions"';
  let db: Database;
  try {
    db =
      location.backend === 'pglite'
        ? await openPglite({
            dataDir: location.dataDir as string,
            searchPath,
            log,
            extensions: kind === 'migrated',
            cacheDir: loadConfig().cacheDir,
          })
        : openPostgres({ url: location.url as string, searchPath, log, poolSize: 4 });
  } catch (error) {
    await location.dispose();
    throw error;
  }
  let disposed = false;
  return Object.assign(Object.create(null), db, {
    location,
    async dispose() {
      if (disposed) return;
      disposed = true;
      await db.close();
      await location.dispose();
    },
  }) as TestDatabase;
}

/** Rolls back whatever fn did, returning fn's result: tests act without leaving traces. */
class Rollback<T> {
  constructor(readonly value: T) {}
}

async function rolledBack<T>(
  run: (fn: (tx: Transaction) => Promise<never>) => Promise<unknown>,
  fn: (tx: Transaction) => Promise<T>,
): Promise<T> {
  try {
    await run(async (tx) => {
      throw new Rollback(await fn(tx));
    });
  } catch (error) {
    if (error instanceof Rollback) return error.value as T;
    throw error;
  }
  throw new Error('unreachable: the transaction was not rolled back');
}

export interface ActOptions {
  /** Keep what fn did (default: roll it back). */
  readonly commit?: boolean;
}

/**
 * Runs fn as a database role with claims, the way the API runs a request, inside a
 * transaction that is rolled back afterwards unless `commit` is set.
 */
export function asRole<T>(
  db: Database,
  role: string,
  claims: object,
  fn: (tx: Transaction) => Promise<T>,
  options: ActOptions = {},
): Promise<T> {
  if (options.commit) return db.asRole(role, claims, fn);
  return rolledBack((inner) => db.asRole(role, claims, inner), fn);
}

/**
 * Runs fn as a signed-in user (clerk id as the JWT `sub`, role authenticated) or, with null,
 * as an anonymous caller (role anon) — for policy tests.
 */
export function asUser<T>(
  db: Database,
  clerkId: string | null,
  fn: (tx: Transaction) => Promise<T>,
  options: ActOptions = {},
): Promise<T> {
  return clerkId === null
    ? asRole(db, 'anon', { role: 'anon' }, fn, options)
    : asRole(db, 'authenticated', { sub: clerkId, role: 'authenticated' }, fn, options);
}
