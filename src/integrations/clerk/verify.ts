import { verifyWebhook } from '@clerk/backend/webhooks';
import { Webhook } from 'standardwebhooks';
import { z } from 'zod';
import { ApiError, LoconomyError, oneLine } from '../../errors.js';

/**
 * Clerk delivers webhooks through Svix: `svix-id`, `svix-timestamp` and `svix-signature` headers,
 * an HMAC-SHA256 over `<id>.<timestamp>.<body>` with the endpoint's `whsec_…` secret, and a
 * timestamp that must be within 5 minutes of our clock (replay protection). Verification is
 * Clerk's own `verifyWebhook` (which runs the `standardwebhooks` verifier) on the body exactly as
 * it arrived; nothing here is hand-written crypto.
 */

/** What Loconomy reads of every Clerk event; the data is checked further by the SQL that applies it. */
const ClerkEvent = z.object({
  // organizationMembership.created: Clerk's resource names are camelCase.
  type: z.string().regex(/^[a-z][A-Za-z_]*(\.[a-z_]+)+$/, 'type must look like user.created'),
  data: z.record(z.string(), z.unknown()),
});

export interface VerifiedEvent {
  /** svix-id: the same for every delivery attempt of one event, so it is the idempotency key. */
  readonly id: string;
  readonly type: string;
  /** The whole event as Clerk sent it. */
  readonly event: Readonly<Record<string, unknown>>;
}

/** Fails at start-up, not at the first webhook, when the secret cannot be a Svix secret. */
export function checkWebhookSecret(secret: string): void {
  try {
    new Webhook(secret);
  } catch (error) {
    throw new LoconomyError(
      'LOCO_CONFIG_INVALID',
      `CLERK_WEBHOOK_SECRET is not a webhook signing secret (${oneLine(error)})`,
      'paste the Signing Secret (whsec_…) of the endpoint from the Clerk dashboard (Webhooks)',
    );
  }
}

const invalid = (message: string, hint: string) => new ApiError('LOCO_WEBHOOK_INVALID', { message, hint });

/** The verified event; a 400 LOCO_WEBHOOK_INVALID when forged, stale, unsigned or not a Clerk event. */
export async function verifyClerkWebhook(
  secret: string,
  headers: Readonly<Record<string, string | string[] | undefined>>,
  body: Buffer,
): Promise<VerifiedEvent> {
  const forwarded = new Headers();
  for (const name of ['svix-id', 'svix-timestamp', 'svix-signature']) {
    const value = headers[name];
    if (typeof value === 'string') forwarded.set(name, value);
  }
  const request = new Request('http://localhost/webhooks/clerk', { method: 'POST', headers: forwarded, body });
  let verified: { type: string; data: unknown };
  try {
    verified = await verifyWebhook(request, { signingSecret: secret });
  } catch (error) {
    // Clerk's messages: "Missing required webhook headers: svix-id", "Unable to verify incoming
    // webhook: No matching signature found" / "Message timestamp too old" / "…too new".
    const message = oneLine(error)
      .replace(/^🔒 Clerk: /u, '')
      .replace(/\s*\(.*more info.*\)$/i, '');
    throw invalid(
      message,
      'Only Clerk can call this endpoint: check that CLERK_WEBHOOK_SECRET is the Signing Secret of this endpoint and that the server clock is right (signatures older than 5 minutes are refused).',
    );
  }
  // The signature covered the body, so this is Clerk's; a shape we cannot read is still refused.
  const parsed = ClerkEvent.safeParse(verified);
  if (!parsed.success) {
    throw invalid(
      `The event is not a Clerk event: ${parsed.error.issues[0]?.message ?? 'unexpected shape'}`,
      'Clerk sends {type, data, object: "event"}',
    );
  }
  const problem = dataProblem(parsed.data.type, parsed.data.data);
  if (problem !== undefined)
    throw invalid(
      `The ${parsed.data.type} event ${problem}`,
      'Clerk sends the user, session, organization or membership object as data',
    );
  const id = (headers['svix-id'] as string).trim();
  if (!/^[A-Za-z0-9_.:-]{1,255}$/.test(id)) {
    throw invalid('The svix-id header is not an event id', 'Svix ids look like msg_2abc…');
  }
  return { id, type: parsed.data.type, event: JSON.parse(body.toString('utf8')) as Record<string, unknown> };
}

const CLERK_ID = /^[A-Za-z0-9_-]{1,255}$/;

/** What the events Loconomy applies need in data (the rest is read, leniently, in SQL). */
function dataProblem(type: string, data: Record<string, unknown>): string | undefined {
  const isId = (value: unknown) => typeof value === 'string' && CLERK_ID.test(value);
  if (type.startsWith('user.') && !isId(data.id)) return 'has no data.id (the Clerk user id)';
  if (type.startsWith('session.') && !(isId(data.id) && isId(data.user_id))) {
    return 'needs data.id (the session id) and data.user_id';
  }
  if (type.startsWith('organization.') && !isId(data.id)) return 'has no data.id (the Clerk organization id)';
  if (type.startsWith('organizationMembership.')) {
    const organization = data.organization as Record<string, unknown> | null | undefined;
    const member = data.public_user_data as Record<string, unknown> | null | undefined;
    if (!(isId(organization?.id) && isId(member?.user_id))) {
      return 'needs data.organization.id and data.public_user_data.user_id';
    }
  }
  return undefined;
}
