import type { z } from 'zod';
import { StorageError } from './errors.js';

/** A request's body or query through its zod schema; the first problem as a 400. */
export function parseBody<T extends z.ZodType>(schema: T, value: unknown, what: 'body' | 'query'): z.output<T> {
  const parsed = schema.safeParse(value ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join('.') || what;
    throw new StorageError('InvalidRequest', `The ${what} is not valid: ${field} ${issue?.message ?? 'is invalid'}`);
  }
  return parsed.data;
}
