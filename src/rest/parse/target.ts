/**
 * The REST path and query of a request's target (`/rest/v1/listings?id=eq.1`). Parsing it with
 * `new URL()` was one of the larger costs per request left (docs/benchmarks.md, "Node CPU per
 * REST request"); the targets clients send are almost always plain — a table or `rpc/name` and
 * a printable ASCII query — and for those the raw text gives exactly what the URL parser gives.
 * Anything else (dot segments, percent-escapes or other characters in the path, a fragment or
 * non-ASCII in the query) still goes through `new URL()`, so every target reads as before.
 */

export interface RestTarget {
  /** `listings`, `rpc/search_listings`: decoded, without the prefix or trailing slashes. */
  readonly path: string;
  readonly search: URLSearchParams;
}

/** A path the URL parser would leave as it is: no dots, escapes, backslashes or other characters. */
const PLAIN_PATH = /^[A-Za-z0-9_\-/]*$/;
/** A query the URL parser would only escape and URLSearchParams unescape again: printable ASCII, no fragment. */
const PLAIN_QUERY = /^[\x21\x22\x24-\x7e]*$/;

/** The REST target of `url` (a request's raw target), as `new URL(url)` then reads it. */
export function restTarget(url: string, prefix: string): RestTarget {
  const mark = url.indexOf('?');
  const rawPath = mark === -1 ? url : url.slice(0, mark);
  const rawQuery = mark === -1 ? '' : url.slice(mark + 1);
  if (rawPath.startsWith(prefix) && PLAIN_PATH.test(rawPath) && PLAIN_QUERY.test(rawQuery)) {
    return { path: trimSlashes(rawPath.slice(prefix.length)), search: new URLSearchParams(rawQuery) };
  }
  const parsed = new URL(url, 'http://loconomy.invalid');
  const path = parsed.pathname.startsWith(prefix) ? parsed.pathname.slice(prefix.length) : parsed.pathname;
  return { path: trimSlashes(decodeURIComponent(path)), search: parsed.searchParams };
}

function trimSlashes(path: string): string {
  let end = path.length;
  while (end > 0 && path.charCodeAt(end - 1) === 47) end--;
  return end === path.length ? path : path.slice(0, end);
}
