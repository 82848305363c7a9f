// node-postgres ships these modules without type declarations; Loconomy uses what is declared
// here (decisions 0001 and 0014), and test/db/pipeline.test.ts breaks if they change.
declare module 'pg/lib/utils.js' {
  const utils: { prepareValue(value: unknown): string | Buffer | null };
  export default utils;
}

declare module 'pg/lib/result.js' {
  import type { FieldDef } from 'pg';

  /** The rows of one statement, parsed as node-postgres parses a query's. */
  class Result {
    constructor(rowMode: 'array' | undefined, types: { getTypeParser(oid: number, format?: string): unknown });
    command: string | null;
    rowCount: number | null;
    rows: Record<string, unknown>[];
    fields: FieldDef[];
    addFields(fields: unknown[]): void;
    parseRow(fields: unknown[]): Record<string, unknown>;
    addRow(row: Record<string, unknown>): void;
    addCommandComplete(message: unknown): void;
  }
  export default Result;
}
