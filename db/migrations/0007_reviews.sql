-- =============================================================================
-- 0007 reviews: two-way reviews of completed bookings (customer → provider and
-- provider → customer, one each), provider responses, helpfulness votes, and
-- the rating aggregates kept on listings and profiles.
-- =============================================================================

create table public.reviews (
  id                    uuid primary key default gen_random_uuid(),
  tenant_id             uuid not null references public.tenants (id) on delete cascade,
  booking_id            uuid not null references public.bookings (id) on delete cascade,
  listing_id            uuid not null references public.listings (id) on delete cascade,
  reviewer_id           uuid not null references public.users (id) on delete cascade,
  reviewee_id           uuid not null references public.users (id) on delete cascade,
  rating                smallint not null check (rating between 1 and 5),
  quality_rating        smallint check (quality_rating between 1 and 5),
  communication_rating  smallint check (communication_rating between 1 and 5),
  timeliness_rating     smallint check (timeliness_rating between 1 and 5),
  value_rating          smallint check (value_rating between 1 and 5),
  title                 text check (length(title) <= 200),
  comment               text check (length(comment) <= 10000),
  is_public             boolean not null default true,
  is_verified           boolean not null default true,
  response              text check (length(response) <= 5000),
  responded_at          timestamptz,
  helpful_count         integer not null default 0 check (helpful_count >= 0),
  not_helpful_count     integer not null default 0 check (not_helpful_count >= 0),
  metadata              jsonb not null default '{}',
  created_at            timestamptz not null default now(),
  updated_at            timestamptz not null default now(),
  check (reviewer_id <> reviewee_id),
  unique (booking_id, reviewer_id)
);
comment on table public.reviews is 'A review by one party of a completed booking about the other. One per direction per booking.';
comment on column public.reviews.is_verified is 'Always true here: a review can only be written for a completed booking by one of its parties.';
comment on column public.reviews.response is 'The reviewee''s public reply.';

create index reviews_listing_public_idx on public.reviews (listing_id, created_at desc) where is_public;
-- Foreign-key actions (cascades, checks when a parent row goes) cannot use a partial index.
create index reviews_listing_id_idx on public.reviews (listing_id);
create index reviews_reviewee_idx on public.reviews (reviewee_id, created_at desc);
create index reviews_reviewer_idx on public.reviews (reviewer_id, created_at desc);
create index reviews_tenant_rating_idx on public.reviews (tenant_id, rating);

-- The booking decides everything but the words: parties, listing, tenant.
create function app.reviews_before_insert() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  b public.bookings;
begin
  select * into b from public.bookings where id = new.booking_id;
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
  new.is_verified := true;
  new.response := null;
  new.responded_at := null;
  new.helpful_count := 0;
  new.not_helpful_count := 0;
  return new;
end $$;
revoke execute on function app.reviews_before_insert() from public;

create function app.reviews_before_update() returns trigger
language plpgsql
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.current_user_id();
begin
  if (new.booking_id, new.listing_id, new.reviewer_id, new.reviewee_id, new.tenant_id)
     is distinct from (old.booking_id, old.listing_id, old.reviewer_id, old.reviewee_id, old.tenant_id) then
    raise check_violation using message = 'a review''s booking and parties cannot change';
  end if;
  if new.response is distinct from old.response then
    new.responded_at := case when new.response is null then null else now() end;
  end if;
  if not app.is_trusted() then
    if me = old.reviewee_id and (new.rating, new.quality_rating, new.communication_rating, new.timeliness_rating,
                                 new.value_rating, new.title, new.comment, new.is_public)
       is distinct from (old.rating, old.quality_rating, old.communication_rating, old.timeliness_rating,
                         old.value_rating, old.title, old.comment, old.is_public) then
      raise insufficient_privilege using message = 'the reviewee may only respond to a review';
    end if;
    if me = old.reviewer_id and new.response is distinct from old.response then
      raise insufficient_privilege using message = 'only the reviewee can respond to a review';
    end if;
  end if;
  return new;
end $$;
revoke execute on function app.reviews_before_update() from public;

-- Aggregates are recomputed from the rows (not incremented), so they cannot drift.
create function app.refresh_rating_aggregates(listing uuid, reviewee uuid) returns void
language sql security definer
set search_path = pg_catalog, public
as $$
  update public.listings l
     set rating_average = s.avg, review_count = s.n
    from (select round(avg(r.rating), 2) as avg, count(*)::int as n
            from public.reviews r
            join public.listings x on x.id = r.listing_id
           where r.listing_id = listing and r.is_public and r.reviewee_id = x.provider_id) s
   where l.id = listing;
  update public.user_profiles p
     set average_rating = s.avg, total_reviews = s.n
    from (select round(avg(r.rating), 2) as avg, count(*)::int as n
            from public.reviews r where r.reviewee_id = reviewee and r.is_public) s
   where p.user_id = reviewee;
$$;
revoke execute on function app.refresh_rating_aggregates(uuid, uuid) from public;

create function app.reviews_after_change() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
  if tg_op in ('UPDATE', 'DELETE') then
    perform app.refresh_rating_aggregates(old.listing_id, old.reviewee_id);
  end if;
  if tg_op in ('INSERT', 'UPDATE') then
    perform app.refresh_rating_aggregates(new.listing_id, new.reviewee_id);
  end if;
  return null;
end $$;
revoke execute on function app.reviews_after_change() from public;

create trigger reviews_before_insert before insert on public.reviews
  for each row execute function app.reviews_before_insert();
create trigger reviews_before_update before update on public.reviews
  for each row execute function app.reviews_before_update();
create trigger reviews_set_updated_at before update on public.reviews
  for each row execute function app.set_updated_at();
create trigger reviews_after_change after insert or delete or update of rating, is_public on public.reviews
  for each row execute function app.reviews_after_change();

alter table public.reviews enable row level security;
grant select on public.reviews to anon, authenticated;
grant insert (booking_id, reviewer_id, rating, quality_rating, communication_rating, timeliness_rating, value_rating,
              title, comment, is_public, metadata),
      update (rating, quality_rating, communication_rating, timeliness_rating, value_rating, title, comment,
              is_public, response),
      delete
  on public.reviews to authenticated;
create policy "Anyone can read public reviews in their tenant" on public.reviews
  for select to anon, authenticated
  using (is_public and tenant_id = (select app.current_tenant_id()));
create policy "Parties can read reviews they wrote or received" on public.reviews
  for select to authenticated
  using (reviewer_id = (select app.current_user_id()) or reviewee_id = (select app.current_user_id()));
create policy "Moderators can read every review of their tenant" on public.reviews
  for select to authenticated
  using ((select app.has_permission('reviews.moderate')) and tenant_id = (select app.current_tenant_id()));
create policy "Booking parties can review a completed booking" on public.reviews
  for insert to authenticated
  with check (reviewer_id = (select app.current_user_id()));
create policy "Parties can edit or respond to their reviews" on public.reviews
  for update to authenticated
  using (reviewer_id = (select app.current_user_id()) or reviewee_id = (select app.current_user_id()))
  with check (reviewer_id = (select app.current_user_id()) or reviewee_id = (select app.current_user_id()));
create policy "Reviewers can delete their reviews" on public.reviews
  for delete to authenticated
  using (reviewer_id = (select app.current_user_id()));
create policy "Moderators can delete reviews of their tenant" on public.reviews
  for delete to authenticated
  using ((select app.has_permission('reviews.moderate')) and tenant_id = (select app.current_tenant_id()));

-- -----------------------------------------------------------------------------
-- review_votes
-- -----------------------------------------------------------------------------
create table public.review_votes (
  review_id   uuid not null references public.reviews (id) on delete cascade,
  user_id     uuid not null references public.users (id) on delete cascade,
  is_helpful  boolean not null,
  created_at  timestamptz not null default now(),
  primary key (review_id, user_id)
);
comment on table public.review_votes is 'One helpful / not helpful vote per user per review; counts are kept on reviews.';

create index review_votes_user_id_idx on public.review_votes (user_id);

create function app.review_votes_after_change() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  target uuid := coalesce(new.review_id, old.review_id);
begin
  if tg_op = 'INSERT' and exists (select 1 from public.reviews r where r.id = new.review_id
                                  and new.user_id in (r.reviewer_id, r.reviewee_id)) then
    raise check_violation using message = 'you cannot vote on a review you wrote or received';
  end if;
  update public.reviews r
     set helpful_count = (select count(*) from public.review_votes v where v.review_id = target and v.is_helpful),
         not_helpful_count = (select count(*) from public.review_votes v where v.review_id = target and not v.is_helpful)
   where r.id = target;
  return null;
end $$;
revoke execute on function app.review_votes_after_change() from public;
create trigger review_votes_after_change after insert or update or delete on public.review_votes
  for each row execute function app.review_votes_after_change();

alter table public.review_votes enable row level security;
grant select, delete on public.review_votes to authenticated;
grant insert (review_id, user_id, is_helpful), update (is_helpful) on public.review_votes to authenticated;
create policy "Users can read their own votes" on public.review_votes
  for select to authenticated using (user_id = (select app.current_user_id()));
create policy "Users can vote on reviews they can see" on public.review_votes
  for insert to authenticated
  with check (user_id = (select app.current_user_id())
              and exists (select 1 from public.reviews r where r.id = review_id));
create policy "Users can change their own votes" on public.review_votes
  for update to authenticated
  using (user_id = (select app.current_user_id()))
  with check (user_id = (select app.current_user_id()));
create policy "Users can withdraw their own votes" on public.review_votes
  for delete to authenticated using (user_id = (select app.current_user_id()));

grant all on public.reviews, public.review_votes to service_role;
