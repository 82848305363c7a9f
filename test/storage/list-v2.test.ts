import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type StorageHarness, storageHarness } from './support.js';

/* storage-js's listV2 (experimental): prefix, folders with with_delimiter, cursor pages, RLS. */

let h: StorageHarness;

before(async () => {
  h = await storageHarness();
  assert.equal((await h.service.storage.createBucket('v2', { public: false })).error, null);
  for (const name of [
    'docs/a.txt',
    'docs/b.txt',
    'docs/sub/c.txt',
    'docs/sub/deep/d.txt',
    'docs/z/e.txt',
    'other.txt',
  ]) {
    const { error } = await h.service.storage.from('v2').upload(name, Buffer.from(name), { contentType: 'text/plain' });
    assert.equal(error, null);
  }
});

after(async () => {
  await h?.close();
});

test('with_delimiter: the level under the prefix, folders as their keys', async () => {
  const { data, error } = await h.service.storage.from('v2').listV2({ prefix: 'docs/', with_delimiter: true });
  assert.equal(error, null);
  assert.deepEqual(
    data?.folders.map((f) => f.name),
    ['docs/sub/', 'docs/z/'],
  );
  assert.deepEqual(
    data?.objects.map((o) => o.name),
    ['docs/a.txt', 'docs/b.txt'],
  );
  assert.equal(data?.objects[0]?.metadata?.size, 'docs/a.txt'.length);
  assert.equal(data?.hasNext, false);
});

test('without a delimiter every object under the prefix; a cursor pages through them', async () => {
  const files = h.service.storage.from('v2');
  const first = await files.listV2({ prefix: 'docs/', limit: 3 });
  assert.deepEqual(
    first.data?.objects.map((o) => o.name),
    ['docs/a.txt', 'docs/b.txt', 'docs/sub/c.txt'],
  );
  assert.equal(first.data?.hasNext, true);
  const second = await files.listV2({ prefix: 'docs/', limit: 3, cursor: first.data?.nextCursor });
  assert.deepEqual(
    second.data?.objects.map((o) => o.name),
    ['docs/sub/deep/d.txt', 'docs/z/e.txt'],
  );
  assert.equal(second.data?.hasNext, false);
});

test('RLS applies: anon sees nothing of a private bucket; a sort other than name is 400', async () => {
  const anon = await h.anon.storage.from('v2').listV2({ prefix: '' });
  assert.deepEqual(anon.data, { hasNext: false, folders: [], objects: [] });
  const sorted = await h.service.storage.from('v2').listV2({ sortBy: { column: 'created_at' } });
  assert.equal(sorted.error?.statusCode, '400');
});
