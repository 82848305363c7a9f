import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Authenticator, Caller } from '../auth/caller.js';
import { ApiError } from '../errors.js';
import { channelAccess, roomOf } from './access.js';
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
 * anon may not. A private message (`private: true`, `?private=true`) needs the realtime.messages
 * INSERT policies' permission for its topic, as a private channel's member does (403 otherwise).
 * Every message is checked before any is sent.
 */
export function broadcastRoutes(app: FastifyInstance, ctx: RealtimeContext): void {
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_request, body, done) =>
    done(null, body),
  );

  app.post('/api/broadcast', async (request, reply) => {
    const caller = await sender(ctx.authenticator, request);
    const parsed = broadcastBatch.safeParse(request.body);
    if (!parsed.success) {
      throw new ApiError('LOCO_REALTIME_INVALID', {
        details: problem(parsed.error),
        hint: 'send {"messages": [{"topic": "room-1", "event": "name", "payload": {…}}]}',
      });
    }
    const allowed = new Map<string, Promise<void>>();
    for (const message of parsed.data.messages) {
      checkSize(ctx, jsonSize(message.payload));
      if (message.private === true && !allowed.has(message.topic)) {
        allowed.set(message.topic, checkPrivateWrite(ctx, caller, message.topic));
      }
    }
    await Promise.all(allowed.values());
    for (const { topic, event, payload, private: isPrivate } of parsed.data.messages) {
      broadcast(ctx, roomOf(`realtime:${topic}`, isPrivate === true), event, { kind: 'json', value: payload });
    }
    return reply.status(202).send();
  });

  app.post<{ Params: { topic: string; event: string } }>(
    '/api/broadcast/:topic/events/:event',
    async (request, reply) => {
      const caller = await sender(ctx.authenticator, request);
      const query = request.query as Record<string, unknown>;
      const isPrivate = query.private === 'true';
      const body = request.body;
      const data: BroadcastData = Buffer.isBuffer(body)
        ? { kind: 'binary', bytes: body }
        : { kind: 'json', value: body };
      if (data.kind === 'json' && body === undefined) {
        throw new ApiError('LOCO_REALTIME_INVALID', { details: 'the body (the payload) is empty' });
      }
      checkSize(ctx, data.kind === 'binary' ? data.bytes.length : jsonSize(data.value));
      if (isPrivate) await checkPrivateWrite(ctx, caller, request.params.topic);
      broadcast(ctx, roomOf(`realtime:${request.params.topic}`, isPrivate), request.params.event, data);
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

/** 403 unless the realtime.messages policies let the caller send on the private topic. */
async function checkPrivateWrite(ctx: RealtimeContext, caller: Caller, topic: string): Promise<void> {
  const access = await channelAccess(ctx.db, topic, caller);
  if (!access.broadcast.write) {
    throw new ApiError('LOCO_REALTIME_FORBIDDEN', {
      details: `the realtime.messages policies do not let the caller send to the private topic ${JSON.stringify(topic).slice(0, 200)}`,
      hint: 'send as a member the policies allow, or with the service_role key',
    });
  }
}
