-- =============================================================================
-- 0010 messaging: conversations with real participant rows (per-participant
-- read state instead of a uuid[] without foreign keys), messages, and in-app /
-- email / SMS / push notifications, some raised by triggers on bookings,
-- messages and reviews.
-- =============================================================================

create type public.message_type as enum ('text', 'image', 'file', 'system');
create type public.notification_channel as enum ('in_app', 'email', 'sms', 'push');
create type public.notification_type as enum (
  'booking_received', 'booking_confirmed', 'booking_started', 'booking_completed', 'booking_cancelled',
  'booking_disputed', 'booking_refunded', 'review_received', 'payment_received', 'payout_sent',
  'verification_approved', 'verification_rejected', 'message_received', 'referral_completed', 'system_alert');

create table public.conversations (
  id                    uuid primary key default gen_random_uuid(),
  tenant_id             uuid not null references public.tenants (id) on delete cascade,
  booking_id            uuid references public.bookings (id) on delete set null,
  created_by            uuid references public.users (id) on delete set null,
  title                 text check (length(title) <= 200),
  is_group              boolean not null default false,
  is_active             boolean not null default true,
  last_message_id       uuid,
  last_message_at       timestamptz,
  last_message_preview  text,
  metadata              jsonb not null default '{}',
  created_at            timestamptz not null default now(),
  updated_at            timestamptz not null default now()
);
comment on table public.conversations is 'A chat between participants (conversation_participants), optionally about a booking. last_message_* are kept by trigger.';

create index conversations_booking_id_idx on public.conversations (booking_id) where booking_id is not null;
create index conversations_created_by_idx on public.conversations (created_by);
create index conversations_tenant_recent_idx on public.conversations (tenant_id, last_message_at desc nulls last);

create trigger conversations_set_updated_at before update on public.conversations
  for each row execute function app.set_updated_at();

create table public.conversation_participants (
  conversation_id  uuid not null references public.conversations (id) on delete cascade,
  user_id          uuid not null references public.users (id) on delete cascade,
  role             text not null default 'member' check (role in ('owner', 'member')),
  joined_at        timestamptz not null default now(),
  last_read_at     timestamptz,
  archived_at      timestamptz,
  muted_until      timestamptz,
  primary key (conversation_id, user_id)
);
comment on table public.conversation_participants is 'Who is in a conversation, with each participant''s own read, archive and mute state.';
comment on column public.conversation_participants.last_read_at is 'Messages created after this are unread for this participant.';

create index conversation_participants_user_idx on public.conversation_participants (user_id, conversation_id);

create table public.messages (
  id               uuid primary key default gen_random_uuid(),
  conversation_id  uuid not null references public.conversations (id) on delete cascade,
  tenant_id        uuid not null references public.tenants (id) on delete cascade,
  sender_id        uuid references public.users (id) on delete set null,
  type             public.message_type not null default 'text',
  content          text check (length(content) <= 20000),
  attachments      jsonb not null default '[]' check (jsonb_typeof(attachments) = 'array'),
  reply_to_id      uuid references public.messages (id) on delete set null,
  edited_at        timestamptz,
  deleted_at       timestamptz,
  metadata         jsonb not null default '{}',
  created_at       timestamptz not null default now(),
  updated_at       timestamptz not null default now(),
  check (type <> 'text' or deleted_at is not null or length(trim(coalesce(content, ''))) > 0)
);
comment on table public.messages is 'Chat messages. Editing stamps edited_at; a client delete blanks the content and stamps deleted_at (soft delete).';
comment on column public.messages.sender_id is 'NULL for system messages and for senders whose account was removed.';

create index messages_conversation_created_idx on public.messages (conversation_id, created_at desc);
create index messages_sender_id_idx on public.messages (sender_id);
create index messages_reply_to_id_idx on public.messages (reply_to_id) where reply_to_id is not null;
create index messages_tenant_id_idx on public.messages (tenant_id);

alter table public.conversations
  add constraint conversations_last_message_id_fkey
  foreign key (last_message_id) references public.messages (id) on delete set null;
create index conversations_last_message_id_idx on public.conversations (last_message_id);

create function app.is_conversation_participant(conversation uuid) returns boolean
language sql stable security definer
set search_path = pg_catalog, public
as $$
  -- SECURITY DEFINER: a policy on conversation_participants that queried the
  -- table itself would recurse.
  select exists (select 1 from public.conversation_participants p
                 where p.conversation_id = conversation and p.user_id = app.current_user_id())
$$;
revoke execute on function app.is_conversation_participant(uuid) from public;
grant execute on function app.is_conversation_participant(uuid) to authenticated, service_role;

create function app.messages_before_write() returns trigger
language plpgsql
set search_path = pg_catalog, public
as $$
begin
  if tg_op = 'INSERT' then
    if not app.is_trusted() then
      new.type := case when new.type = 'system' then 'text' else new.type end;
      new.edited_at := null;
      new.deleted_at := null;
    end if;
    return new;
  end if;
  if new.conversation_id <> old.conversation_id or new.sender_id is distinct from old.sender_id then
    raise check_violation using message = 'a message cannot move to another conversation or sender';
  end if;
  if old.deleted_at is not null and not app.is_trusted() then
    raise check_violation using message = 'a deleted message cannot be edited';
  end if;
  if new.deleted_at is not null and old.deleted_at is null then
    new.content := null;
    new.attachments := '[]';
  elsif new.content is distinct from old.content or new.attachments is distinct from old.attachments then
    new.edited_at := now();
  end if;
  return new;
end $$;
revoke execute on function app.messages_before_write() from public;

create function app.messages_after_insert() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
  update public.conversations
     set last_message_id = new.id, last_message_at = new.created_at,
         last_message_preview = left(coalesce(new.content, '[' || new.type || ']'), 140)
   where id = new.conversation_id;
  -- Sending a message means the sender has read the conversation.
  update public.conversation_participants set last_read_at = new.created_at, archived_at = null
   where conversation_id = new.conversation_id and user_id = new.sender_id;
  insert into public.notifications (user_id, sender_id, type, title, body, data, action_url)
  select p.user_id, new.sender_id, 'message_received',
         coalesce((select display_name from public.user_profiles where user_id = new.sender_id), 'New message'),
         left(coalesce(new.content, 'sent an attachment'), 200),
         jsonb_build_object('conversation_id', new.conversation_id, 'message_id', new.id),
         '/conversations/' || new.conversation_id
    from public.conversation_participants p
   where p.conversation_id = new.conversation_id and p.user_id is distinct from new.sender_id
     and (p.muted_until is null or p.muted_until < now());
  return null;
end $$;
revoke execute on function app.messages_after_insert() from public;

-- Editing or deleting the latest message keeps the conversation's preview in
-- step, so a deleted message's text does not live on there.
create function app.messages_after_update() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
  update public.conversations
     set last_message_preview = case when new.deleted_at is not null then '[deleted]'
                                     else left(coalesce(new.content, '[' || new.type || ']'), 140) end
   where id = new.conversation_id and last_message_id = new.id;
  return null;
end $$;
revoke execute on function app.messages_after_update() from public;

create trigger messages_inherit_tenant before insert on public.messages
  for each row execute function app.inherit_tenant('conversations', 'conversation_id');
create trigger messages_before_write before insert or update on public.messages
  for each row execute function app.messages_before_write();
create trigger messages_set_updated_at before update on public.messages
  for each row execute function app.set_updated_at();
create trigger messages_after_insert after insert on public.messages
  for each row execute function app.messages_after_insert();
create trigger messages_after_update after update on public.messages
  for each row when (new.content is distinct from old.content or new.deleted_at is distinct from old.deleted_at)
  execute function app.messages_after_update();
create trigger messages_soft_delete before delete on public.messages
  for each row execute function app.soft_delete();

alter table public.conversations enable row level security;
alter table public.conversation_participants enable row level security;
alter table public.messages enable row level security;

grant select on public.conversations to authenticated;
grant update (title, is_active) on public.conversations to authenticated;
create policy "Participants can read their conversations" on public.conversations
  for select to authenticated using ((select app.is_conversation_participant(id)));
create policy "Conversation owners can rename or close them" on public.conversations
  for update to authenticated
  using (created_by = (select app.current_user_id()))
  with check (created_by = (select app.current_user_id()));

grant select on public.conversation_participants to authenticated;
grant update (last_read_at, archived_at, muted_until), delete on public.conversation_participants to authenticated;
create policy "Participants can see who else is in their conversations" on public.conversation_participants
  for select to authenticated using ((select app.is_conversation_participant(conversation_id)));
create policy "Participants can update their own read state" on public.conversation_participants
  for update to authenticated
  using (user_id = (select app.current_user_id()))
  with check (user_id = (select app.current_user_id()));
create policy "Participants can leave a conversation" on public.conversation_participants
  for delete to authenticated using (user_id = (select app.current_user_id()));

grant select on public.messages to authenticated;
grant insert (conversation_id, sender_id, type, content, attachments, reply_to_id, metadata),
      update (content, attachments, deleted_at),
      delete
  on public.messages to authenticated;
create policy "Participants can read messages of their conversations" on public.messages
  for select to authenticated using ((select app.is_conversation_participant(conversation_id)));
create policy "Participants can post as themselves" on public.messages
  for insert to authenticated
  with check (sender_id = (select app.current_user_id()) and (select app.is_conversation_participant(conversation_id)));
create policy "Senders can edit their messages" on public.messages
  for update to authenticated
  using (sender_id = (select app.current_user_id()))
  with check (sender_id = (select app.current_user_id()));
create policy "Senders can delete their messages" on public.messages
  for delete to authenticated using (sender_id = (select app.current_user_id()));

create function public.start_conversation(participant_ids uuid[], title text default null, booking_id uuid default null)
returns public.conversations
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  me uuid := app.current_user_id();
  tenant uuid := app.current_tenant_id();
  others uuid[] := array(select distinct x from unnest(participant_ids) x where x is distinct from me);
  result public.conversations;
begin
  if me is null then
    raise insufficient_privilege using message = 'sign in to start a conversation';
  end if;
  if cardinality(others) = 0 or cardinality(others) > 50 then
    raise check_violation using message = 'a conversation needs between 1 and 50 other participants';
  end if;
  if (select count(*) from public.users u where u.id = any (others) and u.tenant_id = tenant and u.deleted_at is null)
     <> cardinality(others) then
    raise no_data_found using message = 'some participants do not exist in this marketplace';
  end if;
  if start_conversation.booking_id is not null and not exists (
      select 1 from public.bookings b where b.id = start_conversation.booking_id and me in (b.customer_id, b.provider_id)) then
    raise no_data_found using message = format('booking %s not found', start_conversation.booking_id);
  end if;
  -- One direct conversation per pair (and booking): return the existing one.
  if cardinality(others) = 1 then
    select c.* into result from public.conversations c
     where not c.is_group and c.tenant_id = tenant
       and c.booking_id is not distinct from start_conversation.booking_id
       and (select array_agg(p.user_id order by p.user_id) from public.conversation_participants p
             where p.conversation_id = c.id) = (select array_agg(x order by x) from unnest(array[me, others[1]]) x)
     limit 1;
    if result.id is not null then
      return result;
    end if;
  end if;
  insert into public.conversations (tenant_id, booking_id, created_by, title, is_group)
  values (tenant, start_conversation.booking_id, me, start_conversation.title, cardinality(others) > 1)
  returning * into result;
  insert into public.conversation_participants (conversation_id, user_id, role)
  select result.id, x, case when x = me then 'owner' else 'member' end
    from unnest(array_append(others, me)) x;
  return result;
end $$;
comment on function public.start_conversation(uuid[], text, uuid) is 'Starts (or, for two people, finds) a conversation between the caller and others in the same marketplace.';
revoke execute on function public.start_conversation(uuid[], text, uuid) from public;
grant execute on function public.start_conversation(uuid[], text, uuid) to authenticated, service_role;

-- -----------------------------------------------------------------------------
-- notifications
-- -----------------------------------------------------------------------------
create table public.notifications (
  id             uuid primary key default gen_random_uuid(),
  user_id        uuid not null references public.users (id) on delete cascade,
  tenant_id      uuid not null references public.tenants (id) on delete cascade,
  sender_id      uuid references public.users (id) on delete set null,
  type           public.notification_type not null,
  channel        public.notification_channel not null default 'in_app',
  title          text not null check (length(title) between 1 and 255),
  body           text not null default '',
  data           jsonb not null default '{}',
  action_url     text,
  read_at        timestamptz,
  is_read        boolean generated always as (read_at is not null) stored,
  email_sent_at  timestamptz,
  sms_sent_at    timestamptz,
  push_sent_at   timestamptz,
  created_at     timestamptz not null default now(),
  updated_at     timestamptz not null default now()
);
comment on table public.notifications is 'Notifications to a user; the delivery job stamps *_sent_at per channel. is_read is derived from read_at.';

create index notifications_unread_idx on public.notifications (user_id, created_at desc) where read_at is null;
create index notifications_user_created_idx on public.notifications (user_id, created_at desc);
create index notifications_sender_id_idx on public.notifications (sender_id) where sender_id is not null;
create index notifications_tenant_id_idx on public.notifications (tenant_id);
create index notifications_undelivered_email_idx on public.notifications (created_at) where channel = 'email' and email_sent_at is null;

create trigger notifications_inherit_tenant before insert on public.notifications
  for each row execute function app.inherit_tenant('users', 'user_id');
create trigger notifications_set_updated_at before update on public.notifications
  for each row execute function app.set_updated_at();

alter table public.notifications enable row level security;
grant select, delete on public.notifications to authenticated;
grant update (read_at) on public.notifications to authenticated;
create policy "Users can read their own notifications" on public.notifications
  for select to authenticated using (user_id = (select app.current_user_id()));
create policy "Users can mark their own notifications read" on public.notifications
  for update to authenticated
  using (user_id = (select app.current_user_id()))
  with check (user_id = (select app.current_user_id()));
create policy "Users can delete their own notifications" on public.notifications
  for delete to authenticated using (user_id = (select app.current_user_id()));

-- Booking events notify the other party.
create function app.bookings_notify() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
declare
  actor uuid := app.current_user_id();
  kind public.notification_type;
  recipients uuid[];
begin
  if tg_op = 'UPDATE' and new.status is not distinct from old.status then
    return null;  -- a trusted writer re-set the same status: nothing happened
  end if;
  if tg_op = 'INSERT' then
    kind := 'booking_received';
    recipients := array[new.provider_id];
  else
    kind := case new.status
      when 'confirmed' then 'booking_confirmed' when 'in_progress' then 'booking_started'
      when 'completed' then 'booking_completed' when 'cancelled' then 'booking_cancelled'
      when 'disputed' then 'booking_disputed' when 'refunded' then 'booking_refunded' end;
    recipients := array(select x from unnest(array[new.customer_id, new.provider_id]) x where x is distinct from actor);
  end if;
  if kind is null then
    return null;
  end if;
  insert into public.notifications (user_id, sender_id, type, title, body, data, action_url)
  select r, actor, kind,
         initcap(replace(kind::text, '_', ' ')),
         format('%s on %s (%s)', new.service_title,
                to_char(new.starts_at at time zone new.time_zone, 'Dy DD Mon YYYY HH24:MI'), new.confirmation_code),
         jsonb_build_object('booking_id', new.id, 'status', new.status),
         '/bookings/' || new.id
    from unnest(recipients) r;
  return null;
end $$;
revoke execute on function app.bookings_notify() from public;
create trigger bookings_notify after insert or update of status on public.bookings
  for each row execute function app.bookings_notify();

create function app.reviews_notify() returns trigger
language plpgsql security definer
set search_path = pg_catalog, public
as $$
begin
  insert into public.notifications (user_id, sender_id, type, title, body, data, action_url)
  values (new.reviewee_id, new.reviewer_id, 'review_received', format('New %s-star review', new.rating),
          coalesce(left(new.comment, 200), ''), jsonb_build_object('review_id', new.id, 'booking_id', new.booking_id),
          '/reviews/' || new.id);
  return null;
end $$;
revoke execute on function app.reviews_notify() from public;
create trigger reviews_notify after insert on public.reviews
  for each row execute function app.reviews_notify();

grant all on public.conversations, public.conversation_participants, public.messages, public.notifications to service_role;
