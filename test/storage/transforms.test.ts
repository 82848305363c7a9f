import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { image, PDF, type StorageHarness, storageHarness } from './support.js';

/*
 * Image transforms through supabase-js (`transform` on download, getPublicUrl and
 * createSignedUrl), checked by reading the returned image's size and format with sharp.
 */

let h: StorageHarness;
let png: Buffer;

before(async () => {
  h = await storageHarness();
  assert.equal((await h.service.storage.createBucket('pics', { public: false })).error, null);
  assert.equal((await h.service.storage.createBucket('open-pics', { public: true })).error, null);
  png = await image('png', 400, 300);
  await h.service.storage.from('pics').upload('photo.png', png, { contentType: 'image/png' });
  await h.service.storage.from('open-pics').upload('photo.png', png, { contentType: 'image/png' });
  await h.service.storage.from('pics').upload('doc.pdf', PDF, { contentType: 'application/pdf' });
});

after(async () => {
  await h?.close();
});

async function metadataOf(blob: Blob | Response) {
  return sharp(Buffer.from(await blob.arrayBuffer())).metadata();
}

test('download with width and height: cover crops to the box, contain fits inside, fill stretches', async () => {
  const pics = h.service.storage.from('pics');
  for (const [resize, width, height] of [
    ['cover', 100, 100],
    ['contain', 100, 75],
    ['fill', 100, 100],
  ] as const) {
    const { data, error } = await pics.download('photo.png', { transform: { width: 100, height: 100, resize } });
    assert.equal(error, null, resize);
    const meta = await metadataOf(data as Blob);
    assert.deepEqual([meta.width, meta.height], [width, height], resize);
  }
});

test('only a width keeps the aspect ratio; format origin keeps PNG, quality is taken', async () => {
  const pics = h.service.storage.from('pics');
  const { data } = await pics.download('photo.png', { transform: { width: 200, format: 'origin', quality: 50 } });
  const meta = await metadataOf(data as Blob);
  assert.deepEqual([meta.width, meta.height, meta.format], [200, 150, 'png']);
});

test('a 2000×1500 JPEG to 400 px', async () => {
  const pics = h.service.storage.from('pics');
  const big = await image('jpeg', 2000, 1500);
  await pics.upload('big.jpg', big, { contentType: 'image/jpeg' });
  const { data } = await pics.download('big.jpg', { transform: { width: 400 } });
  const meta = await metadataOf(data as Blob);
  assert.deepEqual([meta.width, meta.height, meta.format], [400, 300, 'jpeg']);
});

test('getPublicUrl with a transform; WebP when the client accepts it', async () => {
  const url = h.anon.storage.from('open-pics').getPublicUrl('photo.png', { transform: { width: 80, height: 60 } })
    .data.publicUrl;
  assert.match(url, /\/render\/image\/public\/open-pics\/photo\.png\?width=80&height=60/);
  const plain = await fetch(url);
  assert.equal(plain.status, 200);
  assert.deepEqual(await metadataOf(plain).then((m) => [m.width, m.height, m.format]), [80, 60, 'png']);
  const webp = await fetch(url, { headers: { accept: 'image/webp,*/*' } });
  assert.equal(webp.headers.get('content-type'), 'image/webp');
  assert.equal((await metadataOf(webp)).format, 'webp');
});

test('a signed URL carries its transform; the query cannot change it', async () => {
  const pics = h.service.storage.from('pics');
  const { data, error } = await pics.createSignedUrl('photo.png', 60, { transform: { width: 50, height: 50 } });
  assert.equal(error, null);
  const url = data?.signedUrl as string;
  assert.match(url, /\/render\/image\/sign\/pics\/photo\.png\?token=/);
  const meta = await metadataOf(await fetch(url));
  assert.deepEqual([meta.width, meta.height], [50, 50]);
  const tampered = await metadataOf(await fetch(`${url}&width=400`));
  assert.deepEqual([tampered.width, tampered.height], [50, 50]);
});

test('bad transforms are 400: not an image, out-of-range sizes, unknown modes', async () => {
  const pics = h.service.storage.from('pics');
  assert.equal((await pics.download('doc.pdf', { transform: { width: 10 } })).error?.statusCode, '400');
  assert.equal((await pics.download('photo.png', { transform: { width: 5000 } })).error?.statusCode, '400');
  const mode = await fetch(`${h.server.url}/storage/v1/render/image/authenticated/pics/photo.png?resize=squash`, {
    headers: { apikey: h.server.keys.service_role, authorization: `Bearer ${h.server.keys.service_role}` },
  });
  assert.equal(mode.status, 400);
  // A private object is not transformed for anon.
  assert.equal(
    (await h.anon.storage.from('pics').download('photo.png', { transform: { width: 10 } })).error?.statusCode,
    '404',
  );
});
