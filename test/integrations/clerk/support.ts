import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { Webhook } from 'standardwebhooks';
import type { TestServer } from '../../helpers/index.js';

/* Clerk as the tests see it: svix-signed webhook deliveries and RS256 session tokens. */

/** A Svix signing secret as Clerk shows it: whsec_ and base64 of random bytes. */
export const WEBHOOK_SECRET = `whsec_${Buffer.from('loconomy-clerk-webhook-test-secret!').toString('base64')}`;

let deliveries = 0;

export interface Delivery {
  /** svix-id (default: a new one per call); the same id is the same event redelivered. */
  readonly id?: string;
  /** svix-timestamp (default: now). */
  readonly at?: Date;
  readonly secret?: string;
  /** Sent instead of JSON.stringify(event), signed unless `tamper` changes it afterwards. */
  readonly body?: string;
  readonly tamper?: (body: string) => string;
  readonly headers?: Record<string, string>;
}

export interface Answer {
  readonly status: number;
  // biome-ignore lint/suspicious/noExplicitAny: a test reads whatever JSON came back
  readonly json: any;
}

export function newEventId(): string {
  deliveries += 1;
  return `msg_${process.pid}_${deliveries}_${Math.random().toString(36).slice(2, 10)}`;
}

/** POSTs one Clerk event to /webhooks/clerk, signed as Svix signs it. */
export async function deliver(server: TestServer, event: object, delivery: Delivery = {}): Promise<Answer> {
  const id = delivery.id ?? newEventId();
  const at = delivery.at ?? new Date();
  const body = delivery.body ?? JSON.stringify(event);
  const signature = new Webhook(delivery.secret ?? WEBHOOK_SECRET).sign(id, at, body);
  const response = await fetch(`${server.url}/webhooks/clerk`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'svix-id': id,
      'svix-timestamp': String(Math.floor(at.getTime() / 1000)),
      'svix-signature': signature,
      ...delivery.headers,
    },
    body: delivery.tamper ? delivery.tamper(body) : body,
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : undefined };
}

export interface UserFields {
  readonly email?: string | null;
  readonly verified?: boolean;
  readonly phone?: string | null;
  readonly first?: string | null;
  readonly last?: string | null;
  readonly image?: string | null;
  readonly metadata?: Record<string, unknown>;
  /** Clerk's updated_at, milliseconds. */
  readonly updatedAt: number;
}

/** A Clerk user object as user.created / user.updated carry it. */
export function clerkUser(id: string, fields: UserFields) {
  return {
    id,
    object: 'user',
    first_name: fields.first ?? null,
    last_name: fields.last ?? null,
    image_url: fields.image ?? 'https://img.clerk.com/default.png',
    has_image: fields.image !== undefined,
    primary_email_address_id: fields.email ? 'idn_email' : null,
    email_addresses: fields.email
      ? [
          { id: 'idn_other', object: 'email_address', email_address: 'old@example.org', verification: null },
          {
            id: 'idn_email',
            object: 'email_address',
            email_address: fields.email,
            verification: { status: fields.verified === false ? 'unverified' : 'verified', strategy: 'email_code' },
          },
        ]
      : [],
    primary_phone_number_id: fields.phone ? 'idn_phone' : null,
    phone_numbers: fields.phone
      ? [
          {
            id: 'idn_phone',
            object: 'phone_number',
            phone_number: fields.phone,
            verification: { status: 'verified', strategy: 'phone_code' },
          },
        ]
      : [],
    public_metadata: fields.metadata ?? {},
    private_metadata: {},
    unsafe_metadata: { role: 'admin' },
    external_id: null,
    banned: false,
    locked: false,
    created_at: 1_700_000_000_000,
    updated_at: fields.updatedAt,
    last_sign_in_at: null,
  };
}

export function userEvent(type: 'user.created' | 'user.updated', id: string, fields: UserFields) {
  return {
    data: clerkUser(id, fields),
    event_attributes: { http_request: { client_ip: '192.0.2.1', user_agent: 'test' } },
    instance_id: 'ins_test',
    object: 'event',
    timestamp: fields.updatedAt,
    type,
  };
}

export function userDeleted(id: string) {
  return {
    data: { deleted: true, id, object: 'user' },
    instance_id: 'ins_test',
    object: 'event',
    timestamp: Date.now(),
    type: 'user.deleted',
  };
}

export function sessionEvent(
  type: 'session.created' | 'session.ended',
  id: string,
  userId: string,
  times: { created: number; updated: number },
) {
  return {
    data: {
      id,
      object: 'session',
      user_id: userId,
      client_id: 'client_test',
      status: type === 'session.created' ? 'active' : 'ended',
      created_at: times.created,
      updated_at: times.updated,
      last_active_at: times.updated,
      expire_at: times.created + 7 * 86_400_000,
      abandon_at: times.created + 30 * 86_400_000,
    },
    instance_id: 'ins_test',
    object: 'event',
    timestamp: times.updated,
    type,
  };
}

/** Clerk's session-token signing key, and tokens as Clerk issues them. */
export async function clerkSigner() {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  return {
    pem: await exportSPKI(publicKey),
    token: (sub: string, claims: Record<string, unknown> = {}) =>
      new SignJWT({ sid: `sess_${sub}`, azp: 'http://localhost:3000', ...claims })
        .setProtectedHeader({ alg: 'RS256', kid: 'ins_key' })
        .setSubject(sub)
        .setIssuer('https://clerk.example.test')
        .setIssuedAt()
        .setExpirationTime('60s')
        .sign(privateKey),
  };
}

/** A Clerk organization object as organization.* and organizationMembership.* carry it. */
export function clerkOrganization(id: string, fields: { name: string; slug: string | null; updatedAt: number }) {
  return {
    id,
    object: 'organization',
    name: fields.name,
    slug: fields.slug,
    image_url: 'https://img.clerk.com/org.png',
    has_image: false,
    members_count: 1,
    max_allowed_memberships: 5,
    admin_delete_enabled: true,
    public_metadata: {},
    created_by: 'user_creator',
    created_at: 1_700_000_000_000,
    updated_at: fields.updatedAt,
  };
}

export function organizationEvent(
  type: 'organization.created' | 'organization.updated',
  id: string,
  fields: { name: string; slug: string | null; updatedAt: number },
) {
  return {
    data: clerkOrganization(id, fields),
    instance_id: 'ins_test',
    object: 'event',
    timestamp: fields.updatedAt,
    type,
  };
}

export function organizationDeleted(id: string) {
  return {
    data: { deleted: true, id, object: 'organization' },
    instance_id: 'ins_test',
    object: 'event',
    timestamp: Date.now(),
    type: 'organization.deleted',
  };
}

export interface MembershipFields {
  readonly organization: { id: string; name: string; slug: string | null; updatedAt: number };
  readonly userId: string;
  readonly role: string;
  readonly email?: string;
  /** Clerk's updated_at of the membership, milliseconds. */
  readonly updatedAt: number;
}

export function membershipEvent(
  type: 'organizationMembership.created' | 'organizationMembership.updated' | 'organizationMembership.deleted',
  fields: MembershipFields,
) {
  return {
    data: {
      id: `orgmem_${fields.organization.id}_${fields.userId}`,
      object: 'organization_membership',
      role: fields.role,
      role_name: fields.role === 'org:admin' ? 'Admin' : 'Member',
      permissions: [],
      public_metadata: {},
      organization: clerkOrganization(fields.organization.id, fields.organization),
      public_user_data: {
        user_id: fields.userId,
        identifier: fields.email ?? `${fields.userId}@example.com`,
        first_name: 'Mem',
        last_name: 'Ber',
        image_url: 'https://img.clerk.com/member.png',
        has_image: false,
      },
      created_at: 1_700_000_000_000,
      updated_at: fields.updatedAt,
    },
    instance_id: 'ins_test',
    object: 'event',
    timestamp: fields.updatedAt,
    type,
  };
}
