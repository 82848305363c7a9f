import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { SupabaseClient } from '@supabase/supabase-js';
import { sql } from '../../src/db/sql.js';
import type { UserFixture } from '../helpers/fixtures.js';
import { BACKENDS, image, PDF, type StorageHarness, storageHarness } from './support.js';

/*
 * Bad input to /storage/v1 gets a clear 4xx in storage's error shape and leaves nothing
 * behind: no row in storage.objects (nor public.file_uploads) and no file on disk, temporary
 * ones included. LOCONOMY_STORAGE_MAX_FILE_SIZE is 64 KiB here.
 */

for (const backend of BACKENDS) {
  describe(`on ${backend}`, () => {
    let h: StorageHarness;
    let alice: { user: UserFixture; client: SupabaseClient };
    const GLOBAL_LIMIT = 64 * 1024;

    before(async () => {
      h = await storageHarness({ LOCONOMY_STORAGE_MAX_FILE_SIZE: String(GLOBAL_LIMIT) }, backend);
      assert.equal((await h.service.storage.createBucket('small', { public: false, fileSizeLimit: 1000 })).error, null);
      assert.equal((await h.service.storage.createBucket('any', { public: false })).error, null);
      alice = await h.user();
    });

    after(async () => {
      await h?.close();
    });

    /** Runs `fn` and checks it wrote nothing: the same rows and the same files before and after. */
    async function nothingWritten(fn: () => Promise<void>): Promise<void> {
      const rows = async () => {
        const { rows } = await h.db.query<{ n: number }>(sql`
          select (select count(*) from storage.objects)::int + (select count(*) from public.file_uploads)::int as n`);
        return rows[0]?.n;
      };
      const beforeRows = await rows();
      const beforeFiles = await h.files();
      await fn();
      assert.equal(await rows(), beforeRows, 'no row was written');
      assert.deepEqual(await h.files(), beforeFiles, 'no file was left on disk');
    }

    describe('size limits', () => {
      test("an upload over the bucket's file_size_limit is 413", async () => {
        await nothingWritten(async () => {
          const { error } = await h.service.storage
            .from('small')
            .upload('big.bin', Buffer.alloc(1001, 1), { contentType: 'application/octet-stream' });
          assert.equal(error?.statusCode, '413');
          assert.match(error?.message ?? '', /bucket small takes at most 1000 bytes/);
        });
      });

      test('an upload over LOCONOMY_STORAGE_MAX_FILE_SIZE is 413, as a form too', async () => {
        await nothingWritten(async () => {
          const raw = await h.service.storage.from('any').upload('big.bin', Buffer.alloc(GLOBAL_LIMIT + 1, 7));
          assert.equal(raw.error?.statusCode, '413');
          assert.match(raw.error?.message ?? '', /LOCONOMY_STORAGE_MAX_FILE_SIZE/);
          const form = await h.service.storage
            .from('any')
            .upload(
              'big-form.bin',
              new Blob([Buffer.alloc(GLOBAL_LIMIT + 1, 7)], { type: 'application/octet-stream' }),
            );
          assert.equal(form.error?.statusCode, '413');
        });
      });

      test('exactly the limit is accepted', async () => {
        const { error } = await h.service.storage
          .from('small')
          .upload('exact.bin', Buffer.alloc(1000, 1), { contentType: 'application/octet-stream' });
        assert.equal(error, null);
      });
    });

    describe('content types are sniffed', () => {
      test('a PDF sent as image/png is 415', async () => {
        await nothingWritten(async () => {
          const { error } = await alice.client.storage
            .from('avatars')
            .upload(`${alice.user.id}/face.png`, PDF, { contentType: 'image/png' });
          assert.equal(error?.statusCode, '415');
          assert.match(error?.message ?? '', /content is application\/pdf, not image\/png/);
        });
      });

      test('text sent as image/jpeg is 415 (file-type knows JPEG and this is not one)', async () => {
        await nothingWritten(async () => {
          const { error } = await alice.client.storage
            .from('any')
            .upload('fake.jpg', Buffer.from('<script>alert(1)</script>'), { contentType: 'image/jpeg' });
          assert.equal(error?.statusCode, '415');
        });
      });

      test('a multipart file whose part says image/jpeg but holds a PNG is 415', async () => {
        await nothingWritten(async () => {
          const png = await image('png');
          const { error } = await alice.client.storage
            .from('avatars')
            .upload(`${alice.user.id}/lie.jpg`, new Blob([png], { type: 'image/jpeg' }));
          assert.equal(error?.statusCode, '415');
        });
      });

      test("a type outside the bucket's allowed_mime_types is 415 even when the header is honest", async () => {
        await nothingWritten(async () => {
          const { error } = await alice.client.storage
            .from('avatars')
            .upload(`${alice.user.id}/doc.pdf`, PDF, { contentType: 'application/pdf' });
          assert.equal(error?.statusCode, '415');
          assert.match(error?.message ?? '', /application\/pdf is not supported/);
        });
      });

      test("storage-js's default text/plain says nothing: a PNG uploaded without a type is stored as image/png", async () => {
        const path = `${alice.user.id}/untyped.png`;
        const { error } = await alice.client.storage.from('avatars').upload(path, await image('png'));
        assert.equal(error, null);
        const info = await alice.client.storage.from('avatars').info(path);
        assert.equal(info.data?.contentType, 'image/png');
      });
    });

    describe('names', () => {
      /** POST /storage/v1/object/<path> with the path sent as written (fetch would resolve dot segments). */
      const raw = (path: string) =>
        new Promise<{ status: number; json: () => Promise<{ statusCode: string; error: string }> }>(
          (resolve, reject) => {
            const { hostname, port } = new URL(h.server.url);
            const request = httpRequest(
              {
                hostname,
                port,
                path: `/storage/v1/object/${path}`,
                method: 'POST',
                headers: { apikey: h.server.keys.service_role, 'content-type': 'text/plain' },
              },
              (response) => {
                const chunks: Buffer[] = [];
                response.on('data', (c: Buffer) => chunks.push(c));
                response.on('end', () =>
                  resolve({
                    status: response.statusCode ?? 0,
                    json: async () => JSON.parse(Buffer.concat(chunks).toString('utf8')),
                  }),
                );
              },
            );
            request.on('error', reject);
            request.end('x');
          },
        );

      for (const [what, path] of [
        ['a .. segment', 'any/a/../b.txt'],
        ['a .. segment (encoded)', 'any/a/%2e%2e/b.txt'],
        ['a . segment (encoded)', 'any/a/%2E/b.txt'],
        ['a .. segment behind an encoded slash', 'any/a%2f..%2fb.txt'],
        ['a leading slash', 'any//etc/passwd'],
        ['an empty segment', 'any/a//b.txt'],
        ['a control character', 'any/a%01b.txt'],
        ['a NUL', 'any/a%00b.txt'],
        ['a trailing slash', 'any/folder/'],
        ['an over-long name', `any/${'n'.repeat(1025)}`],
      ] as const) {
        test(`a name with ${what} is 400 InvalidKey`, async () => {
          await nothingWritten(async () => {
            const response = await raw(path);
            assert.equal(response.status, 400);
            const body = await response.json();
            assert.equal(body.statusCode, '400');
            assert.equal(body.error, 'InvalidKey');
          });
        });
      }

      test('move and copy to a .. name are 400, through supabase-js', async () => {
        const files = h.service.storage.from('any');
        assert.equal((await files.upload('here.txt', Buffer.from('x'), { contentType: 'text/plain' })).error, null);
        await nothingWritten(async () => {
          assert.equal((await files.move('here.txt', '../there.txt')).error?.statusCode, '400');
          assert.equal((await files.copy('here.txt', 'a/../../x.txt')).error?.statusCode, '400');
          assert.equal((await files.copy('here.txt', 'a\u0007b.txt')).error?.statusCode, '400');
        });
      });

      test('an invalid bucket name is 400 InvalidBucketName', async () => {
        await nothingWritten(async () => {
          const { error } = await h.service.storage.createBucket('no spaces/here');
          assert.equal(error?.statusCode, '400');
          const up = await raw('bad%20bucket/x.txt');
          assert.equal(up.status, 400);
          assert.equal((await up.json()).error, 'InvalidBucketName');
        });
      });

      test('an upload to a bucket that does not exist is 404', async () => {
        await nothingWritten(async () => {
          const { error } = await h.service.storage.from('nowhere').upload('x.txt', Buffer.from('x'));
          assert.equal(error?.statusCode, '404');
        });
      });
    });

    describe('bodies', () => {
      test('list options out of range are 400', async () => {
        const { error } = await alice.client.storage.from('any').list('', { limit: 0 });
        assert.equal(error?.statusCode, '400');
        const sorted = await alice.client.storage.from('any').list('', { sortBy: { column: 'size; drop table x' } });
        assert.equal(sorted.error?.statusCode, '400');
      });

      test('a signed URL with expiresIn 0 or a year and a day is 400', async () => {
        for (const seconds of [0, 366 * 24 * 3600]) {
          const { error } = await h.service.storage.from('small').createSignedUrl('exact.bin', seconds);
          assert.equal(error?.statusCode, '400');
        }
      });

      test('metadata that is not a JSON object is 400 and nothing is stored', async () => {
        await nothingWritten(async () => {
          const response = await fetch(`${h.server.url}/storage/v1/object/any/meta.txt`, {
            method: 'POST',
            body: 'x',
            headers: {
              apikey: h.server.keys.service_role,
              'content-type': 'text/plain',
              'x-metadata': Buffer.from('[1,2]').toString('base64'),
            },
          });
          assert.equal(response.status, 400);
        });
      });

      test('a bad token on a signed URL is 400 InvalidJWT', async () => {
        const response = await fetch(`${h.server.url}/storage/v1/object/sign/small/exact.bin?token=nope`);
        assert.equal(response.status, 400);
        assert.equal(((await response.json()) as { error: string }).error, 'InvalidJWT');
      });
    });
  });
}
