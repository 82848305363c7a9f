import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/* What every benchmark shares: the `loconomy` command run as a user runs it, and its server. */

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/**
 * `loconomy <args>` with the given settings on top of this process's environment, background
 * jobs off unless the settings turn them on. With
 * `openFiles`, the process's soft open-file limit is raised to it first (`ulimit -n` in a shell
 * that then execs node, so the child's pid is still loconomy's); it cannot pass the hard limit.
 */
export function runLoconomy(
  args: string[],
  env: Record<string, string>,
  options: { openFiles?: number } = {},
): ChildProcess {
  const command = [process.execPath, join(ROOT, 'bin/loconomy.mjs'), ...args];
  const [file, argv] =
    options.openFiles === undefined
      ? [process.execPath, command.slice(1)]
      : ['/bin/sh', ['-c', 'ulimit -n "$0" && exec "$@"', String(options.openFiles), ...command]];
  return spawn(file as string, argv as string[], {
    // The schedule's catch-up runs (retention, expiries) would share the machine with what is
    // measured; a bench that wants the jobs sets LOCONOMY_SERVE_JOBS itself.
    env: { ...process.env, LOG_LEVEL: 'warn', LOCONOMY_SERVE_JOBS: 'false', ...env },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

/** The soft and hard open-file limits this process (and so its children) has: `ulimit -n`. */
export function openFileLimits(): { soft: number; hard: number } {
  const text = readFileSync('/proc/self/limits', 'utf8');
  const line = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  const value = (v: string | undefined) =>
    v === undefined || v === 'unlimited' ? Number.POSITIVE_INFINITY : Number(v);
  return { soft: value(line?.[1]), hard: value(line?.[2]) };
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
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
