import { LoconomyError } from '../errors.js';
import type { Logger } from '../log.js';
import { step } from '../log.js';
import type { DemoOptions } from '../seed/demo.js';
import type { Database } from './database.js';
import { type AppliedStep, migrate, readMigrations, readState, schemaVersion, verify } from './migrator.js';
import { readSeeds, seedDemoOnce, seedReference, seedsPending } from './seed.js';

export interface PrepareOptions {
  readonly log: Logger;
  readonly migrationsDir?: string;
  readonly seedsDir?: string;
  /**
   * false: change no schema (migrations are a separate release step): check that none is
   * pending and refuse to go on otherwise; reference seeds are not run either.
   */
  readonly migrate?: boolean;
  /** Generate the demo data set unless the database already has it. */
  readonly demo?: DemoOptions;
}

export interface Prepared {
  readonly migrated: AppliedStep[];
  readonly seeded: AppliedStep[];
  readonly demo: boolean;
  readonly schemaVersion: string | undefined;
}

/**
 * Brings a database to what this code expects, as `serve` does on every start: pending
 * migrations, then the reference seeds if any seed file is new or changed, then the demo data
 * if asked for and absent. On a warm start this is one query.
 */
export async function prepareDatabase(db: Database, options: PrepareOptions): Promise<Prepared> {
  const { log } = options;
  if (options.migrate === false) {
    const state = await step(log, 'check migrations', () => requireCurrent(db, options.migrationsDir));
    if (seedsPending(await readSeeds(options.seedsDir), state)) {
      log.warn('reference seed files changed or never ran here: run `loconomy seed` as part of the release');
    }
    const demo = options.demo ? await seedDemoOnce(db, options.demo, log) : false;
    return { migrated: [], seeded: [], demo, schemaVersion: schemaVersion(state) };
  }
  const { steps: migrated, state } = await step(log, 'migrate', () => migrate(db, { log, dir: options.migrationsDir }));
  const seeds = await readSeeds(options.seedsDir);
  let seeded: AppliedStep[] = [];
  if (seedsPending(seeds, state)) {
    seeded = await step(log, 'seed reference data', () => seedReference(db, { log, files: seeds }));
  }
  const demo = options.demo ? await seedDemoOnce(db, options.demo, log) : false;
  return { migrated, seeded, demo, schemaVersion: schemaVersion(state) };
}

/**
 * The recorded state when every migration file is applied (one query); otherwise the one-line
 * refusal `serve --no-migrate` gives, naming how far behind the database is and what to run.
 */
async function requireCurrent(db: Database, dir: string | undefined) {
  const files = await readMigrations(dir);
  const state = await readState(db);
  verify(files, state);
  const pending = files.filter((f) => !state?.migrations.has(f.version));
  if (pending.length === 0) return state;
  const at = state ? `at schema version ${schemaVersion(state) ?? 'none'}` : 'never migrated';
  throw new LoconomyError(
    'LOCO_MIGRATION_PENDING',
    `the database is behind this Loconomy: ${pending.length} pending migration${pending.length === 1 ? '' : 's'} (${at}, latest ${files.at(-1)?.version})`,
    'run `loconomy migrate` (the release step), or serve without --no-migrate / LOCONOMY_SERVE_MIGRATE=false to migrate on start',
  );
}
