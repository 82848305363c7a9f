import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  getTestDatabase,
  ROOT,
  startTestServer,
  type TestDatabase,
  type TestServer,
  testBackend,
} from '../helpers/index.js';

/*
 * Golden cases for the REST layer on its own fixture schema (STYLE.md 7 and 8): each
 * test/rest/golden/<group>/<name>.http is sent over HTTP to a real server, and the answer
 * must match <name>.expected beside it — status, the headers in RECORDED, and the body.
 * The format, the wildcard and the isolation of writes are described in golden/README.md.
 *
 *   LOCONOMY_GOLDEN_UPDATE=1  rewrites the .expected file of every case that does not match
 *                             (and writes missing ones), for review in git.
 */

const GOLDEN = join(ROOT, 'test', 'rest', 'golden');
const FIXTURE = join(ROOT, 'test', 'rest', 'fixture', 'schema.sql');
const UPDATE = process.env.LOCONOMY_GOLDEN_UPDATE === '1';

/** Every group's server; a group's server.env adds to or overrides these. */
const BASE_ENV: Record<string, string> = {
  LOCONOMY_DB_SCHEMAS: 'fixture',
  // Every transaction ends in a rollback, so no case sees another's writes (README.md).
  LOCONOMY_DB_TX_END: 'rollback-allow-override',
  LOCONOMY_DB_AGGREGATES_ENABLED: 'true',
};

/** The response headers a case records, in the order an .expected file lists them. */
const RECORDED: Record<string, string> = {
  'content-profile': 'Content-Profile',
  'content-range': 'Content-Range',
  'content-type': 'Content-Type',
  location: 'Location',
  'preference-applied': 'Preference-Applied',
  'www-authenticate': 'WWW-Authenticate',
};

/** In an .expected file: matches any run of characters; as a whole JSON value, any value. */
const ANY = '<any>';

interface GoldenRequest {
  readonly method: string;
  /** Relative to /rest/v1, starting with '/'. */
  readonly path: string;
  readonly headers: readonly (readonly [string, string])[];
  readonly body?: string;
}

interface GoldenResponse {
  readonly status: string;
  /** Lower-case name → value, only RECORDED names. */
  readonly headers: ReadonlyMap<string, string>;
  /** The body as written in the file (pretty JSON, or the raw text). */
  readonly body: string;
  /** The parsed body when it is JSON. */
  readonly json?: { value: unknown };
}

interface Case {
  readonly group: string;
  readonly name: string;
  readonly httpFile: string;
  readonly expectedFile: string;
}

// ---------------------------------------------------------------------------------------------
// The cases, found when the file loads (node:test needs the test names synchronously)
// ---------------------------------------------------------------------------------------------

const groups = readdirSync(GOLDEN, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

function casesOf(group: string): Case[] {
  return readdirSync(join(GOLDEN, group))
    .filter((f) => f.endsWith('.http'))
    .sort()
    .map((f) => {
      const name = f.slice(0, -'.http'.length);
      return {
        group,
        name,
        httpFile: join(GOLDEN, group, f),
        expectedFile: join(GOLDEN, group, `${name}.expected`),
      };
    });
}

function groupEnv(group: string): Record<string, string> {
  const file = join(GOLDEN, group, 'server.env');
  const env = { ...BASE_ENV };
  if (!existsSync(file)) return env;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const text = line.trim();
    if (text === '' || text.startsWith('#')) continue;
    const eq = text.indexOf('=');
    if (eq <= 0) throw new Error(`${relative(ROOT, file)}: expected KEY=VALUE, got ${JSON.stringify(text)}`);
    env[text.slice(0, eq).trim()] = text.slice(eq + 1).trim();
  }
  return env;
}

// ---------------------------------------------------------------------------------------------
// The two file formats
// ---------------------------------------------------------------------------------------------

/** Lines up to the first blank one, and the rest (the body, one trailing newline dropped). */
function splitHead(text: string): { head: string[]; body: string } {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const blank = lines.findIndex((l) => l.trim() === '');
  if (blank < 0) return { head: lines, body: '' };
  return {
    head: lines.slice(0, blank),
    body: lines
      .slice(blank + 1)
      .join('\n')
      .replace(/\n$/, ''),
  };
}

function headerLine(line: string, file: string): [string, string] {
  const match = /^([A-Za-z0-9-]+):[ \t]*(.*)$/.exec(line);
  if (!match)
    throw new Error(`${relative(ROOT, file)}: expected a header line "Name: value", got ${JSON.stringify(line)}`);
  return [match[1] as string, match[2] as string];
}

function parseRequest(text: string, file: string): GoldenRequest {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  let start = 0;
  while (start < lines.length && (lines[start]?.trim() === '' || lines[start]?.startsWith('#'))) start++;
  const { head, body } = splitHead(lines.slice(start).join('\n'));
  const match = /^([A-Z]+) (\/.*)$/.exec(head[0] ?? '');
  if (!match) throw new Error(`${relative(ROOT, file)}: expected "METHOD /path?query" as the first request line`);
  return {
    method: match[1] as string,
    path: (match[2] as string).trim(),
    headers: head.slice(1).map((l) => headerLine(l, file)),
    body: body === '' ? undefined : body,
  };
}

function parseExpected(text: string, file: string): GoldenResponse {
  const { head, body } = splitHead(text);
  const match = /^HTTP (\S+)$/.exec(head[0] ?? '');
  if (!match) throw new Error(`${relative(ROOT, file)}: expected "HTTP <status>" as the first line`);
  const headers = new Map<string, string>();
  for (const line of head.slice(1)) {
    const [name, value] = headerLine(line, file);
    if (!(name.toLowerCase() in RECORDED)) {
      throw new Error(
        `${relative(ROOT, file)}: ${name} is not a recorded header (${Object.values(RECORDED).join(', ')})`,
      );
    }
    headers.set(name.toLowerCase(), value);
  }
  let json: { value: unknown } | undefined;
  if (/json/.test(headers.get('content-type') ?? '') && body !== '') {
    try {
      json = { value: JSON.parse(body) };
    } catch {
      json = undefined; // compared as text
    }
  }
  return { status: match[1] as string, headers, body, json };
}

function fromHttp(status: number, headers: Headers, text: string): GoldenResponse {
  const recorded = new Map<string, string>();
  for (const name of Object.keys(RECORDED)) {
    const value = headers.get(name);
    if (value !== null) recorded.set(name, value);
  }
  if (/json/.test(headers.get('content-type') ?? '') && text !== '') {
    try {
      const value = JSON.parse(text) as unknown;
      return { status: String(status), headers: recorded, body: JSON.stringify(value, null, 2), json: { value } };
    } catch {
      // not JSON after all: recorded as text
    }
  }
  return { status: String(status), headers: recorded, body: text };
}

function render(response: GoldenResponse): string {
  const lines = [`HTTP ${response.status}`];
  for (const [name, label] of Object.entries(RECORDED)) {
    const value = response.headers.get(name);
    if (value !== undefined) lines.push(`${label}: ${value}`);
  }
  return `${lines.join('\n')}\n${response.body === '' ? '' : `\n${response.body}\n`}`;
}

// ---------------------------------------------------------------------------------------------
// Matching, with the <any> wildcard
// ---------------------------------------------------------------------------------------------

function textMatches(expected: string, actual: string): boolean {
  if (!expected.includes(ANY)) return expected === actual;
  const pattern = expected
    .split(ANY)
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('[\\s\\S]*');
  return new RegExp(`^${pattern}$`).test(actual);
}

function jsonMatches(expected: unknown, actual: unknown): boolean {
  if (expected === ANY) return true;
  if (typeof expected === 'string') return typeof actual === 'string' && textMatches(expected, actual);
  if (Array.isArray(expected)) {
    return (
      Array.isArray(actual) && actual.length === expected.length && expected.every((e, i) => jsonMatches(e, actual[i]))
    );
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
    const e = expected as Record<string, unknown>;
    const a = actual as Record<string, unknown>;
    const keys = Object.keys(e);
    return keys.length === Object.keys(a).length && keys.every((k) => Object.hasOwn(a, k) && jsonMatches(e[k], a[k]));
  }
  return expected === actual;
}

function matches(expected: GoldenResponse, actual: GoldenResponse): boolean {
  if (!textMatches(expected.status, actual.status)) return false;
  for (const name of Object.keys(RECORDED)) {
    const e = expected.headers.get(name);
    const a = actual.headers.get(name);
    if (e === undefined || a === undefined ? e !== a : !textMatches(e, a)) return false;
  }
  if (expected.json && actual.json) return jsonMatches(expected.json.value, actual.json.value);
  return textMatches(expected.body, actual.body);
}

/**
 * The actual response as the expected file would show it where the two agree (wildcards kept,
 * object keys in the expected order, since JSON objects are unordered), so a diff shows only
 * what really differs.
 */
function aligned(expected: GoldenResponse, actual: GoldenResponse): GoldenResponse {
  const headers = new Map<string, string>();
  for (const [name, value] of actual.headers) {
    const e = expected.headers.get(name);
    headers.set(name, e !== undefined && textMatches(e, value) ? e : value);
  }
  const status = textMatches(expected.status, actual.status) ? expected.status : actual.status;
  if (!expected.json || !actual.json) {
    return { status, headers, body: textMatches(expected.body, actual.body) ? expected.body : actual.body };
  }
  const align = (e: unknown, a: unknown): unknown => {
    if (jsonMatches(e, a)) return e;
    if (Array.isArray(e) && Array.isArray(a)) return a.map((item, i) => (i < e.length ? align(e[i], item) : item));
    if (e && a && typeof e === 'object' && typeof a === 'object' && !Array.isArray(e) && !Array.isArray(a)) {
      const eo = e as Record<string, unknown>;
      const ao = a as Record<string, unknown>;
      const keys = [
        ...Object.keys(eo).filter((k) => Object.hasOwn(ao, k)),
        ...Object.keys(ao).filter((k) => !Object.hasOwn(eo, k)),
      ];
      return Object.fromEntries(keys.map((k) => [k, align(eo[k], ao[k])]));
    }
    return a;
  };
  const value = align(expected.json.value, actual.json.value);
  return { status, headers, body: JSON.stringify(value, null, 2), json: { value } };
}

/** A line diff (longest common subsequence) with a little context: `-` expected, `+` actual. */
function diff(expected: string, actual: string, context = 3): string {
  const a = expected.split('\n');
  const b = actual.split('\n');
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () => new Array<number>(b.length + 1).fill(0));
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      const row = lcs[i] as number[];
      row[j] = a[i] === b[j] ? (lcs[i + 1]?.[j + 1] ?? 0) + 1 : Math.max(lcs[i + 1]?.[j] ?? 0, row[j + 1] ?? 0);
    }
  }
  const ops: { sign: ' ' | '-' | '+'; line: string }[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      ops.push({ sign: ' ', line: a[i++] as string });
      j++;
    } else if (i < a.length && (j >= b.length || (lcs[i + 1]?.[j] ?? 0) >= (lcs[i]?.[j + 1] ?? 0))) {
      ops.push({ sign: '-', line: a[i++] as string });
    } else {
      ops.push({ sign: '+', line: b[j++] as string });
    }
  }
  const near = ops.map((_, k) => ops.slice(Math.max(0, k - context), k + context + 1).some((o) => o.sign !== ' '));
  const out: string[] = [];
  ops.forEach((op, k) => {
    if (near[k]) out.push(`${op.sign} ${op.line}`);
    else if (near[k - 1]) out.push('  …');
  });
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Running a case
// ---------------------------------------------------------------------------------------------

async function expand(value: string, server: TestServer): Promise<string> {
  let out = value;
  for (const match of value.matchAll(/\{\{(token|key):([A-Za-z0-9_-]+)\}\}/g)) {
    const [whole, kind, arg] = match as unknown as [string, string, string];
    let replacement: string;
    if (kind === 'token') replacement = await server.tokenFor(arg);
    else if (arg === 'anon' || arg === 'service_role') replacement = server.keys[arg];
    else throw new Error(`unknown placeholder ${whole}: use {{key:anon}}, {{key:service_role}} or {{token:<sub>}}`);
    out = out.replace(whole, () => replacement);
  }
  return out;
}

async function send(server: TestServer, request: GoldenRequest): Promise<GoldenResponse> {
  const headers: Record<string, string> = {};
  for (const [name, value] of request.headers) headers[name] = await expand(value, server);
  if (request.body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
    headers['Content-Type'] = 'application/json';
  }
  const response = await server.request(request.path.slice(1), {
    method: request.method,
    headers,
    body: request.body,
  });
  return fromHttp(response.status, response.headers, response.text);
}

async function runCase(server: TestServer, c: Case): Promise<void> {
  const where = relative(ROOT, c.httpFile);
  const request = parseRequest(readFileSync(c.httpFile, 'utf8'), c.httpFile);
  const actual = await send(server, request);
  const exists = existsSync(c.expectedFile);
  const expected = exists ? parseExpected(readFileSync(c.expectedFile, 'utf8'), c.expectedFile) : undefined;
  if (expected && matches(expected, actual)) return;
  if (UPDATE) {
    writeFileSync(c.expectedFile, render(actual));
    return;
  }
  if (!expected) {
    throw new Error(`${where}: no ${relative(ROOT, c.expectedFile)} (run with LOCONOMY_GOLDEN_UPDATE=1 to write it)`);
  }
  const shown = render(aligned(expected, actual));
  const failure = new Error(
    `${where} does not match ${relative(ROOT, c.expectedFile)} (- expected, + actual):\n${diff(render(expected), shown)}`,
  );
  // The case file is where to look, not this runner: the only stack frame names it.
  failure.stack = `${failure.name}: ${failure.message}\n    at ${where}:1`;
  throw failure;
}

// ---------------------------------------------------------------------------------------------
// The suite: one database with the fixture, one server per group
// ---------------------------------------------------------------------------------------------

let db: TestDatabase;
before(async () => {
  db = await getTestDatabase('empty');
  await db.exec(readFileSync(FIXTURE, 'utf8'));
});
after(() => db?.dispose());

for (const group of groups) {
  describe(`REST golden ${group} (${testBackend()})`, () => {
    let server: TestServer;
    before(async () => {
      server = await startTestServer(db, groupEnv(group));
    });
    after(() => server?.close());
    for (const c of casesOf(group)) {
      test(`${group}/${c.name}`, () => runCase(server, c));
    }
  });
}
