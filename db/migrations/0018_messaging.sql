-- =============================================================================
-- 0018 messaging: app.notify(), the one way workflows notify a user (in-app
-- row plus the email / SMS / push deliveries due per the user's preferences
-- and quiet hours), and the preferences themselves.
--
-- The rules (docs/workflows.md, "Messaging and notifications"):
-- * Preferences live in users.notification_settings:
--     {"channels": {"email": false},                      master switches
--      "types": {"message_received": {"push": false}},    per kind
--      "quiet_hours": {"start": "22:00", "end": "07:00"}} in users.time_zone
--   A channel is due for a kind when its master switch is not off, then the
--   kind's own setting, else the kind's default (app.default_notification_channel).
-- * SMS is due only to a phone number, email only to an address.
-- * During quiet hours push and SMS of a non-urgent notification are deferred
--   to the end of the quiet hours (deliver_after); in-app and email never wait.
--   Urgent: system alerts, and data.urgent = true (set by the caller).
-- =============================================================================

-- New kinds. Used only inside plpgsql bodies below: a value added in this
-- transaction cannot be used by statements run in it.
alter type public.notification_type add value if not exists 'booking_declined' after 'booking_confirmed';
alter type public.notification_type add value if not exists 'booking_expired' after 'booking_cancelled';
alter type public.notification_type add value if not exists 'booking_no_show' after 'booking_expired';
alter type public.notification_type add value if not exists 'booking_rescheduled' after 'booking_no_show';
alter type public.notification_type add value if not exists 'booking_reminder' after 'booking_rescheduled';

-- -----------------------------------------------------------------------------
-- notifications: which channels are due, and from when.
-- -----------------------------------------------------------------------------
alter table public.notifications
  add column channels public.notification_channel[] not null default '{in_app}',
  add column deliver_after timestamptz not null default now(),
  add constraint notifications_channels_nonempty check (cardinality(channels) between 1 and 4);
comment on column public.notifications.channels is 'The channels this notification is due on, decided by app.notify() from the recipient''s preferences. Shown in the in-app list only when it holds in_app.';
comment on column public.notifications.deliver_after is 'When the delivery job may send push and SMS (the end of the recipient''s quiet hours, or creation time).';
comment on column public.notifications.channel is 'Legacy single channel (always in_app); see channels.';

-- The delivery job's queue: rows with a channel due and not yet sent.
create index notifications_pending_delivery_idx on public.notifications (deliver_after)
  where ('email' = any (channels) and email_sent_at is null)
     or ('sms' = any (channels) and sms_sent_at is null)
     or ('push' = any (channels) and push_sent_at is null);

-- The in-app list shows notifications due in-app only.
drop policy "Users can read their own notifications" on public.notifications;
create policy "Users can read their own in-app notifications" on public.notifications
  for select to authenticated
  using (user_id = (select app.current_user_id()) and 'in_app' = any (channels));

-- -----------------------------------------------------------------------------
-- Preferences: users.notification_settings, validated.
-- -----------------------------------------------------------------------------
create function app.is_valid_notification_settings(settings jsonb) returns boolean
language plpgsql immutable
set search_path = pg_catalog
as $$
declare
  channel_keys constant text[] := array['in_app', 'email', 'sms', 'push'];
  kind_keys text[];
  item record;
begin
  if settings is null then
    return false;
  end if;
  if jsonb_typeof(settings) <> 'object' or exists (
      select 1 from jsonb_object_keys(settings) k where k not in ('channels', 'types', 'quiet_hours')) then
    return false;
  end if;
  if settings ? 'channels' and not app.is_valid_channel_switches(settings -> 'channels') then
    return false;
  end if;
  if settings ? 'types' then
    if jsonb_typeof(settings -> 'types') <> 'object' then
      return false;
    end if;
    kind_keys := array(select e::text from unnest(enum_range(null::public.notification_type)) e);
    for item in select key, value from jsonb_each(settings -> 'types') loop
      if not (item.key = any (kind_keys)) or not app.is_valid_channel_switches(item.value) then
        return false;
      end if;
    end loop;
  end if;
  if settings ? 'quiet_hours' and jsonb_typeof(settings -> 'quiet_hours') <> 'null' then
    if jsonb_typeof(settings -> 'quiet_hours') <> 'object'
       or exists (select 1 from jsonb_object_keys(settings -> 'quiet_hours') k where k not in ('start', 'end'))
       or coalesce(settings -> 'quiet_hours' ->> 'start', '') !~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'
       or coalesce(settings -> 'quiet_hours' ->> 'end', '') !~ '^([01][0-9]|2[0-3]):[0-5][0-9]$' then
      return false;
    end if;
  end if;
  return true;
end $$;
comment on function app.is_valid_notification_settings(jsonb) is 'True when users.notification_settings has the documented shape: channels, types (per notification kind) and quiet_hours (HH:MM start and end).';

create function app.is_valid_channel_switches(switches jsonb) returns boolean
language sql immutable
set search_path = pg_catalog
as $$
  select jsonb_typeof(switches) = 'object'
     and not exists (select 1 from jsonb_each(switches) e
                      where e.key not in ('in_app', 'email', 'sms', 'push') or jsonb_typeof(e.value) <> 'boolean')
$$;
comment on function app.is_valid_channel_switches(jsonb) is 'True for an object mapping channel names (in_app, email, sms, push) to booleans.';
revoke execute on function app.is_valid_notification_settings(jsonb), app.is_valid_channel_switches(jsonb) from public;
grant execute on function app.is_valid_notification_settings(jsonb), app.is_valid_channel_switches(jsonb)
  to authenticated, service_role;

alter table public.users
  add constraint users_notification_settings_shape check (app.is_valid_notification_settings(notification_settings));
comment on column public.users.notification_settings is
  'Notification preferences: {"channels": {"email": false}, "types": {"message_received": {"push": false}}, "quiet_hours": {"start": "22:00", "end": "07:00"}} (quiet hours in time_zone). Written by update_notification_preferences().';

-- The defaults when a user has said nothing: in-app and push for everything,
-- email for what a user may need to keep (bookings, money, reviews, account),
-- SMS for nothing (it costs the marketplace and the user opts in).
create function app.default_notification_channel(kind public.notification_type, channel public.notification_channel)
returns boolean
language plpgsql immutable
set search_path = pg_catalog
as $$
begin
  return case channel::text
    when 'in_app' then true
    when 'push' then true
    when 'sms' then false
    else kind::text not in ('message_received', 'booking_started', 'system_alert')
  end;
end $$;
comment on function app.default_notification_channel(public.notification_type, public.notification_channel) is
  'Whether a kind goes out on a channel when the user has not said: in_app and push always, SMS never, email for all but message_received, booking_started and system_alert.';

-- The channels due for one kind to one user, and from when push and SMS may go.
create function app.notification_delivery(
  recipient uuid, kind public.notification_type, urgent boolean default false, at timestamptz default now(),
  out channels public.notification_channel[], out deliver_after timestamptz)
language plpgsql stable security definer
set search_path = pg_catalog, public
as $$
declare
  u public.users;
  settings jsonb;
  c public.notification_channel;
  wanted boolean;
  local_now timestamp;
  quiet_start time;
  quiet_end time;
  quiet_ends_at timestamp;
begin
  channels := '{}';
  deliver_after := at;
  select * into u from public.users where id = recipient and deleted_at is null and status not in ('banned');
  if u.id is null then
    return;
  end if;
  settings := coalesce(u.notification_settings, '{}');
  foreach c in array enum_range(null::public.notification_channel) loop
    if (settings -> 'channels' ->> c::text)::boolean is false then
      continue;
    end if;
    wanted := coalesce((settings -> 'types' -> kind::text ->> c::text)::boolean,
                       app.default_notification_channel(kind, c));
    if wanted and (c <> 'sms' or u.phone is not null) then
      channels := channels || c;
    end if;
  end loop;

  -- Quiet hours, on the user's wall clock; start = end means none.
  quiet_start := (settings -> 'quiet_hours' ->> 'start')::time;
  quiet_end := (settings -> 'quiet_hours' ->> 'end')::time;
  if urgent or kind::text = 'system_alert' or quiet_start is null or quiet_end is null or quiet_start = quiet_end
     or not (channels && array['sms', 'push']::public.notification_channel[]) then
    return;
  end if;
  local_now := at at time zone u.time_zone;
  if quiet_start < quiet_end then
    if local_now::time >= quiet_start and local_now::time < quiet_end then
      quiet_ends_at := local_now::date + quiet_end;
    end if;
  elsif local_now::time >= quiet_start then
    quiet_ends_at := local_now::date + 1 + quiet_end;   -- quiet across midnight, evening part
  elsif local_now::time < quiet_end then
    quiet_ends_at := local_now::date + quiet_end;       -- quiet across midnight, morning part
  end if;
  if quiet_ends_at is not null then
    deliver_after := quiet_ends_at at time zone u.time_zone;
  end if;
end $$;
comment on function app.notification_delivery(uuid, public.notification_type, boolean, timestamptz) is
  'The channels a notification of this kind is due on for the recipient (preferences, defaults, a phone for SMS) and when push/SMS may be sent (the end of quiet hours in the recipient''s time zone unless urgent). No channels for a missing or banned recipient.';
revoke execute on function app.notification_delivery(uuid, public.notification_type, boolean, timestamptz) from public;
grant execute on function app.notification_delivery(uuid, public.notification_type, boolean, timestamptz) to service_role;

-- -----------------------------------------------------------------------------
-- app.notify(): the contract other workflows call.
-- -----------------------------------------------------------------------------
create function app.notify(
  recipient uuid, kind public.notification_type, title text, body text default null,
  data jsonb default '{}', action_url text default null, sender uuid default null)
returns uuid
language plpgsql volatile security definer
set search_path = pg_catalog, public
as $$
declare
  delivery record;
  actor uuid := coalesce(sender, app.current_user_id());
  result uuid;
begin
  if recipient is null or kind is null then
    return null;
  end if;
  if length(trim(coalesce(title, ''))) = 0 then
    raise invalid_parameter_value using message = 'a notification needs a title',
      hint = 'pass a short title such as "Booking confirmed"';
  end if;
  data := coalesce(data, '{}');
  select * into delivery
    from app.notification_delivery(recipient, kind, coalesce((data ->> 'urgent')::boolean, false), now());
  if cardinality(delivery.channels) = 0 then
    return null;
  end if;
  insert into public.notifications (user_id, sender_id, type, title, body, data, action_url, channels, deliver_after)
  values (recipient, nullif(actor, recipient), kind, left(trim(title), 255), coalesce(body, ''), data, action_url,
          delivery.channels, delivery.deliver_after)
  returning id into result;
  return result;
end $$;
comment on function app.notify(uuid, public.notification_type, text, text, jsonb, text, uuid) is
  'Notifies a user: one notifications row carrying the channels due (per the user''s notification_settings and defaults) and deliver_after (end of quiet hours for push/SMS unless urgent). Returns its id, or NULL when the user gets nothing (no channel due, no such user). sender defaults to the caller.';
revoke execute on function app.notify(uuid, public.notification_type, text, text, jsonb, text, uuid) from public;
grant execute on function app.notify(uuid, public.notification_type, text, text, jsonb, text, uuid) to service_role;

-- -----------------------------------------------------------------------------
-- Preferences API
-- -----------------------------------------------------------------------------
create function public.my_notification_preferences() returns jsonb
language plpgsql stable security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.current_user_id();
  u public.users;
begin
  if me is null then
    raise insufficient_privilege using message = 'sign in first', hint = 'send the user''s access token';
  end if;
  select * into u from public.users where id = me;
  return jsonb_build_object(
    'time_zone', u.time_zone,
    'quiet_hours', u.notification_settings -> 'quiet_hours',
    'channels', jsonb_build_object(
      'in_app', coalesce((u.notification_settings -> 'channels' ->> 'in_app')::boolean, true),
      'email', coalesce((u.notification_settings -> 'channels' ->> 'email')::boolean, true),
      'sms', coalesce((u.notification_settings -> 'channels' ->> 'sms')::boolean, true),
      'push', coalesce((u.notification_settings -> 'channels' ->> 'push')::boolean, true)),
    'types', (select jsonb_object_agg(k::text, (
                select jsonb_object_agg(c::text,
                         coalesce((u.notification_settings -> 'types' -> k::text ->> c::text)::boolean,
                                  app.default_notification_channel(k, c)))
                  from unnest(enum_range(null::public.notification_channel)) c))
                from unnest(enum_range(null::public.notification_type)) k));
end $$;
comment on function public.my_notification_preferences() is
  'The caller''s notification preferences: time_zone, quiet_hours ({start, end} or null), channels (master switches) and types (each kind''s setting per channel, defaults filled in).';
revoke execute on function public.my_notification_preferences() from public;
grant execute on function public.my_notification_preferences() to authenticated;

create function public.update_notification_preferences(
  channels jsonb default null, types jsonb default null, quiet_hours jsonb default null, clear_quiet_hours boolean default false)
returns jsonb
language plpgsql volatile security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.current_user_id();
  current_settings jsonb;
  next_settings jsonb;
  kind text;
begin
  if me is null then
    raise insufficient_privilege using message = 'sign in first', hint = 'send the user''s access token';
  end if;
  if channels is not null and not app.is_valid_channel_switches(channels) then
    raise invalid_parameter_value using message = 'channels must map in_app, email, sms or push to true or false',
      hint = 'e.g. {"sms": false}';
  end if;
  if types is not null and (jsonb_typeof(types) <> 'object' or not app.is_valid_notification_settings(jsonb_build_object('types', types))) then
    raise invalid_parameter_value using message = 'types must map notification kinds to channel switches',
      hint = 'e.g. {"message_received": {"push": false}}; kinds are the values of notification_type';
  end if;
  if quiet_hours is not null and not app.is_valid_notification_settings(jsonb_build_object('quiet_hours', quiet_hours)) then
    raise invalid_parameter_value using message = 'quiet_hours must be {"start": "HH:MM", "end": "HH:MM"} (24-hour clock)',
      hint = 'e.g. {"start": "22:00", "end": "07:00"}, in your account''s time_zone; clear_quiet_hours => true removes them';
  end if;
  select u.notification_settings into current_settings from public.users u where u.id = me for update;
  next_settings := coalesce(current_settings, '{}');
  if channels is not null then
    next_settings := jsonb_set(next_settings, '{channels}', coalesce(next_settings -> 'channels', '{}') || channels);
  end if;
  if types is not null then
    for kind in select jsonb_object_keys(types) loop
      next_settings := jsonb_set(next_settings, '{types}', coalesce(next_settings -> 'types', '{}'));
      next_settings := jsonb_set(next_settings, array['types', kind],
                                 coalesce(next_settings -> 'types' -> kind, '{}') || (types -> kind));
    end loop;
  end if;
  if clear_quiet_hours then
    next_settings := next_settings - 'quiet_hours';
  elsif quiet_hours is not null then
    next_settings := jsonb_set(next_settings, '{quiet_hours}', quiet_hours);
  end if;
  update public.users set notification_settings = next_settings where id = me;
  return public.my_notification_preferences();
end $$;
comment on function public.update_notification_preferences(jsonb, jsonb, jsonb, boolean) is
  'Changes the caller''s notification preferences and returns them (as my_notification_preferences). channels: master switches, e.g. {"sms": false}; types: per kind, e.g. {"message_received": {"push": false}}; quiet_hours: {"start": "22:00", "end": "07:00"} in the account''s time_zone (clear_quiet_hours => true removes them). Omitted parts stay as they are.';
revoke execute on function public.update_notification_preferences(jsonb, jsonb, jsonb, boolean) from public;
grant execute on function public.update_notification_preferences(jsonb, jsonb, jsonb, boolean) to authenticated;
