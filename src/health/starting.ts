import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { watchSteps } from '../log.js';

/** GET /health while the server is still preparing its database. */
export interface StartingBody {
  status: 'starting';
  /** The step under way, as the log names it ("migrate", "seed demo data", …). */
  step: string;
  elapsed_ms: number;
}

/**
 * What the port answers between listening and ready: the server binds its port first (so a
 * taken port fails before any slow work) and answers at once, /health with 503 `starting`
 * and the current step, which scripts and load balancers poll, and every other request with
 * 503 and Retry-After.
 */
export class Starting {
  private readonly active: string[] = [];
  private readonly since = performance.now();
  private readonly unwatch: () => void;

  constructor() {
    this.unwatch = watchSteps((event) => {
      if (event.phase === 'start') {
        this.active.push(event.name);
      } else {
        const at = this.active.lastIndexOf(event.name);
        if (at >= 0) this.active.splice(at, 1);
      }
    });
  }

  /** The innermost step under way. */
  get step(): string {
    return this.active.at(-1) ?? 'starting';
  }

  /** Stops following the steps (once the server is ready or has failed). */
  done(): void {
    this.unwatch();
  }

  readonly handle = (request: IncomingMessage, response: ServerResponse): void => {
    const path = (request.url ?? '/').split('?')[0];
    const body =
      path === '/health'
        ? ({
            status: 'starting',
            step: this.step,
            elapsed_ms: Math.round(performance.now() - this.since),
          } satisfies StartingBody)
        : {
            code: 'LOCO_STARTING',
            message: `Loconomy is starting (${this.step})`,
            details: null,
            hint: 'retry in a moment; GET /health answers 200 when the server is ready',
          };
    const text = JSON.stringify(body);
    response.writeHead(503, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
      'retry-after': '1',
      'access-control-allow-origin': '*',
    });
    response.end(request.method === 'HEAD' ? undefined : text);
  };
}
