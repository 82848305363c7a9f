import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { dumpSchema, migratedDatabaseUrl, SCHEMA_FILE } from '../../scripts/schema-dump.js';
import { testBackend } from '../helpers/index.js';

// pg_dump needs a PostgreSQL server; the PGlite run skips this check.
test('db/schema.sql matches the migrations (run `npm run schema:dump` after changing them)', {
  skip: testBackend() !== 'postgres' && 'needs PostgreSQL',
}, async () => {
  const committed = await readFile(SCHEMA_FILE, 'utf8');
  assert.equal(await dumpSchema(await migratedDatabaseUrl()), committed);
});
