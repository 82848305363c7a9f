import pg from 'pg';
import { DataRowMessage } from 'pg-protocol/dist/messages.js';
import { Parser } from 'pg-protocol/dist/parser.js';

/**
 * Columns that come back as the bytes PostgreSQL sent (a Buffer) instead of a decoded string.
 * A REST read's body is JSON the database built; node-postgres decodes every text value from
 * UTF-8 into a JavaScript string, and the server then encodes it to UTF-8 again for the socket.
 * For a page of 20 listings with their providers (about 50 kB) the decode alone was a sixth of
 * the server's CPU per request (docs/benchmarks.md). node-postgres has no way to ask for bytes
 * (its parser's binary mode throws "not supported yet"), so each connection of the pool parses
 * with a parser of its own that, only while a statement asked for it (`Query.bytes`, set by
 * src/db/pipeline.ts from the statement's RowDescription), keeps those fields as bytes. Every
 * other message goes through node-postgres's own parser unchanged. This leans on pg 8.23.1's
 * internals (Connection.attachListeners, Parser.handlePacket), as decision 0014's pipeline
 * does; pg is pinned for that reason and test/db/row-bytes.test.ts checks the behaviour.
 */

/** The field positions of the current statement's rows to keep as bytes, per connection. */
const keptFields = new WeakMap<object, { fields: ReadonlySet<number> | undefined }>();

/** From now until told otherwise, DataRow fields at these positions arrive as Buffers on `connection`; no-op on a connection not made here. */
export function keepBytes(connection: object, fields: ReadonlySet<number> | undefined): void {
  const state = keptFields.get(connection);
  if (state) state.fields = fields;
}

/** A pg.Client (for pg.Pool's `Client` option) whose connection can keep fields as bytes. */
export class BytesClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig) {
    super(config);
    const connection = (this as unknown as { connection: WireConnection }).connection;
    const state: { fields: ReadonlySet<number> | undefined } = { fields: undefined };
    keptFields.set(connection, state);
    // As pg's Connection.attachListeners, with a parser that consults `state` for DataRows.
    connection.attachListeners = (stream) => {
      const parser = new Parser();
      const packets = parser as unknown as PacketHandler & ParserBuffer;
      const handle = packets.handlePacket.bind(parser);
      packets.handlePacket = (offset, code, length, bytes) =>
        code === DATA_ROW && state.fields !== undefined
          ? dataRow(bytes, offset, length, state.fields)
          : handle(offset, code, length, bytes);
      packets.mergeBuffer = (chunk) => mergeBuffer(packets, chunk);
      stream.on('data', (buffer: Buffer) =>
        parser.parse(buffer, (message) => {
          const event = message.name === 'error' ? 'errorMessage' : message.name;
          if (connection._emitMessage) connection.emit('message', message);
          connection.emit(event, message);
        }),
      );
    };
  }
}

const DATA_ROW = 0x44; // 'D'

interface WireConnection {
  attachListeners(stream: NodeJS.ReadableStream): void;
  emit(event: string, message: unknown): boolean;
  _emitMessage?: boolean;
}

interface PacketHandler {
  handlePacket(offset: number, code: number, length: number, bytes: Buffer): unknown;
}

/** pg-protocol's Parser state: the bytes not parsed yet are buffer[bufferOffset, bufferOffset + bufferLength). */
interface ParserBuffer {
  buffer: Buffer;
  bufferOffset: number;
  bufferLength: number;
  mergeBuffer(chunk: Buffer): void;
}

/**
 * pg-protocol's Parser.mergeBuffer (a chunk read from the socket joined to what is left of the
 * last), with two differences. Bytes once parsed are never written again: pg-protocol moves what
 * is left to the front of its buffer when that makes room, over messages already handed out, so
 * kept fields (below) could not be views. And a message that spans reads gets a buffer of its
 * whole size when its header has arrived, where pg-protocol doubled from the first chunk's size
 * (a 50 kB page cost 16, 32 and 64 kB buffers). Each large buffer is memory outside V8's heap,
 * and at a thousand pages a second their churn made V8 stop for 5–14 ms scavenges ("external
 * memory pressure"), in which no connection was read (docs/benchmarks.md).
 */
function mergeBuffer(parser: ParserBuffer, chunk: Buffer): void {
  if (parser.bufferLength === 0) {
    parser.buffer = chunk; // Node reads each chunk into a buffer of its own: nothing else writes it
    parser.bufferOffset = 0;
    parser.bufferLength = chunk.byteLength;
    return;
  }
  const length = parser.bufferLength + chunk.byteLength;
  if (parser.bufferOffset + length > parser.buffer.byteLength) {
    // What is left starts a message: its code (1 byte), then its length (which counts itself).
    const message = parser.bufferLength >= 5 ? 1 + parser.buffer.readUInt32BE(parser.bufferOffset + 1) : 0;
    const next = Buffer.allocUnsafe(Math.max(length, message));
    parser.buffer.copy(next, 0, parser.bufferOffset, parser.bufferOffset + parser.bufferLength);
    parser.buffer = next;
    parser.bufferOffset = 0;
  }
  chunk.copy(parser.buffer, parser.bufferOffset + parser.bufferLength);
  parser.bufferLength = length;
}

/** A DataRow message (Int16 count, then Int32 length and bytes per field, -1 for null) with `raw` fields as Buffers. */
function dataRow(bytes: Buffer, offset: number, length: number, raw: ReadonlySet<number>): DataRowMessage {
  const count = bytes.readInt16BE(offset);
  const fields: (string | Buffer | null)[] = new Array(count);
  let at = offset + 2;
  for (let i = 0; i < count; i++) {
    const size = bytes.readInt32BE(at);
    at += 4;
    if (size === -1) fields[i] = null;
    else if (raw.has(i)) {
      // A view, not a copy: mergeBuffer above never writes over parsed bytes.
      fields[i] = bytes.subarray(at, at + size);
      at += size;
    } else {
      fields[i] = bytes.toString('utf8', at, at + size);
      at += size;
    }
  }
  return new DataRowMessage(length, fields as string[]);
}
