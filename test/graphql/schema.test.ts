import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { printGraphqlSchema } from '../../src/graphql/print.js';
import { getTestDatabase, ROOT, type TestDatabase, testLogger } from '../helpers/index.js';

/*
 * schema.graphql is the GraphQL API as the migrations make it, on this backend: a change to the
 * schema that changes the API shows up in review. Regenerate with
 * `npx loconomy gen graphql --output schema.graphql` (decision 0025).
 */

let db: TestDatabase;
before(async () => {
  db = await getTestDatabase();
});
after(async () => {
  await db?.dispose();
});

test('schema.graphql is what the migrations make /graphql/v1 serve', async () => {
  const printed = await printGraphqlSchema(db, loadConfig({}), testLogger());
  const committed = await readFile(join(ROOT, 'schema.graphql'), 'utf8');
  // Compared line by line, so a failure names the first difference rather than 24,000 lines.
  const [a, b] = [printed.split('\n'), committed.split('\n')];
  const first = a.findIndex((line, i) => line !== b[i]);
  assert.equal(
    first === -1 && a.length === b.length ? null : first,
    null,
    `schema.graphql differs at line ${first + 1}: committed ${JSON.stringify(b[first])}, generated ${JSON.stringify(a[first])}; run \`npx loconomy gen graphql --output schema.graphql\``,
  );
});
