import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadTypeCatalog } from '../../src/gen/catalog.js';
import { renderTypes } from '../../src/gen/types.js';
import { getTestDatabase, ROOT, type TestDatabase, testBackend } from '../helpers/index.js';
import { formatDiagnostics, typecheck } from './compile.js';

/*
 * The generator on its own fixture (STYLE.md 7, 8): fixture.sql, loaded into an empty
 * database, must give exactly fixture.types.ts — the golden text, on PGlite and PostgreSQL.
 *
 *   LOCONOMY_GOLDEN_UPDATE=1  rewrites fixture.types.ts from what the generator prints, for review.
 */

const DIR = join(ROOT, 'test', 'gen');
const GOLDEN = join(DIR, 'fixture.types.ts');
const UPDATE = process.env.LOCONOMY_GOLDEN_UPDATE === '1';

describe(`gen types on the fixture schema (${testBackend()})`, () => {
  let db: TestDatabase;
  let text: string;

  before(async () => {
    db = await getTestDatabase('empty');
    await db.exec(await readFile(join(DIR, 'fixture.sql'), 'utf8'));
    text = renderTypes(await loadTypeCatalog(db, ['shop']));
  });
  after(() => db?.dispose());

  test('identity, defaults, generated and nullable columns, enums, composites, views and functions print as fixture.types.ts', async () => {
    if (UPDATE) await writeFile(GOLDEN, text);
    assert.equal(text, await readFile(GOLDEN, 'utf8'));
  });

  test('the same catalog gives the same text', async () => {
    assert.equal(renderTypes(await loadTypeCatalog(db, ['shop'])), text);
  });

  test('a computed field is typed when selected by name and left out of *', async () => {
    const probe = `import { createClient } from '@supabase/supabase-js';
import type { Database } from './database.types.js';
const shop = createClient<Database, 'shop'>('http://localhost', 'key', { db: { schema: 'shop' } });
export async function probe() {
  const named = await shop.from('customers').select('id, greeting').single();
  const greeting: string | null | undefined = named.data?.greeting;
  const all = await shop.from('customers').select('*').single();
  // @ts-expect-error a computed field is not part of *
  const missing = all.data?.greeting;
  return [greeting, missing];
}
`;
    const diagnostics = await typecheck({ 'database.types.ts': text, 'probe.ts': probe });
    assert.equal(diagnostics.length, 0, formatDiagnostics(diagnostics));
  });

  test('the fixture types compile on their own', async () => {
    const diagnostics = await typecheck({ 'database.types.ts': text });
    assert.equal(diagnostics.length, 0, formatDiagnostics(diagnostics));
  });
});
