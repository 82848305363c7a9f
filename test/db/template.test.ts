import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { after, describe, test } from 'node:test';
import { createGunzip } from 'node:zlib';
import { pino } from 'pino';
import { extract } from 'tar-stream';
import { loadConfig } from '../../src/config.js';
import type { Database } from '../../src/db/database.js';
import { isUnused } from '../../src/db/extensions.js';
import { fromTemplate } from '../../src/db/open.js';
import { openPglite } from '../../src/db/pglite.js';
import { prepareDatabase } from '../../src/db/prepare.js';
import { ensureTemplate, inspect, type TemplateManifest, templateHash } from '../../src/db/template.js';
import { packageVersions } from '../../src/db/versions.js';
import { type Logger, silentLogger } from '../../src/log.js';
import { runCli, testBackend } from '../helpers/index.js';
import { ensurePgliteTemplate } from '../helpers/template.js';

/*
 * The prepared embedded database (src/db/template.ts): what every new data directory, test
 * database and first `npm start` copies. It must be exactly what running the migrations gives,
 * and a damaged or foreign one must be rebuilt rather than copied.
 */

const skip = testBackend() !== 'pglite' && 'embedded database only';

const cleanups: (() => Promise<unknown>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Log lines as objects, to read what a rebuild said. */
function capturingLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log: Logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { log, lines };
}

/**
 * Everything migrations decide, as sorted lines: relations and columns, constraints, indexes,
 * functions (by definition hash), triggers, policies, views, privileges, extensions, the
 * migration ledger and the row count of every table (the reference seed).
 */
const FINGERPRINT = `
with ours as (select oid, nspname from pg_namespace
               where nspname not in ('pg_catalog', 'information_schema', 'extensions')
                 and nspname not like 'pg\\_%')
select line from (
  select format('rel %s.%s %s acl=%s rls=%s', n.nspname, c.relname, c.relkind, c.relacl, c.relrowsecurity) as line
    from pg_class c join ours n on n.oid = c.relnamespace where c.relkind in ('r', 'v', 'm', 'S', 'p', 'f')
  union all
  select format('col %s.%s.%s %s notnull=%s default=%s acl=%s', n.nspname, c.relname, a.attname,
                format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid), a.attacl)
    from pg_attribute a join pg_class c on c.oid = a.attrelid join ours n on n.oid = c.relnamespace
    left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
   where a.attnum > 0 and not a.attisdropped and c.relkind in ('r', 'v', 'm', 'p', 'f')
  union all
  select format('con %s.%s %s', n.nspname, co.conname, pg_get_constraintdef(co.oid))
    from pg_constraint co join ours n on n.oid = co.connamespace
  union all
  select format('idx %s', pg_get_indexdef(i.indexrelid))
    from pg_index i join pg_class c on c.oid = i.indexrelid join ours n on n.oid = c.relnamespace
  union all
  select format('fn %s.%s(%s) %s acl=%s def=%s', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid),
                p.prokind, p.proacl, case when p.prokind in ('f', 'p') then md5(pg_get_functiondef(p.oid)) end)
    from pg_proc p join ours n on n.oid = p.pronamespace
  union all
  select format('trg %s', pg_get_triggerdef(t.oid)) from pg_trigger t
    join pg_class c on c.oid = t.tgrelid join ours n on n.oid = c.relnamespace where not t.tgisinternal
  union all
  select format('pol %s.%s %s %s %s using=%s check=%s', n.nspname, c.relname, p.polname, p.polcmd, p.polroles::text,
                pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid))
    from pg_policy p join pg_class c on c.oid = p.polrelid join ours n on n.oid = c.relnamespace
  union all
  select format('view %s.%s %s', n.nspname, c.relname, md5(pg_get_viewdef(c.oid)))
    from pg_class c join ours n on n.oid = c.relnamespace where c.relkind in ('v', 'm')
  union all
  select format('schema %s acl=%s', nspname, nspacl) from pg_namespace where nspname in (select nspname from ours)
  union all
  select format('ext %s %s', extname, extversion) from pg_extension
  union all
  select format('migration %s %s', version, checksum) from loconomy_migrations.applied
) lines order by line`;

async function fingerprint(db: Database): Promise<string[]> {
  const lines = (await db.query<{ line: string }>(FINGERPRINT)).rows.map((r) => r.line);
  // Row counts of every table: the reference seed, and nothing else written at build time.
  const tables = await db.query<{ name: string }>(
    `select format('%I.%I', schemaname, tablename) as name from pg_tables
      where schemaname in ('public', 'app') order by 1`,
  );
  for (const { name } of tables.rows) {
    const { rows } = await db.query<{ n: string }>(`select count(*)::text as n from ${name}`);
    lines.push(`rows ${name} ${rows[0]?.n}`);
  }
  return lines;
}

describe('the prepared embedded database', { skip }, () => {
  test('equals a fresh migration of this code: same catalog, ledger and reference rows', async () => {
    // What every data directory copies (the machine cache, possibly built by `npm install`)...
    const template = await ensurePgliteTemplate();
    const copied = await tempDir('loconomy-tpl-copy-');
    await cp(join(template, 'pgdata'), join(copied, 'pgdata'), { recursive: true });
    // ...and initdb + CREATE EXTENSION + every migration + the seeds, from nothing.
    const fresh = await tempDir('loconomy-tpl-fresh-');
    // The template was built with PostGIS's trimmed bundle; the fresh one loads the package's own.
    const a = await openPglite({
      dataDir: copied,
      searchPath: '"public", "extensions"',
      log: silentLogger(),
      cacheDir: loadConfig().cacheDir,
    });
    cleanups.push(() => a.close());
    const b = await openPglite({ dataDir: fresh, searchPath: '"public", "extensions"', log: silentLogger() });
    cleanups.push(() => b.close());
    await prepareDatabase(b, { log: silentLogger() });
    const [fromTemplate, fromMigrations] = [await fingerprint(a), await fingerprint(b)];
    assert.ok(fromMigrations.length > 1000, 'the fingerprint covers the schema');
    assert.deepEqual(fromTemplate, fromMigrations);
  });

  test('a new data directory starts as a copy, and migrating it finds nothing to do', async () => {
    const cacheDir = await tempDir('loconomy-cache-');
    await cp(await ensurePgliteTemplate(), join(cacheDir, `pglite-${await templateHash()}`), { recursive: true });
    const dataDir = await tempDir('loconomy-data-');
    const { log, lines } = capturingLogger();
    const db = await openPglite({
      dataDir,
      searchPath: '"public", "extensions"',
      log,
      initialise: fromTemplate(cacheDir, log),
    });
    cleanups.push(() => db.close());
    const prepared = await prepareDatabase(db, { log });
    assert.deepEqual(prepared.migrated, []);
    assert.deepEqual(prepared.seeded, []);
    const steps = lines.map((l) => l.step);
    assert.ok(steps.includes('copy the prepared database'));
    assert.ok(!steps.some((s) => String(s).startsWith('prepare the embedded database')), 'nothing was rebuilt');
    assert.ok(steps.includes('pglite: start (incl. extensions)'), 'no initdb');
  });

  test('names what is wrong with a damaged or foreign template', async () => {
    const hash = await templateHash();
    const dir = await tempDir('loconomy-tpl-inspect-');
    await cp(await ensurePgliteTemplate(), dir, { recursive: true });
    assert.equal(await inspect(dir, hash), undefined);
    const manifestFile = join(dir, 'template.json');
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as TemplateManifest;

    assert.equal(await inspect(dir, 'feedfacefeedface'), `it was built for schema ${hash}, not feedfacefeedface`);
    await writeFile(
      manifestFile,
      JSON.stringify({ ...manifest, packages: { ...manifest.packages, '@electric-sql/pglite': '0.0.1' } }),
    );
    assert.match(String(await inspect(dir, hash)), /^it was built with @electric-sql\/pglite 0\.0\.1, not /);
    await writeFile(manifestFile, '{ half a fi');
    assert.match(String(await inspect(dir, hash)), /^template\.json cannot be read: /);
    await rm(manifestFile);
    assert.equal(await inspect(dir, hash), 'template.json is missing: its build did not finish');
    await writeFile(manifestFile, JSON.stringify(manifest));
    await rm(join(dir, 'pgdata', 'global', 'pg_control'));
    assert.equal(await inspect(dir, hash), 'pgdata/global/pg_control is missing');
  });

  test('PostGIS loads from a trimmed bundle in the cache: without raster and topology, and it works', async () => {
    const cacheDir = await tempDir('loconomy-cache-');
    const dataDir = await tempDir('loconomy-data-');
    await cp(join(await ensurePgliteTemplate(), 'pgdata'), join(dataDir, 'pgdata'), { recursive: true });
    const db = await openPglite({ dataDir, searchPath: '"public", "extensions"', log: silentLogger(), cacheDir });
    cleanups.push(() => db.close());
    const bundle = join(cacheDir, `postgis-${packageVersions()['@electric-sql/pglite-postgis']}-core.tar.gz`);
    const names: string[] = [];
    const reader = extract();
    reader.on('entry', (header, stream, next) => {
      names.push(header.name);
      stream.on('end', next);
      stream.resume();
    });
    await pipeline(createReadStream(bundle), createGunzip(), reader);
    assert.ok(names.includes('lib/postgresql/postgis-3.so'));
    assert.ok(
      names.some((n) => n.startsWith('share/proj/')),
      'PROJ data stays: transforms need it',
    );
    assert.deepEqual(names.filter(isUnused), []);
    assert.ok(!names.some((n) => /postgis_(raster|topology)-3\.so$/.test(n)));
    const { rows } = await db.query<{ p: string }>(
      `select extensions.st_astext(extensions.st_snaptogrid(extensions.st_transform(
         extensions.st_setsrid(extensions.st_point(77.2, 28.6), 4326), 3857), 1)) as p`,
    );
    assert.equal(rows[0]?.p, 'POINT(8593865 3324833)');
  });

  test('an unusable cache directory costs speed, not the start: the database is initialised in place', async () => {
    const dataDir = await tempDir('loconomy-data-');
    const result = await runCli(['migrate'], {
      LOCONOMY_DATA_DIR: dataDir,
      LOCONOMY_CACHE_DIR: '/dev/null/loconomy-cache',
      LOG_LEVEL: 'info',
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      /no prepared database \(cannot prepare the embedded database in \/dev\/null\/loconomy-cache/,
    );
    assert.match(result.stdout, /pglite: initdb \+ start \(incl\. extensions\) done/);
    assert.match(result.stdout, /applied 0001_foundation\.sql/);
  });

  test('a damaged template is rebuilt, with a warning that says why', async () => {
    const cacheDir = await tempDir('loconomy-cache-');
    const dir = join(cacheDir, `pglite-${await templateHash()}`);
    await cp(await ensurePgliteTemplate(), dir, { recursive: true });
    await rm(join(dir, 'pgdata', 'global', 'pg_control'));
    // Of other schemas' templates, the three most recently used stay; older ones (unused for
    // more than ten minutes) are removed once the new one is built.
    const others = ['0000000000000001', '0000000000000002', '0000000000000003', '0000000000000004'];
    for (const [i, other] of others.entries()) {
      const path = join(cacheDir, `pglite-${other}`);
      await mkdir(path);
      const used = new Date(Date.now() - (i + 1) * 3_600_000);
      await utimes(path, used, used);
    }
    const { log, lines } = capturingLogger();
    const rebuilt = await ensureTemplate({ cacheDir, log });
    assert.equal(rebuilt, dir);
    const warning = lines.find((l) => l.level === 40);
    assert.equal(
      warning?.msg,
      `the prepared database in ${dir} is unusable (pgdata/global/pg_control is missing); rebuilding it`,
    );
    assert.equal(await inspect(dir, await templateHash()), undefined);
    const left = (await readdir(cacheDir)).filter((name) => name.startsWith('pglite-')).sort();
    assert.deepEqual(left, [...others.slice(0, 3).map((o) => `pglite-${o}`), `pglite-${await templateHash()}`].sort());
  });
});
