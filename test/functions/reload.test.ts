import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isLoconomyError } from '../../src/errors.js';
import { getTestDatabase, startTestServer, type TestDatabase, type TestServer, testBackend } from '../helpers/index.js';
import { eventually, functionsDir, invoke, writeFiles } from './support.js';

/*
 * The functions folder over a server's life: loaded at start, reloaded on change in development
 * (the function, a shared module it imports, a new function, a broken one, a removed one), left
 * alone in production; and the start refused when a project function takes a built-in's name or
 * one name has two files.
 */

const hello = (version: string) => `
import { word } from './_shared/word.ts';
export default () => new Response('${version} ' + word);
`;
const word = (value: string) => `export const word: string = '${value}';\n`;

let db: TestDatabase;
const dirs: string[] = [];
const servers: TestServer[] = [];

before(async () => {
  db = await getTestDatabase();
});

after(async () => {
  for (const server of servers) await server.close();
  await db?.dispose();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function folder(files: Record<string, string>): Promise<string> {
  const dir = await functionsDir(files);
  dirs.push(dir);
  return dir;
}

async function serve(dir: string, env: Record<string, string> = {}): Promise<TestServer> {
  const server = await startTestServer(db, { LOCONOMY_FUNCTIONS_DIR: dir, ...env });
  servers.push(server);
  return server;
}

/** Invokes until the answer is what `want` accepts (the reload happens on its own time). */
function until(server: TestServer, name: string, want: (status: number, data: unknown) => boolean) {
  return eventually(async () => {
    const { status, data } = await invoke(server.client(), name);
    return want(status, data) ? { status, data } : undefined;
  });
}

for (const kind of ['commonjs', 'module'] as const) {
  describe(`functions: reload on change in development, ${kind} folder (${testBackend()})`, () => {
    test('a changed function, a changed shared module, a new, a broken and a removed function', async () => {
      const dir = await folder({
        'hello.ts': hello('v1'),
        '_shared/word.ts': word('one'),
        ...(kind === 'module' ? { 'package.json': '{"type": "module"}\n' } : {}),
      });
      const server = await serve(dir);
      assert.equal((await invoke(server.client(), 'hello')).data, 'v1 one');

      await writeFiles(dir, { 'hello.ts': hello('v2') });
      await until(server, 'hello', (_, data) => data === 'v2 one');

      await writeFiles(dir, { '_shared/word.ts': word('two') });
      await until(server, 'hello', (_, data) => data === 'v2 two');

      await writeFiles(dir, { 'added/index.ts': `export default () => new Response('added');\n` });
      const added = await until(server, 'added', (status) => status === 200);
      assert.equal(added.data, 'added');

      await writeFiles(dir, { 'hello.ts': 'export default () => new Response(;\n' });
      const broken = await until(server, 'hello', (status) => status === 503);
      assert.equal((broken.data as { code: string }).code, 'LOCO_FUNCTION_BOOT_ERROR');
      await writeFiles(dir, { 'hello.ts': hello('v3') });
      await until(server, 'hello', (_, data) => data === 'v3 two');

      await rm(join(dir, 'added'), { recursive: true });
      await until(server, 'added', (status) => status === 404);
    });
  });
}

describe(`functions: production does not reload (${testBackend()})`, () => {
  test('a production server keeps what it loaded while a development one on the same folder reloads', async () => {
    const dir = await folder({ 'hello.ts': hello('v1'), '_shared/word.ts': word('one') });
    const production = await serve(dir, { NODE_ENV: 'production' });
    const development = await serve(dir);
    await writeFiles(dir, { 'hello.ts': hello('v2') });
    await until(development, 'hello', (_, data) => data === 'v2 one');
    assert.equal((await invoke(production.client(), 'hello')).data, 'v1 one');
  });
});

describe(`functions: refused at start (${testBackend()})`, () => {
  test("a project function with a built-in function's name", async () => {
    const dir = await folder({ 'stripe-subscribe.ts': `export default () => new Response('mine');\n` });
    await assert.rejects(serve(dir), (error) => {
      assert.ok(isLoconomyError(error));
      assert.equal(error.code, 'LOCO_FUNCTIONS_INVALID');
      assert.match(error.message, /stripe-subscribe\.ts has the name of a built-in function \(stripe-subscribe\)/);
      return true;
    });
  });

  test('one name with two files', async () => {
    const dir = await folder({
      'twice.ts': `export default () => new Response('a');\n`,
      'twice/index.ts': `export default () => new Response('b');\n`,
    });
    await assert.rejects(serve(dir), /the function twice is defined twice/);
  });

  test('a missing folder is no functions, not an error', async () => {
    const server = await serve(join(await folder({}), 'missing'));
    assert.equal((await invoke(server.client(), 'hello')).status, 404);
  });
});
