import { parse } from 'csv-parse/sync';
import { ApiError } from '../../errors.js';

/**
 * A `Content-Type: text/csv` body as PostgREST reads it: the first line names the columns,
 * each further line is a row of text values, and the unquoted word NULL is a null. PostgreSQL
 * converts the text to each column's type, as with JSON bodies.
 */
export function parseCsvBody(text: string): Record<string, string | null>[] {
  try {
    return parse(text, {
      columns: true,
      skip_empty_lines: true,
      cast: (value, context) => (value === 'NULL' && !context.quoting ? null : value),
    }) as Record<string, string | null>[];
  } catch (error) {
    throw new ApiError('PGRST102', { message: 'The CSV body is not valid', details: (error as Error).message });
  }
}
