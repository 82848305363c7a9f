/**
 * `npm install` runs this (npm's `prepare` script, for a clone of the repository): it builds
 * the prepared embedded database for this machine (src/db/template.ts, decision 0013), so that
 * the first `npm start` copies it instead of initialising, extending and migrating a database
 * (~15 s on two cores). It never fails the install: if it cannot build, the first start does,
 * and says why. `npm install --ignore-scripts` skips it.
 */
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../src/config.js';
import { ensureTemplate } from '../src/db/template.js';
import { oneLine } from '../src/errors.js';
import { silentLogger } from '../src/log.js';

const say = (line: string) => process.stderr.write(`loconomy: ${line}\n`);

try {
  const { cacheDir } = loadConfig();
  say(`preparing the embedded database for this machine in ${cacheDir} (once per schema change)…`);
  const started = performance.now();
  const dir = await ensureTemplate({ cacheDir, log: silentLogger() });
  say(`ready: ${dir} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
} catch (error) {
  say(`could not prepare the embedded database now (${oneLine(error)}); the first \`npm start\` will`);
}
