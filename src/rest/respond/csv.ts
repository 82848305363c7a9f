/**
 * `Accept: text/csv`: the rows the database built as JSON, as RFC 4180 CSV with a header line.
 * Nested values (embeddings, arrays, JSON) are written as their JSON text, as PostgREST does.
 */
export function toCsv(jsonArray: string): string {
  const rows = JSON.parse(jsonArray) as Record<string, unknown>[];
  if (rows.length === 0) return '';
  const columns = Object.keys(rows[0] as object);
  const lines = [columns.map(cell).join(',')];
  for (const row of rows) lines.push(columns.map((c) => cell(row[c])).join(','));
  return `${lines.join('\n')}\n`;
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
