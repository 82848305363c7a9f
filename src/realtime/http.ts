import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Authenticator, Caller } from '../auth/caller.js';
import { ApiError } from '../errors.js';
import { checkWrite } from './auth.js';
import { broadcast, payloadTooLarge } from './broadcast.js';
import type { RealtimeContext } from './channel.js';
import { jsonSize } from './limits.js';
import { broadcastBatch, problem } from './messages.js';
import type { BroadcastData } from './serializer.js';

/**
 * Server-side sends, as Realtime offers them (realtime-js calls both):
 * - `POST /api/broadcast` `{messages: [{topic, event, payload, private?}]}` — the batch that
 *   `channel.send()` falls back to when the channel is not joined;
 * - `POST /api/broadcast/:topic/events/:event` with the raw payload (JSON, or bytes as
 *   application/octet-stream) — `channel.httpSend()`.
 * Both answer 202 with no body. Authentication is REST's (`apikey` and `Authorization`
 * headers); a user token, an API key with `realtime:write` or the service_role key may send,
 * anon may not. Every message is checked before any is sent.
 */
export function broadcastRoutes(app: FastifyInstance, ctx: RealtimeContext): void {
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_request, body, done) =>
    done(null, body),
  );

  app.post('/api/broadcast', async (request, reply) => {
    await sender(ctx.authenticator, request);
    const parsed = broadcastBatch.safeParse(request.body);
    if (!parsed.success) {
      throw new ApiError('LOCO_REALTIME_INVALID', {
        details: problem(parsed.error),
        hint: 'send {"messages": [{"topic": "room-1", "event": "name", "payload": {…}}]}',
      });
    }
    for (const message of parsed.data.messages) {
      if (message.private === true) throw privateUnavailable();
      checkSize(ctx, jsonSize(message.payload));
    }
    for (const { topic, event, payload } of parsed.data.messages) {
      broadcast(ctx, `realtime:${topic}`, event, { kind: 'json', value: payload });
    }
    return reply.status(202).send();
  });

  app.post<{ Params: { topic: string; event: string } }>(
    '/api/broadcast/:topic/events/:event',
    async (request, reply) => {
      await sender(ctx.authenticator, request);
      const query = request.query as Record<string, unknown>;
      if (query.private === 'true') throw privateUnavailable();
      const body = request.body;
      const data: BroadcastData = Buffer.isBuffer(body)
        ? { kind: 'binary', bytes: body }
        : { kind: 'json', value: body };
      if (data.kind === 'json' && body === undefined) {
        throw new ApiError('LOCO_REALTIME_INVALID', { details: 'the body (the payload) is empty' });
      }
      checkSize(ctx, data.kind === 'binary' ? data.bytes.length : jsonSize(data.value));
      broadcast(ctx, `realtime:${request.params.topic}`, request.params.event, data);
      return reply.status(202).send();
    },
  );
}

async function sender(authenticator: Authenticator, request: FastifyRequest): Promise<Caller> {
  const caller = await authenticator.authenticate(request.headers);
  if (caller.role !== 'authenticated' && caller.role !== 'service_role') {
    throw new ApiError('LOCO_AUTH_REQUIRED', {
      details: `the caller's role is ${caller.role}`,
      hint: 'send a user token as Authorization: Bearer <token>, or use the service_role key on a server',
      headers: { 'WWW-Authenticate': 'Bearer' },
    });
  }
  checkWrite(caller);
  return caller;
}

function checkSize(ctx: RealtimeContext, size: number): void {
  if (size > ctx.limits.maxPayloadBytes) {
    throw new ApiError('LOCO_REALTIME_PAYLOAD_TOO_LARGE', {
      details: payloadTooLarge(size, ctx.limits.maxPayloadBytes),
    });
  }
}

function privateUnavailable(): ApiError {
  return new ApiError('PGRST127', {
    message: 'Private channels are not available on this server yet',
    details: 'a message with private: true (or ?private=true) cannot be authorised until private channels land',
    hint: 'send to a public channel',
  });
}
