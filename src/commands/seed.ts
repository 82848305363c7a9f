import cliProgress from 'cli-progress';
import { migrate } from '../db/migrator.js';
import { seed as runSeeds } from '../db/seed.js';
import { step } from '../log.js';
import type { DemoOptions } from '../seed/demo.js';
import { commandContext, withDatabase } from './context.js';
import { DEFAULT_DEMO_LISTINGS } from './options.js';

export interface SeedOptions {
  demo?: boolean;
  listings?: number;
}

/** `loconomy seed [--demo [--listings N]]`: migrate, re-run the reference seeds, and the demo set. */
export async function seed(options: SeedOptions): Promise<void> {
  const ctx = commandContext();
  const demo = demoOptions(options);
  await withDatabase(ctx, async (db) => {
    await step(ctx.log, 'migrate', () => migrate(db, { log: ctx.log }));
    await runSeeds(db, { log: ctx.log, demo });
  });
}

/**
 * The demo options from --demo/--listings, with a progress bar on an interactive terminal.
 * --listings without --demo is refused by the CLI before this runs.
 */
export function demoOptions(options: SeedOptions): DemoOptions | undefined {
  if (!options.demo) return undefined;
  const listings = options.listings ?? DEFAULT_DEMO_LISTINGS;
  if (!process.stderr.isTTY) return { listings };
  const bar = new cliProgress.SingleBar(
    { format: 'demo data [{bar}] {percentage}% {value}/{total}' },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    listings,
    onProgress(done, total) {
      if (!started) {
        bar.start(total, 0);
        started = true;
      }
      bar.setTotal(total);
      bar.update(done);
      if (done >= total) bar.stop();
    },
  };
}
