/**
 * `npm test`: the whole suite on PGlite, then again on PostgreSQL when
 * LOCONOMY_TEST_DATABASE_URL (or DATABASE_URL) is set.
 *
 * Before each run the migrated+seeded template is built once (cached by content hash), so test
 * files only clone it. Node 20's --test has no glob, so test files are found here.
 * `npm test -- test/db` runs only files whose path contains one of the given arguments.
 * Ends with Node's own summary and a last line `N passed, N failed` summing both backends.
 */
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { oneLine } from '../src/errors.js';
import {
  ensureEmptyPgliteTemplate,
  ensurePgliteTemplate,
  ensurePostgresTemplate,
  ROOT,
  testDatabaseUrl,
} from '../test/helpers/template.js';

interface Counts {
  tests: number;
  pass: number;
  fail: number;
  skipped: number;
}

async function findTests(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await findTests(path)));
    else if (entry.name.endsWith('.test.ts')) found.push(path);
  }
  return found.sort();
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/** Runs Node's test runner on the files, echoing its output and reading its summary lines. */
function runNodeTests(files: string[], env: Record<string, string>): Promise<{ code: number; counts: Counts }> {
  return new Promise((resolve, reject) => {
    const args = ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=2', ...files];
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, ...env, ...(process.stdout.isTTY ? { FORCE_COLOR: '1' } : {}) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const counts: Counts = { tests: 0, pass: 0, fail: 0, skipped: 0 };
    let pending = '';
    child.stdout.on('data', (chunk: Buffer) => {
      process.stdout.write(chunk);
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        // biome-ignore lint/suspicious/noControlCharactersInRegex: strips ANSI colour codes
        const plain = line.replace(/\u001b\[[0-9;]*m/g, '');
        const match = /^ℹ (tests|pass|fail|cancelled|skipped) (\d+)$/.exec(plain.trim());
        // A cancelled test (its file crashed or timed out) counts as a failure.
        if (match) counts[match[1] === 'cancelled' ? 'fail' : (match[1] as keyof Counts)] += Number(match[2]);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, counts }));
  });
}

async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await fn();
  say(`ℹ ${label} (${Math.round(performance.now() - started)} ms)`);
  return result;
}

async function main(): Promise<number> {
  const filters = process.argv.slice(2);
  const all = await findTests(join(ROOT, 'test'));
  const files = all
    .map((f) => relative(ROOT, f))
    .filter((f) => filters.length === 0 || filters.some((filter) => f.includes(filter)));
  if (files.length === 0) {
    say(`no test files match ${filters.join(' ')}`);
    return 1;
  }

  const backends: { name: 'pglite' | 'postgres'; prepare: () => Promise<Record<string, string>> }[] = [
    {
      name: 'pglite',
      prepare: async () => {
        const template = await timed('PGlite template ready', ensurePgliteTemplate);
        await ensureEmptyPgliteTemplate();
        return { LOCONOMY_TEST_BACKEND: 'pglite', LOCONOMY_TEST_PGLITE_TEMPLATE: template };
      },
    },
  ];
  const url = testDatabaseUrl();
  if (url) {
    backends.push({
      name: 'postgres',
      prepare: async () => {
        const template = await timed('PostgreSQL template ready', () => ensurePostgresTemplate(url));
        return {
          LOCONOMY_TEST_BACKEND: 'postgres',
          LOCONOMY_TEST_DATABASE_URL: url,
          LOCONOMY_TEST_PG_TEMPLATE: template,
        };
      },
    });
  }

  const total: Counts = { tests: 0, pass: 0, fail: 0, skipped: 0 };
  let failed = false;
  for (const backend of backends) {
    say(`\n▶ ${files.length} test files on ${backend.name}`);
    let env: Record<string, string>;
    try {
      env = await backend.prepare();
    } catch (error) {
      say(`✖ cannot build the ${backend.name} test template: ${oneLine(error)}`);
      total.fail += 1;
      failed = true;
      continue;
    }
    const { code, counts } = await runNodeTests(files, env);
    for (const key of Object.keys(total) as (keyof Counts)[]) total[key] += counts[key];
    if (code !== 0 || counts.fail > 0 || counts.tests === 0) failed = true;
  }
  say(`${total.pass} passed, ${total.fail} failed${total.skipped ? `, ${total.skipped} skipped` : ''}`);
  return failed ? 1 : 0;
}

process.exitCode = await main();
