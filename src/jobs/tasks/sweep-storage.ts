import { z } from 'zod';
import { loadConfig } from '../../config.js';
import { createBackend } from '../../storage/backend/index.js';
import { sweepStorage } from '../../storage/sweep.js';
import { defineTask } from '../task.js';

/**
 * Storage's orphan sweeper (decision 0026): finishes uploads cut off between commit and rename
 * and removes bytes no object row names, older than the grace period. The backend comes from
 * the process's settings, as every process reads them.
 */
export const sweepStorageTask = defineTask({
  name: 'storage.sweep',
  payload: z.object({ grace_minutes: z.number().int().min(1).max(10_080).default(60) }).passthrough(),
  run: async ({ grace_minutes }, { db, log }) =>
    sweepStorage(db, createBackend(loadConfig(process.env).storage), grace_minutes * 60_000, log),
});
