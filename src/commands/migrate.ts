import { migrate as runMigrations, schemaVersion } from '../db/migrator.js';
import { step } from '../log.js';
import { commandContext, withDatabase } from './context.js';

/** `loconomy migrate`: apply pending migrations and say what was done. */
export async function migrate(): Promise<void> {
  const ctx = commandContext();
  await withDatabase(ctx, async (db) => {
    const { steps, state } = await step(ctx.log, 'migrate', () => runMigrations(db, { log: ctx.log }));
    const version = schemaVersion(state) ?? 'none';
    ctx.log.info(
      { applied: steps.map((s) => s.name), schema_version: version },
      steps.length === 0
        ? `schema is up to date (version ${version})`
        : `applied ${steps.length} migration(s); schema version ${version}`,
    );
  });
}
