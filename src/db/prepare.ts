import type { Logger } from '../log.js';
import { step } from '../log.js';
import type { DemoOptions } from '../seed/demo.js';
import type { Database } from './database.js';
import { type AppliedStep, migrate, schemaVersion } from './migrator.js';
import { readSeeds, seedDemoOnce, seedReference, seedsPending } from './seed.js';

export interface PrepareOptions {
  readonly log: Logger;
  readonly migrationsDir?: string;
  readonly seedsDir?: string;
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
  const { steps: migrated, state } = await step(log, 'migrate', () => migrate(db, { log, dir: options.migrationsDir }));
  const seeds = await readSeeds(options.seedsDir);
  let seeded: AppliedStep[] = [];
  if (seedsPending(seeds, state)) {
    seeded = await step(log, 'seed reference data', () => seedReference(db, { log, files: seeds }));
  }
  const demo = options.demo ? await seedDemoOnce(db, options.demo, log) : false;
  return { migrated, seeded, demo, schemaVersion: schemaVersion(state) };
}
