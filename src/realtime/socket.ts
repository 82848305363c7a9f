import type { RawData, WebSocket } from 'ws';
import { handleBroadcast } from './broadcast.js';
import { type ChannelHost, closeMember, join, leave, type RealtimeContext, refreshToken } from './channel.js';
import { jsonSize, RateWindow } from './limits.js';
import type { Member } from './member.js';
import { broadcastPayload, problem } from './messages.js';
import { handlePresence } from './presence.js';
import { decodeBinary, decodeText, encodeText, FrameError, type Message, type Vsn } from './serializer.js';

/**
 * One WebSocket speaking Phoenix channels: frames in and out in the connection's serializer,
 * heartbeats on topic `phoenix`, pushes routed to the channel they name, and the idle timeout
 * (a socket that sends nothing, not even heartbeats, is closed). Channel messages are handled
 * one after another, in arrival order, so a join's checks finish before the next push is read.
 */
export class Connection implements ChannelHost {
  readonly members = new Map<string, Member>();
  readonly joins: RateWindow;
  private readonly events: RateWindow;
  private queue: Promise<void> = Promise.resolve();
  private readonly idle: NodeJS.Timeout;

  constructor(
    private readonly ctx: RealtimeContext,
    private readonly ws: WebSocket,
    readonly vsn: Vsn,
    readonly apikey: string | undefined,
  ) {
    this.joins = new RateWindow(ctx.limits.maxJoinsPerSecond, ctx.now);
    this.events = new RateWindow(ctx.limits.maxEventsPerSecond, ctx.now);
    this.idle = setTimeout(
      () => this.close(1000, 'idle timeout: no message within the timeout'),
      ctx.limits.idleTimeoutMs,
    );
    ws.on('message', (data, isBinary) => this.receive(data, isBinary));
    ws.on('close', () => this.closed());
    ws.on('error', (error) => ctx.log.debug({ err: error }, 'realtime socket error'));
  }

  get open(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  send(message: Message): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(encodeText(message, this.vsn));
  }

  sendBinary(frame: Buffer): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(frame, { binary: true });
  }

  enqueue(task: () => Promise<void> | void): void {
    this.queue = this.queue
      .then(task)
      .catch((error) => this.ctx.log.error({ err: error }, 'realtime message handling failed'));
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }

  /** Server shutdown: a close frame, and the socket cut if the client does not answer it. */
  shutdown(): void {
    this.close(1001, 'server shutting down');
    setTimeout(() => this.ws.terminate(), 2000).unref();
  }

  private receive(data: RawData, isBinary: boolean): void {
    this.idle.refresh();
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    try {
      if (isBinary) {
        const push = decodeBinary(bytes);
        const message = { joinRef: push.joinRef, ref: push.ref, topic: push.topic, event: 'broadcast', payload: {} };
        this.enqueue(() => this.onChannelPush(message, (member) => handleBroadcast(this.ctx, member, push.ref, push)));
        return;
      }
      const message = decodeText(bytes.toString('utf8'), this.vsn);
      if (message.topic === 'phoenix') {
        const status = message.event === 'heartbeat' ? 'ok' : 'error';
        const response = status === 'ok' ? {} : { reason: 'unmatched topic' };
        this.send({
          joinRef: null,
          ref: message.ref,
          topic: 'phoenix',
          event: 'phx_reply',
          payload: { status, response },
        });
        return;
      }
      this.enqueue(() => this.dispatch(message));
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      // Not Phoenix: nothing sensible can be answered on a channel, so the socket ends.
      this.close(1003, error.message.slice(0, 120));
    }
  }

  private async dispatch(message: Message): Promise<void> {
    if (message.event === 'phx_join') return join(this.ctx, this, message);
    if (message.event === 'phx_leave') return leave(this.ctx, this, message);
    await this.onChannelPush(message, async (member) => {
      switch (message.event) {
        case 'broadcast': {
          const parsed = broadcastPayload.safeParse(message.payload);
          if (!parsed.success) {
            member.reply(message.ref, 'error', { reason: `InvalidBroadcastMessage: ${problem(parsed.error)}` });
            return;
          }
          const { event, payload } = parsed.data;
          handleBroadcast(this.ctx, member, message.ref, {
            event,
            data: { kind: 'json', value: payload },
            size: jsonSize(payload),
          });
          return;
        }
        case 'presence':
          return handlePresence(this.ctx, member, message.ref, message.payload);
        case 'access_token':
          return refreshToken(this.ctx, this, member, message.payload);
        default:
          member.reply(message.ref, 'error', {
            reason: `unknown event ${JSON.stringify(message.event).slice(0, 100)}`,
          });
      }
    });
  }

  /**
   * A push on a channel: it must be joined (a stale join_ref is a channel that is gone; a
   * missing one is accepted, as Realtime does), and it counts toward the events per second.
   */
  private async onChannelPush(message: Message, handle: (member: Member) => Promise<void> | void): Promise<void> {
    const member = this.members.get(message.topic);
    if (member === undefined || (message.joinRef !== null && message.joinRef !== member.joinRef)) {
      this.send({
        joinRef: message.joinRef,
        ref: message.ref,
        topic: message.topic,
        event: 'phx_reply',
        payload: { status: 'error', response: { reason: 'unmatched topic' } },
      });
      return;
    }
    if (!this.events.take()) {
      closeMember(this.ctx, this, member, { notify: true, system: 'Too many messages per second' });
      return;
    }
    await handle(member);
  }

  /** The socket is gone: every channel ends, and its presence leaves. */
  private closed(): void {
    clearTimeout(this.idle);
    for (const member of [...this.members.values()]) closeMember(this.ctx, this, member, { notify: false });
  }
}
