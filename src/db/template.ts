import { createHash, randomBytes } from 'node:crypto';
import { constants, existsSync } from 'node:fs';
import { cp, mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LoconomyError, oneLine } from '../errors.js';
import { type Logger, silentLogger, step } from '../log.js';
import { MIGRATIONS_DIR } from './migrator.js';
import { openPglite } from './pglite.js';
import { prepareDatabase } from './prepare.js';
import { SEEDS_DIR } from './seed.js';
import { packageVersions } from './versions.js';

/**
 * The prepared data directory (decision 0013): an embedded database that has been initialised,
 * given its extensions, migrated and reference-seeded once per machine and schema, kept in the
 * machine's cache (LOCONOMY_CACHE_DIR) as `pglite-<hash>/`. A new data directory starts as a
 * copy of it instead of paying initdb, CREATE EXTENSION postgis and every migration again
 * (~15 s on two cores). The migrations stay the single source of truth: the hash covers them,
 * the seeds, the code that applies them and the PGlite build, and a test compares the template
 * with a fresh migration.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Code whose behaviour decides what a template holds, besides the SQL files. */
const SHAPING_FILES = [
  'src/db/migrator.ts',
  'src/db/seed.ts',
  'src/db/prepare.ts',
  'src/db/template.ts',
  'src/db/extensions.ts',
];

/** Written last, after the build succeeded: a template without it is incomplete. */
const MANIFEST = 'template.json';

export interface TemplateManifest {
  readonly hash: string;
  readonly schema_version: string | undefined;
  readonly packages: Record<string, string>;
  readonly built_at: string;
  readonly build_ms: number;
}

/** A short hash of everything that shapes a template: the same commit shares one per machine. */
export async function templateHash(): Promise<string> {
  const hash = createHash('sha256');
  // Directory labels, not absolute paths: every clone of the same commit shares a template.
  for (const [label, dir] of [
    ['migrations', MIGRATIONS_DIR],
    ['seed', SEEDS_DIR],
  ] as const) {
    const names = existsSync(dir) ? (await readdir(dir)).filter((n) => n.endsWith('.sql')).sort() : [];
    for (const name of names) {
      hash
        .update(`${label}/${name}\0`)
        .update(await readFile(join(dir, name)))
        .update('\0');
    }
  }
  for (const file of SHAPING_FILES) hash.update(file).update(await readFile(join(ROOT, file)));
  hash.update(JSON.stringify(packageVersions()));
  return hash.digest('hex').slice(0, 16);
}

export interface EnsureTemplateOptions {
  readonly cacheDir: string;
  readonly log: Logger;
}

/**
 * The path of the prepared data directory for this code (it holds `pgdata/`), building it when
 * it is missing, and rebuilding it, with a warning saying why, when it is incomplete or was
 * built for something else.
 */
export async function ensureTemplate({ cacheDir, log }: EnsureTemplateOptions): Promise<string> {
  const hash = await templateHash();
  const dir = join(cacheDir, `pglite-${hash}`);
  if (existsSync(dir)) {
    const problem = await inspect(dir, hash);
    if (problem === undefined) {
      await touch(dir);
      return dir;
    }
    log.warn({ template: dir, problem }, `the prepared database in ${dir} is unusable (${problem}); rebuilding it`);
    await rm(dir, { recursive: true, force: true });
  }
  await step(log, 'prepare the embedded database for this machine (once per schema change)', () =>
    build(dir, hash, cacheDir),
  );
  await removeOthers(cacheDir, `pglite-${hash}`);
  return dir;
}

/** Undefined when the template looks whole; otherwise what is wrong with it. */
export async function inspect(dir: string, hash: string): Promise<string | undefined> {
  let manifest: TemplateManifest;
  try {
    manifest = JSON.parse(await readFile(join(dir, MANIFEST), 'utf8')) as TemplateManifest;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT'
      ? `${MANIFEST} is missing: its build did not finish`
      : `${MANIFEST} cannot be read: ${oneLine(error)}`;
  }
  if (manifest.hash !== hash) return `it was built for schema ${manifest.hash}, not ${hash}`;
  const versions = packageVersions();
  for (const [name, version] of Object.entries(versions)) {
    if (manifest.packages?.[name] !== version) {
      return `it was built with ${name} ${manifest.packages?.[name] ?? '(unknown)'}, not ${version}`;
    }
  }
  // The files PostgreSQL cannot start without; a deeper fault shows when it is opened.
  for (const file of ['PG_VERSION', 'global/pg_control', 'base']) {
    if (!existsSync(join(dir, 'pgdata', file))) return `pgdata/${file} is missing`;
  }
  return undefined;
}

/** Built in a private directory and renamed into place, so concurrent builders are safe. */
async function build(dir: string, hash: string, cacheDir: string): Promise<void> {
  const started = performance.now();
  const building = `${dir}.building-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await mkdir(cacheDir, { recursive: true });
    const db = await openPglite({
      dataDir: building,
      searchPath: '"public", "extensions"',
      log: silentLogger(),
      cacheDir,
    });
    let schemaVersion: string | undefined;
    try {
      schemaVersion = (await prepareDatabase(db, { log: silentLogger() })).schemaVersion;
      await db.exec('checkpoint');
    } finally {
      await db.close();
    }
    await rm(join(building, 'loconomy.pid'), { force: true });
    const manifest: TemplateManifest = {
      hash,
      schema_version: schemaVersion,
      packages: packageVersions(),
      built_at: new Date().toISOString(),
      build_ms: Math.round(performance.now() - started),
    };
    await writeFile(join(building, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    await rename(building, dir).catch((error: NodeJS.ErrnoException) => {
      // Someone else finished first; theirs is as good as ours.
      if (error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
    });
  } catch (error) {
    if (error instanceof LoconomyError) throw error;
    throw new LoconomyError(
      'LOCO_TEMPLATE_BUILD_FAILED',
      `cannot prepare the embedded database in ${cacheDir}: ${oneLine(error)}`,
      'check that LOCONOMY_CACHE_DIR is writable and has ~100 MB free',
      { cause: error },
    );
  } finally {
    // Never hide the failure above behind one from cleaning up after it.
    await rm(building, { recursive: true, force: true }).catch(() => {});
  }
}

/** How many templates of other schemas are kept (other clones and branches on this machine). */
const KEEP_OTHERS = 3;
/** A template used this recently may be being copied right now: never removed. */
const IN_USE_MS = 10 * 60_000;

/**
 * Templates take tens of MB each: keep the few most recently used ones (several clones or
 * branches at different schemas share the cache) and remove the rest, and builds that died.
 */
async function removeOthers(cacheDir: string, keep: string): Promise<void> {
  const others: { path: string; used: number; building: boolean }[] = [];
  for (const name of await readdir(cacheDir).catch(() => [] as string[])) {
    if (!name.startsWith('pglite-') || name === keep) continue;
    const path = join(cacheDir, name);
    const used = (await stat(path).catch(() => undefined))?.mtimeMs ?? Date.now();
    others.push({ path, used, building: name.includes('.building-') });
  }
  const now = Date.now();
  const templates = others.filter((o) => !o.building).sort((a, b) => b.used - a.used);
  const doomed = [...templates.slice(KEEP_OTHERS), ...others.filter((o) => o.building && now - o.used > 3_600_000)];
  for (const { path, used } of doomed) {
    if (now - used > IN_USE_MS) await rm(path, { recursive: true, force: true });
  }
}

/** Marks a template as just used, for removeOthers. */
async function touch(dir: string): Promise<void> {
  const now = new Date();
  await utimes(dir, now, now).catch(() => {});
}

/**
 * Makes dataDir/pgdata a copy of the template's. A copy-on-write clone where the file system
 * offers one (btrfs, XFS), a plain copy (~1 s for ~70 MB) elsewhere.
 */
export async function copyTemplate(template: string, dataDir: string): Promise<void> {
  const target = join(dataDir, 'pgdata');
  const partial = `${target}.copying-${process.pid}`;
  await rm(partial, { recursive: true, force: true });
  await cp(join(template, 'pgdata'), partial, { recursive: true, mode: constants.COPYFILE_FICLONE });
  await rename(partial, target);
}
