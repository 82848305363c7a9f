import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The PGlite packages whose builds decide what a data directory and its extensions hold. */
const PGLITE_PACKAGES = ['@electric-sql/pglite', '@electric-sql/pglite-postgis'] as const;
export type PglitePackage = (typeof PGLITE_PACKAGES)[number];

/** The installed package's own directory (their exports hide package.json: walk up to it). */
export function packageDir(name: PglitePackage): string {
  let dir = dirname(createRequire(import.meta.url).resolve(name));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

export function packageVersions(): Record<PglitePackage, string> {
  const versions = {} as Record<PglitePackage, string>;
  for (const name of PGLITE_PACKAGES) {
    const manifest = JSON.parse(readFileSync(join(packageDir(name), 'package.json'), 'utf8')) as { version: string };
    versions[name] = manifest.version;
  }
  return versions;
}
