import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LoconomyError, oneLine } from '../errors.js';
import { type Logger, round } from '../log.js';
import type { Database, Queryable } from './database.js';
import { sql } from './sql.js';

/**
 * Numbered SQL migrations (db/migrations/NNNN_<domain>.sql), applied in order, each in its own
 * transaction, recorded in loconomy_migrations.applied. Safe when several processes migrate at
 * once: each transaction takes one advisory lock and re-reads what is applied under it, so a
 * second process waits and then finds nothing left to do. A warm start costs one query.
 */

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../db/migrations/', import.meta.url));

/** Any fixed number will do; it only has to be the same in every Loconomy process. */
const LOCK_KEY = '7300817245290104117';

/** The search_path every migration and seed file is written for. */
const FILE_SEARCH_PATH = sql.raw('set local search_path = public, extensions');

export interface SqlFile {
  /** "0001" for 0001_tenants.sql; the file name for seeds. */
  readonly version: string;
  /** The file name, e.g. 0001_tenants.sql. */
  readonly name: string;
  /** sha256 of the file's bytes, hex. */
  readonly checksum: string;
  readonly sql: string;
}

export interface AppliedStep {
  readonly version: string;
  readonly name: string;
  readonly ms: number;
}

/** What the database has recorded: migration version -> checksum, seed file name -> checksum. */
export interface SchemaState {
  readonly migrations: ReadonlyMap<string, string>;
  readonly seeds: ReadonlyMap<string, string>;
}

const FILE_NAME = /^(\d+)_([A-Za-z0-9_.-]+)\.sql$/;

/** Reads db/migrations (or `dir`): NNNN_name.sql files in lexical order. */
export async function readMigrations(dir: string = MIGRATIONS_DIR): Promise<SqlFile[]> {
  const files = await readSqlFiles(dir);
  const seen = new Map<string, string>();
  return files.map((file) => {
    const match = FILE_NAME.exec(file.name);
    if (!match) {
      throw new LoconomyError(
        'LOCO_MIGRATION_INVALID',
        `migration file name ${file.name} does not match NNNN_<name>.sql`,
        `rename it in ${dir}`,
      );
    }
    const version = match[1] as string;
    const clash = seen.get(version);
    if (clash) {
      throw new LoconomyError(
        'LOCO_MIGRATION_INVALID',
        `migrations ${clash} and ${file.name} share the version ${version}`,
        'give each migration its own number',
      );
    }
    seen.set(version, file.name);
    return { ...file, version };
  });
}

/** All *.sql files of a directory in lexical order; a missing directory has none. */
export async function readSqlFiles(dir: string): Promise<SqlFile[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((name) => name.endsWith('.sql')).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return Promise.all(
    names.map(async (name) => {
      const bytes = await readFile(join(dir, name));
      return {
        version: name,
        name,
        checksum: createHash('sha256').update(bytes).digest('hex'),
        sql: bytes.toString('utf8'),
      };
    }),
  );
}

/**
 * The recorded state in one query, or undefined when the bookkeeping schema does not exist
 * yet (a new database). This is the whole cost of a warm start's migration check.
 */
export async function readState(db: Queryable): Promise<SchemaState | undefined> {
  try {
    const { rows } = await db.query<{ kind: string; key: string; checksum: string }>(sql`
      select 'migration' as kind, version as key, checksum from loconomy_migrations.applied
      union all
      select 'seed', name, checksum from loconomy_migrations.seeds`);
    const migrations = new Map<string, string>();
    const seeds = new Map<string, string>();
    for (const row of rows) (row.kind === 'migration' ? migrations : seeds).set(row.key, row.checksum);
    return { migrations, seeds };
  } catch (error) {
    // 3F000 invalid_schema_name, 42P01 undefined_table: nothing was ever migrated here.
    const code = (error as { code?: string }).code;
    if (code === '3F000' || code === '42P01') return undefined;
    throw error;
  }
}

/** The highest applied migration version, e.g. "0007"; undefined before the first. */
export function schemaVersion(state: SchemaState | undefined): string | undefined {
  return [...(state?.migrations.keys() ?? [])].sort(compareVersions).at(-1);
}

/**
 * Refuses a database this code must not touch: an applied migration whose file changed, or
 * one this code does not have (written by a newer Loconomy, or a file was removed).
 */
export function verify(files: readonly SqlFile[], state: SchemaState | undefined): void {
  if (!state) return;
  const byVersion = new Map(files.map((f) => [f.version, f]));
  const latestKnown = files.at(-1)?.version ?? '0';
  const unknown = [...state.migrations.keys()].filter((v) => !byVersion.has(v)).sort(compareVersions);
  const newest = unknown.at(-1);
  if (newest !== undefined && compareVersions(newest, latestKnown) > 0) {
    throw new LoconomyError(
      'LOCO_MIGRATION_NEWER',
      `data directory/database was written by a newer Loconomy schema (version ${newest}; this Loconomy knows up to ${latestKnown})`,
      'upgrade Loconomy',
    );
  }
  if (newest !== undefined) {
    throw new LoconomyError(
      'LOCO_MIGRATION_INVALID',
      `applied migration ${unknown.join(', ')} is missing from db/migrations`,
      'restore the file; landed migrations are never removed',
    );
  }
  for (const [version, checksum] of state.migrations) {
    const file = byVersion.get(version) as SqlFile;
    if (file.checksum !== checksum) {
      throw new LoconomyError(
        'LOCO_MIGRATION_CHANGED',
        `migration ${file.name} was changed after it was applied (checksum differs)`,
        'restore the original file and put the change in a new migration',
      );
    }
  }
}

export interface MigrateOptions {
  readonly log: Logger;
  /** Defaults to the package's db/migrations. */
  readonly dir?: string;
}

export interface MigrateResult {
  readonly steps: AppliedStep[];
  /** The state after migrating, so callers need not read it again. */
  readonly state: SchemaState;
}

/** Applies every pending migration; a no-op (one query) when the database is up to date. */
export async function migrate(db: Database, options: MigrateOptions): Promise<MigrateResult> {
  const files = await readMigrations(options.dir);
  const state = await readState(db);
  verify(files, state);
  if (state && files.every((f) => state.migrations.has(f.version))) {
    options.log.debug({ step: 'migrate', pending: 0 }, 'schema is up to date');
    return { steps: [], state };
  }
  const steps: AppliedStep[] = [];
  for (;;) {
    const applied = await db.transaction((tx) => applyNext(tx, files, options.log));
    if (!applied) break;
    steps.push(applied);
  }
  const after = (await readState(db)) as SchemaState;
  return { steps, state: after };
}

/** One transaction: lock, re-read under the lock, apply the first pending file, record it. */
async function applyNext(tx: Queryable, files: readonly SqlFile[], log: Logger): Promise<AppliedStep | undefined> {
  await lockAndBootstrap(tx);
  const current = await readState(tx);
  verify(files, current);
  const next = files.find((f) => !current?.migrations.has(f.version));
  if (!next) return undefined;
  const started = performance.now();
  await useFileSearchPath(tx);
  try {
    await tx.exec(next.sql);
  } catch (error) {
    throw fileFailed('LOCO_MIGRATION_FAILED', 'migration', next, error);
  }
  const ms = round(performance.now() - started);
  await tx.query(sql`
    insert into loconomy_migrations.applied (version, name, checksum, duration_ms)
    values (${next.version}, ${next.name}, ${next.checksum}, ${Math.round(ms)})`);
  log.info({ step: 'migrate', migration: next.name, ms }, `applied ${next.name}`);
  return { version: next.version, name: next.name, ms };
}

/**
 * Serializes migrators and seeders across processes for the rest of the transaction, then
 * makes sure the bookkeeping tables exist (under the lock, so two creators cannot race).
 */
export async function lockAndBootstrap(tx: Queryable): Promise<void> {
  await tx.query(sql`select pg_advisory_xact_lock(${LOCK_KEY}::bigint)`);
  await tx.exec(`
    create schema if not exists loconomy_migrations;
    create table if not exists loconomy_migrations.applied (
      version text primary key,
      name text not null,
      checksum text not null,
      applied_at timestamptz not null default now(),
      duration_ms integer not null
    );
    create table if not exists loconomy_migrations.seeds (
      name text primary key,
      checksum text not null,
      applied_at timestamptz not null default now()
    );`);
}

/** Sets the search_path migration and seed files are written for, for this transaction. */
export async function useFileSearchPath(tx: Queryable): Promise<void> {
  await tx.query(FILE_SEARCH_PATH);
}

/** "migration 0002_x.sql failed at line 3: <PostgreSQL's message>", nothing of it applied. */
export function fileFailed(
  code: 'LOCO_MIGRATION_FAILED' | 'LOCO_SEED_FAILED',
  kind: string,
  file: SqlFile,
  error: unknown,
): LoconomyError {
  const position = Number((error as { position?: string }).position);
  const line =
    Number.isFinite(position) && position > 0 ? file.sql.slice(0, position - 1).split('\n').length : undefined;
  const at = line === undefined ? '' : ` at line ${line}`;
  return new LoconomyError(
    code,
    `${kind} ${file.name} failed${at}: ${oneLine(error)}`,
    `fix the file; its transaction was rolled back, so nothing of it was applied`,
    { cause: error },
  );
}

function compareVersions(a: string, b: string): number {
  const diff = Number(a) - Number(b);
  return diff !== 0 ? Math.sign(diff) : a.localeCompare(b);
}
