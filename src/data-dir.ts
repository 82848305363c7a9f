import { constants, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { LoconomyError, oneLine } from './errors.js';

/**
 * The data directory holds the embedded database (pgdata/), its lock and the generated JWT
 * secret. Problems with it are reported once, as one line naming the directory.
 */
export async function ensureDataDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await access(dir, constants.W_OK | constants.X_OK);
  } catch (error) {
    throw unusable(dir, error);
  }
}

export function unusable(dir: string, error: unknown): LoconomyError {
  const code = (error as NodeJS.ErrnoException).code;
  const reason =
    code === 'ENOTDIR' || code === 'EEXIST'
      ? 'a file is in the way (not a directory)'
      : code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'EROFS'
          ? 'read-only file system'
          : code === 'ENOSPC'
            ? 'no space left on device'
            : oneLine(error);
  return new LoconomyError(
    'LOCO_DATA_DIR_UNUSABLE',
    `cannot use data directory ${dir}: ${reason}`,
    'set LOCONOMY_DATA_DIR to a writable directory',
    { cause: error },
  );
}

/** Lock files this process holds; removed on exit too, so a crash or process.exit frees them. */
const heldLocks = new Set<string>();
process.on('exit', () => {
  for (const file of heldLocks) rmSync(file, { force: true });
});

/**
 * PGlite is one process's database: a second process opening the same files would corrupt
 * them. A pid file taken with O_EXCL keeps the second one out; a stale file left by a process
 * that died is taken over. Returns the release function.
 */
export function lockDataDir(dir: string): () => void {
  const file = join(dir, 'loconomy.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      heldLocks.add(file);
      const release = () => {
        if (heldLocks.delete(file)) rmSync(file, { force: true });
      };
      return release;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw unusable(dir, error);
      const owner = Number.parseInt(readFileSync(file, 'utf8'), 10);
      const ours = owner === process.pid && heldLocks.has(file);
      if (ours || (Number.isInteger(owner) && owner !== process.pid && isAlive(owner))) {
        throw new LoconomyError(
          'LOCO_DATA_DIR_LOCKED',
          `the embedded database in ${dir} is in use by another Loconomy process (pid ${owner})`,
          'stop that process, or set LOCONOMY_DATA_DIR to another directory',
        );
      }
      rmSync(file, { force: true });
    }
  }
  throw new LoconomyError('LOCO_DATA_DIR_LOCKED', `cannot lock ${dir}`, 'remove loconomy.pid from it and retry');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
