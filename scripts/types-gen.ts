import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Queryable } from '../src/db/database.js';
import { loadTypeCatalog } from '../src/gen/catalog.js';
import { renderTypes } from '../src/gen/types.js';
import { getTestDatabase, ROOT } from '../test/helpers/index.js';

/*
 * src/types/database.types.ts: `loconomy gen types` for the schema the migrations make,
 * committed so that an API change shows in review (STYLE.md 6), importable by clients and by
 * this project's own supabase-js tests, and checked by test/gen/committed.test.ts so it never
 * drifts. Run `npm run types:gen` after changing db/migrations. It generates from a private
 * copy of the migrated test template (PGlite, or PostgreSQL when LOCONOMY_TEST_DATABASE_URL
 * or DATABASE_URL is set; both give the same text), never from your own data directory.
 */

export const TYPES_FILE = join(ROOT, 'src', 'types', 'database.types.ts');

/** The schemas a default Loconomy exposes (LOCONOMY_DB_SCHEMAS's default). */
const SCHEMAS = ['public'];

const NOTE = [
  'This copy is for the schema of db/migrations: `npm run types:gen` rewrites it after a migration,',
  'and test/gen/committed.test.ts fails when it no longer matches.',
];

/** The committed file's text for a migrated database. */
export async function committedTypes(db: Queryable): Promise<string> {
  return renderTypes(await loadTypeCatalog(db, SCHEMAS), { note: NOTE });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const db = await getTestDatabase('migrated');
  try {
    const text = await committedTypes(db);
    await writeFile(TYPES_FILE, text);
    console.log(`wrote ${TYPES_FILE} (${text.split('\n').length} lines)`);
  } finally {
    await db.dispose();
  }
}
