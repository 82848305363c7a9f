import { z } from 'zod';
import { sql } from '../../db/sql.js';
import { defineTask } from '../task.js';
import { asScheduler } from './scheduler.js';

/** Owners of keys about to expire are told once; dead keys' rate-limit windows are dropped. */
export const expireApiKeys = defineTask({
  name: 'api_keys.expire',
  payload: z.object({ notice_days: z.number().int().min(0).max(90).default(7) }).passthrough(),
  run: async ({ notice_days }, { db }) =>
    asScheduler<Record<string, number>>(db, sql`select public.expire_api_keys(${notice_days}) as result`),
});
