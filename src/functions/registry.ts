import { type FSWatcher, watch } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, sep } from 'node:path';
import { tsImport } from 'tsx/esm/api';
import { z } from 'zod';
import { LoconomyError, oneLine } from '../errors.js';
import type { Logger } from '../log.js';
import type { FunctionHandler } from './types.js';

/**
 * The project's functions folder, loaded (decision 0027). A function is `<name>/index.ts` (the
 * layout of `supabase/functions/`, so a Supabase project's folder carries over) or `<name>.ts`
 * (also .mts, .js, .mjs). Folders and files starting with `_` or `.` are shared code, not
 * functions (Supabase's `_shared/`), and `*.test.*` / `*.d.ts` files are skipped.
 *
 * Each load imports every function through tsx's tsImport, which gives each call a module graph
 * of its own: a reload sees changed shared modules too, not only the changed entry file. A module
 * that fails to load is kept as a failure with its reason, answered 503 until it loads.
 */

/** A function's name as Supabase allows it (a URL path segment). */
export const FUNCTION_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,127}$/;

const EXTENSIONS = ['.ts', '.mts', '.js', '.mjs'];

/** A function's limits after its `config` and the server's defaults are combined. */
export interface FunctionLimits {
  readonly timeoutMs: number;
  readonly bodyLimit: number;
  readonly serviceRole: boolean;
}

export interface ReadyFunction {
  readonly state: 'ready';
  readonly name: string;
  readonly file: string;
  readonly handler: FunctionHandler;
  readonly limits: FunctionLimits;
}

export interface FailedFunction {
  readonly state: 'failed';
  readonly name: string;
  readonly file: string;
  /** Why it did not load, on one line (answered in development, logged always). */
  readonly reason: string;
}

export type LoadedFunction = ReadyFunction | FailedFunction;

/** What a module may export as `config`; anything else is a load failure (a typo is caught). */
const configSchema = z
  .strictObject({
    timeoutMs: z.number().int().min(1).max(3_600_000).optional(),
    bodyLimit: z
      .number()
      .int()
      .min(0)
      .max(1024 ** 3)
      .optional(),
    serviceRole: z.boolean().optional(),
  })
  .optional();

export interface RegistryOptions {
  /** Absolute path of the functions folder; a missing folder is an empty one. */
  readonly dir: string;
  /** Names taken by built-in functions: a project function with one of them is refused. */
  readonly reserved: readonly string[];
  readonly defaults: { readonly timeoutMs: number; readonly bodyLimit: number };
  /** Reload on change (development). */
  readonly watch: boolean;
  readonly log: Logger;
}

export class FunctionRegistry {
  #functions = new Map<string, LoadedFunction>();
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #reloading: Promise<void> | undefined;
  #again = false;
  #closed = false;

  private constructor(private readonly options: RegistryOptions) {}

  /**
   * Loads every function once. Two files for one name, or a name a built-in has, refuse the
   * start (LOCO_FUNCTIONS_INVALID); a module that fails to load does not.
   */
  static async open(options: RegistryOptions): Promise<FunctionRegistry> {
    const registry = new FunctionRegistry(options);
    const found = await discover(options.dir);
    const clash = found.problems[0];
    if (clash !== undefined) {
      throw new LoconomyError('LOCO_FUNCTIONS_INVALID', clash, 'rename or remove one of them (see docs/functions.md)');
    }
    const reserved = found.entries.find(([name]) => options.reserved.includes(name));
    if (reserved !== undefined) {
      throw new LoconomyError(
        'LOCO_FUNCTIONS_INVALID',
        `the function ${reserved[1]} has the name of a built-in function (${reserved[0]})`,
        `rename it: ${options.reserved.join(', ')} are built in (docs/functions.md)`,
      );
    }
    registry.#functions = await registry.#load(found.entries);
    if (options.watch) registry.#watch();
    return registry;
  }

  get(name: string): LoadedFunction | undefined {
    return this.#functions.get(name);
  }

  names(): string[] {
    return [...this.#functions.keys()].sort();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#watcher?.close();
  }

  async #load(entries: readonly (readonly [string, string])[]): Promise<Map<string, LoadedFunction>> {
    forgetCommonJs(this.options.dir);
    const loaded = new Map<string, LoadedFunction>();
    for (const [name, file] of entries) {
      const fn = await loadFunction(name, file, this.options.defaults);
      if (fn.state === 'failed')
        this.options.log.error({ function: name, file, reason: fn.reason }, 'function failed to load');
      loaded.set(name, fn);
    }
    this.options.log.info({ dir: this.options.dir, functions: [...loaded.keys()] }, 'functions loaded');
    return loaded;
  }

  /** fs.watch of the folder (recursive: shared modules too); a burst of changes reloads once. */
  #watch(): void {
    try {
      this.#watcher = watch(this.options.dir, { recursive: true }, () => this.#changed());
      // The HTTP server keeps `serve` alive; a watcher alone must not (a server never closed in a script).
      this.#watcher.unref();
      this.#watcher.on('error', (error) => this.options.log.warn({ err: error }, 'functions: watching stopped'));
    } catch (error) {
      // A missing folder: nothing to watch until the next start.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }

  #changed(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#reload(), 50).unref();
  }

  /** Every function again, in fresh module graphs; one reload at a time, another after if needed. */
  async #reload(): Promise<void> {
    if (this.#reloading) {
      this.#again = true;
      return;
    }
    this.#reloading = (async () => {
      do {
        this.#again = false;
        if (this.#closed) return;
        const found = await discover(this.options.dir);
        for (const problem of found.problems) this.options.log.error(`functions: ${problem}; neither is reloaded`);
        const entries = found.entries.filter(([name, file]) => {
          if (!this.options.reserved.includes(name)) return true;
          this.options.log.error(
            { file },
            `functions: ${name} is a built-in function's name; the built-in one answers`,
          );
          return false;
        });
        const loaded = await this.#load(entries);
        if (!this.#closed) this.#functions = loaded;
      } while (this.#again);
    })();
    try {
      await this.#reloading;
    } catch (error) {
      this.options.log.error({ err: error }, 'functions: reload failed');
    } finally {
      this.#reloading = undefined;
    }
  }
}

interface Discovered {
  /** [name, absolute file]. */
  readonly entries: (readonly [string, string])[];
  /** Names with two files, described. */
  readonly problems: string[];
}

/** The functions in the folder: `<name>/index.<ext>` and `<name>.<ext>`. */
async function discover(dir: string): Promise<Discovered> {
  let listing: import('node:fs').Dirent[];
  try {
    listing = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], problems: [] };
    throw error;
  }
  const files = new Map<string, string[]>();
  const add = (name: string, file: string) => files.set(name, [...(files.get(name) ?? []), file]);
  for (const entry of listing) {
    if (entry.name.startsWith('_') || entry.name.startsWith('.')) continue;
    if (entry.isDirectory()) {
      if (!FUNCTION_NAME.test(entry.name)) continue;
      const inside = new Set(await readdir(join(dir, entry.name)).catch(() => [] as string[]));
      const index = EXTENSIONS.map((ext) => `index${ext}`).filter((file) => inside.has(file));
      for (const file of index) add(entry.name, join(dir, entry.name, file));
    } else if (entry.isFile()) {
      const ext = EXTENSIONS.find((e) => entry.name.endsWith(e));
      if (ext === undefined || /\.(test|spec|d)\.[cm]?[jt]s$/.test(entry.name)) continue;
      const name = entry.name.slice(0, -ext.length);
      if (FUNCTION_NAME.test(name)) add(name, join(dir, entry.name));
    }
  }
  const entries: (readonly [string, string])[] = [];
  const problems: string[] = [];
  for (const [name, found] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
    if (found.length > 1) problems.push(`the function ${name} is defined twice (${found.join(' and ')})`);
    else entries.push([name, found[0] as string]);
  }
  return { entries, problems };
}

/** Imports one function module and checks what it exports. */
async function loadFunction(
  name: string,
  file: string,
  defaults: RegistryOptions['defaults'],
): Promise<LoadedFunction> {
  let module: Record<string, unknown>;
  try {
    module = interop(await tsImport(file, { parentURL: import.meta.url }));
  } catch (error) {
    return { state: 'failed', name, file, reason: oneLine(error) };
  }
  const exported = module.default as unknown;
  const handler =
    typeof exported === 'function'
      ? (exported as FunctionHandler)
      : typeof (exported as { fetch?: unknown })?.fetch === 'function'
        ? (((request: Request, ctx) =>
            (exported as { fetch: FunctionHandler }).fetch(request, ctx)) satisfies FunctionHandler)
        : undefined;
  if (handler === undefined) {
    return {
      state: 'failed',
      name,
      file,
      reason:
        'the module has no default export that handles requests: export default async (req, ctx) => new Response(…)',
    };
  }
  const config = configSchema.safeParse(module.config);
  if (!config.success) {
    const issue = config.error.issues[0];
    const where = issue?.path.length ? `config.${issue.path.join('.')}` : 'config';
    return { state: 'failed', name, file, reason: `${where}: ${issue?.message ?? 'is not valid'}` };
  }
  return {
    state: 'ready',
    name,
    file,
    handler,
    limits: {
      timeoutMs: config.data?.timeoutMs ?? defaults.timeoutMs,
      bodyLimit: config.data?.bodyLimit ?? defaults.bodyLimit,
      serviceRole: config.data?.serviceRole === true,
    },
  };
}

/**
 * A module's exports. Where the folder is CommonJS (no `"type": "module"` above it), tsx compiles
 * a .ts file to CommonJS and the import's default is `module.exports`, marked __esModule.
 */
function interop(namespace: Record<string, unknown>): Record<string, unknown> {
  const inner = namespace.default as Record<string, unknown> | undefined;
  return inner !== null && typeof inner === 'object' && inner.__esModule === true ? inner : namespace;
}

const requireCache = createRequire(import.meta.url).cache;

/** CommonJS modules under the folder are cached by require, whatever tsImport's namespace: dropped before a load. */
function forgetCommonJs(dir: string): void {
  const prefix = dir.endsWith(sep) ? dir : dir + sep;
  for (const key of Object.keys(requireCache)) if (key.startsWith(prefix)) delete requireCache[key];
}
