import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { SETTINGS } from '../../src/config.js';
import { ROOT } from '../helpers/index.js';

/** Rows of the settings table in docs/env.md: | `NAME` | type | default | description | */
async function documented(): Promise<Map<string, { type: string; default: string }>> {
  const text = await readFile(join(ROOT, 'docs', 'env.md'), 'utf8');
  const rows = new Map<string, { type: string; default: string }>();
  for (const line of text.split('\n')) {
    const cells = line.split(/(?<!\\)\|/).map((c) => c.trim());
    const name = /^`([A-Z][A-Z0-9_]*)`$/.exec(cells[1] ?? '')?.[1];
    if (name) rows.set(name, { type: cells[2] ?? '', default: cells[3] ?? '' });
  }
  return rows;
}

const unquote = (cell: string) => cell.replace(/^`|`$/g, '').replaceAll('\\|', '|');

test('docs/env.md lists exactly the settings src/config.ts reads', async () => {
  const docs = await documented();
  assert.deepEqual([...docs.keys()].sort(), Object.keys(SETTINGS).sort());
});

test('docs/env.md gives each setting the type and default src/config.ts has', async () => {
  const docs = await documented();
  for (const [name, setting] of Object.entries(SETTINGS)) {
    const row = docs.get(name);
    assert.ok(row, `${name} is documented`);
    assert.equal(unquote(row.type), setting.type, `type of ${name}`);
    const expected = 'default' in setting ? setting.default : undefined;
    assert.equal(row.default === '—' ? undefined : unquote(row.default), expected, `default of ${name}`);
  }
});
