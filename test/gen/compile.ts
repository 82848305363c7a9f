import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import ts from 'typescript';
import { CACHE_DIR, ROOT } from '../helpers/template.js';

/** One compiler diagnostic, located by file name (as given) and 1-based line. */
export interface Diagnostic {
  readonly file: string | undefined;
  readonly line: number | undefined;
  readonly code: number;
  readonly message: string;
}

/**
 * Type-checks `files` (name → source) together with the TypeScript compiler API and this
 * project's compiler options, and returns every diagnostic. The files are written to a fresh
 * directory under the project (so `@supabase/supabase-js` resolves from its node_modules),
 * which is deleted afterwards.
 */
export async function typecheck(files: Readonly<Record<string, string>>): Promise<Diagnostic[]> {
  await mkdir(CACHE_DIR, { recursive: true });
  const dir = await mkdtemp(join(CACHE_DIR, 'gen-types-'));
  try {
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
    const config = ts.readConfigFile(join(ROOT, 'tsconfig.json'), ts.sys.readFile);
    const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, ROOT);
    const program = ts.createProgram({
      rootNames: Object.keys(files).map((name) => join(dir, name)),
      options: { ...options, noEmit: true },
    });
    return ts.getPreEmitDiagnostics(program).map((d) => {
      const at = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined;
      return {
        file: d.file ? d.file.fileName.slice(dir.length + 1) : undefined,
        line: at ? at.line + 1 : undefined,
        code: d.code,
        message: ts.flattenDiagnosticMessageText(d.messageText, '\n'),
      };
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Diagnostics as readable lines, for assertion messages. */
export function formatDiagnostics(diagnostics: readonly Diagnostic[]): string {
  return diagnostics.map((d) => `${d.file ?? '?'}:${d.line ?? '?'} TS${d.code} ${d.message}`).join('\n');
}
