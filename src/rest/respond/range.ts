/**
 * The Content-Range header PostgREST sends with every read: `0-24/3573`, `*` as the total when
 * it was not counted, and `*` instead of the range for an empty page.
 */
export function contentRange(offset: number, pageTotal: number, total: number | undefined): string {
  const of = total === undefined ? '*' : String(total);
  if (pageTotal === 0) return `*/${of}`;
  return `${offset}-${offset + pageTotal - 1}/${of}`;
}
