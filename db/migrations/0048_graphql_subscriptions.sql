-- =============================================================================
-- 0048 graphql subscriptions: the topics `/graphql/v1`'s subscriptions listen on
-- (issue 14 item 3, decision 0025 "Subscriptions"). A trigger NOTIFYs the id of
-- a new message, a new notification and a created or changed booking, in the
-- row's own transaction, so it is delivered at commit and never for a rolled
-- back write. The payload is the id alone: the server loads the row with each
-- subscriber's role and claims, and RLS decides who receives it. A NOTIFY sent
-- twice in one transaction with the same channel and payload is delivered once.
--
-- Channels (at most 63 bytes; a uuid is 36):
--   graphql:messages:<conversation_id>      a message inserted in the conversation
--   graphql:notifications:<user_id>         a notification inserted for the user
--   graphql:bookings:<booking_id>           the booking inserted or updated
--   graphql:user_bookings:<user_id>         a booking of the user's (customer or provider)
-- =============================================================================

create function app.messages_notify_graphql() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
begin
  perform pg_notify('graphql:messages:' || new.conversation_id, new.id::text);
  return null;
end $$;
comment on function app.messages_notify_graphql() is 'Announces a new message to GraphQL subscriptions of its conversation (payload: its id).';
revoke execute on function app.messages_notify_graphql() from public;

create trigger messages_notify_graphql after insert on public.messages
  for each row execute function app.messages_notify_graphql();

create function app.notifications_notify_graphql() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
begin
  perform pg_notify('graphql:notifications:' || new.user_id, new.id::text);
  return null;
end $$;
comment on function app.notifications_notify_graphql() is 'Announces a new notification to GraphQL subscriptions of its user (payload: its id).';
revoke execute on function app.notifications_notify_graphql() from public;

create trigger notifications_notify_graphql after insert on public.notifications
  for each row execute function app.notifications_notify_graphql();

create function app.bookings_notify_graphql() returns trigger
language plpgsql
set search_path = pg_catalog
as $$
begin
  perform pg_notify('graphql:bookings:' || new.id, new.id::text);
  perform pg_notify('graphql:user_bookings:' || new.customer_id, new.id::text);
  perform pg_notify('graphql:user_bookings:' || new.provider_id, new.id::text);
  return null;
end $$;
comment on function app.bookings_notify_graphql() is 'Announces a created or changed booking to GraphQL subscriptions of the booking and of both parties (payload: its id).';
revoke execute on function app.bookings_notify_graphql() from public;

create trigger bookings_notify_graphql after insert or update on public.bookings
  for each row execute function app.bookings_notify_graphql();
