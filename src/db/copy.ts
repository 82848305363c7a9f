import { Readable } from 'node:stream';
import type { CopyOptions, CopySource, CopyTarget } from './database.js';
import { type SqlFragment, sql } from './sql.js';
import { toParam } from './values.js';

/** `copy <table> (<columns>) from <stdin|'/dev/blob'> with (...)`, every name quoted. */
export function copyStatement(
  target: CopyTarget,
  columns: readonly string[],
  from: 'stdin' | 'blob',
  source: CopySource,
  options: CopyOptions = {},
): SqlFragment {
  if (columns.length === 0) throw new TypeError('copyFrom needs at least one column');
  const table = typeof target === 'string' ? sql.ident(target) : sql.ident(target[0], target[1]);
  const format = source instanceof Readable && options.format === 'csv' ? sql.raw('csv') : sql.raw('text');
  const header =
    source instanceof Readable && options.format === 'csv' && options.header ? sql.raw(', header true') : sql.empty;
  const input = from === 'stdin' ? sql.raw('stdin') : sql.raw(`'/dev/blob'`);
  return sql`copy ${table} (${sql.join(columns.map((c) => sql.ident(c)))}) from ${input} with (format ${format}${header})`;
}

/** Rows are batched into chunks of about this size, so a million rows are not a million writes. */
const CHUNK_BYTES = 64 * 1024;

/** The COPY data: a Readable as is, or rows encoded in COPY text format. */
export async function* copyData(source: CopySource): AsyncGenerator<Buffer | string> {
  if (source instanceof Readable) {
    for await (const chunk of source) yield typeof chunk === 'string' ? chunk : Buffer.from(chunk);
    return;
  }
  let batch = '';
  for await (const row of source as AsyncIterable<readonly unknown[]>) {
    batch += encodeRow(row);
    if (batch.length >= CHUNK_BYTES) {
      yield batch;
      batch = '';
    }
  }
  if (batch !== '') yield batch;
}

/** One line of COPY text format: values prepared like query parameters, \N for NULL. */
export function encodeRow(row: readonly unknown[]): string {
  return `${row.map((value) => escapeText(toParam(value))).join('\t')}\n`;
}

function escapeText(value: string | null): string {
  if (value === null) return '\\N';
  return value.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}
