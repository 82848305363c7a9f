import type { FastifyInstance } from 'fastify';
import type { Authenticator } from '../auth/caller.js';
import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import type { Logger } from '../log.js';
import { createBackend } from './backend/index.js';
import type { StorageBackend } from './backend/types.js';
import { bucketRoutes } from './buckets.js';
import type { StorageDeps } from './context.js';
import { StorageError, sendStorageError, toStorageError } from './errors.js';
import { objectRoutes } from './objects.js';
import { renderRoutes } from './render.js';
import { signingKey } from './signing.js';
import { bindBackend } from './sweep.js';
import { transferRoutes } from './transfer.js';

export interface StoragePluginOptions {
  readonly db: Database;
  readonly config: Config;
  readonly authenticator: Authenticator;
  readonly jwtSecret: string;
  readonly log: Logger;
  /** The backend (tests pass one); by default the one the settings choose. */
  readonly backend?: StorageBackend;
}

/**
 * `/storage/v1`: Supabase Storage's HTTP API for `supabase.storage` (docs/storage.md). Metadata
 * in storage.buckets / storage.objects, every operation run as the caller so RLS decides; the
 * bytes in a backend (local disk or S3). Every error leaves in storage's `{statusCode, error,
 * message}` shape.
 */
export async function storagePlugin(app: FastifyInstance, options: StoragePluginOptions): Promise<void> {
  const { db, config, authenticator, log } = options;
  const backend = options.backend ?? createBackend(config.storage);
  // Before the first write, not at start: a server that stores nothing writes nothing, and a
  // backend unreachable now does not stop the API from starting.
  let bound: Promise<void> | undefined;
  const bind = () => {
    bound ??= bindBackend(db, backend)
      .then((ours) => {
        if (!ours)
          log.warn("storage: the backend carries another database's id; the orphan sweeper will leave it alone");
      })
      .catch((error) => {
        bound = undefined;
        log.error({ err: error }, 'storage: could not bind the backend to this database');
      });
    return bound;
  };
  const deps: StorageDeps = {
    db,
    config,
    authenticator,
    backend,
    signingKey: signingKey(options.jwtSecret),
    log,
    bind,
  };

  app.setErrorHandler((error, request, reply) => {
    const known = toStorageError(error);
    if (known) return sendStorageError(reply, known);
    log.error({ err: error, reqId: request.id }, 'unexpected error in the storage API');
    return sendStorageError(
      reply,
      new StorageError('InternalError', `Something went wrong (request id ${request.id})`),
    );
  });
  app.setNotFoundHandler((request, reply) =>
    sendStorageError(
      reply,
      new StorageError('InvalidRequest', `No storage route for ${request.method} ${request.url}`, 404),
    ),
  );

  await app.register(async (json) => {
    // An empty JSON body (DELETE with none) is an empty object, as storage-js sends `{}`.
    json.removeAllContentTypeParsers();
    json.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
      const text = String(body);
      if (text.trim() === '') return done(null, {});
      try {
        done(null, JSON.parse(text));
      } catch {
        done(new StorageError('InvalidRequest', 'The request body is not valid JSON'), undefined);
      }
    });
    await bucketRoutes(json, deps);
    await objectRoutes(json, deps);
    await renderRoutes(json, deps);
  });
  await app.register(async (bytes) => transferRoutes(bytes, deps));
}
