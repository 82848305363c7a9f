import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sql } from '../../src/db/sql.js';
import { createUser, grantPermission, type UserFixture } from '../helpers/fixtures.js';
import {
  getTestDatabase,
  ROOT,
  startTestServer,
  type TestDatabase,
  type TestServer,
  testBackend,
} from '../helpers/index.js';

/*
 * docs/workflows.md's walk-through, run as written: every ```js walkthrough block, in order, as
 * one async function whose free names are the clients of the three people in the story
 * (`customer`, `provider`, `operator`, `anon`) and `assert`. A snippet that no longer matches
 * the API fails here, so the doc cannot drift from what runs. An HTML comment
 * `<!-- walkthrough: <event> -->` between blocks marks what the story cannot do through the API
 * (time passing); the test makes it happen there.
 */

const DOC = join(ROOT, 'docs', 'workflows.md');

type Step = { code: string } | { event: string };

/** The walk-through's code blocks and events, in document order. */
async function walkthroughSteps(): Promise<Step[]> {
  const text = await readFile(DOC, 'utf8');
  return [...text.matchAll(/^```js walkthrough\n([\s\S]*?)^```$|^<!-- walkthrough: (.+?) -->$/gm)].map((m) =>
    m[2] ? { event: m[2] } : { code: m[1] as string },
  );
}

let db: TestDatabase;
let server: TestServer;
let people: Record<'customer' | 'provider' | 'operator', UserFixture>;

before(async () => {
  db = await getTestDatabase();
  people = {
    customer: await createUser(db, { role: 'customer' }),
    provider: await createUser(db, { role: 'provider' }),
    operator: await createUser(db, { role: 'admin' }),
  };
  // The console's two permissions (an admin may hold them by role already; a grant is harmless).
  await grantPermission(db, people.operator, 'bookings.manage');
  await grantPermission(db, people.operator, 'reviews.moderate');
  server = await startTestServer(db);
});
after(async () => {
  await server?.close();
  await db?.dispose();
});

test(`docs/workflows.md: the walk-through runs as written (${testBackend()})`, async () => {
  const steps = await walkthroughSteps();
  assert.ok(steps.filter((step) => 'code' in step).length >= 5, 'the walk-through has its snippets');
  const events: Record<string, () => Promise<void>> = {
    // The customer's booking moves into the past, as if its hour had come and gone.
    'the job is done': async () => {
      await db.query(sql`
        update public.bookings
           set starts_at = date_trunc('minute', now()) - interval '30 minutes' - (ends_at - starts_at),
               ends_at = date_trunc('minute', now()) - interval '30 minutes'
         where customer_id = ${people.customer.id}`);
    },
  };
  const code = steps
    .map((step) => {
      if ('code' in step) return step.code;
      assert.ok(events[step.event], `the test knows the walk-through event "${step.event}"`);
      return `await events[${JSON.stringify(step.event)}]();`;
    })
    .join('\n');
  const clients = {
    customer: server.client({ token: await server.tokenFor(people.customer.clerkId) }),
    provider: server.client({ token: await server.tokenFor(people.provider.clerkId) }),
    operator: server.client({ token: await server.tokenFor(people.operator.clerkId) }),
    anon: server.client(),
  };
  const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor;
  const story = new AsyncFunction('customer', 'provider', 'operator', 'anon', 'assert', 'events', code);
  await story(clients.customer, clients.provider, clients.operator, clients.anon, assert, events);
});
