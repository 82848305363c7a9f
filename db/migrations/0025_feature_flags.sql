-- =============================================================================
-- 0025 feature flags, complete: targeting rules (role, region, subscription
-- tier, verification, category), a rollout bucket any client can reproduce,
-- weighted variants, overrides with expiry, and two calls for clients:
-- evaluate_feature_flag(flag_key) and my_feature_flags().
--
-- The bucket (docs/workflows.md, "Feature flags"):
--   bucket(s) = first 4 bytes of sha256(UTF-8 of s), big-endian unsigned, mod 10000
--   in the rollout when bucket(flag_key || ':' || user_id) < rollout_percentage * 100
--   variant: v = bucket(flag_key || ':variant:' || user_id); the first variant i
--            (in array order) with v * total_weight < 10000 * (weights of variants 0..i)
-- user_id is users.id as lower-case text with hyphens. Pure arithmetic on the
-- key and the id: the same answer on every call, server, restart and client.
-- =============================================================================

-- -----------------------------------------------------------------------------
-- The hash
-- -----------------------------------------------------------------------------
create function app.flag_bucket(input text) returns integer
language sql immutable strict parallel safe
set search_path = pg_catalog
as $$
  select ((get_byte(h, 0)::bigint * 16777216 + get_byte(h, 1) * 65536 + get_byte(h, 2) * 256 + get_byte(h, 3))
          % 10000)::integer
  from (select sha256(convert_to(input, 'UTF8')) as h) x
$$;
comment on function app.flag_bucket(text) is 'A stable bucket 0–9999: the first 32 bits (big-endian, unsigned) of sha256(input) mod 10000. Rollout input: flag_key || '':'' || user_id; variant input: flag_key || '':variant:'' || user_id.';
grant execute on function app.flag_bucket(text) to anon, authenticated, service_role;

-- -----------------------------------------------------------------------------
-- What a flag row may say. Checked by a trigger so a bad rule is a 400 that
-- names the field and the allowed values (a check constraint could only say
-- "violates check constraint").
-- -----------------------------------------------------------------------------
comment on column public.feature_flags.targeting_rules is 'Who the flag applies to: {"roles": [...], "regions": [region codes], "subscription_tiers": [...], "verification_statuses": [...], "categories": [category slugs]}. Every key given must match (any of its values); {} targets everyone.';
comment on column public.feature_flags.variants is 'Weighted variants for an enabled caller: [{"key": "bold", "weight": 50, "value": <any JSON, default the key>}]; [] means the flag''s value is enabled_value.';
comment on column public.feature_flags.rollout_percentage is 'Share of targeted signed-in users (0–100) in the rollout: app.flag_bucket(key || '':'' || user_id) < rollout_percentage * 100. 100 includes anonymous callers.';

create function app.feature_flags_validate() returns trigger
language plpgsql
set search_path = pg_catalog, public
as $$
declare
  rule record;
  allowed text[];
  variant jsonb;
  keys text[] := '{}';
  total bigint := 0;
begin
  for rule in select * from jsonb_each(new.targeting_rules) loop
    allowed := case rule.key
      when 'roles' then enum_range(null::public.user_role)::text[]
      when 'subscription_tiers' then enum_range(null::public.subscription_tier)::text[]
      when 'verification_statuses' then enum_range(null::public.verification_status)::text[]
      when 'regions' then null
      when 'categories' then null
      else array['?'] end;
    if allowed = array['?'] then
      raise check_violation using
        message = format('targeting_rules has an unknown key "%s"', rule.key),
        hint = 'Use roles, regions, subscription_tiers, verification_statuses or categories.';
    end if;
    if jsonb_typeof(rule.value) <> 'array' or jsonb_array_length(rule.value) = 0
       or exists (select 1 from jsonb_array_elements(rule.value) e where jsonb_typeof(e) <> 'string') then
      raise check_violation using
        message = format('targeting_rules.%s must be a non-empty array of strings', rule.key),
        hint = 'Leave the key out to target everyone.';
    end if;
    if allowed is not null and exists (select 1 from jsonb_array_elements_text(rule.value) v where v <> all (allowed)) then
      raise check_violation using
        message = format('targeting_rules.%s has a value that is not one of %s', rule.key, array_to_string(allowed, ', ')),
        hint = 'Spell the values as the enum does.';
    end if;
  end loop;

  if jsonb_array_length(new.variants) > 20 then
    raise check_violation using message = 'a flag has at most 20 variants', hint = 'Remove variants.';
  end if;
  for variant in select * from jsonb_array_elements(new.variants) loop
    if jsonb_typeof(variant) <> 'object'
       or coalesce(variant ->> 'key', '') !~ '^[a-z0-9][a-z0-9_.-]{0,49}$'
       or jsonb_typeof(variant -> 'weight') is distinct from 'number'
       or (variant ->> 'weight')::numeric <> floor((variant ->> 'weight')::numeric)
       or (variant ->> 'weight')::numeric not between 0 and 10000
       or exists (select 1 from jsonb_object_keys(variant) k where k not in ('key', 'weight', 'value')) then
      raise check_violation using
        message = format('variant %s is not {"key": <a-z0-9_.->, "weight": <integer 0–10000>, "value": <optional JSON>}', variant),
        hint = 'Each variant needs a lower-case key and an integer weight; value defaults to the key.';
    end if;
    if (variant ->> 'key') = any (keys) then
      raise check_violation using message = format('variant key "%s" appears twice', variant ->> 'key'),
        hint = 'Give each variant its own key.';
    end if;
    keys := keys || (variant ->> 'key');
    total := total + (variant ->> 'weight')::bigint;
  end loop;
  if jsonb_array_length(new.variants) > 0 and total = 0 then
    raise check_violation using message = 'the variants'' weights add up to 0',
      hint = 'Give at least one variant a positive weight.';
  end if;
  return new;
end $$;
revoke execute on function app.feature_flags_validate() from public;
create trigger feature_flags_validate before insert or update of targeting_rules, variants on public.feature_flags
  for each row execute function app.feature_flags_validate();

-- Overrides: true (in), false (out) or {"variant": "<key>"} (in, with that variant).
comment on column public.user_feature_flags.value is 'true forces the flag on for the user, false forces it off, {"variant": "<key>"} forces it on with that variant. Ignored once expires_at has passed.';

create function app.user_feature_flags_validate() returns trigger
language plpgsql
set search_path = pg_catalog, public
as $$
declare
  flag_variants jsonb;
begin
  if new.value = 'true'::jsonb or new.value = 'false'::jsonb then
    null;
  elsif jsonb_typeof(new.value) = 'object' and new.value ?& array['variant'] and (select count(*) from jsonb_object_keys(new.value)) = 1 then
    select f.variants into flag_variants from public.feature_flags f where f.id = new.flag_id;
    if not exists (select 1 from jsonb_array_elements(flag_variants) v where v ->> 'key' = new.value ->> 'variant') then
      raise check_violation using
        message = format('the flag has no variant "%s"', new.value ->> 'variant'),
        hint = 'Name one of the flag''s variants, or use true / false.';
    end if;
  else
    raise check_violation using
      message = 'an override''s value is true, false or {"variant": "<key>"}',
      hint = 'true forces the flag on, false off; {"variant": "bold"} forces it on with that variant.';
  end if;
  -- Managers set future expiries; trusted imports may record ones that already passed.
  if new.expires_at is not null and new.expires_at <= now() and not app.is_trusted()
     and (tg_op = 'INSERT' or new.expires_at is distinct from old.expires_at) then
    raise check_violation using
      message = 'expires_at is in the past',
      hint = 'Give a future time, or null for an override that does not expire.';
  end if;
  return new;
end $$;
revoke execute on function app.user_feature_flags_validate() from public;
create trigger user_feature_flags_validate before insert or update on public.user_feature_flags
  for each row execute function app.user_feature_flags_validate();

-- 0014's insert policy looked the target up in users under the manager's own RLS, which
-- shows a manager only their own account: overrides for anyone else were refused.
create function app.user_tenant_id(target uuid) returns uuid
language sql stable security definer
set search_path = pg_catalog, public
as $$
  select u.tenant_id from public.users u where u.id = target and u.deleted_at is null
$$;
comment on function app.user_tenant_id(uuid) is 'The tenant of a (not deleted) user, read past RLS; for policies that check a target user''s tenant.';
revoke execute on function app.user_tenant_id(uuid) from public;
grant execute on function app.user_tenant_id(uuid) to authenticated, service_role;

drop policy "Flag managers can set overrides in their tenant" on public.user_feature_flags;
create policy "Flag managers can set overrides in their tenant" on public.user_feature_flags
  for insert to authenticated
  with check ((select app.has_permission('flags.manage'))
              and app.user_tenant_id(user_id) = (select app.current_tenant_id()));

create index user_feature_flags_user_id_idx on public.user_feature_flags (user_id, flag_id);

-- -----------------------------------------------------------------------------
-- Evaluation. The caller's attributes are read once (app.flag_subject) and each
-- flag is decided by app.evaluate_flag, so one flag and all flags agree.
-- -----------------------------------------------------------------------------
create function app.flag_subject() returns jsonb
language sql stable security definer
set search_path = pg_catalog, public
as $$
  select jsonb_build_object(
    'user_id', u.id,
    'role', app.current_user_role(),
    'region', coalesce(
      (select r.code from public.user_profiles p join public.cities c on c.id = p.city_id
         join public.regions r on r.id = c.region_id where p.user_id = u.id),
      (select r.code from public.tenants t join public.regions r on r.id = t.region_id
        where t.id = app.current_tenant_id())),
    'subscription_tier', case when u.id is not null then coalesce(
      (select s.tier from public.subscriptions s
        where s.user_id = u.id and s.status in ('trialing', 'active', 'past_due')
        order by s.created_at desc limit 1), 'free') end,
    'verification_status', u.verification_status,
    'categories', coalesce(
      (select jsonb_agg(distinct s.part) from public.listings l join public.categories c on c.id = l.category_id
         cross join lateral unnest(string_to_array(c.path, '/') || c.slug::text) s(part)
        where l.provider_id = u.id and l.deleted_at is null), '[]'))
  from (select app.current_user_id() as id) me
  left join public.users u on u.id = me.id
$$;
comment on function app.flag_subject() is 'The caller''s attributes flags target: user_id, role, region code, subscription tier, verification status, and the category slugs (with ancestors) of their listings.';
revoke execute on function app.flag_subject() from public;

create function app.evaluate_flag(f public.feature_flags, subject jsonb) returns jsonb
language plpgsql stable security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := (subject ->> 'user_id')::uuid;
  forced jsonb;
  rule record;
  attribute jsonb;
  enabled boolean;
  reason text;
  variant jsonb;
  total bigint;
  point bigint;
begin
  if me is not null then
    select o.value into forced from public.user_feature_flags o
    where o.user_id = me and o.flag_id = f.id and (o.expires_at is null or o.expires_at > now());
  end if;
  if forced is not null then
    enabled := forced <> 'false'::jsonb;
    reason := 'override';
  elsif not f.is_active then
    enabled := false;
    reason := 'inactive';
  else
    reason := 'rollout';
    for rule in select * from jsonb_each(f.targeting_rules) loop
      attribute := case rule.key
        when 'roles' then subject -> 'role'
        when 'regions' then subject -> 'region'
        when 'subscription_tiers' then subject -> 'subscription_tier'
        when 'verification_statuses' then subject -> 'verification_status'
        when 'categories' then subject -> 'categories' end;
      -- A scalar attribute matches when the list holds it; categories when the lists meet.
      if attribute is null or jsonb_typeof(attribute) = 'null'
         or (jsonb_typeof(attribute) = 'array' and not exists (
               select 1 from jsonb_array_elements_text(attribute) a where rule.value ? a))
         or (jsonb_typeof(attribute) = 'string' and not rule.value ? (attribute #>> '{}')) then
        reason := 'not_targeted';
      end if;
    end loop;
    enabled := reason = 'rollout' and (f.rollout_percentage = 100
      or (me is not null and app.flag_bucket(f.key || ':' || me::text) < f.rollout_percentage * 100));
  end if;

  if enabled and jsonb_array_length(f.variants) > 0 then
    if forced is not null and jsonb_typeof(forced) = 'object' then
      select v into variant from jsonb_array_elements(f.variants) v where v ->> 'key' = forced ->> 'variant';
    end if;
    if variant is null then
      select sum((v ->> 'weight')::bigint) into total from jsonb_array_elements(f.variants) v;
      -- Anonymous callers have no bucket: they get the first variant with a weight.
      point := case when me is null then 0 else app.flag_bucket(f.key || ':variant:' || me::text)::bigint * total end;
      select v into variant
      from jsonb_array_elements(f.variants) with ordinality as x(v, n)
      where (v ->> 'weight')::bigint > 0
        and point < 10000 * (select sum((w ->> 'weight')::bigint)
                             from jsonb_array_elements(f.variants) with ordinality as y(w, m) where m <= x.n)
      order by n
      limit 1;
    end if;
  end if;

  return jsonb_build_object(
    'enabled', enabled,
    'variant', variant -> 'key',
    'value', case when not enabled then f.default_value
                  when variant is not null then coalesce(variant -> 'value', variant -> 'key')
                  else f.enabled_value end,
    'reason', reason);
end $$;
comment on function app.evaluate_flag(public.feature_flags, jsonb) is 'One flag for one subject: override > inactive > targeting > rollout bucket; then the variant. Returns {enabled, variant, value, reason}.';
revoke execute on function app.evaluate_flag(public.feature_flags, jsonb) from public;

-- The flags a caller sees: the tenant's own, and shared ones the tenant does not redefine.
create function app.visible_flags() returns setof public.feature_flags
language sql stable security definer
set search_path = pg_catalog, public
as $$
  select distinct on (f.key) f.*
  from public.feature_flags f
  where f.tenant_id is null or f.tenant_id = app.current_tenant_id()
  order by f.key, f.tenant_id nulls last
$$;
revoke execute on function app.visible_flags() from public;

drop function public.evaluate_feature_flag(text);
create function public.evaluate_feature_flag(flag_key text) returns jsonb
language plpgsql stable security definer
set search_path = pg_catalog, public
as $$
declare
  f public.feature_flags;
begin
  if flag_key is null or flag_key !~ '^[a-z][a-z0-9_.-]{1,99}$' then
    raise invalid_parameter_value using
      message = format('"%s" is not a flag key', coalesce(flag_key, 'null')),
      hint = 'Flag keys are 2–100 characters: a lower-case letter, then a-z, 0-9, _ . or -.';
  end if;
  select * into f from app.visible_flags() v where v.key = flag_key;
  if f.id is null then
    raise sqlstate 'PT404' using
      message = format('feature flag "%s" does not exist', flag_key),
      hint = 'Call my_feature_flags() for every flag you can evaluate.';
  end if;
  return jsonb_build_object('key', f.key) || app.evaluate_flag(f, app.flag_subject());
end $$;
comment on function public.evaluate_feature_flag(text) is 'One flag for the caller: {key, enabled, variant, value, reason}. reason: override, inactive, not_targeted or rollout. Anonymous callers are in a rollout only at 100 %. 404 for an unknown key.';
revoke execute on function public.evaluate_feature_flag(text) from public;
grant execute on function public.evaluate_feature_flag(text) to anon, authenticated, service_role;

create function public.my_feature_flags() returns jsonb
language sql stable security definer
set search_path = pg_catalog, public
as $$
  select coalesce(jsonb_object_agg(f.key, app.evaluate_flag(f, s.subject) - 'reason'), '{}')
  from (select app.flag_subject() as subject) s
  cross join app.visible_flags() f
$$;
comment on function public.my_feature_flags() is 'Every flag for the caller in one object: {"<key>": {"enabled": …, "variant": …, "value": …}}. The same decision as evaluate_feature_flag.';
revoke execute on function public.my_feature_flags() from public;
grant execute on function public.my_feature_flags() to anon, authenticated, service_role;
