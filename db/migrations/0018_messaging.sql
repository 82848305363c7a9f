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
  me uuid := app.require_user();
  u public.users;
begin
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
grant execute on function public.my_notification_preferences() to anon, authenticated;

create function public.update_notification_preferences(
  channels jsonb default null, types jsonb default null, quiet_hours jsonb default null, clear_quiet_hours boolean default false)
returns jsonb
language plpgsql volatile security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.require_user();
  current_settings jsonb;
  next_settings jsonb;
  kind text;
begin
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
grant execute on function public.update_notification_preferences(jsonb, jsonb, jsonb, boolean) to anon, authenticated;

-- =============================================================================
-- Messaging: messages go through send_message() (text, an attachment from the
-- sender's own uploads, a reply), system messages through
-- app.post_system_message(); a client's direct insert is held to the same rules
-- (its own name, text only, a live conversation it is in, the length bound).
-- =============================================================================

-- The caller is the sender unless a trusted writer says otherwise (NULL = system).
alter table public.messages alter column sender_id set default app.current_user_id();

-- Attachments are file_uploads rows the sender owns, linked by send_message();
-- a client may not write the attachments list itself.
revoke insert (attachments), update (attachments) on public.messages from authenticated;

create function app.message_max_length() returns integer
language sql immutable
set search_path = pg_catalog
as $$ select 4000 $$;
comment on function app.message_max_length() is 'The most characters a person''s message may have (system messages and old rows are held to the column''s 20000).';
grant execute on function app.message_max_length() to authenticated, service_role;

create or replace function app.messages_before_write() returns trigger
language plpgsql
set search_path = pg_catalog, public
as $$
begin
  if new.content is not null and length(new.content) > app.message_max_length() and new.type <> 'system'
     and (tg_op = 'INSERT' or new.content is distinct from old.content) then
    raise check_violation using
      message = format('a message can have at most %s characters (this one has %s)', app.message_max_length(), length(new.content)),
      hint = 'split the text into several messages';
  end if;
  if tg_op = 'INSERT' then
    if new.reply_to_id is not null and not exists (
        select 1 from public.messages m where m.id = new.reply_to_id and m.conversation_id = new.conversation_id) then
      raise invalid_parameter_value using message = 'reply_to_id must be a message of the same conversation',
        hint = 'pass the id of a message in this conversation, or leave reply_to_id out';
    end if;
    if not app.is_trusted() then
      -- A person writes text under their own name; images, files and system
      -- messages come from send_message() and the workflows.
      new.type := 'text';
      new.attachments := '[]';
      new.edited_at := null;
      new.deleted_at := null;
      -- (A conversation the caller cannot see is left to the insert policy: 42501.)
      if exists (select 1 from public.conversations c where c.id = new.conversation_id and not c.is_active) then
        raise sqlstate 'PT409' using message = 'this conversation is closed',
          hint = 'start a new conversation with start_conversation()';
      end if;
    end if;
    return new;
  end if;
  if new.conversation_id <> old.conversation_id or new.sender_id is distinct from old.sender_id then
    raise check_violation using message = 'a message cannot move to another conversation or sender';
  end if;
  if old.deleted_at is not null and not app.is_trusted() then
    raise check_violation using message = 'a deleted message cannot be edited';
  end if;
  if old.type = 'system' and not app.is_trusted() then
    raise insufficient_privilege using message = 'system messages cannot be edited';
  end if;
  if new.deleted_at is not null and old.deleted_at is null then
    new.content := null;
    new.attachments := '[]';
  elsif new.content is distinct from old.content or new.attachments is distinct from old.attachments then
    new.edited_at := now();
  end if;
  return new;
end $$;

-- Participants other than the sender hear of a message (system messages are
-- announced by the workflow that posts them, so they raise nothing here).
create or replace function app.messages_after_insert() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  sender_name text;
  recipient uuid;
begin
  update public.conversations
     set last_message_id = new.id, last_message_at = new.created_at,
         last_message_preview = left(coalesce(new.content, '[' || new.type || ']'), 140)
   where id = new.conversation_id;
  -- Sending a message means the sender has read the conversation.
  update public.conversation_participants set last_read_at = new.created_at, archived_at = null
   where conversation_id = new.conversation_id and user_id = new.sender_id;
  if new.type = 'system' or new.sender_id is null then
    return null;
  end if;
  select display_name into sender_name from public.user_profiles where user_id = new.sender_id;
  for recipient in
    select p.user_id from public.conversation_participants p
     where p.conversation_id = new.conversation_id and p.user_id <> new.sender_id
       and (p.muted_until is null or p.muted_until < now())
     order by p.user_id
  loop
    perform app.notify(recipient, 'message_received', coalesce(sender_name, 'New message'),
                       left(coalesce(new.content, 'sent an attachment'), 200),
                       jsonb_build_object('conversation_id', new.conversation_id, 'message_id', new.id),
                       '/conversations/' || new.conversation_id, new.sender_id);
  end loop;
  return null;
end $$;

-- Participants may write only into live conversations they are in, as themselves.
drop policy "Participants can post as themselves" on public.messages;
create policy "Participants can post as themselves" on public.messages
  for insert to authenticated
  with check (sender_id = (select app.current_user_id()) and type = 'text'
              and (select app.is_conversation_participant(conversation_id)));
-- (The before-insert trigger has already turned any other type into text.)

create function app.post_system_message(conversation_id uuid, body text, metadata jsonb default '{}')
returns uuid
language plpgsql volatile security definer
set search_path = pg_catalog, public
as $$
declare
  result uuid;
begin
  if conversation_id is null or length(trim(coalesce(body, ''))) = 0 then
    return null;
  end if;
  insert into public.messages (conversation_id, sender_id, type, content, metadata)
  values (post_system_message.conversation_id, null, 'system', left(body, 20000), coalesce(metadata, '{}'))
  returning id into result;
  return result;
end $$;
comment on function app.post_system_message(uuid, text, jsonb) is 'Posts a system message (no sender) into a conversation, e.g. a booking''s status change. Raises no message_received notification.';
revoke execute on function app.post_system_message(uuid, text, jsonb) from public;
grant execute on function app.post_system_message(uuid, text, jsonb) to service_role;

create function public.send_message(conversation_id uuid, body text default null, attachment_id uuid default null,
                                    reply_to_id uuid default null)
returns public.messages
language plpgsql volatile security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.require_user();
  conv public.conversations;
  upload public.file_uploads;
  text_body text := nullif(trim(coalesce(body, '')), '');
  result public.messages;
begin
  select c.* into conv from public.conversations c
   where c.id = send_message.conversation_id
     and exists (select 1 from public.conversation_participants p where p.conversation_id = c.id and p.user_id = me);
  if conv.id is null then
    raise sqlstate 'PT404' using message = format('conversation %s not found', send_message.conversation_id),
      hint = 'my_inbox() lists your conversations; start_conversation() starts one';
  end if;
  if not conv.is_active then
    raise sqlstate 'PT409' using message = 'this conversation is closed',
      hint = 'start a new conversation with start_conversation()';
  end if;
  if text_body is null and attachment_id is null then
    raise invalid_parameter_value using message = 'a message needs text or an attachment',
      hint = 'pass body (1 to 4000 characters) and/or attachment_id';
  end if;
  if length(text_body) > app.message_max_length() then
    raise invalid_parameter_value using
      message = format('a message can have at most %s characters (this one has %s)', app.message_max_length(), length(text_body)),
      hint = 'split the text into several messages';
  end if;
  if attachment_id is not null then
    select f.* into upload from public.file_uploads f
     where f.id = send_message.attachment_id and f.user_id = me and f.deleted_at is null
     for update;
    if upload.id is null then
      raise sqlstate 'PT404' using message = format('upload %s not found among your files', attachment_id),
        hint = 'upload the file first (a file_uploads row of your own), then pass its id';
    end if;
    if upload.status <> 'active' then
      raise sqlstate 'PT409' using message = 'the upload is not finished',
        hint = 'call mark_file_uploaded(file_id) once the file is in storage';
    end if;
    if num_nonnulls(upload.listing_id, upload.booking_id, upload.message_id) > 0 then
      raise sqlstate 'PT409' using message = 'this upload is already attached to something else',
        hint = 'upload the file again to send it in a message';
    end if;
  end if;
  insert into public.messages (conversation_id, sender_id, type, content, attachments, reply_to_id)
  values (conv.id, me,
          (case when upload.id is null then 'text' when upload.mime_type like 'image/%' then 'image' else 'file' end)::public.message_type,
          text_body,
          case when upload.id is null then '[]'::jsonb else jsonb_build_array(jsonb_build_object(
            'file_id', upload.id, 'name', upload.original_name, 'mime_type', upload.mime_type,
            'size_bytes', upload.size_bytes, 'bucket', upload.bucket, 'path', upload.storage_path)) end,
          send_message.reply_to_id)
  returning * into result;
  if upload.id is not null then
    update public.file_uploads set message_id = result.id where id = upload.id;
  end if;
  return result;
end $$;
comment on function public.send_message(uuid, text, uuid, uuid) is
  'Sends a message as the caller into a conversation they are in: body (1-4000 characters) and/or attachment_id (an active upload of the caller''s own, not attached elsewhere), optionally replying to a message of the same conversation. The other participants are notified (message_received).';
revoke execute on function public.send_message(uuid, text, uuid, uuid) from public;
grant execute on function public.send_message(uuid, text, uuid, uuid) to anon, authenticated;

create function public.mark_conversation_read(conversation_id uuid) returns timestamptz
language plpgsql volatile security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.require_user();
  result timestamptz;
begin
  update public.conversation_participants p set last_read_at = now()
   where p.conversation_id = mark_conversation_read.conversation_id and p.user_id = me
  returning p.last_read_at into result;
  if result is null then
    raise sqlstate 'PT404' using message = format('conversation %s not found', mark_conversation_read.conversation_id),
      hint = 'my_inbox() lists your conversations';
  end if;
  -- Reading the conversation reads its message notifications too.
  update public.notifications n set read_at = now()
   where n.user_id = me and n.read_at is null and n.type = 'message_received'
     and n.data ->> 'conversation_id' = mark_conversation_read.conversation_id::text;
  return result;
end $$;
comment on function public.mark_conversation_read(uuid) is 'Marks a conversation read for the caller (its unread count drops to 0) and their message_received notifications of it read; returns the new last_read_at.';
revoke execute on function public.mark_conversation_read(uuid) from public;
grant execute on function public.mark_conversation_read(uuid) to anon, authenticated;

create function public.my_inbox(include_archived boolean default false, max_rows integer default 50,
                                before timestamptz default null)
returns table (
  conversation_id uuid, booking_id uuid, title text, is_group boolean, is_active boolean,
  participants jsonb, booking jsonb, last_message jsonb, last_activity_at timestamptz,
  unread_count integer, muted boolean, archived boolean)
language plpgsql stable security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.require_user();
begin
  if max_rows is null or max_rows not between 1 and 100 then
    raise invalid_parameter_value using message = 'max_rows must be between 1 and 100', hint = 'page with before';
  end if;
  return query
  select c.id, c.booking_id, c.title, c.is_group, c.is_active,
         (select coalesce(jsonb_agg(jsonb_build_object(
                    'user_id', o.user_id, 'display_name', coalesce(pr.display_name, 'Former user'),
                    'avatar_url', pr.avatar_url) order by o.joined_at, o.user_id), '[]'::jsonb)
            from public.conversation_participants o
            left join public.user_profiles pr on pr.user_id = o.user_id
           where o.conversation_id = c.id and o.user_id <> me),
         (select jsonb_build_object('id', b.id, 'status', b.status, 'service_title', b.service_title,
                                    'starts_at', b.starts_at, 'time_zone', b.time_zone,
                                    'confirmation_code', b.confirmation_code)
            from public.bookings b where b.id = c.booking_id),
         case when m.id is not null then jsonb_build_object(
           'id', m.id, 'sender_id', m.sender_id, 'type', m.type, 'preview', c.last_message_preview,
           'created_at', m.created_at, 'mine', m.sender_id is not distinct from me) end,
         coalesce(c.last_message_at, c.created_at),
         (select count(*)::integer from public.messages u
           where u.conversation_id = c.id and u.created_at > coalesce(p.last_read_at, '-infinity')
             and u.sender_id is distinct from me and u.deleted_at is null),
         coalesce(p.muted_until > now(), false),
         p.archived_at is not null
    from public.conversation_participants p
    join public.conversations c on c.id = p.conversation_id
    left join public.messages m on m.id = c.last_message_id
   where p.user_id = me
     and (include_archived or p.archived_at is null)
     and (my_inbox.before is null or coalesce(c.last_message_at, c.created_at) < my_inbox.before)
   order by coalesce(c.last_message_at, c.created_at) desc, c.id desc
   limit max_rows;
end $$;
comment on function public.my_inbox(boolean, integer, timestamptz) is
  'The caller''s conversations, latest activity first, each with the other participants (name, avatar), the booking it is about, the last message and the caller''s unread count. Page with before = the last row''s last_activity_at.';
revoke execute on function public.my_inbox(boolean, integer, timestamptz) from public;
grant execute on function public.my_inbox(boolean, integer, timestamptz) to anon, authenticated;

-- -----------------------------------------------------------------------------
-- Notifications: count and mark read (reading the list is RLS on the table).
-- -----------------------------------------------------------------------------
create function public.unread_notification_count() returns integer
language plpgsql stable
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.require_user();
begin
  return (select count(*)::integer from public.notifications n
           where n.user_id = me and n.read_at is null and 'in_app' = any (n.channels));
end $$;
comment on function public.unread_notification_count() is 'How many of the caller''s in-app notifications are unread (the bell''s badge).';
revoke execute on function public.unread_notification_count() from public;
grant execute on function public.unread_notification_count() to anon, authenticated;

create function public.mark_notifications_read(ids uuid[] default null) returns integer
language plpgsql volatile
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.require_user();
  changed integer;
begin
  update public.notifications n set read_at = now()
   where n.user_id = me and n.read_at is null and (ids is null or n.id = any (ids));
  get diagnostics changed = row_count;
  return changed;
end $$;
comment on function public.mark_notifications_read(uuid[]) is 'Marks the caller''s notifications read: those in ids, or all when ids is omitted. Returns how many changed (others'' ids change nothing).';
revoke execute on function public.mark_notifications_read(uuid[]) from public;
grant execute on function public.mark_notifications_read(uuid[]) to anon, authenticated;

-- =============================================================================
-- Workflow notifications: bookings (with their conversation), payments, reviews.
-- =============================================================================

-- A booking's conversation: the customer and the provider, created with the
-- booking; created_by is NULL so that neither party can rename or close it.
create function app.booking_conversation(booking_id uuid) returns uuid
language plpgsql volatile security definer
set search_path = pg_catalog, public
as $$
declare
  b public.bookings;
  result uuid;
begin
  select * into b from public.bookings x where x.id = booking_conversation.booking_id;
  if b.id is null then
    return null;
  end if;
  select c.id into result from public.conversations c
   where c.booking_id = b.id and not c.is_group
     and exists (select 1 from public.conversation_participants p where p.conversation_id = c.id and p.user_id = b.customer_id)
     and exists (select 1 from public.conversation_participants p where p.conversation_id = c.id and p.user_id = b.provider_id)
   order by c.created_at
   limit 1;
  if result is null then
    insert into public.conversations (tenant_id, booking_id, created_by, title, is_group)
    values (b.tenant_id, b.id, null, left(b.service_title, 200), false)
    returning id into result;
    insert into public.conversation_participants (conversation_id, user_id, role)
    values (result, b.customer_id, 'member'), (result, b.provider_id, 'member');
  end if;
  return result;
end $$;
comment on function app.booking_conversation(uuid) is 'The conversation between a booking''s customer and provider (created if missing).';
revoke execute on function app.booking_conversation(uuid) from public;
grant execute on function app.booking_conversation(uuid) to service_role;

create function app.booking_when(b public.bookings) returns text
language sql stable
set search_path = pg_catalog, public
as $$
  select to_char(b.starts_at at time zone b.time_zone, 'Dy DD Mon YYYY HH24:MI') || ' (' || b.time_zone || ')'
$$;
revoke execute on function app.booking_when(public.bookings) from public;

-- Booking events: who hears of each, the words, and a line in the booking's
-- conversation. Statuses are compared as text (0021 adds declined, expired and
-- no_show). Notifications about a booking that starts within 12 hours are urgent.
create or replace function app.bookings_notify() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  actor uuid := app.current_user_id();
  status text := new.status::text;
  reason text := nullif(coalesce(nullif(current_setting('loconomy.reason', true), ''), new.cancellation_reason), '');
  conv uuid;
  kind text;
  title text;
  line text;
  recipient uuid;
  recipients uuid[];
  data jsonb;
  who text;
begin
  if tg_op = 'INSERT' then
    conv := app.booking_conversation(new.id);
    data := jsonb_build_object('booking_id', new.id, 'status', status, 'conversation_id', conv,
                               'urgent', new.starts_at < now() + interval '12 hours');
    perform app.notify(new.provider_id, 'booking_received',
                       case when status = 'confirmed' then 'New booking' else 'New booking request' end,
                       format('%s on %s, %s', new.service_title, app.booking_when(new), new.confirmation_code),
                       data, '/bookings/' || new.id, actor);
    if status = 'confirmed' then
      perform app.notify(new.customer_id, 'booking_confirmed', 'Booking confirmed',
                         format('%s on %s, %s', new.service_title, app.booking_when(new), new.confirmation_code),
                         data, '/bookings/' || new.id, actor);
    end if;
    perform app.post_system_message(conv,
      format('%s %s for %s', case when status = 'confirmed' then 'Booked' else 'Booking requested' end,
             new.service_title, app.booking_when(new)),
      jsonb_build_object('event', 'booking_created', 'booking_id', new.id, 'status', status));
    return null;
  end if;

  conv := app.booking_conversation(new.id);
  data := jsonb_build_object('booking_id', new.id, 'status', status, 'conversation_id', conv,
                             'urgent', new.starts_at < now() + interval '12 hours');
  if new.status is distinct from old.status then
    kind := case status
      when 'confirmed' then 'booking_confirmed' when 'declined' then 'booking_declined'
      when 'in_progress' then 'booking_started' when 'completed' then 'booking_completed'
      when 'cancelled' then 'booking_cancelled' when 'expired' then 'booking_expired'
      when 'no_show' then 'booking_no_show' when 'disputed' then 'booking_disputed'
      when 'refunded' then 'booking_refunded' end;
    title := case status
      when 'confirmed' then 'Booking confirmed' when 'declined' then 'Booking request declined'
      when 'in_progress' then 'Booking started' when 'completed' then 'Booking completed'
      when 'cancelled' then 'Booking cancelled' when 'expired' then 'Booking request expired'
      when 'no_show' then 'Marked as no-show' when 'disputed' then 'Booking disputed'
      when 'refunded' then 'Booking refunded' else 'Booking ' || replace(status, '_', ' ') end;
    data := data || jsonb_build_object('from_status', old.status::text);
  elsif new.starts_at is distinct from old.starts_at then
    kind := 'booking_rescheduled';
    title := 'Booking rescheduled';
    data := data || jsonb_build_object('previous_starts_at', old.starts_at);
  else
    return null;  -- nothing a party needs to hear about
  end if;

  select coalesce(p.display_name, 'Someone') into who from public.user_profiles p where p.user_id = actor;
  line := case when kind = 'booking_rescheduled'
               then format('Moved to %s', app.booking_when(new))
               else title end
          || case when actor is not null then format(' by %s', coalesce(who, 'Someone')) else '' end
          || case when reason is not null and status in ('cancelled', 'declined', 'disputed', 'no_show')
                  then ': ' || left(reason, 500) else '' end;
  perform app.post_system_message(conv, line,
    jsonb_build_object('event', case when kind = 'booking_rescheduled' then 'booking_rescheduled' else 'booking_status' end,
                       'booking_id', new.id, 'status', status, 'from_status', old.status::text));

  if kind is null then
    return null;  -- a status nobody is told about (a future one)
  end if;
  -- The parties other than the one who made the change; a change by the system
  -- (no caller) goes to both.
  recipients := array(select x from unnest(array[new.customer_id, new.provider_id]) x where x is distinct from actor);
  foreach recipient in array recipients loop
    perform app.notify(recipient, kind::public.notification_type, title,
                       format('%s on %s, %s', new.service_title, app.booking_when(new), new.confirmation_code)
                         || case when reason is not null and status in ('cancelled', 'declined') then ': ' || left(reason, 200) else '' end,
                       data, '/bookings/' || new.id, actor);
  end loop;
  return null;
end $$;
drop trigger bookings_notify on public.bookings;
create trigger bookings_notify after insert or update of status, starts_at on public.bookings
  for each row execute function app.bookings_notify();

-- Reminders: once per booking, hours_before its start (a scheduler calls this).
create table app.booking_reminders (
  booking_id  uuid primary key references public.bookings (id) on delete cascade,
  sent_at     timestamptz not null default now()
);
comment on table app.booking_reminders is 'Bookings whose reminder went out (send_booking_reminders() sends one per booking).';

create function public.send_booking_reminders(hours_before integer default 24) returns integer
language plpgsql volatile security definer
set search_path = pg_catalog, public
as $$
declare
  b public.bookings;
  sent integer := 0;
  data jsonb;
begin
  if hours_before is null or hours_before not between 1 and 168 then
    raise invalid_parameter_value using message = 'hours_before must be between 1 and 168',
      hint = 'how long before a booking starts its reminder goes out, in hours (default 24)';
  end if;
  for b in
    select x.* from public.bookings x
     where x.status = 'confirmed' and x.starts_at > now()
       and x.starts_at <= now() + make_interval(hours => hours_before)
       and not exists (select 1 from app.booking_reminders r where r.booking_id = x.id)
     order by x.starts_at
     for update skip locked
  loop
    insert into app.booking_reminders (booking_id) values (b.id) on conflict do nothing;
    if not found then
      continue;  -- another run took it
    end if;
    data := jsonb_build_object('booking_id', b.id, 'starts_at', b.starts_at,
                               'conversation_id', app.booking_conversation(b.id),
                               'urgent', b.starts_at < now() + interval '12 hours');
    perform app.notify(b.customer_id, 'booking_reminder', 'Upcoming booking',
                       format('%s on %s, %s', b.service_title, app.booking_when(b), b.confirmation_code),
                       data, '/bookings/' || b.id, null);
    perform app.notify(b.provider_id, 'booking_reminder', 'Upcoming booking',
                       format('%s on %s, %s', b.service_title, app.booking_when(b), b.confirmation_code),
                       data, '/bookings/' || b.id, null);
    sent := sent + 1;
  end loop;
  return sent;
end $$;
comment on function public.send_booking_reminders(integer) is
  'For the scheduler (service_role): reminds both parties of each confirmed booking that starts within hours_before hours, once per booking whatever how often it runs. Returns how many bookings were reminded.';
revoke execute on function public.send_booking_reminders(integer) from public;
grant execute on function public.send_booking_reminders(integer) to service_role;

-- Money: a completed payment tells the provider (for a booking) or the payer
-- (a receipt otherwise); a completed payout tells its recipient.
create function app.transactions_notify() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  provider uuid;
  amount text := format('%s %s', to_char(new.amount_cents / 100.0, 'FM999999999990.00'), new.currency);
begin
  if new.status::text <> 'completed' or (tg_op = 'UPDATE' and old.status::text = 'completed') then
    return null;
  end if;
  if new.type::text = 'payment' then
    select b.provider_id into provider from public.bookings b where b.id = new.booking_id;
    perform app.notify(coalesce(provider, new.user_id), 'payment_received', 'Payment received',
                       coalesce(new.description, format('%s received', amount)),
                       jsonb_build_object('transaction_id', new.id, 'booking_id', new.booking_id,
                                          'amount_cents', new.amount_cents, 'currency', new.currency),
                       case when new.booking_id is not null then '/bookings/' || new.booking_id end, null);
  elsif new.type::text = 'payout' then
    perform app.notify(new.user_id, 'payout_sent', 'Payout sent', format('%s is on its way to your account', amount),
                       jsonb_build_object('transaction_id', new.id, 'amount_cents', new.amount_cents,
                                          'currency', new.currency),
                       null, null);
  end if;
  return null;
end $$;
revoke execute on function app.transactions_notify() from public;
create trigger transactions_notify after insert or update of status on public.transactions
  for each row execute function app.transactions_notify();

create or replace function app.reviews_notify() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
  perform app.notify(new.reviewee_id, 'review_received', format('New %s-star review', new.rating),
                     coalesce(left(new.comment, 200), ''),
                     jsonb_build_object('review_id', new.id, 'booking_id', new.booking_id),
                     '/reviews/' || new.id, new.reviewer_id);
  return null;
end $$;
