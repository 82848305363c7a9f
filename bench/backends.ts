import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config.js';
import type { Database } from '../src/db/database.js';
import { fromTemplate } from '../src/db/open.js';
import { openPglite } from '../src/db/pglite.js';
import { openPostgres } from '../src/db/postgres.js';
import { prepareDatabase } from '../src/db/prepare.js';
import type { Logger } from '../src/log.js';

/**
 * Runs `measure` on a fresh embedded database (from the prepared template, deleted after), then
 * on PostgreSQL at `url` when one is given: for benches that compare the two backends.
 */
export async function onBothBackends(
  options: { name: string; url: string | undefined; log: Logger; labels: { pglite: string; postgres: string } },
  measure: (label: string, db: Database, url?: string) => Promise<void>,
): Promise<void> {
  const { name, url, log, labels } = options;
  const config = loadConfig();
  const dataDir = await mkdtemp(join(tmpdir(), `loconomy-bench-${name}-`));
  try {
    const db = await openPglite({
      dataDir,
      searchPath: '"public", "extensions"',
      log,
      initialise: fromTemplate(config.cacheDir, log),
      cacheDir: config.cacheDir,
    });
    try {
      await prepareDatabase(db, { log });
      await measure(labels.pglite, db);
    } finally {
      await db.close();
    }
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }

  if (url === undefined) {
    console.log('PostgreSQL: skipped (set LOCONOMY_BENCH_DATABASE_URL)');
    return;
  }
  const db = openPostgres({ url, searchPath: '"public", "extensions"', log });
  try {
    await prepareDatabase(db, { log });
    await measure(labels.postgres, db, url);
  } finally {
    await db.close();
  }
}
