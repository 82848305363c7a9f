-- =============================================================================
-- 0023 referrals: the referral workflow on top of 0009's tables and 0019's
-- credit ledger.
--
-- * redeem_referral_code(): at sign-up, with one clear 4xx error per reason a
--   code cannot be used (and nothing written), race-safe under the code's limit.
-- * my_referral_code(): the caller's code for the running program, created on
--   first call.
-- * Completion: the referee's first completed booking (in the program's
--   currency, totalling at least its minimum) completes the referral; both
--   sides' rewards are created, credit rewards credited to the ledger exactly
--   once, and each side is notified (referral_completed).
-- * expire_referral_rewards(): for the scheduler; expires unused credit and
--   rewards, idempotently.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- Whether a program takes new referrals today, in its marketplace's time zone.
-- NULL when open, else why not (the `detail` of the error a client sees).
-- -----------------------------------------------------------------------------
create function app.referral_program_closed(program public.referral_programs, tenant uuid) returns text
language sql stable security definer
set search_path = pg_catalog, public
as $$
  with today as (
    select (now() at time zone coalesce((select t.default_time_zone from public.tenants t where t.id = tenant), 'UTC'))::date as d
  )
  select case
    when program.id is null or not program.is_active then 'program_inactive'
    when program.tenant_id is not null and program.tenant_id <> tenant then 'program_inactive'
    when program.starts_on is not null and (select d from today) < program.starts_on then 'program_not_started'
    when program.ends_on is not null and (select d from today) > program.ends_on then 'program_ended'
  end
$$;
comment on function app.referral_program_closed(public.referral_programs, uuid) is 'NULL when the program takes referrals today (active, of the tenant or shared, within starts_on..ends_on in the tenant''s time zone); else program_inactive, program_not_started or program_ended.';
revoke execute on function app.referral_program_closed(public.referral_programs, uuid) from public;

-- The backstop on every referrals insert uses the same rule as the workflow.
create or replace function app.referrals_before_insert() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  c public.referral_codes;
  p public.referral_programs;
begin
  select * into c from public.referral_codes where id = new.code_id for update;
  if c.id is null or not c.is_active or (c.expires_at is not null and c.expires_at <= now())
     or (c.max_uses is not null and c.uses_count >= c.max_uses) then
    raise check_violation using message = 'the referral code is not valid';
  end if;
  select * into p from public.referral_programs where id = c.program_id;
  if app.referral_program_closed(p, c.tenant_id) is not null then
    raise check_violation using message = 'the referral program is not open';
  end if;
  new.referrer_id := c.user_id;
  new.program_id := c.program_id;
  new.tenant_id := c.tenant_id;
  if not exists (select 1 from public.users u where u.id = new.referee_id and u.tenant_id = c.tenant_id) then
    raise check_violation using message = 'the referee does not belong to the code''s marketplace';
  end if;
  update public.referral_codes set uses_count = uses_count + 1 where id = c.id;
  return new;
end $$;

-- -----------------------------------------------------------------------------
-- Redeeming a code. Every refusal raises before anything is written.
-- -----------------------------------------------------------------------------
create or replace function public.redeem_referral_code(referral_code text, source text default null)
returns public.referrals
language plpgsql volatile security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.require_user();
  wanted text := upper(trim(coalesce(referral_code, '')));
  c public.referral_codes;
  p public.referral_programs;
  closed text;
  result public.referrals;
begin
  if wanted !~ '^[A-Z0-9]{4,20}$' then
    raise invalid_parameter_value using
      message = 'referral_code must be 4 to 20 letters and digits',
      detail = 'code_malformed',
      hint = 'Pass the code as the referrer shared it, e.g. {"referral_code": "K7PX2MQA"}.';
  end if;
  if length(source) > 100 then
    raise invalid_parameter_value using
      message = 'source must be at most 100 characters',
      detail = 'source_too_long',
      hint = 'Name where the code came from in a few words, e.g. "newsletter".';
  end if;
  -- One redemption per user at a time, so "once per user" holds under concurrency.
  perform pg_advisory_xact_lock(23, hashtext(me::text));
  if exists (select 1 from public.referrals r where r.referee_id = me) then
    raise sqlstate 'PT409' using
      message = 'you have already been referred',
      detail = 'already_referred',
      hint = 'A user redeems one referral code, once.';
  end if;
  if exists (select 1 from public.bookings b where b.customer_id = me and b.status::text = 'completed') then
    raise sqlstate 'PT409' using
      message = 'referral codes are for new customers, and you have already completed a booking',
      detail = 'not_a_new_customer',
      hint = 'Redeem a code when signing up, before the first booking.';
  end if;
  -- Lock the code: concurrent redemptions of it take turns, so its limit holds.
  select * into c from public.referral_codes
   where upper(code) = wanted and tenant_id = app.current_tenant_id()
   for update;
  if c.id is null then
    raise sqlstate 'PT404' using
      message = format('no referral code %s in this marketplace', wanted),
      detail = 'code_unknown',
      hint = 'Check the spelling with the person who shared it.';
  end if;
  if c.user_id = me then
    raise sqlstate 'PT403' using
      message = 'you cannot redeem your own referral code',
      detail = 'own_code',
      hint = 'Share your code with friends instead: my_referral_code() returns it.';
  end if;
  if not c.is_active then
    raise sqlstate 'PT409' using
      message = 'this referral code has been switched off by its owner',
      detail = 'code_inactive',
      hint = 'Ask the person who shared it for a code that works.';
  end if;
  if c.expires_at is not null and c.expires_at <= now() then
    raise sqlstate 'PT409' using
      message = format('this referral code expired at %s', to_char(c.expires_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI "UTC"')),
      detail = 'code_expired',
      hint = 'Ask the person who shared it for a code that works.';
  end if;
  if c.max_uses is not null and c.uses_count >= c.max_uses then
    raise sqlstate 'PT409' using
      message = format('this referral code has been used %s times, its limit', c.max_uses),
      detail = 'code_used_up',
      hint = 'Ask the person who shared it for a code that works.';
  end if;
  select * into p from public.referral_programs where id = c.program_id;
  closed := app.referral_program_closed(p, c.tenant_id);
  if closed is not null then
    raise sqlstate 'PT409' using
      message = case closed
        when 'program_not_started' then format('the referral program "%s" starts on %s', p.name, p.starts_on)
        when 'program_ended' then format('the referral program "%s" ended on %s', p.name, p.ends_on)
        else format('the referral program "%s" is not running', p.name) end,
      detail = closed,
      hint = 'This code cannot be redeemed now.';
  end if;
  insert into public.referrals (referee_id, code_id, referrer_id, program_id, tenant_id, source)
  values (me, c.id, c.user_id, c.program_id, c.tenant_id, nullif(trim(redeem_referral_code.source), ''))
  returning * into result;
  return result;
end $$;
comment on function public.redeem_referral_code(text, text) is 'Records that the caller was referred by the code''s owner: once per user, before their first completed booking, while the code and its program are valid and the code is under its limit. Errors (nothing written): 400 code_malformed/source_too_long, 403 own_code, 404 code_unknown, 409 already_referred, not_a_new_customer, code_inactive, code_expired, code_used_up, program_inactive, program_not_started, program_ended (in the error''s details).';
revoke execute on function public.redeem_referral_code(text, text) from public;
-- anon may call it to be told to sign in (app.require_user()), rather than "permission denied".
grant execute on function public.redeem_referral_code(text, text) to anon, authenticated, service_role;

-- -----------------------------------------------------------------------------
-- The caller's code, created on first call.
-- -----------------------------------------------------------------------------
create function public.my_referral_code() returns public.referral_codes
language plpgsql volatile security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.require_user();
  tenant uuid := app.current_tenant_id();
  p public.referral_programs;
  result public.referral_codes;
begin
  -- A code the caller already has for a running program (their marketplace's own first).
  select c.* into result
    from public.referral_codes c
    join public.referral_programs rp on rp.id = c.program_id
   where c.user_id = me and app.referral_program_closed(rp, tenant) is null
   order by c.is_active desc, rp.tenant_id is null, c.created_at desc
   limit 1;
  if result.id is not null then
    return result;
  end if;
  select rp.* into p
    from public.referral_programs rp
   where (rp.tenant_id = tenant or rp.tenant_id is null) and app.referral_program_closed(rp, tenant) is null
   order by rp.tenant_id is null, rp.created_at desc, rp.id
   limit 1;
  if p.id is null then
    raise sqlstate 'PT404' using
      message = 'no referral program is running in this marketplace',
      detail = 'no_program',
      hint = 'Referral codes are handed out while a program runs.';
  end if;
  insert into public.referral_codes (user_id, program_id) values (me, p.id)
  on conflict (user_id, program_id) do nothing
  returning * into result;
  if result.id is null then
    select * into result from public.referral_codes c where c.user_id = me and c.program_id = p.id;
  end if;
  return result;
end $$;
comment on function public.my_referral_code() is 'The caller''s referral code for the running program (their marketplace''s own before a shared one), created on the first call; uses_count and max_uses say how often it was used and may be. 404 no_program when no program is running.';
revoke execute on function public.my_referral_code() from public;
grant execute on function public.my_referral_code() to anon, authenticated;
-- Likewise for 0019's balance call: anon hears "sign in first".
grant execute on function public.my_credit_balance() to anon;

-- -----------------------------------------------------------------------------
-- Completion. The referee's first completed booking in the program's currency
-- totalling at least its minimum completes the referral; the row lock of the
-- update makes a second, concurrent or replayed completion find it done.
-- -----------------------------------------------------------------------------
create or replace function app.bookings_complete_referral() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
  update public.referrals r
     set status = 'completed', completed_at = now(), first_booking_id = new.id
    from public.referral_programs p
   where r.referee_id = new.customer_id and r.status = 'pending'
     and p.id = r.program_id and new.currency = p.currency and new.total_cents >= p.minimum_spend_cents;
  return null;
end $$;

create or replace function app.referrals_after_update() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  p public.referral_programs;
  reward public.referral_rewards;
  other uuid;
  amount_text text;
begin
  if new.status = 'completed' and old.status <> 'completed' then
    select * into p from public.referral_programs where id = new.program_id;
    insert into public.referral_rewards (referral_id, user_id, tenant_id, reward_type, amount_cents, currency, expires_at)
    select new.id, x.user_id, new.tenant_id, p.reward_type, x.amount, p.currency,
           now() + make_interval(days => p.reward_validity_days)
    from (values (new.referrer_id, p.referrer_reward_cents), (new.referee_id, p.referee_reward_cents)) x(user_id, amount)
    where x.amount > 0
    on conflict (referral_id, user_id) do nothing;
    -- Rewards still pending are this completion's to pay out: a replay finds none.
    for reward in
      select * from public.referral_rewards where referral_id = new.id and status = 'pending' order by id for update
    loop
      if reward.reward_type = 'credit' then
        perform app.grant_credit(reward.user_id, reward.currency, reward.amount_cents, 'referral_reward',
                                 reward.expires_at, reward.id, 'Referral reward');
        update public.referral_rewards set status = 'credited', credited_at = now() where id = reward.id;
      end if;
      other := case when reward.user_id = new.referrer_id then new.referee_id else new.referrer_id end;
      amount_text := reward.currency || ' ' || to_char(reward.amount_cents / 100.0, 'FM999999999990.00');
      perform app.notify(
        reward.user_id, 'referral_completed',
        case when reward.user_id = new.referrer_id then 'Your referral completed their first booking'
             else 'Your first booking earned a referral reward' end,
        case when reward.reward_type = 'credit' then format('You earned %s of credit for your next bookings.', amount_text)
             else format('You earned a %s reward of %s.', reward.reward_type, amount_text) end,
        jsonb_build_object('referral_id', new.id, 'reward_id', reward.id, 'reward_type', reward.reward_type,
                           'amount_cents', reward.amount_cents, 'currency', reward.currency,
                           'expires_at', reward.expires_at),
        null, other);
    end loop;
  elsif new.status = 'cancelled' and old.status <> 'cancelled' then
    update public.referral_rewards set status = 'cancelled' where referral_id = new.id and status = 'pending';
  end if;
  return null;
end $$;

-- -----------------------------------------------------------------------------
-- Expiry, for the scheduler.
-- -----------------------------------------------------------------------------
create function public.expire_referral_rewards() returns jsonb
language plpgsql volatile security definer
set search_path = pg_catalog, public
as $$
declare
  credit_rows integer := app.expire_credit();
  rewards integer;
begin
  with expired as (
    update public.referral_rewards rw set status = 'expired'
     where (rw.status = 'pending' and rw.expires_at <= now())
        or (rw.status = 'credited' and exists (
              select 1 from public.credit_ledger g
                join public.credit_ledger e on e.credit_id = g.id and e.reason = 'expiry'
               where g.referral_reward_id = rw.id))
    returning 1
  )
  select count(*) into rewards from expired;
  return jsonb_build_object('credit_rows_expired', credit_rows, 'rewards_expired', rewards);
end $$;
comment on function public.expire_referral_rewards() is 'For the scheduler (service_role), e.g. hourly: writes credit_ledger expiry rows for what is left of every grant past its date, marks rewards expired (unpaid ones past expires_at, credited ones whose credit lapsed) and returns the counts. Idempotent.';
revoke execute on function public.expire_referral_rewards() from public;
grant execute on function public.expire_referral_rewards() to service_role;

-- -----------------------------------------------------------------------------
-- Credit ledger locking, revised. 0019's expire_credit() took one advisory lock
-- per user whose credit expired, all held until commit: one run over thousands
-- of users could exhaust the lock table (max_locks_per_transaction). Now an
-- expiry run takes one job-wide lock (namespace 190) and locks each lot's row;
-- spend_credit() locks the rows of the lots it may draw from (in id order, as
-- the expiry run does), so a spend and an expiry of one lot take turns.
-- -----------------------------------------------------------------------------
create or replace function app.spend_credit(user_id uuid, booking_id uuid, currency text, max_cents bigint) returns bigint
language plpgsql volatile security definer
set search_path = pg_catalog, public
as $$
declare
  lot record;
  spent bigint;
  spender uuid;
  left_cents bigint := max_cents;
  take bigint;
begin
  if max_cents is null or max_cents < 0 then
    raise invalid_parameter_value using
      message = format('max_cents must be 0 or more, not %s', coalesce(max_cents::text, 'null')),
      hint = 'Pass the most credit the booking may use, in minor units.';
  end if;
  perform app.lock_credit(user_id);
  perform 1 from public.credit_ledger g
   where g.user_id = spend_credit.user_id and g.currency = upper(spend_credit.currency) and g.credit_id is null
     and (g.expires_at is null or g.expires_at > now())
   order by g.id
   for update;
  select -sum(l.amount_cents), min(l.user_id::text)::uuid into spent, spender
    from public.credit_ledger l
   where l.booking_id = spend_credit.booking_id and l.reason = 'booking_spend';
  if spender is not null then
    if spender <> user_id then
      raise invalid_parameter_value using
        message = format('booking %s already spent another user''s credit', booking_id);
    end if;
    return spent;  -- a booking spends once: a replay answers what was applied
  end if;
  for lot in
    select c.id, c.remaining_cents from app.credit_lots(user_id, upper(currency)) c
     where c.remaining_cents > 0 and (c.expires_at is null or c.expires_at > now())
     order by c.expires_at nulls last, c.created_at, c.id
  loop
    exit when left_cents = 0;
    take := least(left_cents, lot.remaining_cents);
    insert into public.credit_ledger (user_id, currency, amount_cents, reason, credit_id, booking_id)
    values (user_id, upper(currency), -take, 'booking_spend', lot.id, booking_id);
    left_cents := left_cents - take;
  end loop;
  return max_cents - left_cents;
end $$;

create or replace function app.expire_credit() returns integer
language plpgsql volatile security definer
set search_path = pg_catalog, public
as $$
declare
  lot record;
  left_cents bigint;
  written integer := 0;
begin
  perform pg_advisory_xact_lock(190, 0);  -- one expiry run at a time
  for lot in
    select g.id, g.user_id, g.currency from public.credit_ledger g
     where g.expires_at is not null and g.expires_at <= now()
       and g.amount_cents + coalesce((select sum(m.amount_cents) from public.credit_ledger m where m.credit_id = g.id), 0) > 0
     order by g.id
  loop
    -- Wait for a spend drawing from this lot, then re-read what is left.
    perform 1 from public.credit_ledger g where g.id = lot.id for update;
    select g.amount_cents + coalesce((select sum(m.amount_cents) from public.credit_ledger m where m.credit_id = g.id), 0)
      into left_cents from public.credit_ledger g where g.id = lot.id;
    if left_cents > 0 then
      insert into public.credit_ledger (user_id, currency, amount_cents, reason, credit_id)
      values (lot.user_id, lot.currency, -left_cents, 'expiry', lot.id);
      written := written + 1;
    end if;
  end loop;
  return written;
end $$;
