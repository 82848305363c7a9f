import type { Database, Unsubscribe } from '../db/database.js';
import type { Logger } from '../log.js';

/**
 * A LISTEN whose notifications name rows to read back and deliver (the change feed,
 * src/realtime/changes.ts; messages sent from SQL, src/realtime/from-sql.ts): each payload
 * gives items, queued in arrival order and handed to `deliver` a batch at a time, one batch
 * after the other, so clients get them in commit order. `prune` runs every PRUNE_EVERY_MS to
 * delete rows older than RETENTION_SECONDS.
 */

/** How long notified rows are kept: every serve process on the database reads them well within it. */
export const RETENTION_SECONDS = 300;
export const PRUNE_EVERY_MS = 60_000;

export abstract class NotifiedBatches<T> {
  private pending: T[] = [];
  private running: Promise<void> | undefined;
  private unlisten: Unsubscribe | undefined;
  private pruner: NodeJS.Timeout | undefined;

  constructor(
    protected readonly db: Database,
    private readonly channel: string,
    protected readonly log: Logger,
    /** What is delivered, for the log: "captured changes". */
    private readonly what: string,
  ) {}

  /** The items a notification names (none for one that is not understood). */
  protected abstract parse(payload: string): T[];
  protected abstract deliver(batch: T[]): Promise<void>;
  /** Deletes the rows older than RETENTION_SECONDS. */
  protected abstract prune(): Promise<void>;

  /** LISTENs; resolves once notifications are being received. */
  async start(): Promise<void> {
    this.unlisten = await this.db.listen(this.channel, (payload) => this.notified(payload));
    this.pruner = setInterval(() => {
      this.prune().catch((error) => this.log.warn({ err: error }, `realtime: pruning ${this.what} failed`));
    }, PRUNE_EVERY_MS);
    this.pruner.unref();
  }

  /** Stops listening; a database already closed (or gone) under the server is not an error here. */
  async stop(): Promise<void> {
    clearInterval(this.pruner);
    const unlisten = this.unlisten;
    this.unlisten = undefined;
    this.pending = [];
    try {
      await unlisten?.();
    } catch (error) {
      this.log.debug({ err: error }, 'realtime: UNLISTEN failed while closing');
    }
    await this.running;
  }

  private notified(payload: string): void {
    const items = this.parse(payload);
    if (items.length === 0) return;
    this.pending.push(...items);
    if (this.running === undefined) this.running = this.drain();
  }

  /** Delivers everything notified, a batch at a time, until nothing is left. */
  private async drain(): Promise<void> {
    try {
      while (this.pending.length > 0 && this.unlisten !== undefined) {
        const batch = this.pending;
        this.pending = [];
        try {
          await this.deliver(batch);
        } catch (error) {
          this.log.error({ err: error }, `realtime: delivering ${this.what} failed`);
        }
      }
    } finally {
      this.running = undefined;
    }
  }
}
