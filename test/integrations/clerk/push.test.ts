import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from '../../../src/db/sql.js';
import { pushUserToClerk } from '../../../src/integrations/clerk/push.js';
import { type Jobs, startJobs } from '../../../src/jobs/runner.js';
import { pushClerkUser } from '../../../src/jobs/tasks/push-clerk-user.js';
import { createUser, type UserFixture } from '../../helpers/fixtures.js';
import {
  asRole,
  getTestDatabase,
  startTestServer,
  type TestDatabase,
  type TestServer,
  testBackend,
  testLogger,
} from '../../helpers/index.js';
import { type ClerkBackendDouble, SECRET_KEY, startClerkBackendDouble } from './backend-double.js';
import { deliver, userEvent, WEBHOOK_SECRET } from './support.js';

/*
 * Roles, status and verification changed in Loconomy reach the user's Clerk public_metadata
 * (decision 0021): the users_clerk_push trigger enqueues a job in the changing transaction, a
 * real graphile-worker runs it, and @clerk/backend's client calls a local HTTP double of
 * Clerk's Backend API. Then Clerk's echo (user.updated carrying the pushed metadata, with role
 * trusted) changes nothing. Retries are not waited for on the clock: a failed job's run_at is
 * moved to now, as an operator would (docs/jobs.md).
 */

let db: TestDatabase;
let server: TestServer;
let jobs: Jobs;
let double: ClerkBackendDouble;
let admin: UserFixture;

const saved = new Map<string, string | undefined>();
function setEnv(values: Record<string, string | undefined>) {
  for (const [k, v] of Object.entries(values)) {
    if (!saved.has(k)) saved.set(k, process.env[k]);
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}

/** Resolves once `ready()` holds, checked every 25 ms. */
async function until<T>(ready: () => Promise<T | undefined | false> | T | undefined | false): Promise<T> {
  for (;;) {
    const value = await ready();
    if (value) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

before(async () => {
  double = await startClerkBackendDouble();
  setEnv({ CLERK_SECRET_KEY: SECRET_KEY, LOCONOMY_CLERK_API_URL: double.url });
  db = await getTestDatabase();
  server = await startTestServer(db, {
    CLERK_WEBHOOK_SECRET: WEBHOOK_SECRET,
    LOCONOMY_CLERK_TRUSTED_METADATA: 'role',
  });
  jobs = await startJobs({
    db,
    databaseUrl: db.location.url,
    log: testLogger(),
    tasks: [pushClerkUser],
    schedule: false,
    pollInterval: 50,
  });
  admin = await createUser(db, { role: 'admin' });
});

after(async () => {
  await jobs?.stop();
  await server?.close();
  await db?.dispose();
  await double?.close();
  for (const [k, v] of saved) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

/** The admin changes a user's role over REST, as a dashboard would. */
async function setRole(target: UserFixture, role: string) {
  const client = server.client({ token: await server.tokenFor(admin.clerkId) });
  const { error } = await client.rpc('admin_set_user_role', { target_user_id: target.id, new_role: role });
  assert.equal(error, null);
}

interface JobRow {
  id: string;
  attempts: number;
  last_error: string | null;
  run_at: Date;
  locked_at: Date | null;
}

/** The waiting or failing push job of a user, if any. */
async function pushJob(user: UserFixture): Promise<JobRow | undefined> {
  const { rows } = await db.query<JobRow>(sql`
    select id::text, attempts, last_error, run_at, locked_at from graphile_worker.jobs
    where key = ${`clerk.push:${user.id}`}`);
  return rows[0];
}

async function pushed(user: UserFixture) {
  const { rows } = await db.query<{ pushed_role: string | null; pushed_clerk_updated_at: Date | null }>(sql`
    select c.pushed_role, c.pushed_clerk_updated_at from app.clerk_users c
    where c.clerk_id_hash = app.clerk_id_hash(${user.clerkId})`);
  return rows[0];
}

async function roleOf(user: UserFixture): Promise<string | undefined> {
  const { rows } = await db.query<{ role: string }>(sql`select role from public.users where id = ${user.id}`);
  return rows[0]?.role;
}

/** Waits until the user's push has been recorded and no job of theirs is left; fails if it failed. */
async function settled(user: UserFixture, role: string, failuresExpected = false) {
  await until(async () => {
    const job = await pushJob(user);
    if (job?.last_error && !failuresExpected) throw new Error(`the push failed: ${job.last_error}`);
    return (await pushed(user))?.pushed_role === role && !job;
  });
}

/** user.updated as Clerk sends it after a metadata update: the pushed metadata, Clerk's updated_at. */
const echo = (user: UserFixture, metadata: Record<string, unknown>, updatedAt: number) =>
  userEvent('user.updated', user.clerkId, { email: `${user.clerkId}@example.com`, metadata, updatedAt });

describe(`role and verification pushed to Clerk (${testBackend()})`, () => {
  test('a role change reaches the Clerk double once, with the secret key, and is recorded', async () => {
    const user = await createUser(db);
    await setRole(user, 'provider');
    await settled(user, 'provider');
    const [request, ...more] = double.requestsFor(user.clerkId);
    assert.equal(more.length, 0, 'exactly one request');
    assert.equal(request?.status, 200);
    assert.equal(request?.authorization, `Bearer ${SECRET_KEY}`);
    assert.deepEqual(request?.body, {
      public_metadata: { role: 'provider', status: 'active', verification_status: 'pending' },
    });
    assert.equal((await pushed(user))?.pushed_clerk_updated_at?.getTime(), request?.updatedAt);
  });

  test("Clerk's echo of the push changes nothing, and an older echo after a newer push does not undo it", async () => {
    const user = await createUser(db);
    await setRole(user, 'provider');
    await settled(user, 'provider');
    const first = double.pushesFor(user.clerkId)[0] as { updatedAt: number };
    await setRole(user, 'customer');
    await settled(user, 'customer');
    const second = double.pushesFor(user.clerkId)[1] as { updatedAt: number };
    assert.equal(double.requestsFor(user.clerkId).length, 2);

    // The echoes arrive late and out of order: the first push's (provider) after the second.
    for (const [metadata, at] of [
      [{ role: 'provider', status: 'active', verification_status: 'pending' }, first.updatedAt],
      [double.metadataOf(user.clerkId), second.updatedAt],
    ] as const) {
      const answer = await deliver(server, echo(user, metadata, at));
      assert.equal(answer.status, 200);
      assert.equal(await roleOf(user), 'customer');
    }
    assert.equal(await pushJob(user), undefined, 'the echo enqueued no push');

    // Metadata Clerk changes later (newer than the push) is still trusted.
    const answer = await deliver(server, echo(user, { role: 'provider' }, second.updatedAt + 1000));
    assert.equal(answer.json.outcome, 'applied');
    assert.equal(await roleOf(user), 'provider');
  });

  test('changes in one transaction are pushed as one request with the last values', async () => {
    const user = await createUser(db);
    await db.transaction(async (tx) => {
      await tx.query(sql`update public.users set role = 'provider' where id = ${user.id}`);
      await tx.query(sql`update public.users set verification_status = 'verified' where id = ${user.id}`);
      await tx.query(sql`update public.users set role = 'guest' where id = ${user.id}`);
    });
    await settled(user, 'guest');
    assert.equal(double.requestsFor(user.clerkId).length, 1);
    assert.deepEqual(double.metadataOf(user.clerkId), {
      role: 'guest',
      status: 'active',
      verification_status: 'verified',
    });
  });

  test('a rolled-back role change enqueues nothing and pushes nothing', async () => {
    const user = await createUser(db);
    const result = await asRole(db, 'authenticated', { sub: admin.clerkId, role: 'authenticated' }, (tx) =>
      tx.query<{ role: string }>(sql`select (public.admin_set_user_role(${user.id}, 'provider')).role`),
    );
    assert.equal(result.rows[0]?.role, 'provider', 'the change was made, then rolled back');
    assert.equal(await pushJob(user), undefined);
    // A committed change of another user goes through the same queue: once it is pushed,
    // nothing of the rolled-back one can still be on its way.
    const other = await createUser(db);
    await setRole(other, 'provider');
    await settled(other, 'provider');
    assert.deepEqual(double.requestsFor(user.clerkId), []);
    assert.equal(await roleOf(user), 'customer');
  });

  test('Clerk failing twice: the job retries with back-off and the role is pushed once', async () => {
    const user = await createUser(db);
    double.failNext(user.clerkId, 2);
    await setRole(user, 'provider');
    for (const attempt of [1, 2]) {
      const job = await until(async () => {
        const found = await pushJob(user);
        // Not running: attempts counts the attempt being made, last_error the one before.
        return found && found.attempts === attempt && found.locked_at === null && found.last_error !== null && found;
      });
      assert.match(job.last_error ?? '', /try again later|Service Unavailable|503/i);
      assert.ok(job.run_at.getTime() > Date.now() - 1000, "the queue's back-off put the retry in the future");
      // Skip the wait (2.7 s, then 7.4 s), as an operator can with reschedule_jobs.
      await db.query(sql`select graphile_worker.reschedule_jobs(array[${job.id}::bigint], run_at => now())`);
    }
    await settled(user, 'provider', true);
    const requests = double.requestsFor(user.clerkId);
    assert.deepEqual(
      requests.map((r) => r.status),
      [503, 503, 200],
    );
    assert.equal(double.pushesFor(user.clerkId).length, 1);
  });

  test('a user without a Clerk id is never pushed', async () => {
    const user = await createUser(db);
    await db.query(sql`update public.users set clerk_id = null where id = ${user.id}`);
    await setRole(user, 'provider');
    assert.equal(await pushJob(user), undefined);
    assert.deepEqual(double.requestsFor(user.clerkId), []);
  });

  test('status moving to active by Clerk email verification is not pushed; a suspension is', async () => {
    const user = await createUser(db, { status: 'pending_verification' });
    await db.query(sql`update public.users set status = 'active' where id = ${user.id}`);
    assert.equal(await pushJob(user), undefined);
    await db.query(sql`update public.users set status = 'suspended' where id = ${user.id}`);
    await until(async () => double.pushesFor(user.clerkId).length === 1 && !(await pushJob(user)));
    assert.equal(double.metadataOf(user.clerkId).status, 'suspended');
  });

  test('without CLERK_SECRET_KEY nothing is pushed; a user gone from Clerk is skipped, not retried', async () => {
    const user = await createUser(db);
    await db.query(sql`update public.users set verification_status = 'verified' where id = ${user.id}`);
    await until(async () => double.pushesFor(user.clerkId).length === 1 && !(await pushJob(user)));
    await db.query(
      sql`update app.clerk_users set pushed_role = null where clerk_id_hash = app.clerk_id_hash(${user.clerkId})`,
    );
    assert.deepEqual(await pushUserToClerk(db, user.id, { secretKey: undefined, apiUrl: double.url }), {
      status: 'skipped',
      reason: 'CLERK_SECRET_KEY is not set',
    });
    double.forget(user.clerkId);
    assert.deepEqual(await pushUserToClerk(db, user.id, { secretKey: SECRET_KEY, apiUrl: double.url }), {
      status: 'skipped',
      reason: 'Clerk has no such user',
    });
    assert.equal(double.pushesFor(user.clerkId).length, 1);
  });

  test('a wrong secret key makes the push fail (Clerk answers 401), so the queue retries it', async () => {
    const user = await createUser(db);
    await assert.rejects(
      pushUserToClerk(db, user.id, { secretKey: 'sk_test_wrong', apiUrl: double.url }),
      (error: Error & { status?: number }) => error.status === 401,
    );
    assert.equal(double.pushesFor(user.clerkId).length, 0);
  });
});
