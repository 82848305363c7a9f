import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SupabaseClient } from '@supabase/supabase-js';
import { sql } from '../../src/db/sql.js';
import type { UserFixture } from '../helpers/fixtures.js';
import { BACKENDS, image, type StorageHarness, storageHarness } from './support.js';

/*
 * supabase.storage against a real server, on this database backend, on the local disk and on S3 (s3rver):
 * buckets, upload (raw and multipart, upsert), download, info, exists, list, move, copy,
 * remove, signed URLs and public URLs. Bucket `files` is private with a policy that lets each
 * user work under `<own id>/`, as a project would write it.
 */

for (const backend of BACKENDS) {
  describe(`on ${backend}`, () => {
    let h: StorageHarness;
    let alice: { user: UserFixture; client: SupabaseClient };
    let bob: { user: UserFixture; client: SupabaseClient };

    before(async () => {
      h = await storageHarness({}, backend);
      const { error } = await h.service.storage.createBucket('files', { public: false });
      assert.equal(error, null);
      // A project's own policies, written as on Supabase.
      await h.db.exec(`
        create policy "files: own folder read" on storage.objects for select to authenticated
          using (bucket_id = 'files' and (storage.foldername(name))[1] = (select app.current_user_id())::text);
        create policy "files: own folder write" on storage.objects for insert to authenticated
          with check (bucket_id = 'files' and (storage.foldername(name))[1] = (select app.current_user_id())::text);
        create policy "files: own folder update" on storage.objects for update to authenticated
          using (bucket_id = 'files' and (storage.foldername(name))[1] = (select app.current_user_id())::text);
        create policy "files: own folder delete" on storage.objects for delete to authenticated
          using (bucket_id = 'files' and (storage.foldername(name))[1] = (select app.current_user_id())::text);`);
      alice = await h.user();
      bob = await h.user();
    });

    after(async () => {
      await h?.close();
    });

    const text = (body: string) => Buffer.from(body, 'utf8');

    describe('buckets', () => {
      test('service_role lists, reads, creates, updates, empties and deletes buckets', async () => {
        const storage = h.service.storage;
        assert.equal((await storage.createBucket('scratch', { public: true, fileSizeLimit: '1MB' })).error, null);
        const { data: got } = await storage.getBucket('scratch');
        assert.equal(got?.public, true);
        assert.equal(got?.file_size_limit, 1024 * 1024);
        const { data: list } = await storage.listBuckets();
        assert.deepEqual(
          list
            ?.map((b) => b.id)
            .filter((id) => ['avatars', 'listing-images', 'documents', 'attachments', 'scratch'].includes(id))
            .sort(),
          ['attachments', 'avatars', 'documents', 'listing-images', 'scratch'],
        );
        const updated = await storage.updateBucket('scratch', { public: false, allowedMimeTypes: ['text/plain'] });
        assert.deepEqual(updated.data, { message: 'Successfully updated' });
        assert.deepEqual((await storage.getBucket('scratch')).data?.allowed_mime_types, ['text/plain']);
        assert.equal(
          (await storage.from('scratch').upload('a.txt', text('a'), { contentType: 'text/plain' })).error,
          null,
        );
        const notEmpty = await storage.deleteBucket('scratch');
        assert.equal(notEmpty.error?.statusCode, '409');
        assert.deepEqual((await storage.emptyBucket('scratch')).data, { message: 'Successfully emptied' });
        assert.deepEqual((await storage.deleteBucket('scratch')).data, { message: 'Successfully deleted' });
        assert.equal((await storage.getBucket('scratch')).error?.statusCode, '404');
      });

      test('a user cannot create, change or delete buckets', async () => {
        const created = await alice.client.storage.createBucket('mine', { public: true });
        assert.equal(created.error?.statusCode, '403');
        assert.equal((await alice.client.storage.deleteBucket('avatars')).error?.statusCode, '403');
        assert.equal((await h.anon.storage.updateBucket('avatars', { public: false })).error?.statusCode, '403');
        const { rows } = await h.db.query(sql`select 1 from storage.buckets where id = 'mine'`);
        assert.equal(rows.length, 0);
      });

      test('creating a bucket that exists is 409', async () => {
        const again = await h.service.storage.createBucket('files');
        assert.equal(again.error?.statusCode, '409');
      });
    });

    describe('objects', () => {
      test('upload (raw bytes) and download as the owner', async () => {
        const files = alice.client.storage.from('files');
        const path = `${alice.user.id}/notes/hello.txt`;
        const up = await files.upload(path, text('hello storage'), { contentType: 'text/plain' });
        assert.equal(up.error, null);
        assert.equal(up.data?.path, path);
        assert.equal(up.data?.fullPath, `files/${path}`);
        assert.match(up.data?.id ?? '', /^[0-9a-f-]{36}$/);
        const down = await files.download(path);
        assert.equal(down.error, null);
        assert.equal(await down.data?.text(), 'hello storage');
        assert.equal(down.data?.type, 'text/plain');
      });

      test('upload as a multipart form (a Blob) keeps the sniffed type and the metadata', async () => {
        const files = alice.client.storage.from('files');
        const path = `${alice.user.id}/pic.png`;
        const png = await image('png');
        const up = await files.upload(path, new Blob([png], { type: 'image/png' }), { metadata: { alt: 'red' } });
        assert.equal(up.error, null);
        const info = await files.info(path);
        assert.equal(info.error, null);
        assert.equal(info.data?.contentType, 'image/png');
        assert.equal(info.data?.size, png.length);
        assert.deepEqual(info.data?.metadata, { alt: 'red' });
        const down = await files.download(path);
        assert.deepEqual(Buffer.from(await (down.data as Blob).arrayBuffer()), png);
      });

      test('a second upload of a name is 409 unless upsert; upsert and update replace the bytes', async () => {
        const files = alice.client.storage.from('files');
        const path = `${alice.user.id}/replace.txt`;
        assert.equal((await files.upload(path, text('one'), { contentType: 'text/plain' })).error, null);
        const again = await files.upload(path, text('two'), { contentType: 'text/plain' });
        assert.equal(again.error?.statusCode, '409');
        assert.equal(await (await files.download(path)).data?.text(), 'one');
        const before = await h.files();
        assert.equal((await files.upload(path, text('two'), { contentType: 'text/plain', upsert: true })).error, null);
        assert.equal(await (await files.download(path)).data?.text(), 'two');
        assert.equal((await files.update(path, text('three'), { contentType: 'text/plain' })).error, null);
        assert.equal(await (await files.download(path)).data?.text(), 'three');
        // The replaced versions' bytes are gone: as many files as before.
        assert.equal((await h.files()).length, before.length);
      });

      test('exists, and info of what is not there', async () => {
        const files = alice.client.storage.from('files');
        const path = `${alice.user.id}/exists.txt`;
        await files.upload(path, text('x'), { contentType: 'text/plain' });
        assert.equal((await files.exists(path)).data, true);
        assert.equal((await files.exists(`${alice.user.id}/nope.txt`)).data, false);
        assert.equal((await files.info(`${alice.user.id}/nope.txt`)).error?.statusCode, '404');
      });

      test('another user and anon can neither read, list, overwrite nor remove a private object', async () => {
        const path = `${alice.user.id}/private.txt`;
        await alice.client.storage.from('files').upload(path, text('secret'), { contentType: 'text/plain' });
        for (const client of [bob.client, h.anon]) {
          const files = client.storage.from('files');
          assert.equal((await files.download(path)).error?.statusCode, '404');
          const listed = await files.list(alice.user.id);
          assert.deepEqual(listed.data, []);
          const overwrite = await files.upload(path, text('mine now'), { contentType: 'text/plain', upsert: true });
          assert.ok(['403', '404'].includes(overwrite.error?.statusCode ?? ''), String(overwrite.error?.statusCode));
          assert.deepEqual((await files.remove([path])).data, []);
        }
        assert.equal(await (await alice.client.storage.from('files').download(path)).data?.text(), 'secret');
      });

      test("a user cannot upload into another user's folder: 403 and nothing stored", async () => {
        const before = await h.files();
        const up = await bob.client.storage
          .from('files')
          .upload(`${alice.user.id}/from-bob.txt`, text('x'), { contentType: 'text/plain' });
        assert.equal(up.error?.statusCode, '403');
        assert.deepEqual(await h.files(), before);
        assert.ok(!(await h.names('files')).includes(`${alice.user.id}/from-bob.txt`));
      });

      test('list: one folder level, folders once, search, sort, limit and offset', async () => {
        const files = alice.client.storage.from('files');
        const root = `${alice.user.id}/list`;
        for (const name of ['b.txt', 'a.txt', 'c.md', 'sub/x.txt', 'sub/y.txt', 'sub/deeper/z.txt']) {
          assert.equal((await files.upload(`${root}/${name}`, text(name), { contentType: 'text/plain' })).error, null);
        }
        const all = await files.list(root);
        assert.equal(all.error, null);
        assert.deepEqual(
          all.data?.map((f) => [f.name, f.id === null]),
          [
            ['sub', true],
            ['a.txt', false],
            ['b.txt', false],
            ['c.md', false],
          ],
        );
        const file = all.data?.find((f) => f.name === 'a.txt');
        assert.equal(file?.metadata?.size, 5);
        assert.equal(file?.metadata?.mimetype, 'text/plain');
        assert.deepEqual(
          (await files.list(root, { search: 'b' })).data?.map((f) => f.name),
          ['b.txt'],
        );
        const desc = await files.list(root, { sortBy: { column: 'name', order: 'desc' }, limit: 2, offset: 1 });
        // Folders first, then files by name, descending: sub | c.md, b.txt | a.txt.
        assert.deepEqual(
          desc.data?.map((f) => f.name),
          ['c.md', 'b.txt'],
        );
        assert.deepEqual(
          (await files.list(`${root}/sub`)).data?.map((f) => f.name),
          ['deeper', 'x.txt', 'y.txt'],
        );
      });

      test('move renames (not across owners) and copy duplicates the bytes', async () => {
        const files = alice.client.storage.from('files');
        const from = `${alice.user.id}/move/from.txt`;
        const to = `${alice.user.id}/move/to.txt`;
        await files.upload(from, text('moving'), { contentType: 'text/plain' });
        assert.deepEqual((await files.move(from, to)).data, { message: 'Successfully moved' });
        assert.equal((await files.download(from)).error?.statusCode, '404');
        assert.equal(await (await files.download(to)).data?.text(), 'moving');
        const copy = `${alice.user.id}/move/copy.txt`;
        const copied = await files.copy(to, copy);
        assert.deepEqual(copied.data, { path: `files/${copy}` });
        assert.equal(await (await files.download(copy)).data?.text(), 'moving');
        assert.equal((await files.move(to, `${bob.user.id}/stolen.txt`)).error?.statusCode, '403');
        assert.equal(
          (await files.move(`${alice.user.id}/nothing.txt`, `${alice.user.id}/x.txt`)).error?.statusCode,
          '404',
        );
      });

      test('remove deletes the rows and the bytes, and answers the removed objects', async () => {
        const files = alice.client.storage.from('files');
        const paths = [`${alice.user.id}/rm/1.txt`, `${alice.user.id}/rm/2.txt`];
        for (const p of paths) await files.upload(p, text(p), { contentType: 'text/plain' });
        const before = await h.files();
        const removed = await files.remove([...paths, `${alice.user.id}/rm/none.txt`]);
        assert.equal(removed.error, null);
        assert.deepEqual(removed.data?.map((f) => f.name).sort(), paths);
        assert.equal((await h.files()).length, before.length - 2);
        assert.deepEqual(
          (await h.names('files')).filter((n) => n.startsWith(`${alice.user.id}/rm/`)),
          [],
        );
      });

      test('signed URLs: readable by anyone until they expire, only for the object signed', async () => {
        const files = alice.client.storage.from('files');
        const path = `${alice.user.id}/signed report.txt`;
        await files.upload(path, text('signed bytes'), { contentType: 'text/plain' });
        const signed = await files.createSignedUrl(path, 60);
        assert.equal(signed.error, null);
        const response = await fetch(signed.data?.signedUrl as string);
        assert.equal(response.status, 200);
        assert.equal(await response.text(), 'signed bytes');
        // Bob cannot sign what he cannot read.
        assert.equal((await bob.client.storage.from('files').createSignedUrl(path, 60)).error?.statusCode, '404');
        // A token for one object does not open another.
        const other = `${alice.user.id}/other.txt`;
        await files.upload(other, text('other'), { contentType: 'text/plain' });
        const forged = String(signed.data?.signedUrl).replace(encodeURI(path), encodeURI(other));
        assert.equal((await fetch(forged)).status, 400);
        // Expired.
        const short = await files.createSignedUrl(path, 1);
        await new Promise((resolve) => setTimeout(resolve, 2100));
        const late = await fetch(short.data?.signedUrl as string);
        assert.equal(late.status, 400);
        assert.equal(((await late.json()) as { error: string }).error, 'InvalidJWT');
      });

      test('createSignedUrls signs what the caller may read and says which it may not', async () => {
        const files = alice.client.storage.from('files');
        const mine = `${alice.user.id}/many.txt`;
        await files.upload(mine, text('many'), { contentType: 'text/plain' });
        const { data, error } = await files.createSignedUrls([mine, `${bob.user.id}/x.txt`], 60, { download: true });
        assert.equal(error, null);
        assert.equal(data?.[0]?.error, null);
        assert.equal(data?.[1]?.signedUrl, null);
        assert.ok(data?.[1]?.error);
        const response = await fetch(data?.[0]?.signedUrl as string);
        assert.equal(await response.text(), 'many');
        assert.match(response.headers.get('content-disposition') ?? '', /attachment; filename\*=UTF-8''many\.txt/);
      });

      test('createSignedUploadUrl + uploadToSignedUrl: the signer owns the object', async () => {
        const files = alice.client.storage.from('files');
        const path = `${alice.user.id}/via-signed-upload.txt`;
        const signed = await files.createSignedUploadUrl(path);
        assert.equal(signed.error, null);
        const up = await h.anon.storage
          .from('files')
          .uploadToSignedUrl(path, signed.data?.token as string, text('from elsewhere'), { contentType: 'text/plain' });
        assert.equal(up.error, null);
        assert.equal(await (await files.download(path)).data?.text(), 'from elsewhere');
        const { rows } = await h.db.query<{ owner: string }>(
          sql`select owner from storage.objects where bucket_id = 'files' and name = ${path}`,
        );
        assert.equal(rows[0]?.owner, alice.user.id);
        // Bob may not sign an upload into Alice's folder.
        const refused = await bob.client.storage.from('files').createSignedUploadUrl(`${alice.user.id}/b.txt`);
        assert.equal(refused.error?.statusCode, '403');
      });

      test('getPublicUrl serves objects of public buckets without credentials; private buckets are not public', async () => {
        assert.equal((await h.service.storage.createBucket('open', { public: true })).error, null);
        await h.service.storage
          .from('open')
          .upload('docs/readme.txt', text('public bytes'), { contentType: 'text/plain' });
        const url = h.anon.storage.from('open').getPublicUrl('docs/readme.txt').data.publicUrl;
        const response = await fetch(url);
        assert.equal(response.status, 200);
        assert.equal(await response.text(), 'public bytes');
        assert.equal(response.headers.get('content-type'), 'text/plain');
        const ranged = await fetch(url, { headers: { range: 'bytes=0-5' } });
        assert.equal(ranged.status, 206);
        assert.equal(await ranged.text(), 'public');
        assert.equal(ranged.headers.get('content-range'), 'bytes 0-5/12');
        const privateUrl = h.anon.storage.from('files').getPublicUrl(`${alice.user.id}/private.txt`).data.publicUrl;
        assert.equal((await fetch(privateUrl)).status, 404);
      });
    });
  });
}
