import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { committedTypes, TYPES_FILE } from '../../scripts/types-gen.js';
import { getTestDatabase, testBackend } from '../helpers/index.js';

// On both backends: PGlite and PostgreSQL must print the same types for the same migrations.
test(`src/types/database.types.ts matches the migrations on ${testBackend()} (run \`npm run types:gen\` after changing them)`, async () => {
  const db = await getTestDatabase();
  try {
    assert.equal(await committedTypes(db), await readFile(TYPES_FILE, 'utf8'));
  } finally {
    await db.dispose();
  }
});
