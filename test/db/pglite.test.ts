import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { openPglite } from '../../src/db/pglite.js';
import { LoconomyError } from '../../src/errors.js';
import { getTestDatabase, testBackend, testLogger } from '../helpers/index.js';

const skip = testBackend() !== 'pglite' && 'embedded database only';

describe('embedded database (PGlite)', { skip }, () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  test('refuses a data directory another process has open', async () => {
    const db = await getTestDatabase('empty');
    cleanups.push(() => db.dispose());
    // Pretend the lock belongs to another live process: our parent.
    const { writeFileSync } = await import('node:fs');
    writeFileSync(`${db.location.dataDir}/loconomy.pid`, `${process.ppid}\n`);
    await assert.rejects(
      openPglite({
        dataDir: db.location.dataDir as string,
        searchPath: 'public',
        log: testLogger(),
        extensions: false,
      }),
      (error: unknown) => {
        assert.ok(error instanceof LoconomyError);
        assert.equal(error.code, 'LOCO_DATA_DIR_LOCKED');
        assert.match(error.message, new RegExp(`in use by another Loconomy process \\(pid ${process.ppid}\\)`));
        return true;
      },
    );
  });

  test('reports an unusable data directory in one line', async () => {
    await assert.rejects(
      openPglite({ dataDir: '/dev/null/loconomy', searchPath: 'public', log: testLogger() }),
      (error: unknown) => {
        assert.ok(error instanceof LoconomyError);
        assert.equal(error.code, 'LOCO_DATA_DIR_UNUSABLE');
        assert.equal(
          error.message,
          'cannot use data directory /dev/null/loconomy: a file is in the way (not a directory) — set LOCONOMY_DATA_DIR to a writable directory',
        );
        return true;
      },
    );
  });
});
