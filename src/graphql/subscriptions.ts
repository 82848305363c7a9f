import type { PgClient, PgResource, WithPgClient } from 'postgraphile/@dataplan/pg';
import {
  constant,
  context,
  type GrafastSubscriber,
  lambda,
  list,
  listen,
  SafeError,
  type Step,
} from 'postgraphile/grafast';
import { type SQL, sql } from 'postgraphile/pg-sql2';
import { extendSchema, gql } from 'postgraphile/utils';

/*
 * Subscriptions (decision 0025 "Subscriptions"): new messages of a conversation, the caller's new
 * notifications, and changes of a booking or of the caller's bookings. Migration 0048's triggers
 * NOTIFY a row's id on a topic at commit; each subscriber's stream keeps only the ids whose row it
 * may read — a query with its own role and claims, so RLS decides — and the event's fields are
 * then loaded with the same settings. An event the subscriber may not read is never sent, so not
 * even its id leaks; the topics only narrow how many rows are checked.
 */

/** A topic of migration 0048: its channel prefix and the table whose ids it carries. */
interface Topic {
  /** `graphql:messages:` and so on; the channel is the prefix and a uuid. */
  readonly prefix: string;
  /** The uuid that ends the channel, or `caller`: the caller's users.id, looked up when subscribing. */
  readonly key: string | 'caller';
  readonly table: SQL;
  /** For the error when the caller has no account. */
  readonly what: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

type Settings = Record<string, string | undefined> | null;

/** One row of a query with the subscriber's settings (role, claims): what RLS lets it see. */
async function queryAs(
  withPgClient: WithPgClient,
  pgSettings: Settings,
  query: SQL,
): Promise<Record<string, unknown> | undefined> {
  const { text, values } = sql.compile(query);
  const result = await withPgClient(pgSettings, (client: PgClient) =>
    client.query<Record<string, unknown>>({ text, values: values as unknown[] }),
  );
  return result.rows[0];
}

/**
 * The ids of a topic that the subscriber may read, in the order they were announced. `return`
 * ends the underlying LISTEN at once, even while a `next` is waiting for an announcement.
 */
function visibleIds(
  source: AsyncIterator<string>,
  visible: (id: string) => Promise<boolean>,
): AsyncIterableIterator<string> {
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next() {
      for (;;) {
        const item = await source.next();
        if (item.done) return item;
        if (UUID.test(item.value) && (await visible(item.value))) return item;
      }
    },
    async return() {
      await source.return?.();
      return { done: true, value: undefined };
    },
    async throw(error: unknown) {
      await source.return?.();
      throw error;
    },
  };
}

/** A GrafastSubscriber over PostGraphile's (LISTEN on PostgreSQL or PGlite), filtered by RLS. */
function rlsSubscriber(
  subscriber: GrafastSubscriber,
  withPgClient: WithPgClient,
  pgSettings: Settings,
): GrafastSubscriber<Record<string, Topic>> {
  return {
    async subscribe(topic: Topic) {
      let key = topic.key;
      if (key === 'caller') {
        const row = await queryAs(withPgClient, pgSettings, sql`select app.current_user_id()::text as id`);
        if (typeof row?.id !== 'string') {
          // As REST's endpoints that need a user (src/errors.ts); service_role has no account either.
          throw new SafeError(`Sign in with an account to subscribe to your ${topic.what}`, {
            code: 'LOCO_AUTH_REQUIRED',
            status: 401,
          });
        }
        key = row.id;
      }
      const source = await subscriber.subscribe(`${topic.prefix}${key}`);
      return visibleIds(source[Symbol.asyncIterator](), async (id) => {
        // A row only if RLS shows it (values come back as text, so no boolean to read).
        const query = sql`select 1 from ${topic.table} as t where t.id = ${sql.value(id)}::uuid`;
        return (await queryAs(withPgClient, pgSettings, query)) !== undefined;
      });
    },
  } as unknown as GrafastSubscriber<Record<string, Topic>>;
}

/** Listens on a topic with the caller's settings; each event is the id of a row it may read. */
function listenAs($topic: Step<Topic>): Step<string> {
  const $subscriber = lambda(
    list([context().get('pgSubscriber'), context().get('withPgClient'), context().get('pgSettings')]),
    ([subscriber, withPgClient, pgSettings]) => {
      if (!subscriber) throw new SafeError('Subscriptions are not available on this server');
      return rlsSubscriber(subscriber as GrafastSubscriber, withPgClient as WithPgClient, pgSettings as Settings);
    },
  );
  return listen($subscriber, $topic as unknown as Step<string>) as unknown as Step<string>;
}

/** The topic of a row's key (an argument), or of the caller's users.id when there is none. */
function topic(prefix: string, resource: PgResource, what: string, $key?: Step<string>): Step<Topic> {
  const table = resource.from as SQL;
  if ($key === undefined) return constant<Topic>({ prefix, key: 'caller', table, what }, false);
  return lambda($key, (key): Topic => ({ prefix, key, table, what }));
}

export const SubscriptionsPlugin = extendSchema((build) => {
  const { messages, notifications, bookings } = build.input.pgRegistry.pgResources as Record<string, PgResource>;
  if (messages === undefined || notifications === undefined || bookings === undefined) {
    // A schema without the marketplace's tables (a fixture schema) has no subscriptions.
    return { typeDefs: [] };
  }
  const typeOf = (resource: PgResource) => build.inflection.tableType(resource.codec);
  const byId = (resource: PgResource) => ($id: Step<string>) => resource.get({ id: $id });
  return {
    typeDefs: gql`
      extend type Subscription {
        """
        Each new message of the conversation, once committed, for its participants (RLS on
        messages decides; others receive nothing). Needs a WebSocket (graphql-ws).
        """
        messageCreated(conversationId: UUID!): ${typeOf(messages)}
        """
        Each new notification of the signed-in caller, once committed. Needs a WebSocket (graphql-ws).
        """
        notificationCreated: ${typeOf(notifications)}
        """
        The booking each time it is created or changed (status, times, notes…), for those who may
        read it. Needs a WebSocket (graphql-ws).
        """
        bookingChanged(bookingId: UUID!): ${typeOf(bookings)}
        """
        Each booking of the signed-in caller (as customer or provider) when it is created or
        changed. Needs a WebSocket (graphql-ws).
        """
        myBookingChanged: ${typeOf(bookings)}
      }
    `,
    objects: {
      Subscription: {
        plans: {
          messageCreated: {
            subscribePlan: (_$root, args) =>
              listenAs(topic('graphql:messages:', messages, 'messages', args.getRaw('conversationId'))),
            plan: byId(messages),
          },
          notificationCreated: {
            subscribePlan: () => listenAs(topic('graphql:notifications:', notifications, 'notifications')),
            plan: byId(notifications),
          },
          bookingChanged: {
            subscribePlan: (_$root, args) =>
              listenAs(topic('graphql:bookings:', bookings, 'bookings', args.getRaw('bookingId'))),
            plan: byId(bookings),
          },
          myBookingChanged: {
            subscribePlan: () => listenAs(topic('graphql:user_bookings:', bookings, 'bookings')),
            plan: byId(bookings),
          },
        },
      },
    },
  };
});
