import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { createGunzip, createGzip } from 'node:zlib';
import type { Extension, Extensions } from '@electric-sql/pglite';
import { extract, pack } from 'tar-stream';
import { packageDir, packageVersions } from './versions.js';

/**
 * The extensions the embedded database registers: PostGIS, pg_trgm, btree_gin, btree_gist.
 *
 * PostGIS's package bundle (~95 MB unpacked) also carries the raster and topology libraries
 * (31 MB of WebAssembly), the tiger geocoder and every upgrade script, and PGlite unpacks and
 * compiles all of it on every open. Loconomy creates only `postgis`, so with a cache directory
 * the bundle is trimmed to what that needs, once per machine and package version, and the trimmed
 * copy is loaded instead: about a third less CPU per open (decision 0013).
 */
export async function pgliteExtensions(cacheDir?: string): Promise<Extensions> {
  const { postgis } = await import('@electric-sql/pglite-postgis');
  // A cache that cannot be written only costs speed: the package's own bundle then.
  const trimmed = cacheDir ? await trimmedPostgis(postgis, cacheDir).catch(() => postgis) : postgis;
  return {
    postgis: trimmed,
    pg_trgm: (await import('@electric-sql/pglite/contrib/pg_trgm')).pg_trgm,
    btree_gin: (await import('@electric-sql/pglite/contrib/btree_gin')).btree_gin,
    btree_gist: (await import('@electric-sql/pglite/contrib/btree_gist')).btree_gist,
  };
}

/** Files of the PostGIS bundle that `create extension postgis` (and its use) never reads. */
const UNUSED = [
  /^lib\/postgresql\/postgis_(raster|topology)-/,
  /^share\/postgresql\/extension\/postgis_(raster|topology|tiger_geocoder)/,
  /^share\/postgresql\/extension\/postgis--unpackaged/,
  /^share\/postgresql\/contrib\//,
];

export function isUnused(path: string): boolean {
  const name = path.replace(/^\.\//, '');
  return UNUSED.some((pattern) => pattern.test(name));
}

async function trimmedPostgis(postgis: Extension, cacheDir: string): Promise<Extension> {
  const source = join(packageDir('@electric-sql/pglite-postgis'), 'dist', 'postgis.tar.gz');
  if (!existsSync(source)) return postgis; // a package layout we do not know: load it as it is
  const version = packageVersions()['@electric-sql/pglite-postgis'];
  const trimmed = join(cacheDir, `postgis-${version}-core.tar.gz`);
  if (!existsSync(trimmed)) await trim(source, trimmed);
  return {
    name: postgis.name,
    async setup(pg, emscriptenOptions, clientOnly) {
      const result = await postgis.setup(pg, emscriptenOptions, clientOnly);
      return { ...result, bundlePath: pathToFileURL(trimmed) };
    },
  };
}

/** Copies the bundle without the unused files; written aside and renamed, so readers never see half. */
async function trim(source: string, target: string): Promise<void> {
  await mkdir(join(target, '..'), { recursive: true });
  const partial = `${target}.${process.pid}-${randomBytes(4).toString('hex')}`;
  const reader = extract();
  const writer = pack();
  reader.on('entry', (header, stream, next) => {
    if (isUnused(header.name)) {
      stream.on('end', next);
      stream.resume();
      return;
    }
    stream.pipe(writer.entry(header, next));
  });
  reader.on('finish', () => writer.finalize());
  try {
    await Promise.all([
      pipeline(createReadStream(source), createGunzip(), reader),
      pipeline(writer, createGzip({ level: 6 }), createWriteStream(partial)),
    ]);
    await rename(partial, target);
  } finally {
    await rm(partial, { force: true });
  }
}
