-- =============================================================================
-- 0017 conventions: what every workflow function shares.
--
-- * One naming for rating aggregates: listings already say rating_average / review_count,
--   user_profiles said average_rating / total_reviews. The profile follows the listing.
-- * app.require_user(): the caller's users.id for functions that need a signed-in user, or
--   an error that says exactly what is missing (signed out, a token without an account, a
--   suspended account) and what to do.
-- =============================================================================

alter table public.user_profiles rename column average_rating to rating_average;
alter table public.user_profiles rename column total_reviews to review_count;
alter index public.user_profiles_tenant_public_idx rename to user_profiles_tenant_public_rating_idx;
comment on column public.user_profiles.rating_average is 'Maintained by triggers from public reviews of this user; NULL until the first review.';
comment on column public.user_profiles.review_count is 'Public reviews of this user (same naming as listings.review_count).';

-- The body names the columns, so it is redefined with the new names (SQL bodies are text).
create or replace function app.refresh_rating_aggregates(listing uuid, reviewee uuid) returns void
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
     set rating_average = s.avg, review_count = s.n
    from (select round(avg(r.rating), 2) as avg, count(*)::int as n
            from public.reviews r where r.reviewee_id = reviewee and r.is_public) s
   where p.user_id = reviewee;
$$;
revoke execute on function app.refresh_rating_aggregates(uuid, uuid) from public;

-- -----------------------------------------------------------------------------
-- app.require_user(): 42501 for a caller without a token (401 over HTTP, as PostgREST
-- answers anon), PT403 (HTTP 403) for a verified token that maps to no usable account.
-- -----------------------------------------------------------------------------
create function app.require_user() returns uuid
language plpgsql stable security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.current_user_id();
  subject text;
  account public.users;
begin
  if me is not null then
    return me;
  end if;
  subject := app.current_subject();
  if subject is null then
    raise insufficient_privilege using
      message = 'sign in first: this needs a signed-in user',
      hint = 'Send the user''s token in the Authorization header (Authorization: Bearer <jwt>).';
  end if;
  select * into account from public.users u where u.clerk_id = subject;
  if account.id is null then
    raise sqlstate 'PT403' using
      message = format('your token is valid, but no account exists for user %s', subject),
      detail = 'users has no row whose clerk_id is the token''s sub claim.',
      hint = 'Create the account first: Clerk''s user.created webhook does it, or insert into users (clerk_id, email, …) with the service_role key.';
  end if;
  raise sqlstate 'PT403' using
    message = case when account.deleted_at is not null then 'this account has been deleted'
                   else format('this account is %s', account.status) end,
    hint = 'Contact the marketplace''s support to restore access.';
end $$;
comment on function app.require_user() is 'users.id of the caller; raises a clear error when signed out (42501), when the token has no account (PT403) or the account is suspended, banned or deleted (PT403).';
revoke execute on function app.require_user() from public;
grant execute on function app.require_user() to anon, authenticated, service_role;
