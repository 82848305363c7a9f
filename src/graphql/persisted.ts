import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { LoconomyError, oneLine } from '../errors.js';

/*
 * Persisted operations (LOCONOMY_GRAPHQL_PERSISTED_OPERATIONS): a JSON file mapping the SHA-256
 * of each document (hex) to the document, as the build of an app emits it (graphql-codegen's
 * persisted documents, Apollo's persisted query manifest turned into a map). When it is set, a
 * request names its operation by hash and only those operations run. Decision 0025, slice 2.
 */

export type PersistedOperations = ReadonlyMap<string, string>;

const HEX64 = /^[0-9a-f]{64}$/;

export const sha256 = (document: string) => createHash('sha256').update(document, 'utf8').digest('hex');

/**
 * Reads and checks the file: every key must be the SHA-256 of its document, so a client's hash
 * names exactly the text that runs. A file that does not hold is a configuration error at start.
 */
export async function loadPersistedOperations(path: string): Promise<PersistedOperations> {
  const invalid = (what: string) =>
    new LoconomyError(
      'LOCO_CONFIG_INVALID',
      `LOCONOMY_GRAPHQL_PERSISTED_OPERATIONS: ${path} ${what}`,
      'give a JSON object {"<sha256 of the document, hex>": "<GraphQL document>"} (docs/graphql.md)',
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw invalid(`cannot be read as JSON (${oneLine(error)})`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw invalid('is not a JSON object');
  const operations = new Map<string, string>();
  for (const [hash, document] of Object.entries(parsed)) {
    if (typeof document !== 'string') throw invalid(`maps ${hash} to something other than a string`);
    const key = hash.toLowerCase();
    if (!HEX64.test(key)) throw invalid(`has the key ${JSON.stringify(hash)}, which is not a SHA-256 in hex`);
    if (sha256(document) !== key) throw invalid(`has the key ${hash}, which is not the SHA-256 of its document`);
    operations.set(key, document);
  }
  return operations;
}

/** The hash a request names: Apollo's `extensions.persistedQuery.sha256Hash`, or `documentId` "sha256:<hex>". */
export function requestedHash(body: Record<string, unknown>): string | undefined {
  const extensions = body.extensions as { persistedQuery?: { sha256Hash?: unknown } } | undefined;
  const apollo = extensions?.persistedQuery?.sha256Hash;
  if (typeof apollo === 'string') return apollo.toLowerCase();
  const documentId = body.documentId;
  if (typeof documentId === 'string') return documentId.replace(/^sha256:/i, '').toLowerCase();
  return undefined;
}
