import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { userToken } from '../../src/auth/keys.js';
import { sql } from '../../src/db/sql.js';
import { createBooking, createListing, createUser, type UserFixture } from '../helpers/fixtures.js';
import {
  asUser,
  getTestDatabase,
  type ServeProcess,
  startServe,
  startTestServer,
  TEST_JWT_SECRET,
  type TestDatabase,
  testBackend,
} from '../helpers/index.js';
import { Queue } from '../realtime/support.js';

/*
 * GraphQL subscriptions over graphql-ws at /graphql/v1 (decision 0025 "Subscriptions"), with
 * graphql-ws's own client: a row is delivered only to subscribers RLS lets read it — a
 * subscriber that may not read it receives nothing, not even its id — and, on PostgreSQL, a row
 * written through one `serve` process reaches a subscriber of another.
 *
 * A subscription starts listening a moment after it is sent (graphql-ws has no "subscribed"
 * answer), so each test first proves its subscription live: it writes probes until one arrives,
 * then a marker, and drains up to the marker. Whatever arrives next was written after.
 */

let db: TestDatabase;
let url: string;
let anonKey: string;
let closeServer: () => Promise<void>;
const clients: Client[] = [];

before(async () => {
  db = await getTestDatabase();
  const server = await startTestServer(db, {});
  url = server.url;
  anonKey = server.keys.anon;
  closeServer = server.close;
});

after(async () => {
  for (const client of clients) await client.dispose();
  await closeServer?.();
  await db?.dispose();
});

interface Received {
  // biome-ignore lint/suspicious/noExplicitAny: whatever the subscription delivered
  readonly data?: any;
  readonly errors?: readonly { message: string; extensions?: Record<string, unknown> }[];
}

interface Subscription {
  readonly events: Queue<Received>;
  /** Settles when the subscription ends: undefined when completed, else the error or close event. */
  readonly ended: Promise<unknown>;
  /** Ends the subscription (graphql-ws `complete`): nothing more reaches `events`. */
  readonly stop: () => void;
}

function wsClient(
  base: string,
  connectionParams: Record<string, string> | undefined,
  options: { query?: string } = {},
): Client {
  const client = createClient({
    url: `${base.replace(/^http/, 'ws')}/graphql/v1${options.query ?? ''}`,
    webSocketImpl: WebSocket,
    connectionParams,
    retryAttempts: 0,
    lazy: true,
  });
  clients.push(client);
  return client;
}

/** A client as a user (their token with the anon key), as a browser's graphql-ws client sends it. */
async function clientFor(user: UserFixture, base = url): Promise<Client> {
  const token = await userToken(TEST_JWT_SECRET, { sub: user.clerkId });
  return wsClient(base, { apikey: anonKey, Authorization: `Bearer ${token}` });
}

function subscribe(client: Client, query: string, variables: Record<string, unknown> = {}): Subscription {
  const events = new Queue<Received>();
  let stop = () => {};
  const ended = new Promise<unknown>((resolve) => {
    stop = client.subscribe(
      { query, variables },
      {
        next: (value) => events.push(value as Received),
        error: (error) => resolve(error),
        complete: () => resolve(undefined),
      },
    );
  });
  return { events, ended, stop };
}

/** An error or close event, readably. */
function describeEnd(ended: unknown): string {
  if (ended === undefined) return 'completed';
  const { code, reason, message } = ended as { code?: number; reason?: string; message?: string };
  return code === undefined ? String(message ?? JSON.stringify(ended)) : `closed ${code} ${reason}`;
}

/** Takes events until one matches (failing on an error event). */
async function nextMatching(sub: Subscription, match: (data: Received['data']) => boolean): Promise<Received> {
  for (;;) {
    const event = await Promise.race([sub.events.next(), sub.ended.then((e) => ({ ended: e }))]);
    if ('ended' in event) assert.fail(`the subscription ended: ${describeEnd(event.ended)}`);
    assert.equal(event.errors, undefined, JSON.stringify(event.errors));
    if (match(event.data)) return event;
  }
}

/**
 * Writes probes (`write('probe n')`) until each subscription has had one, then a marker, and
 * takes events up to the marker: the subscriptions are live, and what they receive next was
 * written after. For rows that are events of their own (messages, notifications); a booking's
 * event is its state when loaded, so a booking test waits for the state it expects.
 */
async function live(
  subs: Subscription[],
  write: (label: string) => Promise<void>,
  labelOf: (data: Received['data']) => string | undefined,
): Promise<void> {
  let waiting = subs.length;
  let failed: unknown;
  for (const sub of subs) {
    nextMatching(sub, (data) => labelOf(data)?.startsWith('probe') === true).then(
      () => {
        waiting -= 1;
      },
      (error: unknown) => {
        failed = error ?? new Error('failed');
      },
    );
  }
  for (let n = 0; waiting > 0; n += 1) {
    if (failed !== undefined) throw failed;
    await write(`probe ${n}`);
    await new Promise((resolve) => setTimeout(resolve, 100)); // the next probe, if none arrived
  }
  await write('marker');
  for (const sub of subs) await nextMatching(sub, (data) => labelOf(data) === 'marker');
}

interface Conversation {
  readonly id: string;
}

async function createConversation(owner: UserFixture, members: UserFixture[]): Promise<Conversation> {
  const { rows } = await db.query<{ id: string }>(sql`
    insert into public.conversations (tenant_id, created_by, is_group)
    values (${owner.tenantId}, ${owner.id}, true) returning id`);
  const id = (rows[0] as { id: string }).id;
  for (const user of [owner, ...members]) await join({ id }, user);
  return { id };
}

const join = (conversation: Conversation, user: UserFixture) =>
  db.query(sql`
    insert into public.conversation_participants (conversation_id, user_id) values (${conversation.id}, ${user.id})`);

const leave = (conversation: Conversation, user: UserFixture) =>
  db.query(sql`
    delete from public.conversation_participants where conversation_id = ${conversation.id} and user_id = ${user.id}`);

/** Posts a message through REST as the sender, as supabase-js would. */
async function post(base: string, sender: UserFixture, conversation: Conversation, content: string): Promise<string> {
  const response = await fetch(`${base}/rest/v1/messages`, {
    method: 'POST',
    headers: {
      apikey: anonKey,
      authorization: `Bearer ${await userToken(TEST_JWT_SECRET, { sub: sender.clerkId })}`,
      'content-type': 'application/json',
      prefer: 'return=representation',
    },
    body: JSON.stringify({ conversation_id: conversation.id, sender_id: sender.id, content }),
  });
  const body = (await response.json()) as { id: string }[];
  assert.equal(response.status, 201, JSON.stringify(body));
  return (body[0] as { id: string }).id;
}

const MESSAGES = `subscription ($id: UUID!) { messageCreated(conversationId: $id) { id content conversationId senderId } }`;
const messageText = (data: Received['data']) => data?.messageCreated?.content as string | undefined;

describe(`GraphQL subscriptions over graphql-ws (${testBackend()})`, () => {
  test('a participant receives new messages; a non-participant subscribed to the same conversation receives nothing', async () => {
    const alice = await createUser(db);
    const bob = await createUser(db);
    const carol = await createUser(db);
    const chat = await createConversation(alice, [bob, carol]);

    const bobs = subscribe(await clientFor(bob), MESSAGES, { id: chat.id });
    const carols = subscribe(await clientFor(carol), MESSAGES, { id: chat.id });
    const write = (text: string) => post(url, alice, chat, text).then(() => undefined);
    await live([bobs, carols], write, messageText);

    // Carol leaves; what is posted while she is out is not hers to read, nor its id.
    await leave(chat, carol);
    const secret = await post(url, alice, chat, 'while Carol is out');
    const got = await nextMatching(bobs, (data) => messageText(data) === 'while Carol is out');
    assert.deepEqual(got.data, {
      messageCreated: { id: secret, content: 'while Carol is out', conversationId: chat.id, senderId: alice.id },
    });
    // Each subscriber's stream asks RLS when an event reaches it, not at commit (docs/graphql.md):
    // on a subscription left open, a member back within moments of a message may still get it.
    // Her client subscribes anew when she is back, ending the old subscription first.
    carols.stop();
    await join(chat, carol);
    const carolsAgain = subscribe(await clientFor(carol), MESSAGES, { id: chat.id });
    await live([carolsAgain], write, messageText);

    // Back in, she receives the next message — and the one posted while she was out never.
    const after = await post(url, alice, chat, 'Carol is back');
    const back = await nextMatching(carolsAgain, (data) => messageText(data) === 'Carol is back');
    assert.deepEqual(back.data, {
      messageCreated: { id: after, content: 'Carol is back', conversationId: chat.id, senderId: alice.id },
    });
    for (const sub of [carols, carolsAgain])
      assert.ok(!JSON.stringify(sub.events.all).includes(secret), 'the hidden message id never reached Carol');
  });

  test('notifications reach only their owner; a caller without an account is refused', async () => {
    const dan = await createUser(db);
    const erin = await createUser(db);
    const notify = (user: UserFixture, title: string) =>
      db.query(sql`
        insert into public.notifications (user_id, type, title) values (${user.id}, 'system_alert', ${title})`);

    const query = 'subscription { notificationCreated { id title userId } }';
    const dans = subscribe(await clientFor(dan), query);
    const titleOf = (data: Received['data']) => data?.notificationCreated?.title as string | undefined;
    await live([dans], (title) => notify(dan, title).then(() => undefined), titleOf);

    await notify(erin, "for Erin's eyes only");
    await notify(dan, 'for Dan');
    const next = await dans.events.next();
    assert.equal(titleOf(next.data), 'for Dan');
    assert.equal(next.data.notificationCreated.userId, dan.id);

    // The anon key alone: there is no "your notifications".
    const anon = subscribe(wsClient(url, { apikey: anonKey }), query);
    const refusal = await Promise.race([anon.events.next(), anon.ended.then((e) => ({ ended: e }))]);
    assert.ok('errors' in refusal && refusal.errors, JSON.stringify(refusal));
    assert.equal(refusal.errors?.[0]?.message, 'Sign in with an account to subscribe to your notifications');
    assert.deepEqual(refusal.errors?.[0]?.extensions, { code: 'LOCO_AUTH_REQUIRED', status: 401 });
  });

  test("a booking's changes reach its customer (bookingChanged) and its provider (myBookingChanged)", async () => {
    const provider = await createUser(db, { role: 'provider' });
    const customer = await createUser(db);
    const listing = await createListing(db, provider);
    const booking = await createBooking(db, listing, customer);
    const note = (text: string) =>
      db.query(sql`update public.bookings set provider_notes = ${text} where id = ${booking.id}`).then(() => undefined);
    const notesOf = (field: string) => (data: Received['data']) => data?.[field]?.providerNotes as string | undefined;

    const customers = subscribe(
      await clientFor(customer),
      'subscription ($id: UUID!) { bookingChanged(bookingId: $id) { id status providerNotes } }',
      { id: booking.id },
    );
    const providers = subscribe(
      await clientFor(provider),
      'subscription { myBookingChanged { id status providerNotes } }',
    );
    await live([customers], note, notesOf('bookingChanged'));
    await live([providers], note, notesOf('myBookingChanged'));

    await db.query(sql`update public.bookings set status = 'confirmed' where id = ${booking.id}`);
    const confirmed = (field: string) => (data: Received['data']) => data?.[field]?.status === 'confirmed';
    const seen = await nextMatching(customers, confirmed('bookingChanged'));
    assert.deepEqual(seen.data.bookingChanged, { id: booking.id, status: 'confirmed', providerNotes: 'marker' });
    await nextMatching(providers, confirmed('myBookingChanged'));
  });

  test('bad credentials close the socket with 4401 and the REST error; an expiring token ends the subscription', async () => {
    const refused = subscribe(wsClient(url, { apikey: 'not-a-key' }), MESSAGES, { id: crypto.randomUUID() });
    const closed = (await refused.ended) as { code: number; reason: string };
    assert.equal(closed.code, 4401);
    assert.match(closed.reason, /^PGRST301: /);

    const frank = await createUser(db);
    const chat = await createConversation(frank, []);
    // Project tokens are accepted up to 30 s past `exp` (REST's clock skew): ~3 s to live.
    const token = await userToken(TEST_JWT_SECRET, { sub: frank.clerkId, ttlSeconds: -27 });
    const franks = subscribe(wsClient(url, { apikey: anonKey, authorization: `Bearer ${token}` }), MESSAGES, {
      id: chat.id,
    });
    const ended = (await franks.ended) as { code: number; reason: string };
    assert.equal(ended.code, 4403);
    assert.equal(ended.reason, 'PGRST303: JWT expired');
  });

  test("an API key's scopes are checked per operation over the socket, as over HTTP", async () => {
    const owner = await createUser(db);
    const chat = await createConversation(owner, []);
    const keyWith = (scopes: string[]) =>
      asUser(
        db,
        owner.clerkId,
        async (tx) => {
          const { rows } = await tx.query<{ api_key: string }>(
            sql`select api_key from public.create_api_key(${'graphql ws test'}, ${scopes}::text[], null, 1000)`,
          );
          return rows[0]?.api_key as string;
        },
        { commit: true },
      );
    const narrow = subscribe(wsClient(url, { apikey: await keyWith(['messages:read']) }), MESSAGES, { id: chat.id });
    // graphql-ws hands an operation's refusal to the sink's `error`.
    const refused = (await narrow.ended) as Received['errors'];
    assert.equal(refused?.[0]?.extensions?.code, 'LOCO_AUTH_SCOPE', JSON.stringify(refused));
    assert.equal(refused?.[0]?.extensions?.status, 403);

    const wide = subscribe(wsClient(url, { apikey: await keyWith(['*:read']) }), MESSAGES, { id: chat.id });
    await live([wide], (text) => post(url, owner, chat, text).then(() => undefined), messageText);
  });

  test('the apikey may come in the query string, as realtime takes it; other paths are refused', async () => {
    const gina = await createUser(db);
    const token = await userToken(TEST_JWT_SECRET, { sub: gina.clerkId });
    const client = wsClient(url, { authorization: `Bearer ${token}` }, { query: `?apikey=${anonKey}` });
    const answer = await new Promise<Received>((resolve, reject) => {
      client.subscribe(
        { query: 'query ($id: UUID!) { user(id: $id) { id } }', variables: { id: gina.id } },
        {
          next: (value) => resolve(value as Received),
          error: reject,
          complete: () => {},
        },
      );
    });
    assert.deepEqual(answer.data, { user: { id: gina.id } }, 'a query over the socket, as Gina');

    const wrongPath = await new Promise<number>((resolve) => {
      const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/graphql/v2`, 'graphql-transport-ws');
      socket.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
      socket.on('error', () => {});
    });
    assert.equal(wrongPath, 404);
  });
});

describe(`GraphQL subscriptions across two serve processes (${testBackend()})`, {
  skip: testBackend() === 'pglite' && 'the embedded database is one process per data directory',
}, () => {
  const processes: ServeProcess[] = [];
  after(async () => {
    for (const process of processes) await process.stop();
  });

  test("a message posted through one process's REST reaches a subscriber of the other", async () => {
    const [a, b] = await Promise.all([startServe(db.location.env), startServe(db.location.env)]);
    processes.push(a as ServeProcess, b as ServeProcess);
    const hana = await createUser(db);
    const ivan = await createUser(db);
    const judy = await createUser(db);
    const chat = await createConversation(hana, [ivan, judy]);
    const ivans = subscribe(await clientFor(ivan, b?.url), MESSAGES, { id: chat.id });
    const judys = subscribe(await clientFor(judy, b?.url), MESSAGES, { id: chat.id });
    const postOnA = (text: string) => post(a?.url as string, hana, chat, text);
    await live([ivans, judys], (text) => postOnA(text).then(() => undefined), messageText);

    await leave(chat, judy);
    const id = await postOnA('from process A');
    const got = await nextMatching(ivans, (data) => messageText(data) === 'from process A');
    assert.equal(got.data.messageCreated.id, id);
    // Judy, on the same process and topic but out of the conversation, was sent nothing: her next
    // event is the one posted once she is back.
    await join(chat, judy);
    const back = await postOnA('Judy is back');
    assert.equal((await judys.events.next()).data.messageCreated.id, back);
  });
});
