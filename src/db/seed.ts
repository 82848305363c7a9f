import { fileURLToPath } from 'node:url';
import type { Logger } from '../log.js';
import { round, step } from '../log.js';
import { type DemoOptions, seedDemo } from '../seed/demo.js';
import type { Database, Queryable } from './database.js';
import {
  type AppliedStep,
  fileFailed,
  lockAndBootstrap,
  readSqlFiles,
  type SchemaState,
  type SqlFile,
  useFileSearchPath,
} from './migrator.js';
import { sql } from './sql.js';

/**
 * Reference data every install needs (db/seed/*.sql): categories, permissions, regions… Each
 * file is idempotent; all run in one transaction, in lexical order, and their checksums are
 * recorded in loconomy_migrations.seeds so a start re-runs them only when a file changed.
 */

export const SEEDS_DIR = fileURLToPath(new URL('../../db/seed/', import.meta.url));

/** The row in loconomy_migrations.seeds that says the demo data set was generated. */
export const DEMO_MARKER = 'demo';

export function readSeeds(dir: string = SEEDS_DIR): Promise<SqlFile[]> {
  return readSqlFiles(dir);
}

/** True when a seed file was never run here, or changed since. */
export function seedsPending(files: readonly SqlFile[], state: SchemaState | undefined): boolean {
  return files.some((file) => state?.seeds.get(file.name) !== file.checksum);
}

/** Runs every reference seed file in one transaction and records their checksums. */
export async function seedReference(
  db: Database,
  options: { log: Logger; files?: readonly SqlFile[] },
): Promise<AppliedStep[]> {
  const files = options.files ?? (await readSeeds());
  return db.transaction(async (tx) => {
    await lockAndBootstrap(tx);
    await useFileSearchPath(tx);
    const steps: AppliedStep[] = [];
    for (const file of files) {
      const started = performance.now();
      try {
        await tx.exec(file.sql);
      } catch (error) {
        throw fileFailed('LOCO_SEED_FAILED', 'seed', file, error);
      }
      await tx.query(sql`
        insert into loconomy_migrations.seeds (name, checksum) values (${file.name}, ${file.checksum})
        on conflict (name) do update set checksum = excluded.checksum, applied_at = now()`);
      const ms = round(performance.now() - started);
      options.log.info({ step: 'seed', seed: file.name, ms }, `seeded ${file.name}`);
      steps.push({ version: file.version, name: file.name, ms });
    }
    return steps;
  });
}

export interface SeedOptions {
  readonly log: Logger;
  /** Defaults to the package's db/seed. */
  readonly dir?: string;
  /** Also generate the demo data set, unless the database already has it. */
  readonly demo?: DemoOptions;
}

/**
 * `loconomy seed`: every reference seed file (always, since they are idempotent), then the
 * demo data set when asked for and absent. Expects a migrated database.
 */
export async function seed(db: Database, options: SeedOptions): Promise<{ seeded: AppliedStep[]; demo: boolean }> {
  const files = await readSeeds(options.dir);
  const seeded = await step(options.log, 'seed reference data', () => seedReference(db, { log: options.log, files }));
  const demo = options.demo ? await seedDemoOnce(db, options.demo, options.log) : false;
  return { seeded, demo };
}

/**
 * Generates the demo data set unless it is recorded as present; true when it ran. The check,
 * the data and the marker row share one transaction (holding the migration lock), so two
 * processes starting with --demo at once generate it once, and a failure records nothing.
 */
export async function seedDemoOnce(db: Database, demo: DemoOptions, log: Logger): Promise<boolean> {
  const present = async (q: Queryable) =>
    (await q.query(sql`select 1 from loconomy_migrations.seeds where name = ${DEMO_MARKER}`)).rowCount > 0;
  if (await present(db)) {
    log.info('demo data is already present; nothing to do');
    return false;
  }
  const summary = await step(log, 'seed demo data', () =>
    seedDemo(
      db,
      { ...demo, log: demo.log ?? log },
      {
        async shouldRun(tx) {
          await lockAndBootstrap(tx);
          return !(await present(tx));
        },
        finish: (tx) => markDemoData(tx, demo.listings),
      },
    ),
  );
  if (!summary) log.info('demo data is already present; nothing to do');
  return summary !== undefined;
}

/** Records that the demo data set is in place, with how it was made. */
async function markDemoData(db: Queryable, listings: number): Promise<void> {
  await db.query(sql`
    insert into loconomy_migrations.seeds (name, checksum) values (${DEMO_MARKER}, ${`listings=${listings}`})
    on conflict (name) do update set checksum = excluded.checksum, applied_at = now()`);
}
