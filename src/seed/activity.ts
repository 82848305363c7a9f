import {
  actorOf,
  BOOKING_STATUSES,
  type Bookings,
  bookingWhen,
  CANCELLED,
  COMPLETED,
  CONFIRMED,
  DECLINED,
  DISPUTED,
  EXPIRED,
  enteredAt,
  finalStatus,
  IN_PROGRESS,
  moveReason,
  NO_SHOW,
  PATHS,
  PENDING,
  REFUNDED,
} from './bookings.js';
import { type Catalog, listingService } from './catalog.js';
import { fill, LANGUAGES, type Language, MESSAGES, REVIEWS } from './content.js';
import type { Context } from './context.js';
import { bool, NULL, text } from './copy.js';
import { uuidFactory } from './ids.js';
import { displayName, firstName, type People } from './people.js';
import { Random } from './random.js';
import { type Reschedules, rescheduleLine } from './reschedules.js';
import { DAY, HOUR, iso, MINUTE } from './time.js';

/**
 * What people do around bookings: two-way reviews of completed bookings (with the rating
 * aggregates the review triggers keep), helpfulness votes, and conversations between a
 * booking's customer and provider.
 */

export interface Reviews {
  readonly count: number;
  readonly id: (review: number) => string;
  readonly booking: Int32Array;
  /** 1 when the provider reviews the customer. */
  readonly byProvider: Uint8Array;
  readonly rating: Uint8Array;
  readonly subRatings: Uint8Array;
  /** Published and not hidden: what counts in the ratings. */
  readonly isPublic: Uint8Array;
  readonly createdAt: Float64Array;
  /** When the review window closes: completion + 14 days. */
  readonly publishDueAt: Float64Array;
  /** When both reviews were in or the window closed, or NaN while double-blind. */
  readonly publishedAt: Float64Array;
  /** When a moderator hid it, or NaN. */
  readonly hiddenAt: Float64Array;
  /** When the reviewee replied, or NaN. */
  readonly respondedAt: Float64Array;
  readonly variant: Uint8Array;
  readonly helpful: Int32Array;
  readonly notHelpful: Int32Array;
  readonly votes: Votes;
}

export interface Votes {
  readonly count: number;
  readonly review: Int32Array;
  /** Customer index of the voter. */
  readonly voter: Int32Array;
  readonly helpful: Uint8Array;
  readonly createdAt: Float64Array;
}

const CUSTOMER_RATINGS = [4, 4, 9, 28, 55];
/** The default review window (app.review_window). */
const REVIEW_WINDOW = 14 * DAY;
const PROVIDER_RATINGS = [1, 1, 8, 22, 68];

export function generateReviews(ctx: Context, people: People, bookings: Bookings): Reviews {
  const random = ctx.random('reviews');
  const latest = ctx.anchor - 10 * MINUTE;
  const booking: number[] = [];
  const byProvider: number[] = [];
  const rating: number[] = [];
  const subRatings: number[] = [];
  const isPublic: number[] = [];
  const createdAt: number[] = [];
  const respondedAt: number[] = [];
  const variant: number[] = [];
  const publishDueAt: number[] = [];
  const publishedAt: number[] = [];
  const hiddenAt: number[] = [];
  for (let b = 0; b < bookings.count; b++) {
    if (finalStatus(bookings, b) !== COMPLETED) continue;
    const completed = enteredAt(bookings, b, COMPLETED);
    const due = completed + REVIEW_WINDOW;
    const first = booking.length;
    const replyAfter: number[] = [];
    const visibility: boolean[] = [];
    for (const provider of [0, 1]) {
      if (!random.chance(provider ? 0.35 : b === 0 ? 1 : 0.72)) continue;
      const created = Math.round((completed + 2 * HOUR + random.next() * 5 * DAY) / 1000) * 1000;
      if (created > latest) continue;
      const stars = 1 + random.weighted(provider ? PROVIDER_RATINGS : CUSTOMER_RATINGS);
      visibility.push(random.chance(0.97));
      booking.push(b);
      byProvider.push(provider);
      rating.push(stars);
      subRatings.push(random.chance(0.7) ? random.int(1, 255) : 0);
      createdAt.push(created);
      const replies = !provider && random.chance(stars <= 2 ? 0.6 : 0.25);
      replyAfter.push(replies ? HOUR + random.next() * 3 * DAY : Number.NaN);
      variant.push(random.int(0, 255));
    }
    // Double-blind: both publish when the second arrives, a lone one when the window closes.
    const both = booking.length - first === 2;
    const published = both
      ? Math.max(createdAt[first] as number, createdAt[first + 1] as number)
      : due <= latest
        ? due
        : Number.NaN;
    for (let r = first; r < booking.length; r++) {
      const hidden = published + 6 * HOUR;
      const isHidden = !visibility[r - first] && hidden <= latest;
      const visible = !Number.isNaN(published) && !isHidden;
      const reply = published + (replyAfter[r - first] as number);
      publishDueAt.push(due);
      publishedAt.push(published);
      hiddenAt.push(isHidden ? hidden : Number.NaN);
      isPublic.push(visible ? 1 : 0);
      respondedAt.push(visible && reply < latest ? Math.round(reply / 1000) * 1000 : Number.NaN);
      if (visible) {
        const reviewee = byProvider[r]
          ? (people.customers[bookings.customer[b] as number] as number)
          : (people.providers[bookings.provider[b] as number] as number);
        people.reviewSum[reviewee] = (people.reviewSum[reviewee] as number) + (rating[r] as number);
        people.reviewCount[reviewee] = (people.reviewCount[reviewee] as number) + 1;
      }
    }
  }
  const count = booking.length;
  const helpful = new Int32Array(count);
  const notHelpful = new Int32Array(count);

  // Votes on public reviews of providers, by other customers of the same city.
  const votes = { review: [] as number[], voter: [] as number[], helpful: [] as number[], createdAt: [] as number[] };
  const voting = ctx.random('review-votes');
  for (let r = 0; r < count; r++) {
    if (byProvider[r] || !isPublic[r]) continue;
    const want = [0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 3, 4][voting.int(0, 12)] as number;
    if (want === 0) continue;
    const b = booking[r] as number;
    const reviewer = bookings.customer[b] as number;
    const city = people.city[people.providers[bookings.provider[b] as number] as number] as number;
    const pool = people.customersByCity[city];
    if (!pool || pool.length < 2) continue;
    const chosen = new Set<number>();
    for (let attempt = 0; attempt < want * 3 && chosen.size < want; attempt++) {
      const j = voting.pick(pool);
      if (j !== reviewer) chosen.add(j);
    }
    for (const j of [...chosen].sort((x, y) => x - y)) {
      const when = (publishedAt[r] as number) + HOUR + voting.next() * 20 * DAY;
      if (when > latest) continue;
      const yes = voting.chance(0.85);
      votes.review.push(r);
      votes.voter.push(j);
      votes.helpful.push(yes ? 1 : 0);
      votes.createdAt.push(Math.round(when / 1000) * 1000);
      if (yes) helpful[r] = (helpful[r] as number) + 1;
      else notHelpful[r] = (notHelpful[r] as number) + 1;
    }
  }

  return {
    count,
    id: uuidFactory('reviews'),
    booking: Int32Array.from(booking),
    byProvider: Uint8Array.from(byProvider),
    rating: Uint8Array.from(rating),
    subRatings: Uint8Array.from(subRatings),
    isPublic: Uint8Array.from(isPublic),
    createdAt: Float64Array.from(createdAt),
    publishDueAt: Float64Array.from(publishDueAt),
    publishedAt: Float64Array.from(publishedAt),
    hiddenAt: Float64Array.from(hiddenAt),
    respondedAt: Float64Array.from(respondedAt),
    variant: Uint8Array.from(variant),
    helpful,
    notHelpful,
    votes: {
      count: votes.review.length,
      review: Int32Array.from(votes.review),
      voter: Int32Array.from(votes.voter),
      helpful: Uint8Array.from(votes.helpful),
      createdAt: Float64Array.from(votes.createdAt),
    },
  };
}

export const REVIEW_COLUMNS = [
  'id',
  'tenant_id',
  'booking_id',
  'listing_id',
  'reviewer_id',
  'reviewee_id',
  'rating',
  'quality_rating',
  'communication_rating',
  'timeliness_rating',
  'value_rating',
  'title',
  'comment',
  'is_public',
  'is_verified',
  'published_at',
  'publish_due_at',
  'hidden_at',
  'hidden_reason',
  'response',
  'responded_at',
  'helpful_count',
  'not_helpful_count',
  'created_at',
  'updated_at',
] as const;

function near(rating: number, bits: number): number {
  return Math.max(1, Math.min(5, rating + ((bits & 3) === 0 ? -1 : (bits & 3) === 3 ? 1 : 0)));
}

const HIDDEN_REASON = 'Hidden by a moderator: personal details in the text';

/** An instant, or NULL for NaN. */
const at = (ms: number) => (Number.isNaN(ms) ? NULL : iso(ms));

export function* reviewRows(
  ctx: Context,
  people: People,
  catalog: Catalog,
  bookings: Bookings,
  reviews: Reviews,
): Generator<string> {
  const tenant = ctx.ref.tenant.id;
  for (let r = 0; r < reviews.count; r++) {
    const b = reviews.booking[r] as number;
    const i = bookings.listing[b] as number;
    const pu = people.providers[bookings.provider[b] as number] as number;
    const cu = people.customers[bookings.customer[b] as number] as number;
    const byProvider = reviews.byProvider[r] === 1;
    const stars = reviews.rating[r] as number;
    const lang = LANGUAGES[catalog.language[i] as number] as Language;
    const texts = REVIEWS[lang];
    const v = reviews.variant[r] as number;
    const bucket = stars <= 2 ? 0 : stars === 3 ? 1 : stars === 4 ? 2 : 3;
    const titles = texts.titles[bucket];
    const comments: readonly string[] = byProvider
      ? (texts.customerComments[Math.max(0, bucket - 1)] ?? [])
      : texts.comments[bucket];
    const title = byProvider || v % 5 === 0 ? null : (titles[v % titles.length] as string);
    const comment = v % 10 === 9 ? null : (comments[(v >> 3) % comments.length] as string);
    const responded = reviews.respondedAt[r] as number;
    const replies = texts.responses[stars <= 3 ? 0 : 1];
    const response = Number.isNaN(responded) ? null : (replies[(v >> 2) % replies.length] as string);
    const bits = reviews.subRatings[r] as number;
    const subs =
      bits === 0
        ? `${NULL}\t${NULL}\t${NULL}\t${NULL}`
        : `${near(stars, bits)}\t${near(stars, bits >> 2)}\t${near(stars, bits >> 4)}\t${near(stars, bits >> 6)}`;
    const created = reviews.createdAt[r] as number;
    const hidden = reviews.hiddenAt[r] as number;
    yield `${reviews.id(r)}\t${tenant}\t${bookings.id(b)}\t${catalog.id(i)}\t${people.id(byProvider ? pu : cu)}\t${people.id(
      byProvider ? cu : pu,
    )}\t${stars}\t${byProvider ? `${NULL}\t${NULL}\t${NULL}\t${NULL}` : subs}\t${text(title)}\t${text(comment)}\t${bool(
      reviews.isPublic[r] === 1,
    )}\tt\t${at(reviews.publishedAt[r] as number)}\t${iso(reviews.publishDueAt[r] as number)}\t${at(hidden)}\t${
      Number.isNaN(hidden) ? NULL : text(HIDDEN_REASON)
    }\t${text(response)}\t${response === null ? NULL : iso(responded)}\t${reviews.helpful[r]}\t${
      reviews.notHelpful[r]
    }\t${iso(created)}\t${iso(Math.max(...[created, reviews.publishedAt[r] as number, hidden, responded].filter((t) => !Number.isNaN(t))))}\n`;
  }
}

export const VOTE_COLUMNS = ['review_id', 'user_id', 'is_helpful', 'created_at'] as const;

export function* voteRows(people: People, reviews: Reviews): Generator<string> {
  const { votes } = reviews;
  for (let v = 0; v < votes.count; v++) {
    yield `${reviews.id(votes.review[v] as number)}\t${people.id(people.customers[votes.voter[v] as number] as number)}\t${bool(
      votes.helpful[v] === 1,
    )}\t${iso(votes.createdAt[v] as number)}\n`;
  }
}

// ---------------------------------------------------------------------------------------------
// Conversations
// ---------------------------------------------------------------------------------------------

/**
 * Every booking's conversation, as app.booking_conversation makes it when the booking is
 * inserted (customer and provider as members, no creator), with the system lines
 * app.bookings_notify posts for the booking and each status move, and for some bookings a few
 * messages between the two. Conversation c is booking c.
 */
export interface Conversations {
  readonly count: number;
  readonly id: (conversation: number) => string;
  readonly messageId: (message: number) => string;
  readonly booking: Int32Array;
  readonly createdAt: Float64Array;
  readonly firstMessage: Int32Array;
  readonly messageCount: Uint8Array;
  readonly variant: Uint8Array;
  /** Per participant ([c * 2] customer, [c * 2 + 1] provider). */
  readonly lastReadAt: Float64Array;
  readonly archivedAt: Float64Array;
  /**
   * Per message: when, a text (0), a status line (SYSTEM_STATUS) or a reschedule line
   * (SYSTEM_RESCHEDULE), and the turn (text) or move (status) it is.
   */
  readonly messageAt: Float64Array;
  readonly messageSystem: Uint8Array;
  readonly messageStep: Uint8Array;
  readonly reschedules: Reschedules;
}

const SYSTEM_STATUS = 1;
const SYSTEM_RESCHEDULE = 2;

export function generateConversations(ctx: Context, bookings: Bookings, reschedules: Reschedules): Conversations {
  const random = ctx.random('conversations');
  const latest = ctx.anchor - MINUTE;
  const firstMessage = new Int32Array(bookings.count);
  const messageCount = new Uint8Array(bookings.count);
  const variant = new Uint8Array(bookings.count);
  const lastRead = new Float64Array(bookings.count * 2);
  const archived = new Float64Array(bookings.count * 2);
  const messageAt: number[] = [];
  const messageSystem: number[] = [];
  const messageStep: number[] = [];
  const texts: number[] = [];
  const events: [at: number, system: number, step: number][] = [];
  for (let b = 0; b < bookings.count; b++) {
    const path = PATHS[bookings.path[b] as number] as readonly number[];
    const status = path[path.length - 1] as number;
    const created = bookings.createdAt[b] as number;
    events.length = 0;
    for (let j = 0; j < path.length; j++) {
      events.push([j === 0 ? created : (bookings.times[b * 4 + j - 1] as number), SYSTEM_STATUS, j]);
    }
    const r = reschedules.of[b] as number;
    if (r >= 0) events.push([reschedules.at[r] as number, SYSTEM_RESCHEDULE, 0]);
    // The customer writes once it is booked; then they take turns.
    const early = status === PENDING || status === CONFIRMED;
    texts.length = 0;
    // demo_user_000001's upcoming bookings with demo_user_000002 always have messages the other
    // side has not read yet: the customer's on the request and the job under way, the
    // provider's reply on the confirmed one — so both demo users' inboxes show unread counts.
    const showcase = bookings.provider[b] === 0 && bookings.customer[b] === 0 && (early || status === IN_PROGRESS);
    if (showcase) {
      const wanted = status === CONFIRMED ? 2 : status === PENDING ? 1 : 3;
      const span = Math.min(latest - created, 2 * DAY);
      for (let n = 0; n < wanted; n++) {
        const t = Math.round((created + (span * (n + 1)) / (wanted + 1)) / 1000) * 1000;
        events.push([t, 0, n]);
        texts.push(t);
      }
    } else if (random.chance(b === 0 ? 1 : early ? 0.4 : 0.25)) {
      const wanted = random.int(2, 5);
      let t = Math.round((created + random.int(2, 60) * MINUTE) / 1000) * 1000;
      for (let n = 0; n < wanted; n++) {
        if (n > 0) t += random.int(3, 240) * MINUTE;
        if (t > latest) break;
        events.push([t, 0, n]);
        texts.push(t);
      }
    }
    events.sort((x, y) => x[0] - y[0] || y[1] - x[1] || x[2] - y[2]);
    firstMessage[b] = messageAt.length;
    messageCount[b] = events.length;
    variant[b] = random.int(0, 255);
    for (const [t, system, step] of events) {
      messageAt.push(t);
      messageSystem.push(system);
      messageStep.push(step);
    }
    const last = (events[events.length - 1] as [number, number, number])[0];
    const recent = last > ctx.anchor - 7 * DAY;
    for (const side of [0, 1]) {
      // Sending marks a conversation read (messages_after_insert); reading it is the client's.
      let own = Number.NaN;
      for (let n = side; n < texts.length; n += 2) own = texts[n] as number;
      const readLater = last + random.int(5, 60) * MINUTE;
      const readsAll =
        random.chance(recent ? 0.45 : 0.95) && readLater < latest && !(showcase && side !== (texts.length - 1) % 2);
      lastRead[b * 2 + side] = readsAll ? readLater : own;
      archived[b * 2 + side] =
        side === 0 && readsAll && last < ctx.anchor - 60 * DAY && status === COMPLETED && random.chance(0.3)
          ? last + 7 * DAY
          : Number.NaN;
    }
  }
  return {
    count: bookings.count,
    id: uuidFactory('conversations'),
    messageId: uuidFactory('messages'),
    booking: Int32Array.from({ length: bookings.count }, (_, b) => b),
    createdAt: bookings.createdAt,
    firstMessage,
    messageCount,
    variant,
    lastReadAt: lastRead,
    archivedAt: archived,
    messageAt: Float64Array.from(messageAt),
    messageSystem: Uint8Array.from(messageSystem),
    messageStep: Uint8Array.from(messageStep),
    reschedules,
  };
}

/** The text of message n (0-based) of conversation c: the customer opens, then they take turns. */
export function messageText(
  ctx: Context,
  people: People,
  catalog: Catalog,
  bookings: Bookings,
  conversations: Conversations,
  c: number,
  n: number,
): string {
  const b = conversations.booking[c] as number;
  const i = bookings.listing[b] as number;
  const lang = LANGUAGES[catalog.language[i] as number] as Language;
  const texts = MESSAGES[lang];
  const v = conversations.variant[c] as number;
  const open = v % texts.open.length;
  const steps = [texts.open, texts.reply, texts.follow, texts.confirm, texts.close];
  const step = steps[n] as readonly string[];
  const choice = n <= 1 ? open : (v >> 2) % step.length;
  return fill(step[choice % step.length] as string, {
    pname: firstName(people, people.providers[bookings.provider[b] as number] as number),
    cname: firstName(people, people.customers[bookings.customer[b] as number] as number),
    svc: listingService(ctx, catalog, i, new Random('message', c)),
  });
}

/** app.bookings_notify's titles of the statuses, by status index. */
const STATUS_LINES: Record<number, string> = {
  [CONFIRMED]: 'Booking confirmed',
  [DECLINED]: 'Booking request declined',
  [IN_PROGRESS]: 'Booking started',
  [COMPLETED]: 'Booking completed',
  [CANCELLED]: 'Booking cancelled',
  [EXPIRED]: 'Booking request expired',
  [NO_SHOW]: 'Marked as no-show',
  [DISPUTED]: 'Booking disputed',
  [REFUNDED]: 'Booking refunded',
};
const WITH_REASON = new Set([CANCELLED, DECLINED, DISPUTED, NO_SHOW]);

/** The line app.bookings_notify posts for move j of booking b (0: the booking itself), with its metadata. */
export function systemLine(
  ctx: Context,
  people: People,
  catalog: Catalog,
  bookings: Bookings,
  b: number,
  j: number,
  reschedules: Reschedules,
): [content: string, metadata: string] {
  const path = PATHS[bookings.path[b] as number] as readonly number[];
  const status = path[j] as number;
  const booking = bookings.id(b);
  if (j === 0) {
    const i = bookings.listing[b] as number;
    const pu = people.providers[bookings.provider[b] as number] as number;
    const zone = (ctx.ref.cities[people.city[pu] as number] as (typeof ctx.ref.cities)[number]).timeZone;
    const title = catalog.titles.texts[catalog.titleKey[i] as number] as string;
    // The start it was booked for (before a reschedule moved it).
    const r = reschedules.of[b] as number;
    const local = r < 0 ? (bookings.localStart[b] as number) : (reschedules.fromLocal[r] as number);
    return [
      `${status === CONFIRMED ? 'Booked' : 'Booking requested'} ${title} for ${bookingWhen(bookings, b, zone, local)}`,
      `{"event":"booking_created","booking_id":"${booking}","status":"${BOOKING_STATUSES[status]}"}`,
    ];
  }
  const actor = actorOf(people, bookings, b, status);
  const reason = WITH_REASON.has(status) ? moveReason(bookings, b, status) : null;
  const line = `${STATUS_LINES[status]}${actor >= 0 ? ` by ${displayName(people, actor)}` : ''}${
    reason ? `: ${reason.slice(0, 500)}` : ''
  }`;
  return [
    line,
    `{"event":"booking_status","booking_id":"${booking}","status":"${BOOKING_STATUSES[status]}","from_status":"${
      BOOKING_STATUSES[path[j - 1] as number]
    }"}`,
  ];
}

/** Message m (of conversation c): its text and metadata. */
function messageContent(
  ctx: Context,
  people: People,
  catalog: Catalog,
  bookings: Bookings,
  conversations: Conversations,
  c: number,
  m: number,
): [content: string, metadata: string] {
  const step = conversations.messageStep[m] as number;
  const system = conversations.messageSystem[m];
  if (system === SYSTEM_RESCHEDULE) {
    const r = conversations.reschedules.of[conversations.booking[c] as number] as number;
    return rescheduleLine(ctx, people, bookings, conversations.reschedules, r);
  }
  if (system === SYSTEM_STATUS) return systemLine(ctx, people, catalog, bookings, c, step, conversations.reschedules);
  return [messageText(ctx, people, catalog, bookings, conversations, c, step), '{}'];
}

export const CONVERSATION_COLUMNS = [
  'id',
  'tenant_id',
  'booking_id',
  'created_by',
  'title',
  'is_group',
  'is_active',
  'last_message_id',
  'last_message_at',
  'last_message_preview',
  'created_at',
  'updated_at',
] as const;

export function* conversationRows(
  ctx: Context,
  people: People,
  catalog: Catalog,
  bookings: Bookings,
  conversations: Conversations,
): Generator<string> {
  const tenant = ctx.ref.tenant.id;
  for (let c = 0; c < conversations.count; c++) {
    const b = conversations.booking[c] as number;
    const n = conversations.messageCount[c] as number;
    const lastIndex = (conversations.firstMessage[c] as number) + n - 1;
    const last = conversations.messageAt[lastIndex] as number;
    const [content] = messageContent(ctx, people, catalog, bookings, conversations, c, lastIndex);
    const preview = content.length > 140 ? [...content].slice(0, 140).join('') : content;
    const title = catalog.titles.texts[catalog.titleKey[bookings.listing[b] as number] as number] as string;
    yield `${conversations.id(c)}\t${tenant}\t${bookings.id(b)}\t${NULL}\t${text(
      title.length > 200 ? [...title].slice(0, 200).join('') : title,
    )}\tf\tt\t${conversations.messageId(lastIndex)}\t${iso(last)}\t${text(preview)}\t${iso(
      conversations.createdAt[c] as number,
    )}\t${iso(last)}\n`;
  }
}

export const PARTICIPANT_COLUMNS = [
  'conversation_id',
  'user_id',
  'role',
  'joined_at',
  'last_read_at',
  'archived_at',
] as const;

export function* participantRows(people: People, bookings: Bookings, conversations: Conversations): Generator<string> {
  for (let c = 0; c < conversations.count; c++) {
    const b = conversations.booking[c] as number;
    const joined = iso(conversations.createdAt[c] as number);
    const users = [
      people.customers[bookings.customer[b] as number] as number,
      people.providers[bookings.provider[b] as number] as number,
    ];
    for (const side of [0, 1]) {
      const read = conversations.lastReadAt[c * 2 + side] as number;
      const archived = conversations.archivedAt[c * 2 + side] as number;
      yield `${conversations.id(c)}\t${people.id(users[side] as number)}\tmember\t${joined}\t${
        Number.isNaN(read) ? NULL : iso(read)
      }\t${Number.isNaN(archived) ? NULL : iso(archived)}\n`;
    }
  }
}

export const MESSAGE_COLUMNS = [
  'id',
  'conversation_id',
  'tenant_id',
  'sender_id',
  'type',
  'content',
  'metadata',
  'created_at',
  'updated_at',
] as const;

export function* messageRows(
  ctx: Context,
  people: People,
  catalog: Catalog,
  bookings: Bookings,
  conversations: Conversations,
): Generator<string> {
  const tenant = ctx.ref.tenant.id;
  for (let c = 0; c < conversations.count; c++) {
    const b = conversations.booking[c] as number;
    const conversation = conversations.id(c);
    const senders = [
      people.id(people.customers[bookings.customer[b] as number] as number),
      people.id(people.providers[bookings.provider[b] as number] as number),
    ];
    const first = conversations.firstMessage[c] as number;
    for (let m = first; m < first + (conversations.messageCount[c] as number); m++) {
      const when = iso(conversations.messageAt[m] as number);
      const system = conversations.messageSystem[m] !== 0;
      const [content, metadata] = messageContent(ctx, people, catalog, bookings, conversations, c, m);
      yield `${conversations.messageId(m)}\t${conversation}\t${tenant}\t${
        system ? NULL : senders[(conversations.messageStep[m] as number) % 2]
      }\t${system ? 'system' : 'text'}\t${text(content)}\t${text(metadata)}\t${when}\t${when}\n`;
    }
  }
}
