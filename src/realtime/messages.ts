import { z } from 'zod';

/**
 * A validator per client message (as Realtime has), so handlers take typed values. Booleans
 * are also accepted as "true"/"false", as Realtime's FlexibleBoolean does; unknown keys are
 * ignored.
 */

const flexibleBoolean = z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]);

export const joinPayload = z.object({
  config: z
    .object({
      broadcast: z.object({ self: flexibleBoolean.optional(), ack: flexibleBoolean.optional() }).nullish(),
      presence: z
        .object({
          key: z.union([z.string(), z.number()]).optional(),
          enabled: flexibleBoolean.optional(),
        })
        .nullish(),
      postgres_changes: z.array(z.unknown()).nullish(),
      private: flexibleBoolean.optional(),
    })
    .nullish(),
  access_token: z.string().nullish(),
});
export type JoinPayload = z.output<typeof joinPayload>;

export const broadcastPayload = z.object({ event: z.string(), payload: z.unknown() });

export const presencePayload = z.discriminatedUnion('event', [
  z.object({ event: z.literal('track'), payload: z.unknown() }),
  z.object({ event: z.literal('untrack') }),
]);

export const accessTokenPayload = z.object({ access_token: z.string().nullish() });

/** POST /realtime/v1/api/broadcast: the batch realtime-js's send() falls back to. */
export const broadcastBatch = z.object({
  messages: z
    .array(
      z.object({
        topic: z.string().min(1, 'topic must not be empty'),
        event: z.string().min(1, 'event must not be empty'),
        payload: z.unknown(),
        private: flexibleBoolean.optional(),
      }),
    )
    .min(1, 'messages must not be empty'),
});

/** The first problem zod found, as one line for an error reply. */
export function problem(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'invalid message';
  return issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message;
}
