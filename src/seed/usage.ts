import { type Catalog, STATUS_ACTIVE } from './catalog.js';
import type { Context } from './context.js';
import { json, NULL, text } from './copy.js';
import { uuidFactory } from './ids.js';
import { type People, ROLE_PROVIDER } from './people.js';
import { DAY, iso, MINUTE } from './time.js';

/**
 * How people used the apps lately (migration 0026), a modest amount: a session for some of the
 * users active in the last two weeks (as start_session records it: documentation-range IP, user
 * agent, device, 30-day expiry; signed out or still open), the analytics events those sessions
 * sent (as track_event stores them), and the listing views of the last day that still count
 * (app.listing_views, one per viewer and listing, as record_listing_view keeps them: signed-in
 * viewers, active listings, never the provider's own).
 */

const AGENTS = [
  ['ios', 'Loconomy/2.3.0 (iPhone; iOS 17.4)'],
  ['android', 'Loconomy/2.3.0 (Android 14; Pixel 8)'],
  [
    'web',
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15',
  ],
  [
    'web',
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36',
  ],
] as const;

export interface Usage {
  readonly sessions: {
    count: number;
    user: Int32Array;
    agent: Uint8Array;
    startedAt: Float64Array;
    lastSeenAt: Float64Array;
    endedAt: Float64Array;
  };
  readonly events: { count: number; session: Int32Array; kind: Uint8Array; listing: Int32Array; at: Float64Array };
  readonly views: { count: number; listing: Int32Array; user: Int32Array; at: Float64Array };
}

/** app.opened, search.performed, listing.viewed, booking.started. */
const EVENT_NAMES = ['app.opened', 'search.performed', 'listing.viewed', 'booking.started'] as const;

export function generateUsage(ctx: Context, people: People, catalog: Catalog): Usage {
  const random = ctx.random('usage');
  const latest = ctx.anchor - MINUTE;
  const s = {
    user: [] as number[],
    agent: [] as number[],
    started: [] as number[],
    seen: [] as number[],
    ended: [] as number[],
  };
  const e = { session: [] as number[], kind: [] as number[], listing: [] as number[], at: [] as number[] };
  const v = { listing: [] as number[], user: [] as number[], at: [] as number[] };
  const counted = new Set<string>();
  const ownerOf = (i: number) => people.providers[catalog.provider[i] as number] as number;
  const viewable = (i: number, u: number) =>
    catalog.status[i] === STATUS_ACTIVE && !catalog.deleted[i] && ownerOf(i) !== u;
  for (let u = 0; u < people.adminIndex; u++) {
    const seen = people.lastActiveAt[u] as number;
    if (people.status[u] !== 0 || seen < ctx.anchor - 14 * DAY || !random.chance(u < 2 ? 1 : 0.15)) continue;
    const session = s.user.length;
    const started = Math.round((seen - random.int(5, 120) * MINUTE) / 1000) * 1000;
    const lastSeen = Math.min(Math.round(seen / 1000) * 1000, latest);
    s.user.push(u);
    s.agent.push(random.int(0, AGENTS.length - 1));
    s.started.push(started);
    s.seen.push(lastSeen);
    const signedOut = lastSeen + random.int(1, 10) * MINUTE;
    s.ended.push(random.chance(0.4) && signedOut < latest ? signedOut : Number.NaN);
    // What the session sent: it opens, then searches and looks at listings, now and then starts to book.
    const n = random.int(2, 4);
    for (let k = 0; k < n; k++) {
      const kind = k === 0 ? 0 : random.weighted([0, 3, 5, 1]);
      const at = started + ((lastSeen - started) * k) / n;
      let listing = -1;
      if (kind >= 2) {
        const i = random.int(0, catalog.count - 1);
        if (!viewable(i, u)) continue;
        listing = i;
        const key = `${i}:${u}`;
        if (kind === 2 && at > ctx.anchor - DAY && !counted.has(key)) {
          counted.add(key);
          v.listing.push(i);
          v.user.push(u);
          v.at.push(Math.round(at / 1000) * 1000);
        }
      }
      e.session.push(session);
      e.kind.push(kind);
      e.listing.push(listing);
      e.at.push(Math.round(at / 1000) * 1000);
    }
  }
  return {
    sessions: {
      count: s.user.length,
      user: Int32Array.from(s.user),
      agent: Uint8Array.from(s.agent),
      startedAt: Float64Array.from(s.started),
      lastSeenAt: Float64Array.from(s.seen),
      endedAt: Float64Array.from(s.ended),
    },
    events: {
      count: e.session.length,
      session: Int32Array.from(e.session),
      kind: Uint8Array.from(e.kind),
      listing: Int32Array.from(e.listing),
      at: Float64Array.from(e.at),
    },
    views: {
      count: v.listing.length,
      listing: Int32Array.from(v.listing),
      user: Int32Array.from(v.user),
      at: Float64Array.from(v.at),
    },
  };
}

const ip = (session: number) => `203.0.113.${(session % 254) + 1}`;

export const SESSION_COLUMNS = [
  'id',
  'user_id',
  'tenant_id',
  'clerk_session_id',
  'ip_address',
  'user_agent',
  'device_info',
  'started_at',
  'last_seen_at',
  'expires_at',
  'ended_at',
] as const;

export function* sessionRows(ctx: Context, people: People, usage: Usage): Generator<string> {
  const tenant = ctx.ref.tenant.id;
  const id = uuidFactory('user_sessions');
  const { sessions } = usage;
  for (let n = 0; n < sessions.count; n++) {
    const [platform, agent] = AGENTS[sessions.agent[n] as number] as (typeof AGENTS)[number];
    const started = sessions.startedAt[n] as number;
    const ended = sessions.endedAt[n] as number;
    yield `${id(n)}\t${people.id(sessions.user[n] as number)}\t${tenant}\tsess_demo${n.toString(36)}\t${ip(n)}\t${agent}\t${json(
      {
        platform,
        app_version: platform === 'web' ? null : '2.3.0',
      },
    )}\t${iso(started)}\t${iso(sessions.lastSeenAt[n] as number)}\t${iso(started + 30 * DAY)}\t${
      Number.isNaN(ended) ? NULL : iso(ended)
    }\n`;
  }
}

export const EVENT_COLUMNS = [
  'id',
  'created_at',
  'tenant_id',
  'user_id',
  'session_id',
  'event_name',
  'event_category',
  'page_url',
  'user_agent',
  'ip_address',
  'properties',
] as const;

export function* eventRows(ctx: Context, people: People, catalog: Catalog, usage: Usage): Generator<string> {
  const tenant = ctx.ref.tenant.id;
  const id = uuidFactory('events');
  const sessionId = uuidFactory('user_sessions');
  const { sessions, events } = usage;
  for (let n = 0; n < events.count; n++) {
    const s = events.session[n] as number;
    const kind = events.kind[n] as number;
    const i = events.listing[n] as number;
    const listing = i >= 0 ? catalog.id(i) : null;
    const [page, properties] =
      kind === 0
        ? ['/', {}]
        : kind === 1
          ? ['/search', { results: 20 }]
          : kind === 2
            ? [`/listings/${listing}`, { listing_id: listing }]
            : [`/listings/${listing}/book`, { listing_id: listing }];
    yield `${id(n)}\t${iso(events.at[n] as number)}\t${tenant}\t${people.id(sessions.user[s] as number)}\t${sessionId(s)}\t${
      EVENT_NAMES[kind]
    }\t${EVENT_NAMES[kind]?.split('.')[0]}\t${page}\t${(AGENTS[sessions.agent[s] as number] as (typeof AGENTS)[number])[1]}\t${ip(
      s,
    )}\t${json(properties)}\n`;
  }
}

export const VIEW_COLUMNS = ['listing_id', 'viewer', 'counted_at'] as const;

export function* viewRows(people: People, catalog: Catalog, usage: Usage): Generator<string> {
  const { views } = usage;
  for (let n = 0; n < views.count; n++) {
    yield `${catalog.id(views.listing[n] as number)}\tuser:${people.id(views.user[n] as number)}\t${iso(views.at[n] as number)}\n`;
  }
}

/** A boolean feature flag users can be given an override of. */
export interface Flag {
  readonly id: string;
  readonly key: string;
}

export const FLAG_OVERRIDE_COLUMNS = [
  'id',
  'user_id',
  'flag_id',
  'tenant_id',
  'value',
  'set_by',
  'reason',
  'expires_at',
  'created_at',
  'updated_at',
] as const;

/**
 * Feature flag overrides (0025) for a few users, as an operator (the demo admin) sets them:
 * beta testers with a flag forced on (a quarter of them until a date, some of those passed),
 * a few opted out of the typo-tolerant search; demo_user_000001 is on the new payouts, for good.
 * provider-payouts-v2 targets providers, so only providers get it.
 */
export function* flagOverrideRows(ctx: Context, people: People, flags: readonly Flag[]): Generator<string> {
  const random = ctx.random('flag-overrides');
  const tenant = ctx.ref.tenant.id;
  const id = uuidFactory('user_feature_flags');
  const admin = people.id(people.adminIndex);
  let row = 0;
  for (let u = 0; u < people.adminIndex; u++) {
    for (const flag of flags) {
      const payouts = flag.key === 'provider-payouts-v2';
      if (payouts && people.role[u] !== ROLE_PROVIDER) continue;
      const forced = u === 0 && payouts;
      if (!forced && !random.chance(0.015)) continue;
      const optOut = flag.key === 'search.typo-tolerant';
      const set = ctx.anchor - random.int(1, 60) * DAY;
      const expires = !forced && random.chance(0.25) ? ctx.anchor + random.int(-20, 60) * DAY : Number.NaN;
      yield `${id(row++)}\t${people.id(u)}\t${flag.id}\t${tenant}\t${optOut ? 'false' : 'true'}\t${admin}\t${text(
        optOut ? 'Asked to opt out of fuzzy matching' : 'Beta tester',
      )}\t${Number.isNaN(expires) ? NULL : iso(expires)}\t${iso(set)}\t${iso(set)}\n`;
    }
  }
}
