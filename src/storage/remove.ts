import { objectKey, uploadKey } from './backend/types.js';
import type { StorageDeps } from './context.js';

/**
 * Removes the bytes of versions whose rows are gone (deleted, replaced, bucket emptied), after
 * the commit. A failure here leaves bytes no row names: logged, and reclaimed by the sweeper.
 */
export async function deleteBytes(deps: StorageDeps, versions: readonly string[]): Promise<void> {
  if (versions.length === 0) return;
  try {
    await deps.backend.delete(versions.flatMap((v) => [objectKey(v), uploadKey(v)]));
  } catch (error) {
    deps.log.error({ err: error, versions: versions.length }, 'storage: could not remove bytes; the sweeper will');
  }
}
