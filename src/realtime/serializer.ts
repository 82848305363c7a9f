/**
 * Phoenix channel frames as realtime-js writes and reads them (its lib/serializer.ts decides):
 *
 * - vsn 1.0.0: text frames, JSON objects `{join_ref, ref, topic, event, payload}`;
 * - vsn 2.0.0: text frames, JSON arrays `[join_ref, ref, topic, event, payload]`, plus binary
 *   frames for user broadcasts: the client sends kind 3 (USER_BROADCAST_PUSH) for every
 *   `channel.send({type: 'broadcast'})`, and decodes only kind 4 (USER_BROADCAST). Phoenix's
 *   own binary kinds 0–2 are never sent: realtime-js cannot decode them.
 */

export type Vsn = '1.0.0' | '2.0.0';

/** What Phoenix's socket defaults to when the URL has no `vsn`. */
export const DEFAULT_VSN: Vsn = '1.0.0';

export interface Message {
  readonly joinRef: string | null;
  readonly ref: string | null;
  readonly topic: string;
  readonly event: string;
  readonly payload: unknown;
}

/** A user broadcast's payload: JSON (already parsed) or raw bytes (a client's ArrayBuffer). */
export type BroadcastData =
  | { readonly kind: 'json'; readonly value: unknown }
  | { readonly kind: 'binary'; readonly bytes: Buffer };

/** A kind-3 frame: a broadcast pushed by a vsn 2.0.0 client. */
export interface BinaryBroadcastPush {
  readonly joinRef: string | null;
  readonly ref: string | null;
  readonly topic: string;
  readonly event: string;
  readonly data: BroadcastData;
  /** The payload's size on the wire, for the payload limit. */
  readonly size: number;
}

export class FrameError extends Error {}

const USER_BROADCAST_PUSH = 3;
const USER_BROADCAST = 4;
const BINARY_ENCODING = 0;
const JSON_ENCODING = 1;

/** Parses a text frame of either version; throws FrameError when it is not a Phoenix message. */
export function decodeText(text: string, vsn: Vsn): Message {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new FrameError('the frame is not JSON');
  }
  let fields: [unknown, unknown, unknown, unknown, unknown];
  if (vsn === '2.0.0') {
    if (!Array.isArray(parsed) || parsed.length !== 5) {
      throw new FrameError('a vsn 2.0.0 frame is a JSON array [join_ref, ref, topic, event, payload]');
    }
    fields = parsed as [unknown, unknown, unknown, unknown, unknown];
  } else {
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new FrameError('a vsn 1.0.0 frame is a JSON object {join_ref, ref, topic, event, payload}');
    }
    const o = parsed as Record<string, unknown>;
    fields = [o.join_ref, o.ref, o.topic, o.event, o.payload];
  }
  const [joinRef, ref, topic, event, payload] = fields;
  if (typeof topic !== 'string' || typeof event !== 'string') {
    throw new FrameError('topic and event must be strings');
  }
  return { joinRef: refString(joinRef), ref: refString(ref), topic, event, payload: payload ?? {} };
}

/** Refs are decimal strings; be lenient with numbers and missing ones, as Realtime is. */
function refString(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return null;
}

/**
 * Parses a binary frame: only kind 3 is meaningful from a client. Strings are written by the
 * client one byte per UTF-16 unit (charCodeAt), so they are read back as latin1.
 */
export function decodeBinary(frame: Buffer): BinaryBroadcastPush {
  if (frame.length < 7 || frame[0] !== USER_BROADCAST_PUSH) {
    throw new FrameError('the only binary frame a client may send is a user broadcast (kind 3)');
  }
  const [joinRefLen, refLen, topicLen, eventLen, metaLen, encoding] = frame.subarray(1, 7) as unknown as number[];
  let offset = 7;
  const take = (length: number): string => {
    if (offset + length > frame.length) throw new FrameError('the binary frame is shorter than its header says');
    const text = frame.toString('latin1', offset, offset + length);
    offset += length;
    return text;
  };
  const joinRef = take(joinRefLen as number);
  const ref = take(refLen as number);
  const topic = take(topicLen as number);
  const event = take(eventLen as number);
  take(metaLen as number); // metadata (`persist`) is not acted on, as on Realtime's main branch
  const bytes = frame.subarray(offset);
  let data: BroadcastData;
  if (encoding === JSON_ENCODING) {
    try {
      data = { kind: 'json', value: JSON.parse(bytes.toString('utf8')) };
    } catch {
      throw new FrameError('the broadcast payload is marked JSON but is not');
    }
  } else if (encoding === BINARY_ENCODING) {
    data = { kind: 'binary', bytes: Buffer.from(bytes) };
  } else {
    throw new FrameError(`unknown payload encoding ${encoding}`);
  }
  return { joinRef: joinRef || null, ref: ref || null, topic, event, data, size: bytes.length };
}

/** A message as a text frame of the connection's version. */
export function encodeText(message: Message, vsn: Vsn): string {
  const { joinRef, ref, topic, event, payload } = message;
  if (vsn === '2.0.0') return JSON.stringify([joinRef, ref, topic, event, payload]);
  return JSON.stringify({ topic, event, payload, ref, join_ref: joinRef });
}

/**
 * A kind-4 frame (USER_BROADCAST) for vsn 2.0.0 clients: `4, topicLen, eventLen, metaLen,
 * encoding, topic, event, meta, payload`, strings UTF-8 as realtime-js decodes them.
 * Undefined when a string does not fit its one-byte length.
 */
export function encodeUserBroadcast(
  topic: string,
  event: string,
  data: BroadcastData,
  meta?: object,
): Buffer | undefined {
  const topicBytes = Buffer.from(topic, 'utf8');
  const eventBytes = Buffer.from(event, 'utf8');
  const metaBytes = Buffer.from(meta === undefined ? '' : JSON.stringify(meta), 'utf8');
  if (topicBytes.length > 255 || eventBytes.length > 255 || metaBytes.length > 255) return undefined;
  const payload = data.kind === 'binary' ? data.bytes : Buffer.from(JSON.stringify(data.value) ?? 'null', 'utf8');
  const header = Buffer.from([
    USER_BROADCAST,
    topicBytes.length,
    eventBytes.length,
    metaBytes.length,
    data.kind === 'binary' ? BINARY_ENCODING : JSON_ENCODING,
  ]);
  return Buffer.concat([header, topicBytes, eventBytes, metaBytes, payload]);
}
