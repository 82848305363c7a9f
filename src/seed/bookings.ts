import {
  type Catalog,
  LOCATION_TYPES,
  POLICY_KINDS as POLICY_NAMES,
  PRICING,
  STATUS_ACTIVE,
  STATUS_PAUSED,
} from './catalog.js';
import {
  CANCELLATION_REASONS,
  DECLINE_REASONS,
  DISPUTE_REASONS,
  EXPIRY_REASON,
  EXTRA_HOURS_REASONS,
  NO_SHOW_REASONS,
  OVERRIDE_REASONS,
  PARTIAL_BLOCK_REASONS,
  REFUND_REASONS,
} from './content.js';
import { type Context, roundDiv } from './context.js';
import { json, NULL, point, text } from './copy.js';
import { confirmationCode, uuidFactory } from './ids.js';
import { addressParts, type People, workdays } from './people.js';
import type { Random } from './random.js';
import { bookingMetadata, lastTouchedAt, type Reschedules } from './reschedules.js';
import { clock, DAY, HOUR, iso, isoDate, isoWeekday, localToUtc, MINUTE } from './time.js';

/**
 * Bookings, with the history the state machine would have written. Each provider's bookings
 * fall on distinct local days inside their weekly hours, so no two of a provider's bookings
 * overlap at all (bookings_no_double_booking only forbids it among active ones). Past days
 * hold completed, cancelled, declined, expired, no-show, disputed and refunded bookings;
 * yesterday the odd one still in progress; the coming weeks pending and confirmed ones (and
 * requests already declined, expired or cancelled). Bookings of instant-book listings start
 * confirmed, the others as requests that expire (0021). Money follows app.price_booking: base
 * (hourly rate × hours, or the fixed price) + the tenant's service fee + tax − referral credit,
 * with the platform fee taken from the base; a cancellation refunds what act_on_booking would
 * (the listing's cancellation policy for a customer's cancellation of a confirmed booking,
 * everything otherwise).
 */

export { POLICY_NAMES };

export const BOOKING_STATUSES = [
  'pending',
  'confirmed',
  'in_progress',
  'completed',
  'cancelled',
  'disputed',
  'refunded',
  'declined',
  'expired',
  'no_show',
] as const;
export const PENDING = 0;
export const CONFIRMED = 1;
export const IN_PROGRESS = 2;
export const COMPLETED = 3;
export const CANCELLED = 4;
export const DISPUTED = 5;
export const REFUNDED = 6;
export const DECLINED = 7;
export const EXPIRED = 8;
export const NO_SHOW = 9;

/** Every path a request takes through the state machine (each move is a legal one). */
const REQUEST_PATHS: readonly (readonly number[])[] = [
  [PENDING],
  [PENDING, CONFIRMED],
  [PENDING, CONFIRMED, IN_PROGRESS],
  [PENDING, CONFIRMED, COMPLETED],
  [PENDING, CONFIRMED, IN_PROGRESS, COMPLETED],
  [PENDING, CANCELLED],
  [PENDING, CONFIRMED, CANCELLED],
  [PENDING, CONFIRMED, IN_PROGRESS, DISPUTED],
  [PENDING, CONFIRMED, COMPLETED, DISPUTED],
  [PENDING, CONFIRMED, CANCELLED, REFUNDED],
  [PENDING, CONFIRMED, COMPLETED, REFUNDED],
  [PENDING, CONFIRMED, COMPLETED, DISPUTED, REFUNDED],
  [PENDING, DECLINED],
  [PENDING, EXPIRED],
  [PENDING, CONFIRMED, NO_SHOW],
  [PENDING, CONFIRMED, NO_SHOW, DISPUTED],
];

/**
 * The request paths, then the same paths of instant-book bookings (created confirmed:
 * the request paths that pass through CONFIRMED, without their first step).
 */
export const PATHS: readonly (readonly number[])[] = [
  ...REQUEST_PATHS,
  ...REQUEST_PATHS.filter((p) => p[1] === CONFIRMED).map((p) => p.slice(1)),
];

/** The instant-book path of each request path, or -1 for paths that never confirm. */
const INSTANT_PATH: readonly number[] = REQUEST_PATHS.map((p) =>
  p[1] === CONFIRMED ? PATHS.findIndex((q, n) => n >= REQUEST_PATHS.length && q.join() === p.slice(1).join()) : -1,
);

/** Bookings per listing, on average. */
export const BOOKINGS_PER_LISTING = 0.9;

export interface Bookings {
  readonly count: number;
  readonly id: (booking: number) => string;
  readonly listing: Int32Array;
  /** Provider index (into people.providers) and customer index (into people.customers). */
  readonly provider: Int32Array;
  readonly customer: Int32Array;
  readonly startsAt: Float64Array;
  readonly endsAt: Float64Array;
  /** The start on the provider's wall clock, as ms since 1970-01-01 local (for app.booking_when). */
  readonly localStart: Float64Array;
  readonly createdAt: Float64Array;
  /** When an unanswered request expires (least(created + 24 h, start)), or NaN for instant bookings. */
  readonly expiresAt: Float64Array;
  readonly path: Uint8Array;
  /** The time each move of the path happened: times[b * 4 + j] entered path[j + 1]. */
  readonly times: Float64Array;
  readonly base: Float64Array;
  readonly fee: Float64Array;
  readonly tax: Float64Array;
  /** Referral credit applied (the only discount create_booking gives); set by spendCredit. */
  readonly discount: Float64Array;
  readonly total: Float64Array;
  readonly platform: Float64Array;
  readonly reason: Uint8Array;
  readonly cancelledByProvider: Uint8Array;
  /** Index of the customer's address the service happens at, or -1. */
  readonly address: Int32Array;
  readonly note: Uint8Array;
  readonly overrides: Overrides;
}

export interface Overrides {
  readonly count: number;
  readonly provider: Int32Array;
  readonly day: Int32Array;
  /** 0 blocked all day, 1 blocked for some hours, 2 extra hours. */
  readonly kind: Uint8Array;
  readonly reason: Uint8Array;
}

export function finalStatus(bookings: Bookings, b: number): number {
  const path = PATHS[bookings.path[b] as number] as readonly number[];
  return path[path.length - 1] as number;
}

/** When the booking entered `status` (its last time), or NaN. */
export function enteredAt(bookings: Bookings, b: number, status: number): number {
  const path = PATHS[bookings.path[b] as number] as readonly number[];
  for (let j = path.length - 1; j >= 1; j--) {
    if (path[j] === status) return bookings.times[b * 4 + j - 1] as number;
  }
  return path[0] === status ? (bookings.createdAt[b] as number) : Number.NaN;
}

/** The last time anything happened to the booking. */
export function lastMoveAt(bookings: Bookings, b: number): number {
  const moves = (PATHS[bookings.path[b] as number] as readonly number[]).length - 1;
  return moves === 0 ? (bookings.createdAt[b] as number) : (bookings.times[b * 4 + moves - 1] as number);
}

// Status weights for a day in the past (completed, cancelled, disputed, refunded paths) and
// a day ahead (pending, confirmed, cancelled).
const PAST_PATHS = [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
const PAST_WEIGHTS = [46, 30, 5, 7, 1.5, 1.5, 2, 2, 1, 4, 3, 2.5, 0.5];
const FUTURE_PATHS = [0, 1, 5, 6, 12, 13];
const FUTURE_WEIGHTS = [33, 55, 6, 6, 3, 2];
/** demo_user_000001's own bookings: one in every status (with demo_user_000002 as customer). */
const SHOWCASE: readonly (readonly [path: number, day: number])[] = [
  [0, 3],
  [1, 5],
  [2, -1],
  [3, -10],
  [5, -20],
  [7, -30],
  [10, -40],
  [12, -15],
  [13, -25],
  [14, -35],
];

class Growable {
  data: Float64Array;
  length = 0;
  constructor(capacity: number) {
    this.data = new Float64Array(Math.max(16, capacity));
  }
  push(value: number): void {
    if (this.length === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = value;
  }
  get(): Float64Array {
    return this.data.subarray(0, this.length);
  }
}

export function generateBookings(ctx: Context, people: People, catalog: Catalog): Bookings {
  const random = ctx.random('bookings');
  const P = people.providers.length;
  const estimate = Math.ceil(catalog.count * BOOKINGS_PER_LISTING * 1.2) + 16;
  const cols = {
    listing: new Growable(estimate),
    provider: new Growable(estimate),
    customer: new Growable(estimate),
    startsAt: new Growable(estimate),
    endsAt: new Growable(estimate),
    localStart: new Growable(estimate),
    createdAt: new Growable(estimate),
    path: new Growable(estimate),
    t0: new Growable(estimate),
    t1: new Growable(estimate),
    t2: new Growable(estimate),
    t3: new Growable(estimate),
    reason: new Growable(estimate),
    byProvider: new Growable(estimate),
  };
  const ov = { provider: [] as number[], day: [] as number[], kind: [] as number[], reason: [] as number[] };
  const anyCustomer = people.customers.length;

  for (let k = 0; k < P; k++) {
    const u = people.providers[k] as number;
    const city = ctx.ref.cities[people.city[u] as number] as (typeof ctx.ref.cities)[number];
    const start = catalog.providerStart[k] as number;
    const end = start + (catalog.providerCount[k] as number);
    const bookable: number[] = [];
    const active: number[] = [];
    for (let i = start; i < end; i++) {
      if (catalog.deleted[i]) continue;
      if (catalog.status[i] === STATUS_ACTIVE) active.push(i);
      if (catalog.status[i] === STATUS_ACTIVE || catalog.status[i] === STATUS_PAUSED) bookable.push(i);
    }
    // Requests that never confirm need a listing that takes requests.
    const activeRequests = active.filter((i) => catalog.instantBook[i] === 0);
    const bookableRequests = bookable.filter((i) => catalog.instantBook[i] === 0);
    const days = workdays(people, k);
    const used = new Set<number>();
    const pickDay = (from: number, to: number): number | undefined => {
      for (let attempt = 0; attempt < 40; attempt++) {
        const d = random.int(from, to);
        const local = ctx.anchorDay + d;
        if (!used.has(d) && days.includes(isoWeekday(local))) return d;
      }
      return undefined;
    };
    const plan: [path: number, day: number, customer: number][] = [];
    if (k === 0 && active.length > 0 && anyCustomer > 0) {
      for (const [path, day] of SHOWCASE) {
        let d = day;
        while (used.has(d) || !days.includes(isoWeekday(ctx.anchorDay + d))) d += d > 0 ? 1 : -1;
        if (path === 2) d = -1; // in progress since yesterday, whatever weekday that was
        used.add(d);
        plan.push([path, d, 0]);
      }
    }
    if (bookable.length > 0 && anyCustomer > 0) {
      const wanted = Math.round(bookable.length * BOOKINGS_PER_LISTING * (0.3 + 1.4 * random.next()));
      for (let n = 0; n < wanted; n++) {
        const future = active.length > 0 && random.chance(0.22);
        let path: number;
        let d: number | undefined;
        if (!future && !used.has(-1) && random.chance(0.015)) {
          path = 2;
          d = -1;
        } else if (future) {
          path = FUTURE_PATHS[random.weighted(FUTURE_WEIGHTS)] as number;
          d = pickDay(1, 45);
        } else {
          path = PAST_PATHS[random.weighted(PAST_WEIGHTS)] as number;
          d = pickDay(-200, -2);
        }
        if (d === undefined) continue;
        used.add(d);
        plan.push([path, d, -1]);
      }
    }

    for (const [requestPath, d, fixedCustomer] of plan) {
      const upcoming = d > 0 || requestPath === 2;
      const requestOnly = INSTANT_PATH[requestPath] === -1;
      const pool = requestOnly ? (upcoming ? activeRequests : bookableRequests) : upcoming ? active : bookable;
      if (pool.length === 0) continue;
      const i =
        k === 0 && fixedCustomer === 0 ? ((activeRequests[0] ?? active[0]) as number) : (random.pick(pool) as number);
      const path = catalog.instantBook[i] && !requestOnly ? (INSTANT_PATH[requestPath] as number) : requestPath;
      const inProgress = requestPath === 2;
      const j = fixedCustomer >= 0 ? fixedCustomer : pickCustomer(random, people, people.city[u] as number, upcoming);
      // Length: hourly jobs take one to three blocks of the minimum, fixed ones their duration.
      const window = (people.endMinute[k] as number) - (people.startMinute[k] as number);
      const minimum = catalog.minimumMinutes[i] as number;
      const fixedLength = catalog.durationMinutes[i] as number;
      let minutes =
        catalog.pricing[i] === 0
          ? fixedLength > 0 && random.chance(0.5)
            ? fixedLength
            : minimum * random.int(1, 3)
          : Math.max(fixedLength, minimum);
      minutes = Math.min(minutes, window);
      const slots = Math.floor((window - minutes) / 30);
      const local = ctx.anchorDay + d;
      let startMinute = (people.startMinute[k] as number) + 30 * random.int(0, slots);
      let startsAt = localToUtc(city.timeZone, local, startMinute);
      if (inProgress && startsAt > ctx.anchor - 2 * HOUR) {
        startMinute = people.startMinute[k] as number;
        startsAt = localToUtc(city.timeZone, local, startMinute);
      }
      const endsAt = startsAt + minutes * MINUTE;
      const floor = Math.max(
        (catalog.createdAt[i] as number) + HOUR,
        (people.createdAt[people.customers[j] as number] as number) + HOUR,
      );
      let created =
        d > 0 ? ctx.anchor - HOUR - random.next() * 14 * DAY : startsAt - 2 * HOUR - random.next() * 20 * DAY;
      // A request still pending has not expired yet; an upcoming one that expired was made over a day ago.
      if (requestPath === 0) created = ctx.anchor - (10 + random.int(0, 170)) * MINUTE;
      if (requestPath === 13 && d > 0) created = ctx.anchor - 26 * HOUR - random.next() * 12 * DAY;
      created = Math.max(created, Math.min(floor, startsAt - HOUR));
      const moves = timeline(ctx, random, PATHS[path] as readonly number[], created, startsAt, endsAt);

      cols.listing.push(i);
      cols.provider.push(k);
      cols.customer.push(j);
      cols.startsAt.push(startsAt);
      cols.endsAt.push(endsAt);
      cols.localStart.push(local * DAY + startMinute * MINUTE);
      cols.createdAt.push(created);
      cols.path.push(path);
      cols.t0.push(moves[0] ?? 0);
      cols.t1.push(moves[1] ?? 0);
      cols.t2.push(moves[2] ?? 0);
      cols.t3.push(moves[3] ?? 0);
      cols.reason.push(random.int(0, 255));
      cols.byProvider.push(random.chance(0.4) ? 1 : 0);
    }

    // Overrides for some providers: a day off, a blocked afternoon or extra hours on a free day.
    if (k === 0 || random.chance(0.15)) {
      const n = k === 0 ? 3 : random.int(1, 3);
      for (let o = 0; o < n; o++) {
        const kind = k === 0 ? o : random.weighted([55, 20, 25]);
        let d: number | undefined;
        for (let attempt = 0; attempt < 30 && d === undefined; attempt++) {
          const candidate = random.int(1, 45);
          const works = days.includes(isoWeekday(ctx.anchorDay + candidate));
          if (!used.has(candidate) && (kind === 2 ? !works : works)) d = candidate;
        }
        if (d === undefined) continue;
        used.add(d);
        ov.provider.push(k);
        ov.day.push(ctx.anchorDay + d);
        ov.kind.push(kind);
        ov.reason.push(random.int(0, 255));
      }
    }
  }

  const count = cols.listing.length;
  const times = new Float64Array(count * 4);
  const t = [cols.t0.get(), cols.t1.get(), cols.t2.get(), cols.t3.get()];
  for (let b = 0; b < count; b++) for (let j = 0; j < 4; j++) times[b * 4 + j] = t[j]?.[b] as number;

  const listing = Int32Array.from(cols.listing.get());
  const customer = Int32Array.from(cols.customer.get());
  const pathArray = Uint8Array.from(cols.path.get());
  const startsAt = Float64Array.from(cols.startsAt.get());
  const endsAt = Float64Array.from(cols.endsAt.get());

  // Money, and where the service happens.
  const base = new Float64Array(count);
  const fee = new Float64Array(count);
  const tax = new Float64Array(count);
  const discount = new Float64Array(count);
  const total = new Float64Array(count);
  const platform = new Float64Array(count);
  const address = new Int32Array(count);
  const note = new Uint8Array(count);
  const money = ctx.random('booking-money');
  const { serviceFeeBps, platformFeeBps } = ctx.ref.tenant;
  for (let b = 0; b < count; b++) {
    const i = listing[b] as number;
    const u = people.providers[catalog.provider[i] as number] as number;
    const city = ctx.ref.cities[people.city[u] as number] as (typeof ctx.ref.cities)[number];
    const minutes = Math.round(((endsAt[b] as number) - (startsAt[b] as number)) / MINUTE);
    const amount =
      catalog.pricing[i] === 0 ? roundDiv((catalog.price[i] as number) * minutes, 60) : (catalog.price[i] as number);
    const serviceFee = roundDiv(amount * serviceFeeBps, 10_000);
    const taxes = roundDiv((amount + serviceFee) * city.taxBps, 10_000);
    base[b] = amount;
    fee[b] = serviceFee;
    tax[b] = taxes;
    discount[b] = 0;
    total[b] = amount + serviceFee + taxes;
    platform[b] = roundDiv(amount * platformFeeBps, 10_000);
    const home = people.homeAddress[customer[b] as number] as number;
    address[b] = catalog.locationType[i] !== 1 && home >= 0 && money.chance(0.9) ? home : -1;
    note[b] = money.chance(0.15) ? money.int(1, SPECIAL_REQUESTS.length) : 0;
  }

  const createdAt = Float64Array.from(cols.createdAt.get());
  const expiresAt = new Float64Array(count);
  for (let b = 0; b < count; b++) {
    const first = (PATHS[pathArray[b] as number] as readonly number[])[0];
    expiresAt[b] =
      first === PENDING ? Math.min((createdAt[b] as number) + 24 * HOUR, startsAt[b] as number) : Number.NaN;
  }

  return {
    count,
    id: uuidFactory('bookings'),
    listing,
    provider: Int32Array.from(cols.provider.get()),
    customer,
    startsAt,
    endsAt,
    localStart: Float64Array.from(cols.localStart.get()),
    createdAt,
    expiresAt,
    path: pathArray,
    times,
    base,
    fee,
    tax,
    discount,
    total,
    platform,
    reason: Uint8Array.from(cols.reason.get()),
    cancelledByProvider: Uint8Array.from(cols.byProvider.get()),
    address,
    note,
    overrides: {
      count: ov.provider.length,
      provider: Int32Array.from(ov.provider),
      day: Int32Array.from(ov.day),
      kind: Uint8Array.from(ov.kind),
      reason: Uint8Array.from(ov.reason),
    },
  };
}

/** A customer from the city (active ones for upcoming bookings), else anyone. */
function pickCustomer(random: Random, people: People, city: number, upcoming: boolean): number {
  const local = people.customersByCity[city];
  for (let attempt = 0; attempt < 4; attempt++) {
    const j =
      local && local.length > 0 && random.chance(0.92)
        ? random.pick(local)
        : random.int(0, people.customers.length - 1);
    if (!upcoming || people.status[people.customers[j] as number] === 0) return j;
  }
  return random.int(0, people.customers.length - 1);
}

/** When each move of the path happened: increasing, and never after the demo's "now". */
function timeline(
  ctx: Context,
  random: Random,
  path: readonly number[],
  created: number,
  startsAt: number,
  endsAt: number,
): number[] {
  const latest = ctx.anchor - MINUTE;
  const moves: number[] = [];
  let prev = created;
  for (let j = 1; j < path.length; j++) {
    const to = path[j] as number;
    const from = path[j - 1] as number;
    let at: number;
    switch (to) {
      case CONFIRMED:
      case DECLINED:
        at = prev + Math.min(10 * MINUTE + random.next() * 20 * HOUR, (Math.min(startsAt, latest) - prev) * 0.5);
        break;
      case EXPIRED:
        // expire_pending_bookings() runs every minute.
        at = Math.min(created + 24 * HOUR, startsAt) + random.int(1, 59) * 1000;
        break;
      case NO_SHOW:
        at = startsAt + random.int(15, 90) * MINUTE;
        break;
      case IN_PROGRESS:
        at = startsAt + random.int(0, 10) * MINUTE;
        break;
      case COMPLETED:
        at = endsAt + random.int(from === IN_PROGRESS ? 0 : 5, from === IN_PROGRESS ? 60 : 120) * MINUTE;
        break;
      case CANCELLED:
        at = prev + (Math.min(startsAt, latest) - prev) * (0.1 + 0.8 * random.next());
        break;
      case DISPUTED:
        // Inside the 72-hour dispute window.
        at = prev + HOUR + random.next() * 2 * DAY;
        break;
      default:
        at = prev + DAY + random.next() * 4 * DAY;
    }
    if (at > latest) at = prev + (latest - prev) * 0.5;
    at = Math.max(Math.round(at / 1000) * 1000, prev + 1000);
    moves.push(at);
    prev = at;
  }
  return moves;
}

// ---------------------------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------------------------

const SPECIAL_REQUESTS = [
  'Please call when you arrive.',
  'Street parking only, sorry.',
  'We have a friendly dog.',
  'Ring the second doorbell.',
  'The building has a lift to the 4th floor.',
  'Could you bring shoe covers?',
];

export const BOOKING_COLUMNS = [
  'id',
  'tenant_id',
  'listing_id',
  'provider_id',
  'customer_id',
  'starts_at',
  'ends_at',
  'time_zone',
  'service_title',
  'service_description',
  'special_requests',
  'currency',
  'base_price_cents',
  'service_fee_cents',
  'tax_cents',
  'discount_cents',
  'total_cents',
  'platform_fee_cents',
  'status',
  'confirmation_code',
  'cancellation_reason',
  'cancelled_by',
  'provider_notes',
  'location_type',
  'service_address',
  'service_location',
  'confirmed_at',
  'started_at',
  'completed_at',
  'cancelled_at',
  'disputed_at',
  'refunded_at',
  'created_at',
  'updated_at',
  'cancellation_policy',
  'expires_at',
  'refund_cents',
  'price_breakdown',
  'metadata',
] as const;

/** app.refund_percent: the cancellation_policy_tiers of 0021. */
export function refundPercent(policy: number, hoursBefore: number): number {
  const h = Math.max(hoursBefore, 0);
  if (policy === 0) return h >= 24 ? 100 : 50;
  if (policy === 1) return h >= 120 ? 100 : h >= 24 ? 50 : 0;
  return h >= 168 ? 50 : 0;
}

/**
 * What cancelling refunded, as act_on_booking computes it: the policy's percentage for the
 * customer's cancellation of a confirmed (or started) booking, everything otherwise; NaN when
 * the booking was never cancelled.
 */
export function refundOf(catalog: Catalog, bookings: Bookings, b: number): { cents: number; percent: number } {
  const path = PATHS[bookings.path[b] as number] as readonly number[];
  const j = path.indexOf(CANCELLED);
  if (j < 0) return { cents: Number.NaN, percent: Number.NaN };
  const cancelledAt = j === 0 ? (bookings.createdAt[b] as number) : (bookings.times[b * 4 + j - 1] as number);
  const percent =
    !bookings.cancelledByProvider[b] && path[j - 1] !== PENDING
      ? refundPercent(
          catalog.policy[bookings.listing[b] as number] as number,
          ((bookings.startsAt[b] as number) - cancelledAt) / HOUR,
        )
      : 100;
  return { cents: Math.floor(((bookings.total[b] as number) * percent + 50) / 100), percent };
}

const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** app.booking_when: `Tue 03 Mar 2026 14:30 (Europe/Berlin)`, the start on the provider's clock. */
export function bookingWhen(
  bookings: Bookings,
  b: number,
  timeZone: string,
  local = bookings.localStart[b] as number,
): string {
  const d = new Date(local);
  const dd = d.getUTCDate();
  const minutes = Math.round((local % DAY) / MINUTE);
  return `${WEEKDAYS[isoWeekday(Math.floor(local / DAY)) - 1]} ${dd < 10 ? '0' : ''}${dd} ${
    MONTHS[d.getUTCMonth()]
  } ${d.getUTCFullYear()} ${clock(minutes)} (${timeZone})`;
}

function at(value: number): string {
  return Number.isNaN(value) ? NULL : iso(value);
}

export function* bookingRows(
  ctx: Context,
  people: People,
  catalog: Catalog,
  bookings: Bookings,
  reschedules: Reschedules,
): Generator<string> {
  const tenant = ctx.ref.tenant.id;
  for (let b = 0; b < bookings.count; b++) {
    const i = bookings.listing[b] as number;
    const k = bookings.provider[b] as number;
    const pu = people.providers[k] as number;
    const cu = people.customers[bookings.customer[b] as number] as number;
    const city = ctx.ref.cities[people.city[pu] as number] as (typeof ctx.ref.cities)[number];
    const status = finalStatus(bookings, b);
    const cancelledAt = enteredAt(bookings, b, CANCELLED);
    const cancelled = !Number.isNaN(cancelledAt);
    const a = bookings.address[b] as number;
    let serviceAddress = NULL;
    let serviceLocation = point(catalog.lon[i] as number, catalog.lat[i] as number);
    if (a >= 0) {
      const parts = addressParts(ctx, people, a);
      serviceAddress = json({
        line1: parts.line1,
        line2: null,
        city: parts.city,
        state_province: parts.state,
        postal_code: parts.postal,
        country_code: parts.country,
      });
      serviceLocation = point(people.addresses.lon[a] as number, people.addresses.lat[a] as number);
    } else if (catalog.locationType[i] === 1) {
      serviceLocation = NULL;
    }
    const reason = bookings.reason[b] as number;
    const note = bookings.note[b] as number;
    const description = catalog.descriptions.texts[catalog.descriptionKey[i] as number] as string;
    const refund = refundOf(catalog, bookings, b).cents;
    const minutes = Math.round(((bookings.endsAt[b] as number) - (bookings.startsAt[b] as number)) / MINUTE);
    const kind = catalog.pricing[i] as number;
    const credit = bookings.discount[b] as number;
    // app.price_booking's breakdown, with create_booking's credit.
    const breakdown = `{"currency":"${city.currency}","pricing_type":"${PRICING[kind]}","minutes":${minutes},"unit_price_cents":${
      catalog.price[i]
    },"base_cents":${bookings.base[b]},"service_fee_bps":${ctx.ref.tenant.serviceFeeBps},"service_fee_cents":${
      bookings.fee[b]
    },"tax_rate_bps":${city.taxBps},"tax_cents":${bookings.tax[b]},"discount_cents":${credit},"credit_cents":${credit},"total_cents":${
      bookings.total[b]
    },"platform_fee_bps":${ctx.ref.tenant.platformFeeBps},"platform_fee_cents":${bookings.platform[b]},"provider_payout_cents":${
      (bookings.base[b] as number) - (bookings.platform[b] as number)
    }}`;
    yield `${bookings.id(b)}\t${tenant}\t${catalog.id(i)}\t${people.id(pu)}\t${people.id(cu)}\t${iso(
      bookings.startsAt[b] as number,
    )}\t${iso(bookings.endsAt[b] as number)}\t${city.timeZone}\t${text(
      catalog.titles.texts[catalog.titleKey[i] as number] as string,
    )}\t${text(description.slice(0, 2000))}\t${note > 0 ? text(SPECIAL_REQUESTS[note - 1]) : NULL}\t${city.currency}\t${
      bookings.base[b]
    }\t${bookings.fee[b]}\t${bookings.tax[b]}\t${bookings.discount[b]}\t${bookings.total[b]}\t${bookings.platform[b]}\t${
      BOOKING_STATUSES[status]
    }\t${confirmationCode(b)}\t${cancelled ? text(CANCELLATION_REASONS[reason % CANCELLATION_REASONS.length]) : NULL}\t${
      cancelled ? people.id(bookings.cancelledByProvider[b] ? pu : cu) : NULL
    }\t${status === COMPLETED && reason % 8 === 0 ? 'All done; customer walked through the result.' : NULL}\t${
      LOCATION_TYPES[catalog.locationType[i] as number]
    }\t${serviceAddress}\t${serviceLocation}\t${at(enteredAt(bookings, b, CONFIRMED))}\t${at(
      enteredAt(bookings, b, IN_PROGRESS),
    )}\t${at(enteredAt(bookings, b, COMPLETED))}\t${at(cancelledAt)}\t${at(enteredAt(bookings, b, DISPUTED))}\t${at(
      enteredAt(bookings, b, REFUNDED),
    )}\t${iso(bookings.createdAt[b] as number)}\t${iso(lastTouchedAt(reschedules, b, lastMoveAt(bookings, b)))}\t${
      POLICY_NAMES[catalog.policy[i] as number]
    }\t${at(bookings.expiresAt[b] as number)}\t${Number.isNaN(refund) ? NULL : refund}\t${breakdown}\t${bookingMetadata(
      people,
      bookings,
      reschedules,
      b,
    )}\n`;
  }
}

export const HISTORY_COLUMNS = [
  'id',
  'booking_id',
  'tenant_id',
  'from_status',
  'to_status',
  'changed_by',
  'reason',
  'created_at',
] as const;

/**
 * Who made a move, as app.current_user_id() was when it happened (the first move is the
 * customer's booking), or -1 for the scheduler (expiry).
 */
export function actorOf(people: People, bookings: Bookings, b: number, status: number, first = false): number {
  const pu = people.providers[bookings.provider[b] as number] as number;
  const cu = people.customers[bookings.customer[b] as number] as number;
  if (first) return cu;
  switch (status) {
    case PENDING:
    case DISPUTED:
      return cu;
    case EXPIRED:
      return -1;
    case CANCELLED:
      return bookings.cancelledByProvider[b] ? pu : cu;
    case REFUNDED:
      return people.adminIndex;
    default:
      return pu;
  }
}

export function moveReason(bookings: Bookings, b: number, status: number): string | null {
  const reason = bookings.reason[b] as number;
  if (status === CANCELLED) return CANCELLATION_REASONS[reason % CANCELLATION_REASONS.length] as string;
  if (status === DISPUTED) return DISPUTE_REASONS[reason % DISPUTE_REASONS.length] as string;
  if (status === REFUNDED) return REFUND_REASONS[reason % REFUND_REASONS.length] as string;
  if (status === DECLINED)
    return reason % 4 === 3 ? null : (DECLINE_REASONS[reason % DECLINE_REASONS.length] as string);
  if (status === NO_SHOW)
    return reason % 2 ? null : (NO_SHOW_REASONS[(reason >> 1) % NO_SHOW_REASONS.length] as string);
  if (status === EXPIRED) return EXPIRY_REASON;
  return null;
}

export function* historyRows(ctx: Context, people: People, bookings: Bookings): Generator<string> {
  const tenant = ctx.ref.tenant.id;
  const id = uuidFactory('booking_status_history');
  let row = 0;
  for (let b = 0; b < bookings.count; b++) {
    const path = PATHS[bookings.path[b] as number] as readonly number[];
    const booking = bookings.id(b);
    for (let j = 0; j < path.length; j++) {
      const to = path[j] as number;
      const when = j === 0 ? (bookings.createdAt[b] as number) : (bookings.times[b * 4 + j - 1] as number);
      const actor = actorOf(people, bookings, b, to, j === 0);
      yield `${id(row++)}\t${booking}\t${tenant}\t${j === 0 ? NULL : BOOKING_STATUSES[path[j - 1] as number]}\t${
        BOOKING_STATUSES[to]
      }\t${actor < 0 ? NULL : people.id(actor)}\t${text(j === 0 ? null : moveReason(bookings, b, to))}\t${iso(when)}\n`;
    }
  }
}

export const OVERRIDE_COLUMNS = [
  'id',
  'provider_id',
  'tenant_id',
  'date',
  'kind',
  'start_time',
  'end_time',
  'reason',
  'created_at',
  'updated_at',
] as const;

export function* overrideRows(ctx: Context, people: People, bookings: Bookings): Generator<string> {
  const tenant = ctx.ref.tenant.id;
  const id = uuidFactory('availability_overrides');
  const { overrides } = bookings;
  for (let o = 0; o < overrides.count; o++) {
    const kind = overrides.kind[o] as number;
    const reason = overrides.reason[o] as number;
    const created = iso(ctx.anchor - (1 + (reason % 20)) * DAY);
    const u = people.providers[overrides.provider[o] as number] as number;
    const [type, from, to, why] =
      kind === 0
        ? ['blocked', NULL, NULL, OVERRIDE_REASONS[reason % OVERRIDE_REASONS.length]]
        : kind === 1
          ? ['blocked', clock(12 * 60), clock(14 * 60), PARTIAL_BLOCK_REASONS[reason % PARTIAL_BLOCK_REASONS.length]]
          : ['available', clock(10 * 60), clock(14 * 60), EXTRA_HOURS_REASONS[reason % EXTRA_HOURS_REASONS.length]];
    yield `${id(o)}\t${people.id(u)}\t${tenant}\t${isoDate(overrides.day[o] as number)}\t${type}\t${from}\t${to}\t${text(
      why,
    )}\t${created}\t${created}\n`;
  }
}
