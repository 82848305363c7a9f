-- =============================================================================
-- 0032 realtime private channels and broadcast from SQL (issue 11, decision 0018).
--
-- realtime.messages is Supabase's authorisation and broadcast table. Its RLS
-- policies decide who may join a private channel (config: { private: true }):
-- a SELECT policy that lets the caller see a row of the topic means "may receive"
-- (extension 'broadcast': broadcasts; 'presence': presence), an INSERT policy
-- that lets the caller write one means "may send" / "may track".
-- realtime.channel_access() asks exactly that, as the caller's role with their
-- JWT claims, inside a block that is always rolled back: nothing it writes stays.
--
-- A row inserted with extension 'broadcast' (realtime.send(),
-- realtime.broadcast_changes() in a trigger, or a plain INSERT the policies
-- allow) is broadcast to the topic's channel when its transaction commits: a
-- statement trigger notifies `loconomy_realtime_messages` with the new ids, and
-- every server process reads them back and delivers them to its members
-- (private rows only to members authorised to read the topic). The server
-- deletes rows after the change feed's retention (5 minutes).
-- =============================================================================

-- The API roles reach realtime.messages (for the policy checks and sends) and
-- realtime.topic(); nothing else of the schema is granted to them, and the schema
-- is not exposed over REST (LOCONOMY_DB_SCHEMAS).
grant usage on schema realtime to anon, authenticated;

create table realtime.messages (
  id           uuid not null default gen_random_uuid() primary key,
  topic        text not null check (topic <> ''),
  extension    text not null check (extension in ('broadcast', 'presence')),
  payload      jsonb,
  event        text,
  private      boolean not null default false,
  inserted_at  timestamptz not null default now(),
  updated_at   timestamptz not null default now()
);
comment on table realtime.messages is 'Supabase''s realtime.messages: its RLS policies authorise private channels (SELECT: receive, INSERT: send or track); broadcast rows inserted here reach the topic''s clients at commit. Pruned after 5 minutes.';
create index messages_inserted_at_idx on realtime.messages (inserted_at);
alter table realtime.messages enable row level security;
-- As on Supabase the API roles hold the privileges and the policies decide; with no
-- policy for a role (anon, by default) it can neither join a private channel nor send.
grant select, insert on realtime.messages to anon, authenticated, service_role;

create function realtime.topic() returns text
language sql stable
set search_path = pg_catalog
as $$
  select nullif(current_setting('realtime.topic', true), '')
$$;
comment on function realtime.topic() is 'The topic (channel name without realtime:) being authorised or sent to; NULL elsewhere. For realtime.messages policies, as on Supabase.';
revoke execute on function realtime.topic() from public;
grant execute on function realtime.topic() to anon, authenticated, service_role;

-- Broadcast rows of a statement, notified by id at commit. Several ids per
-- notification (NOTIFY payloads are at most 8000 bytes: 150 uuids is 5.5 kB).
create function realtime.messages_notify() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
begin
  perform pg_notify('loconomy_realtime_messages', string_agg(r.id::text, ',' order by r.n))
     from (select m.id, row_number() over () as n from realtime_new m where m.extension = 'broadcast') r
    group by (r.n - 1) / 150
    order by (r.n - 1) / 150;
  return null;
end
$$;
revoke execute on function realtime.messages_notify() from public;
create trigger messages_notify after insert on realtime.messages
  referencing new table as realtime_new for each statement execute function realtime.messages_notify();

-- What a caller may do on a private channel: for each extension, whether the
-- policies let them SELECT (receive) and INSERT (send, track) a row of the
-- topic. Probe rows are inserted as the owner, then, as the caller's role with
-- their claims and realtime.topic set, the probes are read and a row is written
-- per extension. Everything happens in a block that ends with an exception, so
-- the probes, the writes, the role and the settings are all rolled back (and the
-- notifications discarded) before the answer is returned. A policy that fails
-- for the caller counts as a refusal. Not SECURITY DEFINER: only the server (the
-- owner, a member of the API roles) runs it; nobody else may execute it.
create function realtime.channel_access(channel_topic text, role_name text, claims jsonb)
returns table (extension text, can_read boolean, can_write boolean)
language plpgsql
as $$
declare
  probes uuid[];
  readable text[] := '{}';
  writable text[] := '{}';
  kind text;
begin
  begin
    perform set_config('search_path', 'pg_catalog', true);
    with probe as (
      insert into realtime.messages (topic, extension, private, payload)
      select channel_topic, k, true, '{}' from unnest(array['broadcast', 'presence']) k
      returning id
    )
    select array_agg(id) into probes from probe;

    perform set_config('role', role_name, true);
    perform set_config('request.jwt.claims', coalesce(claims, '{}')::text, true);
    perform set_config('realtime.topic', channel_topic, true);
    begin
      select coalesce(array_agg(m.extension), '{}') into readable
        from realtime.messages m where m.id = any (probes);
    exception when others then
      readable := '{}';
    end;
    foreach kind in array array['broadcast', 'presence'] loop
      begin
        insert into realtime.messages (topic, extension, private, payload)
        values (channel_topic, kind, true, '{}');
        writable := writable || kind;
      exception when others then
        null; -- insufficient_privilege (the policies said no), or a policy that failed
      end;
    end loop;
    raise exception using errcode = 'RTCHK', message = 'realtime access check rolled back';
  exception when sqlstate 'RTCHK' then
    null;
  end;
  return query
    select k, k = any (readable), k = any (writable) from unnest(array['broadcast', 'presence']) k;
end
$$;
comment on function realtime.channel_access(text, text, jsonb) is 'For the server only: whether realtime.messages policies let a role with these JWT claims read (receive) and insert (send, track) on a private channel topic, per extension; leaves nothing behind (decision 0018).';
revoke execute on function realtime.channel_access(text, text, jsonb) from public;

-- Broadcast from SQL, Supabase's signature. Runs as the caller, so the INSERT
-- policies on realtime.messages decide whether it may send to the topic; a refused
-- send is a WARNING and sends nothing (as on Supabase), so a trigger that
-- broadcasts never makes the write it follows fail. Delivered at commit; never
-- if the transaction rolls back.
create function realtime.send(payload jsonb, event text, topic text, private boolean default true)
returns void
language plpgsql
set search_path = pg_catalog
as $$
declare
  previous text := current_setting('realtime.topic', true);
begin
  if send.topic is null or send.topic = '' then
    raise exception 'realtime.send: topic is required' using errcode = '22023';
  end if;
  if send.event is null or send.event = '' then
    raise exception 'realtime.send: event is required' using errcode = '22023';
  end if;
  begin
    perform set_config('realtime.topic', send.topic, true);
    insert into realtime.messages (payload, event, topic, private, extension)
    values (send.payload, send.event, send.topic, coalesce(send.private, true), 'broadcast');
  exception when others then
    raise warning 'ErrorSendingBroadcastMessage: %', sqlerrm;
  end;
  perform set_config('realtime.topic', coalesce(previous, ''), true);
end
$$;
comment on function realtime.send(jsonb, text, text, boolean) is 'Broadcasts payload as event on topic when the transaction commits (private by default: only members authorised by realtime.messages policies receive it). The caller''s INSERT policies on realtime.messages decide; a refusal is a WARNING.';
revoke execute on function realtime.send(jsonb, text, text, boolean) from public;
grant execute on function realtime.send(jsonb, text, text, boolean) to authenticated, service_role;

-- For row triggers: broadcasts {record, old_record, operation, table, schema}
-- through realtime.send (private).
create function realtime.broadcast_changes(
  topic_name text, event_name text, operation text, table_name text, table_schema text,
  new record, old record, level text default 'ROW'
) returns void
language plpgsql
set search_path = pg_catalog
as $$
begin
  if level is distinct from 'ROW' then
    raise exception 'realtime.broadcast_changes: call it from a FOR EACH ROW trigger (level %)', level
      using errcode = '22023';
  end if;
  if operation is null or operation not in ('INSERT', 'UPDATE', 'DELETE') then
    raise exception 'realtime.broadcast_changes: unexpected operation %', operation using errcode = '22023';
  end if;
  perform realtime.send(
    jsonb_build_object('record', to_jsonb(new), 'old_record', to_jsonb(old), 'operation', operation,
                       'table', table_name, 'schema', table_schema),
    event_name, topic_name, true);
end
$$;
comment on function realtime.broadcast_changes(text, text, text, text, text, record, record, text) is 'From a row trigger: realtime.broadcast_changes(topic, event, TG_OP, TG_TABLE_NAME, TG_TABLE_SCHEMA, NEW, OLD) broadcasts the change to the private topic at commit.';
revoke execute on function realtime.broadcast_changes(text, text, text, text, text, record, record, text) from public;
grant execute on function realtime.broadcast_changes(text, text, text, text, text, record, record, text)
  to authenticated, service_role;

-- -----------------------------------------------------------------------------
-- The marketplace's private channels: conversation:<uuid> for its participants,
-- booking:<uuid> for its customer and provider (read and write, broadcast and
-- presence). Other topics have no policy: nobody but service_role joins them.
-- -----------------------------------------------------------------------------
create function app.realtime_topic_id(topic text, kind text) returns uuid
language sql immutable
set search_path = pg_catalog
as $$
  select case when starts_with(topic, kind || ':')
               and substr(topic, length(kind) + 2) ~* '^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$'
              then substr(topic, length(kind) + 2)::uuid end
$$;
comment on function app.realtime_topic_id(text, text) is 'The uuid of a realtime topic `<kind>:<uuid>`, or NULL when the topic is not of that form.';
revoke execute on function app.realtime_topic_id(text, text) from public;
grant execute on function app.realtime_topic_id(text, text) to anon, authenticated, service_role;

create function app.is_booking_party(booking uuid) returns boolean
language sql stable security definer
set search_path = pg_catalog, public
as $$
  -- SECURITY DEFINER: the customer and provider only, whatever bookings' own
  -- policies let others (booking managers) read.
  select exists (select 1 from public.bookings b
                 where b.id = booking and app.current_user_id() in (b.customer_id, b.provider_id))
$$;
comment on function app.is_booking_party(uuid) is 'True when the caller is the booking''s customer or provider.';
revoke execute on function app.is_booking_party(uuid) from public;
grant execute on function app.is_booking_party(uuid) to authenticated, service_role;

create policy "Conversation participants receive on its channel" on realtime.messages
  for select to authenticated
  using (app.is_conversation_participant(app.realtime_topic_id(topic, 'conversation')));
create policy "Conversation participants send on its channel" on realtime.messages
  for insert to authenticated
  with check (app.is_conversation_participant(app.realtime_topic_id(topic, 'conversation')));
create policy "Booking parties receive on its channel" on realtime.messages
  for select to authenticated
  using (app.is_booking_party(app.realtime_topic_id(topic, 'booking')));
create policy "Booking parties send on its channel" on realtime.messages
  for insert to authenticated
  with check (app.is_booking_party(app.realtime_topic_id(topic, 'booking')));
