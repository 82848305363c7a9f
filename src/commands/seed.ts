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
 * The demo options from --demo/--listings, with a progress bar on an interactive terminal
 * (the generator then logs its steps at debug instead of info).
 * --listings without --demo is refused by the CLI before this runs.
 */
export function demoOptions(options: SeedOptions): DemoOptions | undefined {
  if (!options.demo) return undefined;
  const listings = options.listings ?? DEFAULT_DEMO_LISTINGS;
  if (!process.stderr.isTTY) return { listings };
  const bar = new cliProgress.SingleBar(
    { format: 'demo data [{bar}] {percentage}% | {duration_formatted} | {step}', hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  let stopped = false;
  return {
    listings,
    onProgress(done, total, step = '') {
      if (stopped) return;
      const value = Math.round(done);
      const max = Math.max(1, Math.round(total));
      if (!started) {
        bar.start(max, value, { step });
        started = true;
      }
      bar.setTotal(max);
      bar.update(value, { step });
      if (value >= max) {
        bar.stop();
        stopped = true;
      }
    },
  };
}
