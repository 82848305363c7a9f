-- =============================================================================
-- 0022 reviews: the review workflow on top of 0007's tables.
--
-- * Double-blind: a review stays hidden (from the other party and the public) until both
--   parties have reviewed the booking or the review window closes; then both publish at once.
--   The window is 14 days after completion, or tenants.settings -> 'reviews' -> 'window_days'.
-- * One door per action: submit_review, edit_review, delete_review, respond_to_review,
--   vote_review, hide_review / unhide_review (reviews.moderate) and publish_due_reviews (the
--   scheduler, service_role). Clients no longer insert, update or delete reviews directly.
-- * reviews.is_public is now derived: published and not hidden by a moderator. Only public
--   reviews count in the aggregates, which gain rating_bayesian (see app.rating_bayesian).
-- * "Verified" means the booking was completed and paid: a completed payment transaction
--   for it exists in transactions (kept true/false by a trigger on transactions).
-- * review_received notifications go through app.notify and never carry the review's
--   rating or words (the review may still be hidden).
-- =============================================================================

-- -----------------------------------------------------------------------------
-- Settings and the rating prior
-- -----------------------------------------------------------------------------
create function app.review_window(tenant uuid) returns interval
language sql stable security definer
set search_path = pg_catalog, public
as $$
  select make_interval(days => coalesce(
    (select case when t.settings #>> '{reviews,window_days}' ~ '^[0-9]{1,3}$'
                  and (t.settings #>> '{reviews,window_days}')::int between 1 and 365
                 then (t.settings #>> '{reviews,window_days}')::int end
       from public.tenants t where t.id = tenant),
    14))
$$;
comment on function app.review_window(uuid) is 'How long after completion a booking can be reviewed: tenants.settings -> reviews -> window_days (1–365), default 14 days.';
revoke execute on function app.review_window(uuid) from public;
grant execute on function app.review_window(uuid) to service_role;

-- Bayesian average: m = 5 pseudo-reviews at C = 3.0 (the middle of the 1–5 scale) are added
-- to the real ones. A fixed prior keeps each value a function of its own reviews only, so it
-- changes exactly when they do and can be checked; a newcomer starts at 3.0, above listings
-- with a poor record and below ones with a good one.
create function app.rating_bayesian(total numeric, n integer) returns numeric
language sql immutable parallel safe
set search_path = pg_catalog
as $$
  select round((5 * 3.0 + coalesce(total, 0)) / (5 + coalesce(n, 0)), 4)
$$;
comment on function app.rating_bayesian(numeric, integer) is 'Bayesian average rating for ranking: (5 × 3.0 + sum of ratings) / (5 + count), rounded to 4 places; 3.0 with no reviews.';
revoke execute on function app.rating_bayesian(numeric, integer) from public;
grant execute on function app.rating_bayesian(numeric, integer) to anon, authenticated, service_role;

alter table public.listings add column rating_bayesian numeric(5, 4) not null default 3.0
  check (rating_bayesian between 1 and 5);
comment on column public.listings.rating_bayesian is 'Bayesian average of the public reviews of this listing''s provider for it (app.rating_bayesian: 5 pseudo-reviews at 3.0). What search ranks by. Maintained by triggers.';
alter table public.user_profiles add column rating_bayesian numeric(5, 4) not null default 3.0
  check (rating_bayesian between 1 and 5);
comment on column public.user_profiles.rating_bayesian is 'Bayesian average of the public reviews of this user (app.rating_bayesian: 5 pseudo-reviews at 3.0). Maintained by triggers.';
grant select (rating_bayesian) on public.user_profiles to anon, authenticated;

-- -----------------------------------------------------------------------------
-- reviews: publication and moderation state
-- -----------------------------------------------------------------------------
alter table public.reviews
  add column published_at   timestamptz,
  add column publish_due_at timestamptz,
  add column hidden_at      timestamptz,
  add column hidden_by      uuid references public.users (id) on delete set null,
  add column hidden_reason  text check (length(hidden_reason) <= 1000);
comment on column public.reviews.published_at is 'When the review became visible beyond its reviewer: when both parties had reviewed the booking, or when the review window closed. NULL while double-blind.';
comment on column public.reviews.publish_due_at is 'When the review window closes (booking completion + the tenant''s window): publish_due_reviews() publishes it then at the latest.';
comment on column public.reviews.hidden_at is 'Set when a moderator hid the review (hide_review); hidden reviews leave every public view and average.';
comment on column public.reviews.hidden_by is 'The moderator who hid the review.';
comment on column public.reviews.hidden_reason is 'Why a moderator hid the review (shown to its reviewer).';
comment on column public.reviews.is_public is 'Derived: published and not hidden. Only public reviews are read by others and counted in ratings.';
comment on column public.reviews.is_verified is 'True when the booking was completed and paid (a completed payment transaction for it exists).';
comment on column public.reviews.response is 'The reviewee''s public reply: one, through respond_to_review().';

create index reviews_publish_due_idx on public.reviews (publish_due_at) where published_at is null;
create index reviews_hidden_by_idx on public.reviews (hidden_by);

-- Reviews written before this migration were published when written; a review their author
-- had made private counts as hidden.
update public.reviews r
   set published_at = r.created_at,
       publish_due_at = coalesce(b.completed_at, b.ends_at) + app.review_window(r.tenant_id),
       hidden_at = case when r.is_public then null else r.updated_at end,
       hidden_reason = case when r.is_public then null else 'made private before reviews were moderated' end
  from public.bookings b
 where b.id = r.booking_id;

-- -----------------------------------------------------------------------------
-- Paid bookings and "verified"
-- -----------------------------------------------------------------------------
create function app.booking_is_paid(booking uuid) returns boolean
language sql stable security definer
set search_path = pg_catalog, public
as $$
  select exists (select 1 from public.transactions t
                  where t.booking_id = booking and t.type = 'payment' and t.status = 'completed')
$$;
comment on function app.booking_is_paid(uuid) is 'True when a completed payment transaction exists for the booking.';
revoke execute on function app.booking_is_paid(uuid) from public;
grant execute on function app.booking_is_paid(uuid) to service_role;

update public.reviews r set is_verified = app.booking_is_paid(r.booking_id);

create function app.transactions_verify_reviews() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
  update public.reviews r
     set is_verified = app.booking_is_paid(r.booking_id)
   where r.booking_id in (new.booking_id, case when tg_op = 'UPDATE' then old.booking_id end)
     and r.is_verified is distinct from app.booking_is_paid(r.booking_id);
  return null;
end $$;
comment on function app.transactions_verify_reviews() is 'AFTER INSERT/UPDATE on transactions: keeps reviews.is_verified equal to app.booking_is_paid of their booking.';
revoke execute on function app.transactions_verify_reviews() from public;
create trigger transactions_verify_reviews after insert or update of status, type, booking_id on public.transactions
  for each row execute function app.transactions_verify_reviews();

-- -----------------------------------------------------------------------------
-- Triggers on reviews (replacing 0007's)
-- -----------------------------------------------------------------------------
-- The booking decides everything but the words. Serialises the two parties' reviews of one
-- booking on the booking row, so the second always sees the first and publishes both.
create or replace function app.reviews_before_insert() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  b public.bookings;
begin
  select * into b from public.bookings where id = new.booking_id for no key update;
  if b.id is null then
    raise foreign_key_violation using message = format('booking %s does not exist', new.booking_id);
  end if;
  -- Parties first: an outsider learns nothing about the booking's status.
  if new.reviewer_id = b.customer_id then
    new.reviewee_id := b.provider_id;
  elsif new.reviewer_id = b.provider_id then
    new.reviewee_id := b.customer_id;
  else
    raise check_violation using message = 'only the booking''s customer or provider can review it';
  end if;
  if b.status <> 'completed' then
    raise check_violation using message = 'only a completed booking can be reviewed';
  end if;
  new.listing_id := b.listing_id;
  new.tenant_id := b.tenant_id;
  new.is_verified := app.booking_is_paid(b.id);
  new.response := null;
  new.responded_at := null;
  new.helpful_count := 0;
  new.not_helpful_count := 0;
  new.publish_due_at := coalesce(b.completed_at, b.ends_at) + app.review_window(b.tenant_id);
  -- A review written (or imported) after its window closed has nothing to wait for.
  if new.published_at is null and new.publish_due_at <= now() then
    new.published_at := now();
  end if;
  if new.hidden_at is null then
    new.hidden_by := null;
    new.hidden_reason := null;
  end if;
  new.is_public := new.published_at is not null and new.hidden_at is null;
  return new;
end $$;

-- Only trusted code changes reviews (clients have no grants; this is the second lock).
create or replace function app.reviews_before_update() returns trigger
language plpgsql
set search_path = pg_catalog, public
as $$
begin
  if not app.is_trusted() then
    raise insufficient_privilege using
      message = 'reviews change only through the review functions',
      hint = 'Call edit_review, respond_to_review, vote_review, hide_review or unhide_review.';
  end if;
  if (new.booking_id, new.listing_id, new.reviewer_id, new.reviewee_id, new.tenant_id)
     is distinct from (old.booking_id, old.listing_id, old.reviewer_id, old.reviewee_id, old.tenant_id) then
    raise check_violation using message = 'a review''s booking and parties cannot change';
  end if;
  if new.response is distinct from old.response then
    new.responded_at := case when new.response is null then null else now() end;
  end if;
  if new.hidden_at is null then
    new.hidden_by := null;
    new.hidden_reason := null;
  end if;
  new.is_public := new.published_at is not null and new.hidden_at is null;
  return new;
end $$;

-- The second review of a booking publishes both.
create function app.reviews_publish_pair() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
  if exists (select 1 from public.reviews r where r.booking_id = new.booking_id and r.reviewer_id = new.reviewee_id) then
    update public.reviews r set published_at = now()
     where r.booking_id = new.booking_id and r.published_at is null;
  end if;
  return null;
end $$;
comment on function app.reviews_publish_pair() is 'AFTER INSERT on reviews: when the other party''s review of the booking is in, publishes both.';
revoke execute on function app.reviews_publish_pair() from public;
create trigger reviews_publish_pair after insert on public.reviews
  for each row when (new.published_at is null) execute function app.reviews_publish_pair();

-- Aggregates are recomputed from the rows (not incremented), so they cannot drift. The
-- listing and profile rows are locked before counting, so concurrent writers take turns
-- and the last one counts every committed review.
create or replace function app.refresh_rating_aggregates(listing uuid, reviewee uuid) returns void
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  n integer;
  total numeric;
  average numeric;
begin
  perform 1 from public.listings l where l.id = listing for no key update;
  select count(*)::int, sum(r.rating), round(avg(r.rating), 2) into n, total, average
    from public.reviews r
    join public.listings x on x.id = r.listing_id
   where r.listing_id = listing and r.is_public and r.reviewee_id = x.provider_id;
  update public.listings l
     set rating_average = average, review_count = n, rating_bayesian = app.rating_bayesian(total, n)
   where l.id = listing
     and (l.rating_average, l.review_count, l.rating_bayesian)
         is distinct from (average, n, app.rating_bayesian(total, n));

  perform 1 from public.user_profiles p where p.user_id = reviewee for no key update;
  select count(*)::int, sum(r.rating), round(avg(r.rating), 2) into n, total, average
    from public.reviews r
   where r.reviewee_id = reviewee and r.is_public;
  update public.user_profiles p
     set rating_average = average, review_count = n, rating_bayesian = app.rating_bayesian(total, n)
   where p.user_id = reviewee
     and (p.rating_average, p.review_count, p.rating_bayesian)
         is distinct from (average, n, app.rating_bayesian(total, n));
end $$;
comment on function app.refresh_rating_aggregates(uuid, uuid) is 'Recomputes rating_average, review_count and rating_bayesian of a listing (its provider''s public reviews for it) and of a user''s profile (public reviews of them).';
revoke execute on function app.refresh_rating_aggregates(uuid, uuid) from public;

-- is_public changes in BEFORE triggers, which an "update of is_public" trigger would not see:
-- the aggregate triggers compare old and new rows instead.
drop trigger reviews_after_change on public.reviews;
create trigger reviews_after_insert_aggregates after insert on public.reviews
  for each row when (new.is_public) execute function app.reviews_after_change();
create trigger reviews_after_update_aggregates after update on public.reviews
  for each row when (old.is_public is distinct from new.is_public or (new.is_public and old.rating is distinct from new.rating))
  execute function app.reviews_after_change();
create trigger reviews_after_delete_aggregates after delete on public.reviews
  for each row when (old.is_public) execute function app.reviews_after_change();

-- The reviewee learns that a review arrived, never what it says (it may still be hidden).
create or replace function app.reviews_notify() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  b public.bookings;
  both_in boolean;
begin
  select * into b from public.bookings where id = new.booking_id;
  both_in := exists (select 1 from public.reviews r where r.booking_id = new.booking_id and r.reviewer_id = new.reviewee_id);
  perform app.notify(
    recipient => new.reviewee_id,
    kind => 'review_received',
    title => 'You received a review',
    body => case
      when both_in then format('Both reviews of %s are now published.', b.service_title)
      else format('Review %s too to read it: both reviews are published together, or on %s at the latest.',
                  b.service_title, to_char(new.publish_due_at at time zone b.time_zone, 'DD Mon YYYY'))
      end,
    data => jsonb_build_object('review_id', new.id, 'booking_id', new.booking_id, 'published', both_in),
    action_url => '/bookings/' || new.booking_id || '/review',
    sender => new.reviewer_id);
  return null;
end $$;

-- -----------------------------------------------------------------------------
-- Access: reads through RLS, writes only through the functions below.
-- -----------------------------------------------------------------------------
revoke insert, update, delete on public.reviews from authenticated, anon;
drop policy "Booking parties can review a completed booking" on public.reviews;
drop policy "Parties can edit or respond to their reviews" on public.reviews;
drop policy "Reviewers can delete their reviews" on public.reviews;
drop policy "Moderators can delete reviews of their tenant" on public.reviews;
drop policy "Parties can read reviews they wrote or received" on public.reviews;
create policy "Reviewers can read their own reviews" on public.reviews
  for select to authenticated
  using (reviewer_id = (select app.current_user_id()));

-- Votes: still a guarded table write (one row per user and review), or vote_review().
create or replace function app.review_votes_after_change() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  target uuid := coalesce(new.review_id, old.review_id);
  r public.reviews;
begin
  select * into r from public.reviews x where x.id = target for no key update;
  if tg_op = 'INSERT' then
    if new.user_id in (r.reviewer_id, r.reviewee_id) then
      raise check_violation using message = 'you cannot vote on a review you wrote or received';
    end if;
    if not r.is_public then
      raise check_violation using message = 'only published reviews can be voted on';
    end if;
  end if;
  update public.reviews x
     set helpful_count = (select count(*) from public.review_votes v where v.review_id = target and v.is_helpful),
         not_helpful_count = (select count(*) from public.review_votes v where v.review_id = target and not v.is_helpful)
   where x.id = target;
  return null;
end $$;

-- -----------------------------------------------------------------------------
-- Workflow functions
-- -----------------------------------------------------------------------------
create function app.check_review_input(
  rating integer, quality_rating integer, communication_rating integer, timeliness_rating integer,
  title text, comment text)
returns void
language plpgsql immutable
set search_path = pg_catalog
as $$
begin
  if rating is null or rating not between 1 and 5 then
    raise invalid_parameter_value using
      message = format('rating must be a whole number of stars from 1 to 5, not %s', coalesce(rating::text, 'null')),
      hint = 'Send rating 1–5; quality_rating, communication_rating and timeliness_rating are optional, 1–5 each.';
  end if;
  if quality_rating not between 1 and 5 or communication_rating not between 1 and 5
     or timeliness_rating not between 1 and 5 then
    raise invalid_parameter_value using
      message = 'quality_rating, communication_rating and timeliness_rating must be from 1 to 5 when given',
      hint = 'Leave a detailed rating out (null) rather than sending 0.';
  end if;
  if length(title) > 200 then
    raise invalid_parameter_value using message = format('title is %s characters; the limit is 200', length(title));
  end if;
  if length(comment) > 10000 then
    raise invalid_parameter_value using message = format('comment is %s characters; the limit is 10000', length(comment));
  end if;
end $$;
comment on function app.check_review_input(integer, integer, integer, integer, text, text) is 'Raises 22023 (HTTP 400) naming the limit when a review''s stars or texts are out of range.';
revoke execute on function app.check_review_input(integer, integer, integer, integer, text, text) from public;

create function public.submit_review(
  booking_id uuid,
  rating integer,
  quality_rating integer default null,
  communication_rating integer default null,
  timeliness_rating integer default null,
  title text default null,
  comment text default null)
returns public.reviews
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.require_user();
  b public.bookings;
  closes timestamptz;
  created uuid;
  result public.reviews;
begin
  title := nullif(trim(title), '');
  comment := nullif(trim(comment), '');
  perform app.check_review_input(rating, quality_rating, communication_rating, timeliness_rating, title, comment);
  select * into b from public.bookings x where x.id = submit_review.booking_id for no key update;
  if b.id is null or me not in (b.customer_id, b.provider_id) then
    raise sqlstate 'PT404' using
      message = format('booking %s not found', submit_review.booking_id),
      hint = 'Only the customer and the provider of a booking can review it.';
  end if;
  if b.status <> 'completed' then
    raise check_violation using
      message = format('only a completed booking can be reviewed; this one is %s', b.status),
      hint = 'Reviews open when the provider marks the booking completed.';
  end if;
  closes := coalesce(b.completed_at, b.ends_at) + app.review_window(b.tenant_id);
  if now() >= closes then
    raise check_violation using
      message = format('the review window for this booking closed at %s', closes),
      hint = format('Bookings can be reviewed for %s after completion.', app.review_window(b.tenant_id));
  end if;
  if exists (select 1 from public.reviews r where r.booking_id = b.id and r.reviewer_id = me) then
    raise unique_violation using
      message = 'you have already reviewed this booking',
      hint = 'Change your review with edit_review until it is published.';
  end if;
  insert into public.reviews (booking_id, reviewer_id, rating, quality_rating, communication_rating,
                              timeliness_rating, title, comment)
  values (b.id, me, rating, quality_rating, communication_rating, timeliness_rating, title, comment)
  returning id into created;
  -- Re-read: the insert may have published it (and the other party's) at once.
  select * into result from public.reviews r where r.id = created;
  return result;
end $$;
comment on function public.submit_review(uuid, integer, integer, integer, integer, text, text) is
  'Reviews the other party of a completed booking (once, within the review window: 14 days after completion unless the tenant sets reviews.window_days). Ratings 1–5. The review stays hidden until the other party has reviewed too or the window closes.';

create function public.edit_review(
  review_id uuid,
  rating integer,
  quality_rating integer default null,
  communication_rating integer default null,
  timeliness_rating integer default null,
  title text default null,
  comment text default null)
returns public.reviews
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.require_user();
  r public.reviews;
begin
  title := nullif(trim(title), '');
  comment := nullif(trim(comment), '');
  perform app.check_review_input(rating, quality_rating, communication_rating, timeliness_rating, title, comment);
  select * into r from public.reviews x where x.id = edit_review.review_id and x.reviewer_id = me for no key update;
  if r.id is null then
    raise sqlstate 'PT404' using
      message = format('review %s not found among your reviews', edit_review.review_id),
      hint = 'Only a review''s author can edit it.';
  end if;
  if r.published_at is not null then
    raise check_violation using
      message = 'a published review cannot be edited',
      hint = 'Reviews can be changed until both are in or the review window closes.';
  end if;
  update public.reviews x
     set rating = edit_review.rating, quality_rating = edit_review.quality_rating,
         communication_rating = edit_review.communication_rating, timeliness_rating = edit_review.timeliness_rating,
         title = edit_review.title, comment = edit_review.comment
   where x.id = r.id
  returning * into r;
  return r;
end $$;
comment on function public.edit_review(uuid, integer, integer, integer, integer, text, text) is
  'Replaces the stars and words of the caller''s review while it is unpublished (still double-blind).';

create function public.delete_review(review_id uuid)
returns void
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.require_user();
  r public.reviews;
  moderator boolean := app.has_permission('reviews.moderate');
begin
  select * into r from public.reviews x
   where x.id = delete_review.review_id
     and (x.reviewer_id = me or (moderator and x.tenant_id = app.current_tenant_id()))
     for update;
  if r.id is null then
    raise sqlstate 'PT404' using
      message = format('review %s not found among your reviews', delete_review.review_id),
      hint = 'A review is withdrawn by its author before it is published, or removed by a moderator.';
  end if;
  if r.published_at is not null and not (moderator and r.tenant_id = app.current_tenant_id()) then
    raise check_violation using
      message = 'a published review cannot be withdrawn',
      hint = 'Ask the marketplace''s moderators to remove it.';
  end if;
  delete from public.reviews x where x.id = r.id;
end $$;
comment on function public.delete_review(uuid) is
  'Withdraws the caller''s unpublished review (it may then be written again within the window), or removes any review of the tenant for a reviews.moderate holder.';

create function public.respond_to_review(review_id uuid, response text)
returns public.reviews
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.require_user();
  r public.reviews;
begin
  response := nullif(trim(response), '');
  if response is null then
    raise invalid_parameter_value using message = 'response is empty', hint = 'Send the text of your reply.';
  end if;
  if length(response) > 5000 then
    raise invalid_parameter_value using message = format('response is %s characters; the limit is 5000', length(response));
  end if;
  select * into r from public.reviews x
   where x.id = respond_to_review.review_id and x.reviewee_id = me and x.is_public
     for no key update;
  if r.id is null then
    raise sqlstate 'PT404' using
      message = format('review %s not found among the published reviews of you', respond_to_review.review_id),
      hint = 'Only the person reviewed can respond, once the review is published.';
  end if;
  if r.response is not null then
    raise unique_violation using
      message = 'you have already responded to this review',
      hint = 'A review gets one response.';
  end if;
  update public.reviews x set response = respond_to_review.response where x.id = r.id returning * into r;
  return r;
end $$;
comment on function public.respond_to_review(uuid, text) is
  'The reviewee''s one public reply to a published review (up to 5000 characters).';

create function public.vote_review(review_id uuid, helpful boolean)
returns public.reviews
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.require_user();
  r public.reviews;
begin
  select * into r from public.reviews x
   where x.id = vote_review.review_id and x.is_public and x.tenant_id = app.current_tenant_id();
  if r.id is null then
    raise sqlstate 'PT404' using
      message = format('review %s not found', vote_review.review_id),
      hint = 'Only published reviews can be voted on.';
  end if;
  if me in (r.reviewer_id, r.reviewee_id) then
    raise check_violation using message = 'you cannot vote on a review you wrote or received';
  end if;
  if helpful is null then
    delete from public.review_votes v where v.review_id = r.id and v.user_id = me;
  else
    insert into public.review_votes as v (review_id, user_id, is_helpful)
    values (r.id, me, helpful)
    on conflict on constraint review_votes_pkey do update set is_helpful = excluded.is_helpful
      where v.is_helpful is distinct from excluded.is_helpful;
  end if;
  select * into r from public.reviews x where x.id = r.id;
  return r;
end $$;
comment on function public.vote_review(uuid, boolean) is
  'Marks a published review helpful (true) or not (false), replacing the caller''s earlier vote; null withdraws it. Not on one''s own reviews. Returns the review with its counts.';

create function public.hide_review(review_id uuid, reason text)
returns public.reviews
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.require_user();
  r public.reviews;
begin
  perform app.require_permission('reviews.moderate');
  reason := nullif(trim(reason), '');
  if reason is null or length(reason) > 1000 then
    raise invalid_parameter_value using
      message = 'reason must be 1 to 1000 characters',
      hint = 'Say why the review is hidden; its author sees the reason.';
  end if;
  select * into r from public.reviews x
   where x.id = hide_review.review_id and x.tenant_id = app.current_tenant_id() for no key update;
  if r.id is null then
    raise sqlstate 'PT404' using message = format('review %s not found', hide_review.review_id);
  end if;
  update public.reviews x
     set hidden_at = coalesce(x.hidden_at, now()), hidden_by = coalesce(x.hidden_by, me), hidden_reason = hide_review.reason
   where x.id = r.id
  returning * into r;
  return r;
end $$;
comment on function public.hide_review(uuid, text) is
  'Moderation (reviews.moderate): hides a review of the tenant from everyone but its author and moderators, and from the ratings.';

create function public.unhide_review(review_id uuid)
returns public.reviews
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.require_user();
  r public.reviews;
begin
  perform app.require_permission('reviews.moderate');
  select * into r from public.reviews x
   where x.id = unhide_review.review_id and x.tenant_id = app.current_tenant_id() for no key update;
  if r.id is null then
    raise sqlstate 'PT404' using message = format('review %s not found', unhide_review.review_id);
  end if;
  update public.reviews x set hidden_at = null where x.id = r.id returning * into r;
  return r;
end $$;
comment on function public.unhide_review(uuid) is
  'Moderation (reviews.moderate): shows a hidden review again (it counts in the ratings once published).';

create function public.publish_due_reviews()
returns integer
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  published integer;
begin
  with due as (
    select r.id from public.reviews r
     where r.published_at is null and r.publish_due_at <= now()
     order by r.id
       for no key update skip locked)
  update public.reviews r set published_at = now() from due where r.id = due.id;
  get diagnostics published = row_count;
  return published;
end $$;
comment on function public.publish_due_reviews() is
  'Scheduler (service_role): publishes every review whose window has closed. Returns how many. Safe to run at any interval and from several servers.';

create function public.reviews_to_write()
returns table (
  booking_id uuid, listing_id uuid, service_title text, reviewee_id uuid, completed_at timestamptz,
  window_closes_at timestamptz, reviewee_has_reviewed boolean)
language sql stable security definer
set search_path = pg_catalog, public
as $$
  select b.id, b.listing_id, b.service_title,
         case when b.customer_id = me.id then b.provider_id else b.customer_id end,
         b.completed_at, w.closes,
         exists (select 1 from public.reviews r where r.booking_id = b.id and r.reviewer_id <> me.id)
    from (select app.require_user() as id) me
    join public.bookings b on me.id in (b.customer_id, b.provider_id)
    cross join lateral (select coalesce(b.completed_at, b.ends_at) + app.review_window(b.tenant_id) as closes) w
   where b.status = 'completed' and w.closes > now()
     and not exists (select 1 from public.reviews r where r.booking_id = b.id and r.reviewer_id = me.id)
   order by w.closes, b.id
$$;
comment on function public.reviews_to_write() is
  'The caller''s completed bookings still open for their review, soonest-closing first, and whether the other party has reviewed already (never what they wrote).';

revoke execute on function
  public.submit_review(uuid, integer, integer, integer, integer, text, text),
  public.edit_review(uuid, integer, integer, integer, integer, text, text),
  public.delete_review(uuid),
  public.respond_to_review(uuid, text),
  public.vote_review(uuid, boolean),
  public.hide_review(uuid, text),
  public.unhide_review(uuid),
  public.publish_due_reviews(),
  public.reviews_to_write()
  from public;
-- anon may call the user functions to be told to sign in (app.require_user).
grant execute on function
  public.submit_review(uuid, integer, integer, integer, integer, text, text),
  public.edit_review(uuid, integer, integer, integer, integer, text, text),
  public.delete_review(uuid),
  public.respond_to_review(uuid, text),
  public.vote_review(uuid, boolean),
  public.hide_review(uuid, text),
  public.unhide_review(uuid),
  public.reviews_to_write()
  to anon, authenticated, service_role;
grant execute on function public.publish_due_reviews() to service_role;
