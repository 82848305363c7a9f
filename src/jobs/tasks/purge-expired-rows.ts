import { z } from 'zod';
import { sql } from '../../db/sql.js';
import { defineTask } from '../task.js';
import { asScheduler } from './scheduler.js';

/** Most batches one run deletes per table, so a long backlog is spread over several runs. */
const MAX_ROUNDS = 100;

/**
 * Deletes what has outlived decision 0006's retention, a batch per table per round, each round
 * its own transaction; rounds go on while some table filled its batch.
 */
export const purgeExpiredRows = defineTask({
  name: 'retention.purge',
  payload: z.object({ batch_size: z.number().int().min(1).max(1_000_000).default(10_000) }).passthrough(),
  run: async ({ batch_size }, { db }) => {
    const total: Record<string, number> = {};
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const counts = await asScheduler<Record<string, number>>(
        db,
        sql`select public.purge_expired_rows(${batch_size}) as result`,
      );
      for (const [table, n] of Object.entries(counts)) total[table] = (total[table] ?? 0) + n;
      if (!Object.values(counts).some((n) => n >= batch_size)) break;
    }
    return total;
  },
});
