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
import { runWalkthrough } from '../helpers/walkthrough.js';

/* docs/workflows.md's walk-through, run as written (test/helpers/walkthrough.ts). */

const DOC = join(ROOT, 'docs', 'workflows.md');

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
  await runWalkthrough(
    DOC,
    {
      customer: server.client({ token: await server.tokenFor(people.customer.clerkId) }),
      provider: server.client({ token: await server.tokenFor(people.provider.clerkId) }),
      operator: server.client({ token: await server.tokenFor(people.operator.clerkId) }),
      anon: server.client(),
    },
    events,
  );
});
