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
      const packets = parser as unknown as PacketHandler;
      const handle = packets.handlePacket.bind(parser);
      packets.handlePacket = (offset, code, length, bytes) =>
        code === DATA_ROW && state.fields !== undefined
          ? dataRow(bytes, offset, length, state.fields)
          : handle(offset, code, length, bytes);
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
      // A copy: the parser reuses its buffer for the messages that follow. allocUnsafe skips
      // the zero-fill that copyBytesFrom does first (a tenth of Node's CPU for a 50 kB body).
      const field = Buffer.allocUnsafe(size);
      bytes.copy(field, 0, at, at + size);
      fields[i] = field;
      at += size;
    } else {
      fields[i] = bytes.toString('utf8', at, at + size);
      at += size;
    }
  }
  return new DataRowMessage(length, fields as string[]);
}
