import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { API_ERRORS } from '../../src/errors.js';
import { ROOT } from '../helpers/index.js';

test('docs/errors.md lists exactly the codes and statuses of API_ERRORS', async () => {
  const text = await readFile(join(ROOT, 'docs', 'errors.md'), 'utf8');
  const documented = new Map(
    [...text.matchAll(/^\|\s*([A-Z0-9_]+)\s*\|\s*(\d{3})\s*\|/gm)].map((m) => [m[1] as string, Number(m[2])]),
  );
  const catalogue = new Map(Object.entries(API_ERRORS).map(([code, e]) => [code, e.status]));
  assert.deepEqual([...documented].sort(), [...catalogue].sort());
});
