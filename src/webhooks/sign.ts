import { Webhook } from 'standardwebhooks';

export interface SigningSecrets {
  readonly secret: string;
  /** Still signs while the rotation grace period lasts. */
  readonly previousSecret: string | null;
  readonly rotatedAt: Date | null;
}

/**
 * The Standard Webhooks headers for one attempt: webhook-id (the event's message id, the same
 * on every retry and replay), webhook-timestamp (now: receivers reject stale ones) and
 * webhook-signature, with one `v1,` signature per valid secret, space-separated, so a receiver
 * holding either the new or the old secret verifies during a rotation.
 */
export function signatureHeaders(
  messageId: string,
  body: string,
  secrets: SigningSecrets,
  graceHours: number,
  now = new Date(),
): Record<string, string> {
  const keys = [secrets.secret];
  if (
    secrets.previousSecret &&
    secrets.rotatedAt &&
    now.getTime() < secrets.rotatedAt.getTime() + graceHours * 3_600_000
  )
    keys.push(secrets.previousSecret);
  return {
    'webhook-id': messageId,
    'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
    'webhook-signature': keys.map((key) => new Webhook(key).sign(messageId, now, body)).join(' '),
  };
}
