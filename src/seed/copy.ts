import { Readable } from 'node:stream';
import type { CopyTarget, Database, Transaction } from '../db/database.js';

/**
 * COPY text-format encoding for the demo generator, written by hand because the generic row
 * encoder (src/db/copy.ts, which prepares every value like a query parameter) costs more per
 * value than building the line does. Every helper returns a field ready for a tab-separated
 * line; `\N` is NULL.
 */

export const NULL = '\\N';

const SPECIAL = /[\\\t\n\r]/;
const SPECIAL_ALL = /[\\\t\n\r]/g;
const REPLACEMENTS: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** A text value. */
export function text(value: string | null | undefined): string {
  if (value === null || value === undefined) return NULL;
  return SPECIAL.test(value) ? value.replace(SPECIAL_ALL, (c) => REPLACEMENTS[c] as string) : value;
}

/** A text[] value. */
export function textArray(values: readonly string[]): string {
  if (values.length === 0) return '{}';
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    out += `"${(values[i] as string).replace(/[\\"]/g, '\\$&')}"`;
  }
  return text(`${out}}`);
}

/** A json/jsonb value. */
export function json(value: unknown): string {
  return text(JSON.stringify(value));
}

export function bool(value: boolean): string {
  return value ? 't' : 'f';
}

const pointBuffer = Buffer.alloc(25);
// Little-endian EWKB: byte order 1, type Point with the SRID flag (0x20000001), SRID 4326.
pointBuffer.write('0101000020e6100000', 0, 'hex');

/** A geography(Point, 4326) as hex EWKB, which PostGIS reads without parsing WKT. */
export function point(lon: number, lat: number): string {
  if (Number.isNaN(lon)) return NULL;
  pointBuffer.writeDoubleLE(lon, 9);
  pointBuffer.writeDoubleLE(lat, 17);
  return pointBuffer.toString('hex');
}

/** Progress, in rows, across every table of a load. */
export interface LoadProgress {
  add(rows: number): void;
}

const CHUNK_CHARS = 256 * 1024;
/** PGlite reads each COPY from one in-memory blob: keep every blob well inside its 2 GiB heap. */
const PGLITE_COPY_CHARS = 16 * 1024 * 1024;

/**
 * Streams lines into `table` with COPY (the lines end in newlines). On PostgreSQL one COPY streams everything (with back
 * pressure); on PGlite the lines are cut into COPY statements of a bounded size.
 */
export async function copyLines(
  tx: Transaction,
  kind: Database['kind'],
  table: CopyTarget,
  columns: readonly string[],
  lines: Iterable<string>,
  progress: LoadProgress,
): Promise<number> {
  if (kind === 'postgres') {
    let rows = 0;
    const source = Readable.from(
      (function* chunks() {
        let chunk = '';
        let pending = 0;
        for (const line of lines) {
          chunk += line;
          pending++;
          if (chunk.length >= CHUNK_CHARS) {
            yield chunk;
            chunk = '';
            rows += pending;
            progress.add(pending);
            pending = 0;
          }
        }
        if (chunk !== '') yield chunk;
        rows += pending;
        progress.add(pending);
      })(),
      { objectMode: false },
    );
    await tx.copyFrom(table, columns, source);
    return rows;
  }
  let rows = 0;
  let parts: string[] = [];
  let size = 0;
  let pending = 0;
  const flush = async () => {
    if (pending === 0) return;
    await tx.copyFrom(table, columns, Readable.from(parts, { objectMode: false }));
    rows += pending;
    progress.add(pending);
    parts = [];
    size = 0;
    pending = 0;
  };
  let chunk = '';
  for (const line of lines) {
    chunk += line;
    pending++;
    if (chunk.length >= CHUNK_CHARS) {
      parts.push(chunk);
      size += chunk.length;
      chunk = '';
      if (size >= PGLITE_COPY_CHARS) {
        await flush();
      }
    }
  }
  if (chunk !== '') parts.push(chunk);
  await flush();
  return rows;
}
