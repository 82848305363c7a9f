#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx, so `npm start` needs no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
const code = await main(process.argv);
if (code !== undefined) {
  // Exit once stdout is flushed: a pipe (`loconomy keys | jq`) must get all of the output.
  process.exitCode = code;
  process.stdout.write('', () => process.exit(code));
}
