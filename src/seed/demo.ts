import type { Database } from '../db/database.js';
import { LoconomyError } from '../errors.js';

/**
 * The demo data generator: a believable marketplace (tenants, providers, listings around a
 * city, availability, bookings, reviews) for `loconomy seed --demo --listings N` and
 * `loconomy serve --demo`. The CLI validates `listings`, shows progress from `onProgress`,
 * and records completion (src/db/seed.ts markDemoData), so this function only writes data.
 *
 * Contract for the implementation:
 * - runs after the migrations and the reference seeds;
 * - bulk-loads with db.copyFrom, in as few transactions as is safe;
 * - calls onProgress(done, total) as rows land (total may be an estimate);
 * - is deterministic for a given `listings` (a seeded PRNG), so test runs are reproducible.
 */
export interface DemoOptions {
  readonly listings: number;
  readonly onProgress?: (done: number, total: number) => void;
}

export async function seedDemo(_db: Database, _options: DemoOptions): Promise<void> {
  throw new LoconomyError(
    'LOCO_NOT_IMPLEMENTED',
    'the demo data generator is not implemented yet',
    'run without --demo for now',
  );
}
