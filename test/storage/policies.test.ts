import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { SupabaseClient } from '@supabase/supabase-js';
import { sql } from '../../src/db/sql.js';
import { createListing, grantPermission, type UserFixture } from '../helpers/fixtures.js';
import { image, PDF, type StorageHarness, storageHarness } from './support.js';

/*
 * The policies migration 0051 ships for the marketplace's buckets, through supabase-js as anon,
 * an unrelated user, the owner and an admin (file moderator), and the public.file_uploads
 * record each object of these buckets keeps.
 */

type Actor = { user: UserFixture; client: SupabaseClient };
let h: StorageHarness;
let owner: Actor;
let stranger: Actor;
let admin: Actor;

before(async () => {
  h = await storageHarness();
  owner = await h.user({ role: 'provider' });
  stranger = await h.user();
  admin = await h.user();
  await grantPermission(h.db, admin.user, 'files.moderate');
});

after(async () => {
  await h?.close();
});

const status = (result: { error: { statusCode?: string } | null }) => result.error?.statusCode ?? 'ok';

async function fetchPublic(client: SupabaseClient, bucket: string, path: string): Promise<number> {
  return (await fetch(client.storage.from(bucket).getPublicUrl(path).data.publicUrl)).status;
}

describe('avatars', () => {
  test('a user writes under their own id only; anyone reads', async () => {
    const png = await image('png');
    const mine = `${owner.user.id}/avatar.png`;
    assert.equal(
      status(await owner.client.storage.from('avatars').upload(mine, png, { contentType: 'image/png' })),
      'ok',
    );
    assert.equal(
      status(await owner.client.storage.from('avatars').upload(`${stranger.user.id}/avatar.png`, png)),
      '403',
    );
    assert.equal(status(await h.anon.storage.from('avatars').upload('anon.png', png)), '403');
    assert.equal(await fetchPublic(h.anon, 'avatars', mine), 200);
    assert.equal(status(await stranger.client.storage.from('avatars').download(mine)), 'ok');
    // The stranger may not replace or remove it.
    assert.deepEqual((await stranger.client.storage.from('avatars').remove([mine])).data, []);
    assert.equal(status(await stranger.client.storage.from('avatars').upload(mine, png, { upsert: true })), '403');
  });

  test('the object has a public.file_uploads record that follows moves and removal', async () => {
    const png = await image('png');
    const path = `${owner.user.id}/record.png`;
    await owner.client.storage.from('avatars').upload(path, png, { contentType: 'image/png' });
    const record = async (p: string) =>
      (
        await h.db.query<Record<string, unknown>>(sql`
          select user_id, type::text, status::text, is_public, mime_type, size_bytes::int, storage_provider
            from public.file_uploads where bucket = 'avatars' and storage_path = ${p}`)
      ).rows[0];
    assert.deepEqual(await record(path), {
      user_id: owner.user.id,
      type: 'avatar',
      status: 'active',
      is_public: true,
      mime_type: 'image/png',
      size_bytes: png.length,
      storage_provider: 'local',
    });
    const moved = `${owner.user.id}/moved.png`;
    assert.equal(status(await owner.client.storage.from('avatars').move(path, moved)), 'ok');
    assert.equal(await record(path), undefined);
    assert.equal((await record(moved))?.type, 'avatar');
    await owner.client.storage.from('avatars').remove([moved]);
    assert.equal(await record(moved), undefined);
  });
});

describe('listing-images', () => {
  test("a provider writes under their own listing's id; images of active listings are public, others are not", async () => {
    const active = await createListing(h.db, owner.user);
    const draft = await createListing(h.db, owner.user, { status: 'draft' });
    const otherProvider = await h.user({ role: 'provider' });
    const theirs = await createListing(h.db, otherProvider.user);
    const jpeg = await image('jpeg');
    const images = owner.client.storage.from('listing-images');
    assert.equal(status(await images.upload(`${active.id}/1.jpg`, jpeg, { contentType: 'image/jpeg' })), 'ok');
    assert.equal(status(await images.upload(`${draft.id}/1.jpg`, jpeg, { contentType: 'image/jpeg' })), 'ok');
    assert.equal(status(await images.upload(`${theirs.id}/1.jpg`, jpeg, { contentType: 'image/jpeg' })), '403');
    assert.equal(status(await images.upload(`providers/${owner.user.id}/1.jpg`, jpeg)), '403');

    assert.equal(await fetchPublic(h.anon, 'listing-images', `${active.id}/1.jpg`), 200);
    assert.equal(await fetchPublic(h.anon, 'listing-images', `${draft.id}/1.jpg`), 404);
    assert.equal(status(await stranger.client.storage.from('listing-images').download(`${draft.id}/1.jpg`)), '404');
    // The provider and a moderator still see the draft's image.
    assert.equal(status(await images.download(`${draft.id}/1.jpg`)), 'ok');
    assert.equal(status(await admin.client.storage.from('listing-images').download(`${draft.id}/1.jpg`)), 'ok');
    const { rows } = await h.db.query<{ listing_id: string; type: string }>(sql`
      select listing_id, type::text from public.file_uploads
       where bucket = 'listing-images' and storage_path = ${`${active.id}/1.jpg`}`);
    assert.deepEqual(rows, [{ listing_id: active.id, type: 'service_image' }]);
  });
});

describe('documents', () => {
  test('private: the owner and file moderators read, nobody else', async () => {
    const path = `${owner.user.id}/licence.pdf`;
    const docs = owner.client.storage.from('documents');
    assert.equal(status(await docs.upload(path, PDF, { contentType: 'application/pdf' })), 'ok');
    assert.equal(status(await stranger.client.storage.from('documents').upload(`${owner.user.id}/x.pdf`, PDF)), '403');
    assert.equal(status(await docs.download(path)), 'ok');
    assert.equal(status(await admin.client.storage.from('documents').download(path)), 'ok');
    assert.equal(status(await stranger.client.storage.from('documents').download(path)), '404');
    assert.equal(status(await h.anon.storage.from('documents').download(path)), '404');
    assert.equal(await fetchPublic(h.anon, 'documents', path), 404);
    // A signed URL made by the owner opens it for anyone.
    const signed = await docs.createSignedUrl(path, 60);
    assert.equal((await fetch(signed.data?.signedUrl ?? '')).status, 200);
  });
});

describe('attachments', () => {
  test("a conversation's participants read and attach; the sender alone removes", async () => {
    const outsider = await h.user();
    const { rows } = await h.db.query<{ id: string }>(sql`
      insert into public.conversations (tenant_id, created_by) values (${owner.user.tenantId}, ${owner.user.id})
      returning id`);
    const conversation = rows[0]?.id as string;
    await h.db.query(sql`
      insert into public.conversation_participants (conversation_id, user_id)
      values (${conversation}, ${owner.user.id}), (${conversation}, ${stranger.user.id})`);
    const path = `${conversation}/quote.pdf`;
    assert.equal(
      status(await owner.client.storage.from('attachments').upload(path, PDF, { contentType: 'application/pdf' })),
      'ok',
    );
    assert.equal(status(await stranger.client.storage.from('attachments').download(path)), 'ok');
    assert.equal(status(await outsider.client.storage.from('attachments').download(path)), '404');
    assert.equal(
      status(await outsider.client.storage.from('attachments').upload(`${conversation}/spam.pdf`, PDF)),
      '403',
    );
    // The other participant may attach, but not remove the sender's file.
    assert.equal(
      status(await stranger.client.storage.from('attachments').upload(`${conversation}/reply.pdf`, PDF)),
      'ok',
    );
    assert.deepEqual((await stranger.client.storage.from('attachments').remove([path])).data, []);
    assert.equal((await owner.client.storage.from('attachments').remove([path])).data?.length, 1);
  });
});
