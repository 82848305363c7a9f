import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/* What every benchmark shares: the `loconomy` command run as a user runs it, and its server. */

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** `loconomy <args>` with the given settings on top of this process's environment. */
export function runLoconomy(args: string[], env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, [join(ROOT, 'bin/loconomy.mjs'), ...args], {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

/** Resolves when the process exits 0. */
export function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) =>
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`loconomy exited with ${code}`)))),
  );
}

/** Waits (up to two minutes) until `loconomy serve` on the port answers /health. */
export async function waitForHealth(port: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('the server did not become healthy');
}
