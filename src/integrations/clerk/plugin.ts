import type { FastifyPluginAsync } from 'fastify';
import type { ClerkSyncFlag } from '../../config.js';
import type { Database } from '../../db/database.js';
import { ApiError } from '../../errors.js';
import { useOwnBody } from '../../http/own-body.js';
import type { Logger } from '../../log.js';
import type { ClerkAccounts } from './accounts.js';
import { applyClerkEvent } from './apply.js';
import { checkWebhookSecret, verifyClerkWebhook } from './verify.js';

/** Clerk's events are a few KiB; anything much larger is not one. */
export const CLERK_WEBHOOK_BODY_LIMIT = 1024 * 1024;

export interface ClerkWebhookOptions {
  readonly db: Database;
  /** CLERK_WEBHOOK_SECRET; unset: the route answers 503 so Clerk keeps the events and retries. */
  readonly secret: string | undefined;
  readonly trusted: readonly ClerkSyncFlag[];
  readonly accounts: ClerkAccounts;
  readonly log: Logger;
}

/**
 * POST /webhooks/clerk (decision 0021): verify the svix signature over the raw body, then record
 * and apply the event in one transaction. 200 `{received, outcome, reason?}` for applied, ignored
 * and duplicate events; 400 LOCO_WEBHOOK_INVALID (nothing written) for forged, stale or malformed
 * ones; 503 LOCO_WEBHOOK_UNCONFIGURED without a secret; 500 when applying failed (recorded in
 * inbound_webhook_events.last_error; Clerk retries).
 */
export const clerkWebhookPlugin: FastifyPluginAsync<ClerkWebhookOptions> = async (app, options) => {
  const { db, secret, trusted, accounts, log } = options;
  if (secret !== undefined) checkWebhookSecret(secret);

  // This plugin's own context: the body stays the bytes that were signed, whatever its type.
  useOwnBody(app, {
    parseAs: 'buffer',
    bodyLimit: CLERK_WEBHOOK_BODY_LIMIT,
    what: 'A Clerk webhook body',
    log,
    failureLog: 'a Clerk webhook could not be applied',
    failure: () =>
      new ApiError('LOCO_INTERNAL', {
        message: 'The Clerk event could not be applied',
        hint: 'The failure is recorded in inbound_webhook_events.last_error; Clerk retries the delivery.',
      }),
  });

  app.post('/webhooks/clerk', async (request) => {
    if (secret === undefined) {
      throw new ApiError('LOCO_WEBHOOK_UNCONFIGURED', {
        message: 'Clerk webhooks are not configured on this server',
        hint: 'Set CLERK_WEBHOOK_SECRET to the Signing Secret of this endpoint in the Clerk dashboard (docs/auth.md).',
      });
    }
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const verified = await verifyClerkWebhook(secret, request.headers, body);
    const applied = await applyClerkEvent(db, verified, trusted);
    if (verified.type === 'user.deleted') accounts.forget(String((verified.event.data as { id?: unknown }).id));
    request.log.info({ svixId: verified.id, type: verified.type, ...applied }, 'Clerk webhook');
    return { received: true, ...applied };
  });
};
