import type { Unsubscribe } from './database.js';
import { type SqlFragment, sql } from './sql.js';

type Callback = (payload: string) => void;

/**
 * Bookkeeping for LISTEN/NOTIFY shared by both backends: one LISTEN per channel however many
 * callbacks subscribe, UNLISTEN when the last one leaves, and the list of channels to listen
 * to again after the PostgreSQL listener connection is replaced.
 */
export class Channels {
  readonly #subscribers = new Map<string, Set<Callback>>();
  readonly #listening = new Map<string, Promise<void>>();
  readonly #run: (statement: SqlFragment) => Promise<void>;
  readonly #onCallbackError: (error: unknown, channel: string) => void;

  constructor(
    run: (statement: SqlFragment) => Promise<void>,
    onCallbackError: (error: unknown, channel: string) => void,
  ) {
    this.#run = run;
    this.#onCallbackError = onCallbackError;
  }

  async add(channel: string, callback: Callback): Promise<Unsubscribe> {
    const statement = listenStatement(channel); // validates the name before anything changes
    let subscribers = this.#subscribers.get(channel);
    if (!subscribers) {
      subscribers = new Set();
      this.#subscribers.set(channel, subscribers);
      const listening = this.#run(statement);
      this.#listening.set(channel, listening);
      listening.catch(() => {
        this.#subscribers.delete(channel);
        this.#listening.delete(channel);
      });
    }
    subscribers.add(callback);
    await this.#listening.get(channel);
    const set = subscribers;
    return async () => {
      set.delete(callback);
      if (set.size === 0 && this.#subscribers.get(channel) === set) {
        this.#subscribers.delete(channel);
        this.#listening.delete(channel);
        await this.#run(sql`unlisten ${sql.ident(channel)}`);
      }
    };
  }

  dispatch(channel: string, payload: string): void {
    for (const callback of this.#subscribers.get(channel) ?? []) {
      try {
        callback(payload);
      } catch (error) {
        this.#onCallbackError(error, channel);
      }
    }
  }

  channels(): string[] {
    return [...this.#subscribers.keys()];
  }
}

export function listenStatement(channel: string): SqlFragment {
  return sql`listen ${sql.ident(channel)}`;
}
