import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ByteRange, StorageBackend } from './types.js';

/**
 * The local disk under <data dir>/storage: one file per key. Keys are `<bucket>/<uuid>` or
 * `.tmp/<uuid>` (never a user's name), so joining them to the root cannot leave it. A write is
 * flushed (fsync) before it resolves, so a committed object's bytes survive a crash; the
 * rename that commits an upload is atomic on one file system.
 */
export function diskBackend(root: string): StorageBackend {
  const path = (key: string) => join(root, key);
  return {
    provider: 'local',
    async put(key, body) {
      const file = path(key);
      await mkdir(dirname(file), { recursive: true, mode: 0o700 });
      try {
        const out = createWriteStream(file, { mode: 0o600 });
        await pipeline(body, out);
        const handle = await open(file, 'r');
        await handle.sync().finally(() => handle.close());
      } catch (error) {
        await rm(file, { force: true });
        throw error;
      }
    },
    async get(key, range?: ByteRange) {
      const file = path(key);
      try {
        // Opened here, so a missing file is undefined rather than a stream error later.
        const handle = await open(file, 'r');
        return handle.createReadStream(range ? { start: range.start, end: range.end } : {});
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    },
    async head(key) {
      try {
        return { size: (await stat(path(key))).size };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    },
    async rename(from, to) {
      await mkdir(dirname(path(to)), { recursive: true, mode: 0o700 });
      await rename(path(from), path(to));
    },
    async copy(from, to) {
      await mkdir(dirname(path(to)), { recursive: true, mode: 0o700 });
      await copyFile(path(from), path(to));
    },
    async delete(keys) {
      await Promise.all(keys.map((key) => rm(path(key), { force: true })));
    },
    async *list(prefix) {
      const dir = path(prefix);
      let names: string[];
      try {
        names = await readdir(dir);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw error;
      }
      for (const name of names) {
        const info = await stat(join(dir, name)).catch(() => undefined);
        if (info?.isFile()) yield { key: `${prefix}${name}`, modified: info.mtime };
      }
    },
  };
}
