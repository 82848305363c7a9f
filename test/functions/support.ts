import assert from 'node:assert/strict';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { FunctionsHttpError, type SupabaseClient } from '@supabase/supabase-js';

/** A functions folder of its own for a test: files by relative path. */
export async function functionsDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'loconomy-functions-'));
  await writeFiles(dir, files);
  return dir;
}

export async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
}

export interface Invoked {
  readonly status: number;
  readonly headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: a test reads whatever came back
  readonly data: any;
  readonly error: unknown;
}

/**
 * supabase.functions.invoke as a front end calls it; on an HTTP error, the status and the JSON
 * body from FunctionsHttpError's context (the Response), as the client documents.
 */
export async function invoke(
  client: SupabaseClient,
  name: string,
  options: Parameters<SupabaseClient['functions']['invoke']>[1] = {},
): Promise<Invoked> {
  const { data, error, response } = await client.functions.invoke(name, options);
  if (error === null) {
    assert.ok(response, 'a response');
    return { status: response.status, headers: response.headers, data, error };
  }
  assert.ok(error instanceof FunctionsHttpError, `expected FunctionsHttpError, got ${error}`);
  const context = error.context as Response;
  const text = await context.text();
  const isJson = (context.headers.get('content-type') ?? '').startsWith('application/json');
  return { status: context.status, headers: context.headers, data: isJson ? JSON.parse(text) : text, error };
}

/** Per-test state the test functions write in this process (they run in the server, here). */
export function probe(): Record<string, unknown> {
  const g = globalThis as { __loconomyFunctionsTest?: Record<string, unknown> };
  g.__loconomyFunctionsTest ??= {};
  return g.__loconomyFunctionsTest;
}

/** Waits for a condition the server reaches on its own (a reload, an abort), checking now and then. */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined): Promise<T> {
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
