import { duration } from './pretty.js';

export interface ReadySummary {
  readonly url: string;
  readonly anonKey: string;
  readonly database: string;
  readonly schemaVersion: string | undefined;
  readonly demo: boolean;
  readonly ms: number;
}

/**
 * What a person sees once the server is ready (LOG_FORMAT=pretty): where the API is, the key a
 * client needs, and what to try next. Everything it shows runs today.
 */
export function readySummary(s: ReadySummary): string {
  const rest = `${s.url}/rest/v1`;
  const lines = [
    '',
    `Loconomy is ready in ${duration(s.ms)} — ${s.database}, schema ${s.schemaVersion ?? '(none)'}${s.demo ? ', demo data' : ''}`,
    '',
    `  REST API      ${rest}   (PostgREST-compatible; point supabase-js at ${s.url})`,
    `  OpenAPI       ${rest}/`,
    `  Health        ${s.url}/health`,
    `  anon key      ${s.anonKey}`,
    '  service key   npx loconomy keys   (server-side only: it bypasses Row Level Security)',
    '',
    '  Try',
    `    curl '${rest}/categories?select=name,slug&limit=5' -H 'apikey: ${s.anonKey}'`,
    s.demo ? '' : '    npm start -- --demo        a generated marketplace to explore (stop this one first)',
    '    npx loconomy db            psql into the embedded database (stop the server first)',
    '    docs/workflows.md          search, book, message and review with supabase-js',
    '',
    '  Ctrl-C stops the server.',
    '',
  ];
  return lines.filter((line, i) => line !== '' || lines[i - 1] !== '').join('\n');
}
