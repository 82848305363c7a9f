// node-postgres ships its parameter preparation in lib/utils.js without type declarations.
declare module 'pg/lib/utils.js' {
  const utils: { prepareValue(value: unknown): string | Buffer | null };
  export default utils;
}
