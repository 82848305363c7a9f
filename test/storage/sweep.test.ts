import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, rename, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { sql } from '../../src/db/sql.js';
import { SCHEDULE } from '../../src/jobs/schedule.js';
import { TASKS } from '../../src/jobs/tasks/index.js';
import { diskBackend } from '../../src/storage/backend/disk.js';
import { objectKey, uploadKey } from '../../src/storage/backend/types.js';
import { sweepStorage } from '../../src/storage/sweep.js';
import { testLogger } from '../helpers/index.js';
import { type StorageHarness, storageHarness } from './support.js';

/*
 * The orphan sweeper (storage.sweep): what an interrupted upload or removal leaves on disk is
 * finished or reclaimed, and nothing alive or recent is touched.
 */

let h: StorageHarness;

before(async () => {
  h = await storageHarness();
  assert.equal((await h.service.storage.createBucket('sweep', { public: false })).error, null);
});

after(async () => {
  await h?.close();
});

const HOUR_AGO = new Date(Date.now() - 2 * 3600_000);

async function put(key: string, old: boolean): Promise<void> {
  const file = join(h.storageDir, key);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, 'orphan');
  if (old) await utimes(file, HOUR_AGO, HOUR_AGO);
}

test('storage.sweep is a task on the schedule', () => {
  assert.ok(TASKS.some((t) => t.name === 'storage.sweep'));
  assert.ok(SCHEDULE.some((i) => i.task === 'storage.sweep'));
});

test('finishes uploads cut off after their commit and removes bytes no row names, past the grace period', async () => {
  const files = h.service.storage.from('sweep');
  await files.upload('alive.txt', Buffer.from('alive'), { contentType: 'text/plain' });
  // An upload whose server stopped between commit and rename: its bytes are still under the upload key.
  await files.upload('cut-off.txt', Buffer.from('cut off'), { contentType: 'text/plain' });
  const { rows } = await h.db.query<{ version: string }>(
    sql`select version::text from storage.objects where bucket_id = 'sweep' and name = 'cut-off.txt'`,
  );
  const version = rows[0]?.version as string;
  await rename(join(h.storageDir, objectKey(version)), join(h.storageDir, uploadKey(version)));
  await utimes(join(h.storageDir, uploadKey(version)), HOUR_AGO, HOUR_AGO);
  // It is readable meanwhile.
  assert.equal(await (await files.download('cut-off.txt')).data?.text(), 'cut off');

  const oldUpload = randomUUID();
  const oldOrphan = randomUUID();
  const newUpload = randomUUID();
  const newOrphan = randomUUID();
  await put(uploadKey(oldUpload), true);
  await put(objectKey(oldOrphan), true);
  await put(uploadKey(newUpload), false);
  await put(objectKey(newOrphan), false);
  await put('ab/not-ours.txt', true);

  const before = await h.files();
  const result = await sweepStorage(h.db, diskBackend(h.storageDir), 3600_000, testLogger());
  assert.deepEqual(result, { finished: 1, removed: 2 });
  const afterFiles = await h.files();
  assert.ok(afterFiles.includes(objectKey(version)), 'the cut-off upload is finished');
  assert.ok(!afterFiles.includes(uploadKey(version)));
  assert.ok(!afterFiles.includes(uploadKey(oldUpload)), 'an old upload without a row is removed');
  assert.ok(!afterFiles.includes(objectKey(oldOrphan)), 'old bytes without a row are removed');
  for (const kept of [uploadKey(newUpload), objectKey(newOrphan), 'ab/not-ours.txt']) {
    assert.ok(afterFiles.includes(kept), `${kept} is kept`);
  }
  assert.equal(afterFiles.length, before.length - 2);
  assert.equal(await (await files.download('cut-off.txt')).data?.text(), 'cut off');
  assert.equal(await (await files.download('alive.txt')).data?.text(), 'alive');
});

test('a backend bound to another database is not swept', async () => {
  await writeFile(join(h.storageDir, '.loconomy-storage'), randomUUID());
  const orphan = randomUUID();
  await put(objectKey(orphan), true);
  const result = await sweepStorage(h.db, diskBackend(h.storageDir), 0, testLogger());
  assert.equal(result.removed, 0);
  assert.match(result.skipped ?? '', /another database/);
  assert.ok((await h.files()).includes(objectKey(orphan)));
});
