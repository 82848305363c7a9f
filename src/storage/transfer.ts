import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { authenticate, type StorageDeps } from './context.js';
import { splitPath } from './names.js';
import { verifyUpload } from './signing.js';
import { upload } from './upload.js';

/**
 * The routes that take an object's bytes: upload (POST, `x-upsert`), update (PUT, an upsert as
 * on Supabase) and upload to a signed URL. In their own Fastify context, whose only body
 * parsers hand the route the body as a stream (raw bytes of any type) or a multipart form, so
 * nothing is buffered and storage's own limits apply (receive.ts).
 */
export async function transferRoutes(app: FastifyInstance, deps: StorageDeps): Promise<void> {
  app.removeAllContentTypeParsers();
  // Busboy's own limit is lifted: receive.ts counts the bytes against the bucket's limit.
  await app.register(multipart, { limits: { fileSize: Number.MAX_SAFE_INTEGER, files: 1, fieldSize: 64 * 1024 } });
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

  type Wild = { Params: { '*': string }; Headers: { 'x-upsert'?: string } };
  const target = (request: FastifyRequest<Wild>) => splitPath(request.params['*']);

  app.post<Wild>('/object/*', async (request) => {
    const caller = await authenticate(deps, request.headers);
    return upload(deps, request, caller, { ...target(request), upsert: request.headers['x-upsert'] === 'true' });
  });

  app.put<Wild>('/object/*', async (request) => {
    const caller = await authenticate(deps, request.headers);
    return upload(deps, request, caller, { ...target(request), upsert: true });
  });

  app.put<Wild & { Querystring: { token?: string } }>('/object/upload/sign/*', async (request) => {
    const { bucket, name } = target(request);
    const claims = await verifyUpload(deps.signingKey, request.query.token, `${bucket}/${name}`);
    const service = { role: 'service_role', claims: { role: 'service_role' } };
    return upload(deps, request, service, { bucket, name, upsert: claims.upsert, owner: claims.owner });
  });
}
