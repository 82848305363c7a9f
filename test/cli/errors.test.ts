import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../helpers/index.js';

/*
 * Every bad input to the CLI ends with exit code 1 and exactly one line on stderr:
 * `loconomy: <what is wrong> — <what to do>`, and no stack trace.
 */

let scratch: string;
let aFile: string;
before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'loconomy-cli-'));
  aFile = join(scratch, 'not-a-directory');
  await writeFile(aFile, 'x');
});
after(() => rm(scratch, { recursive: true, force: true }));

interface Case {
  readonly args: string[];
  readonly env?: () => Record<string, string>;
  readonly line: RegExp;
}

const cases: Record<string, Case> = {
  'a malformed DATABASE_URL': {
    args: ['migrate'],
    env: () => ({ DATABASE_URL: 'mysql://localhost/market' }),
    line: /^loconomy: DATABASE_URL is not a valid postgres:\/\/ URL \(got "mysql:\/\/localhost\/market"\) — set it like postgres:\/\/user:password@host:5432\/dbname/,
  },
  'a PostgreSQL server that is not running': {
    args: ['migrate'],
    env: () => ({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/market' }),
    line: /^loconomy: cannot connect to PostgreSQL at 127\.0\.0\.1:1: connection refused — is the server running\?$/,
  },
  '--listings -5': {
    args: ['seed', '--demo', '--listings', '-5'],
    line: /^loconomy: --listings must be a positive integer \(got "-5"\) — run `loconomy seed --help`$/,
  },
  '--listings that is not a number': {
    args: ['serve', '--demo', '--listings', 'many'],
    line: /^loconomy: --listings must be a positive integer \(got "many"\) — run `loconomy serve --help`$/,
  },
  '--listings without --demo': {
    args: ['seed', '--listings', '5'],
    line: /^loconomy: --listings needs --demo — run `loconomy seed --help`$/,
  },
  'a data directory below a regular file': {
    args: ['migrate'],
    env: () => ({ LOCONOMY_DATA_DIR: '/dev/null/loconomy' }),
    line: /^loconomy: cannot use data directory \/dev\/null\/loconomy: a file is in the way \(not a directory\) — set LOCONOMY_DATA_DIR to a writable directory$/,
  },
  'a data directory that is a file': {
    args: ['keys'],
    env: () => ({ LOCONOMY_DATA_DIR: aFile }),
    line: /^loconomy: cannot use data directory .*not-a-directory: a file is in the way \(not a directory\) — set LOCONOMY_DATA_DIR/,
  },
  'token without --sub': {
    args: ['token'],
    line: /^loconomy: required option '--sub <clerk_user_id>' not specified — run `loconomy token --help`$/,
  },
  'token with an empty --sub': {
    args: ['token', '--sub', ' '],
    line: /^loconomy: --sub must not be empty — run `loconomy token --help`$/,
  },
  'a --ttl of zero': {
    args: ['token', '--sub', 'user_1', '--ttl', '0'],
    line: /^loconomy: --ttl must be a positive integer \(got "0"\) — run `loconomy token --help`$/,
  },
  'an unknown command': {
    args: ['frobnicate'],
    line: /^loconomy: unknown command 'frobnicate' — run `loconomy --help` to see the commands$/,
  },
  'a misspelt command': {
    args: ['serv'],
    line: /^loconomy: unknown command 'serv' \(Did you mean serve\?\) — run `loconomy --help` to see the commands$/,
  },
  'no command at all': {
    args: [],
    line: /^loconomy: no command given — run `loconomy --help` to see the commands$/,
  },
  'an unknown option': {
    args: ['migrate', '--force'],
    line: /^loconomy: unknown option '--force' — run `loconomy migrate --help`$/,
  },
  'a --port that is not a port': {
    args: ['serve', '--port', '99999'],
    line: /^loconomy: --port must be a port number between 1 and 65535 \(got "99999"\) — run `loconomy serve --help`$/,
  },
  'an invalid PORT setting': {
    args: ['serve'],
    env: () => ({ PORT: 'eighty' }),
    line: /^loconomy: PORT must be an integer between 1 and 65535 \(got "eighty"\) — fix the environment variable PORT/,
  },
  'keys against PostgreSQL without a JWT secret': {
    args: ['keys'],
    env: () => ({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/market' }),
    line: /^loconomy: LOCONOMY_JWT_SECRET is not set — set it to a random string of 32\+ characters/,
  },
  'a short JWT secret': {
    args: ['keys'],
    env: () => ({ LOCONOMY_JWT_SECRET: 'too-short' }),
    line: /^loconomy: LOCONOMY_JWT_SECRET must be at least 32 characters long \(got "<redacted>"\)/,
  },
  'db while DATABASE_URL is set': {
    args: ['db'],
    env: () => ({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/market' }),
    line: /^loconomy: the db command serves the embedded database, but DATABASE_URL is set — connect to that PostgreSQL server directly/,
  },
};

describe('CLI bad input', { concurrency: 4 }, () => {
  for (const [name, { args, env, line }] of Object.entries(cases)) {
    test(`${name}: exit 1 and one clear line on stderr`, async () => {
      const result = await runCli(args, { LOCONOMY_DATA_DIR: join(scratch, 'data'), ...env?.() });
      assert.equal(result.code, 1, `exit code (stderr: ${result.stderr})`);
      const lines = result.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, `one line, got:\n${result.stderr}`);
      assert.match(lines[0] as string, line);
      assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack trace');
    });
  }
});

describe('CLI help', { concurrency: 4 }, () => {
  for (const command of ['serve', 'migrate', 'seed', 'keys', 'token', 'db']) {
    test(`${command} --help prints usage and exits 0`, async () => {
      const result = await runCli([command, '--help']);
      assert.equal(result.code, 0);
      assert.match(result.stdout, new RegExp(`^Usage: loconomy ${command}`));
      assert.equal(result.stderr, '');
    });
  }

  test('--version prints the package version', async () => {
    const result = await runCli(['--version']);
    assert.equal(result.code, 0);
    assert.match(result.stdout.trim(), /^\d+\.\d+\.\d+/);
  });
});
