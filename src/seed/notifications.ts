import type { Transaction } from '../db/database.js';
import { sql } from '../db/sql.js';
import type { Conversations, Reviews } from './activity.js';
import type { Bookings } from './bookings.js';
import type { Context } from './context.js';
import { uuidFactory } from './ids.js';
import { DAY } from './time.js';

/** Notifications are written for the activity of the last two weeks (older ones are assumed purged). */
export const NOTIFICATION_DAYS = 14;

/** app.booking_when(b): the booking's start on its own clock, `Tue 03 Mar 2026 14:30 (Europe/Berlin)`. */
const WHEN = sql`to_char(b.starts_at at time zone b.time_zone, 'Dy DD Mon YYYY HH24:MI') || ' (' || b.time_zone || ')'`;

/** What the notifications are about: the generated activity, and how many transactions were written. */
export interface Made {
  readonly bookings: Bookings;
  readonly reviews: Reviews;
  readonly conversations: Conversations;
  readonly transactions: number;
}

/**
 * The notifications the booking, review and message triggers raise through app.notify (0018,
 * 0022): app.bookings_notify's kinds, titles, bodies and data for each history row (the
 * provider hears of a request; on an instant booking the customer hears it is confirmed; each
 * move goes to the parties other than who made it, to both when the scheduler did),
 * with the booking's start as it was then (a reschedule moves it), booking_rescheduled for the
 * other party of each reschedule (pg_temp.loconomy_demo_reschedules), app.reviews_notify's
 * double-blind wording, message_received for text messages (system lines raise none),
 * send_booking_reminders' booking_reminder to both parties of each app.booking_reminders row,
 * and app.transactions_notify's payment_received (the booking's provider, or the payer of an
 * invoice; refunded payments completed first) and payout_sent. The channels are the defaults
 * (nobody has preferences or quiet hours): in-app, push, and email but for message_received
 * and booking_started. Only the last NOTIFICATION_DAYS days of activity; older ones are mostly
 * read; ids derive from what they notify about.
 */
export async function insertNotifications(tx: Transaction, ctx: Context, made: Made): Promise<number> {
  const since = new Date(ctx.anchor - NOTIFICATION_DAYS * DAY);
  const readBefore = new Date(ctx.anchor - 2 * DAY);
  const { bookings, reviews, conversations } = made;
  const range = <T>(n: number, id: (i: number) => T) => (n === 0 ? [null, null] : [id(0), id(n - 1)]);
  const [firstBooking, lastBooking] = range(bookings.count, bookings.id);
  const [firstReview, lastReview] = range(reviews.count, reviews.id);
  const [firstMessage, lastMessage] = range(conversations.messageAt.length, conversations.messageId);
  const [firstTransaction, lastTransaction] = range(made.transactions, uuidFactory('transactions'));
  let total = 0;
  const booking = await tx.query(sql`
    insert into public.notifications (id, user_id, tenant_id, sender_id, type, title, body, data, action_url, read_at,
                                      channels, deliver_after, created_at, updated_at)
    select md5('loconomy-demo:notification:' || h.id || ':' || r.user_id)::uuid, r.user_id, b.tenant_id,
           nullif(h.changed_by, r.user_id), r.kind::public.notification_type, r.title,
           format('%s on %s, %s', b.service_title,
                  to_char(s.starts_at at time zone b.time_zone, 'Dy DD Mon YYYY HH24:MI') || ' (' || b.time_zone || ')',
                  b.confirmation_code)
             || case when h.from_status is not null and h.reason is not null and h.to_status::text in ('cancelled', 'declined')
                     then ': ' || left(h.reason, 200) else '' end,
           jsonb_build_object('booking_id', b.id, 'status', h.to_status::text, 'conversation_id', c.id,
                              'urgent', s.starts_at < h.created_at + interval '12 hours')
             || case when h.from_status is null then '{}'::jsonb
                     else jsonb_build_object('from_status', h.from_status::text) end,
           '/bookings/' || b.id,
           x.read_at,
           case when r.kind = 'booking_started' then '{in_app,push}' else '{in_app,email,push}' end::public.notification_channel[],
           h.created_at, h.created_at, coalesce(x.read_at, h.created_at)
      from public.booking_status_history h
      join public.bookings b on b.id = h.booking_id
      join public.conversations c on c.booking_id = b.id
      -- Before a reschedule, the booking was at its old start.
      left join pg_temp.loconomy_demo_reschedules rs on rs.booking_id = b.id
      cross join lateral (
        select case when rs.at > h.created_at then rs.from_starts_at else b.starts_at end as starts_at) s
      cross join lateral (
        select b.provider_id as user_id, 'booking_received' as kind,
               case when h.to_status::text = 'confirmed' then 'New booking' else 'New booking request' end as title
         where h.from_status is null
        union all
        select b.customer_id, 'booking_confirmed', 'Booking confirmed'
         where h.from_status is null and h.to_status::text = 'confirmed'
        union all
        select p.user_id,
               'booking_' || case h.to_status::text when 'in_progress' then 'started' else h.to_status::text end,
               case h.to_status::text
                 when 'confirmed' then 'Booking confirmed' when 'declined' then 'Booking request declined'
                 when 'in_progress' then 'Booking started' when 'completed' then 'Booking completed'
                 when 'cancelled' then 'Booking cancelled' when 'expired' then 'Booking request expired'
                 when 'no_show' then 'Marked as no-show' when 'disputed' then 'Booking disputed'
                 when 'refunded' then 'Booking refunded' end
          from unnest(array[b.customer_id, b.provider_id]) p(user_id)
         where h.from_status is not null and p.user_id is distinct from h.changed_by) r
      cross join lateral (
        select case when h.created_at < ${readBefore}
                     and get_byte(decode(md5(h.id::text || r.user_id::text), 'hex'), 0) < 205
                    then h.created_at + interval '3 hours' end as read_at) x
     where h.created_at >= ${since}
       and b.id between ${firstBooking}::uuid and ${lastBooking}::uuid`);
  total += booking.rowCount;
  const review = await tx.query(sql`
    insert into public.notifications (id, user_id, tenant_id, sender_id, type, title, body, data, action_url, read_at,
                                      channels, deliver_after, created_at, updated_at)
    select md5('loconomy-demo:notification:' || r.id)::uuid, r.reviewee_id, r.tenant_id, r.reviewer_id, 'review_received',
           'You received a review',
           case when p.both_in then format('Both reviews of %s are now published.', b.service_title)
                else format('Review %s too to read it: both reviews are published together, or on %s at the latest.',
                            b.service_title, to_char(r.publish_due_at at time zone b.time_zone, 'DD Mon YYYY')) end,
           jsonb_build_object('review_id', r.id, 'booking_id', r.booking_id, 'published', p.both_in),
           '/bookings/' || r.booking_id || '/review',
           x.read_at, '{in_app,email,push}', r.created_at, r.created_at, coalesce(x.read_at, r.created_at)
      from public.reviews r
      join public.bookings b on b.id = r.booking_id
      -- The other party's review, if it came first (one per booking and reviewer). A join, not a
      -- correlated exists: the indexes are suspended here, and at 1,000,000 listings an exists
      -- scanned every review once per review for over ten minutes.
      left join public.reviews o
        on o.booking_id = r.booking_id and o.reviewer_id = r.reviewee_id and (o.created_at, o.id) < (r.created_at, r.id)
      cross join lateral (select o.id is not null as both_in) p
      cross join lateral (
        select case when r.created_at < ${readBefore} and get_byte(decode(md5(r.id::text), 'hex'), 0) < 205
                    then r.created_at + interval '5 hours' end as read_at) x
     where r.created_at >= ${since} and r.id between ${firstReview}::uuid and ${lastReview}::uuid`);
  total += review.rowCount;
  const message = await tx.query(sql`
    insert into public.notifications (id, user_id, tenant_id, sender_id, type, title, body, data, action_url, read_at,
                                      channels, deliver_after, created_at, updated_at)
    select md5('loconomy-demo:notification:' || m.id || ':' || p.user_id)::uuid, p.user_id, m.tenant_id, m.sender_id,
           'message_received',
           coalesce(up.display_name, 'New message'),
           left(coalesce(m.content, 'sent an attachment'), 200),
           jsonb_build_object('conversation_id', m.conversation_id, 'message_id', m.id),
           '/conversations/' || m.conversation_id,
           x.read_at, '{in_app,push}', m.created_at, m.created_at, coalesce(x.read_at, m.created_at)
      from public.messages m
      -- Joins, not correlated subqueries: the indexes are suspended here.
      left join public.user_profiles up on up.user_id = m.sender_id
      join public.conversation_participants p
        on p.conversation_id = m.conversation_id and p.user_id is distinct from m.sender_id
       and (p.muted_until is null or p.muted_until < m.created_at)
      cross join lateral (select case when p.last_read_at >= m.created_at then p.last_read_at end as read_at) x
     where m.created_at >= ${since} and m.type = 'text' and m.id between ${firstMessage}::uuid and ${lastMessage}::uuid`);
  total += message.rowCount;
  const moved = await tx.query(sql`
    insert into public.notifications (id, user_id, tenant_id, sender_id, type, title, body, data, action_url, read_at,
                                      channels, deliver_after, created_at, updated_at)
    select md5('loconomy-demo:notification:rescheduled:' || b.id || ':' || r.user_id)::uuid, r.user_id, b.tenant_id,
           rs.by, 'booking_rescheduled', 'Booking rescheduled',
           format('%s on %s, %s', b.service_title, ${WHEN}, b.confirmation_code),
           jsonb_build_object('booking_id', b.id, 'status', rs.status, 'conversation_id', c.id,
                              'urgent', b.starts_at < rs.at + interval '12 hours', 'previous_starts_at', rs.from_starts_at),
           '/bookings/' || b.id, x.read_at, '{in_app,email,push}', rs.at, rs.at, coalesce(x.read_at, rs.at)
      from pg_temp.loconomy_demo_reschedules rs
      join public.bookings b on b.id = rs.booking_id
      join public.conversations c on c.booking_id = b.id
      cross join lateral (
        select case when rs.by = b.customer_id then b.provider_id else b.customer_id end as user_id) r
      cross join lateral (
        select case when rs.at < ${readBefore} and get_byte(decode(md5(b.id::text || r.user_id::text || 'moved'), 'hex'), 0) < 205
                    then rs.at + interval '3 hours' end as read_at) x
     where rs.at >= ${since}`);
  total += moved.rowCount;
  const reminders = await tx.query(sql`
    insert into public.notifications (id, user_id, tenant_id, sender_id, type, title, body, data, action_url, read_at,
                                      channels, deliver_after, created_at, updated_at)
    select md5('loconomy-demo:notification:reminder:' || b.id || ':' || p.user_id)::uuid, p.user_id, b.tenant_id, null,
           'booking_reminder', 'Upcoming booking',
           format('%s on %s, %s', b.service_title, ${WHEN}, b.confirmation_code),
           jsonb_build_object('booking_id', b.id, 'starts_at', b.starts_at, 'conversation_id', c.id,
                              'urgent', b.starts_at < r.sent_at + interval '12 hours'),
           '/bookings/' || b.id, x.read_at, '{in_app,email,push}', r.sent_at, r.sent_at, coalesce(x.read_at, r.sent_at)
      from app.booking_reminders r
      join public.bookings b on b.id = r.booking_id
      join public.conversations c on c.booking_id = b.id
      cross join lateral unnest(array[b.customer_id, b.provider_id]) p(user_id)
      cross join lateral (
        select case when r.sent_at < ${readBefore} and get_byte(decode(md5(b.id::text || p.user_id::text || 'reminder'), 'hex'), 0) < 205
                    then r.sent_at + interval '3 hours' end as read_at) x
     where r.sent_at >= ${since} and b.id between ${firstBooking}::uuid and ${lastBooking}::uuid`);
  total += reminders.rowCount;
  const money = await tx.query(sql`
    insert into public.notifications (id, user_id, tenant_id, sender_id, type, title, body, data, action_url, read_at,
                                      channels, deliver_after, created_at, updated_at)
    select md5('loconomy-demo:notification:' || t.id)::uuid, m.user_id, t.tenant_id, null, m.kind::public.notification_type,
           m.title, m.body, m.data, m.action_url, x.read_at, '{in_app,email,push}', t.created_at, t.created_at,
           coalesce(x.read_at, t.created_at)
      from public.transactions t
      left join public.bookings b on b.id = t.booking_id
      cross join lateral (
        select format('%s %s', to_char(t.amount_cents / 100.0, 'FM999999999990.00'), t.currency) as amount) a
      cross join lateral (
        select coalesce(b.provider_id, t.user_id) as user_id, 'payment_received' as kind, 'Payment received' as title,
               coalesce(t.description, format('%s received', a.amount)) as body,
               jsonb_build_object('transaction_id', t.id, 'booking_id', t.booking_id,
                                  'amount_cents', t.amount_cents, 'currency', t.currency) as data,
               case when t.booking_id is not null then '/bookings/' || t.booking_id end as action_url
         where t.type = 'payment'
        union all
        select t.user_id, 'payout_sent', 'Payout sent', format('%s is on its way to your account', a.amount),
               jsonb_build_object('transaction_id', t.id, 'amount_cents', t.amount_cents, 'currency', t.currency), null
         where t.type = 'payout') m
      cross join lateral (
        select case when t.created_at < ${readBefore} and get_byte(decode(md5(t.id::text), 'hex'), 0) < 205
                    then t.created_at + interval '3 hours' end as read_at) x
     -- A payment notifies when it completes (refunded ones completed first); a payout likewise.
     where t.created_at >= ${since} and t.status::text in ('completed', 'refunded')
       and (t.type = 'payment' or t.status = 'completed')
       and t.id between ${firstTransaction}::uuid and ${lastTransaction}::uuid`);
  total += money.rowCount;
  return total;
}
