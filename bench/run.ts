/**
 * `npm run bench`: runs every bench/*.bench.ts, one at a time (they share two cores), each in
 * its own process. A benchmark prints its own results, as ratios against raw SQL run in the
 * same process and minute (DESIGN.md, Fast by construction).
 */
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
const filters = process.argv.slice(2);
const files = (await readdir(dir))
  .filter((name) => name.endsWith('.bench.ts'))
  .filter((name) => filters.length === 0 || filters.some((f) => name.includes(f)))
  .sort();

if (files.length === 0) {
  console.log('no benchmarks yet (add bench/<name>.bench.ts)');
} else {
  console.log(`running ${files.length} benchmark(s): ${files.join(', ')}`);
  let failed = 0;
  for (const name of files) {
    console.log(`\n▶ ${name}`);
    const code = await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(dir, name)], { stdio: 'inherit' });
      child.on('close', (c) => resolve(c ?? 1));
    });
    if (code !== 0) {
      console.log(`✖ ${name} exited with code ${code}`);
      failed++;
    }
  }
  process.exitCode = failed === 0 ? 0 : 1;
}
