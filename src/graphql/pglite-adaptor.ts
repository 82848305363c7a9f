import { EventEmitter } from 'node:events';
import type { PGlite, Transaction as PGliteTransaction } from '@electric-sql/pglite';
import type { PgClient, PgClientQuery, PgClientResult, WithPgClient } from 'postgraphile/@dataplan/pg';

/*
 * A @dataplan/pg adaptor for the embedded database: PostGraphile's queries run on the
 * in-process PGlite, as the REST layer's do. PGlite is one session, so the stock adaptor over
 * pglite-socket would share prepared statements and settings between "connections"
 * (../shared/reference/measurements-graphql-pglite.md); in process, each request with settings
 * is one PGlite transaction (PGlite's mutex serialises it with everything else), nested
 * transactions are savepoints, and LISTEN is PGlite's own. Decision 0025.
 */

declare global {
  namespace GraphileConfig {
    interface PgAdaptors {
      'loconomy/pglite': {
        adaptorSettings: PgliteAdaptorSettings;
        makePgServiceOptions: never;
        client: PglitePgClient;
      };
    }
  }
}

export interface PgliteAdaptorSettings {
  readonly pglite: PGlite;
}

export interface PglitePgClient extends PgClient {
  readonly rawClient: PGlite | PGliteTransaction;
}

type Target = PGlite | PGliteTransaction;

/**
 * @dataplan/pg expects node-postgres text semantics (it casts what it selects to text and parses
 * it itself), so every PGlite parser is the identity and parameters go as text.
 */
function rawOptions(db: PGlite) {
  const identity = (value: string) => value;
  const asText = (value: unknown) => (typeof value === 'string' ? value : String(value));
  return {
    parsers: Object.fromEntries(Object.keys(db.parsers).map((oid) => [oid, identity])),
    serializers: Object.fromEntries(Object.keys(db.serializers).map((oid) => [oid, asText])),
  };
}

const SET_CONFIG = 'select set_config(el->>0, el->>1, true) from json_array_elements($1::json) el';

function client(db: PGlite, target: Target, depth: number, options: ReturnType<typeof rawOptions>): PglitePgClient {
  return {
    rawClient: target,
    // `name` (a prepared statement) is ignored: PGlite parses every statement anew.
    async query<TData>({ text, values, arrayMode }: PgClientQuery): Promise<PgClientResult<TData>> {
      const result = await target.query<TData>(text, values ?? [], {
        ...options,
        rowMode: arrayMode ? 'array' : 'object',
      });
      return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length };
    },
    async withTransaction<T>(callback: (c: PglitePgClient) => Promise<T>): Promise<T> {
      if (depth === 0) return db.transaction((tx) => callback(client(db, tx, 1, options)));
      const savepoint = `tx${depth}`;
      await target.query(`savepoint ${savepoint}`);
      try {
        const result = await callback(client(db, target, depth + 1, options));
        await target.query(`release savepoint ${savepoint}`);
        return result;
      } catch (error) {
        await target.query(`rollback to savepoint ${savepoint}`);
        throw error;
      }
    },
  } as PglitePgClient;
}

export function createWithPgClient(settings: PgliteAdaptorSettings): WithPgClient<PglitePgClient> {
  const db = settings.pglite;
  const options = rawOptions(db);
  const withPgClient = (async <T>(
    pgSettings: Record<string, string | undefined> | null,
    callback: (c: PglitePgClient) => T | Promise<T>,
  ): Promise<T> => {
    const entries = Object.entries(pgSettings ?? {}).filter((e): e is [string, string] => e[1] != null);
    if (entries.length === 0) return callback(client(db, db, 0, options));
    return db.transaction(async (tx) => {
      await tx.query(SET_CONFIG, [JSON.stringify(entries)], options);
      return callback(client(db, tx, 1, options));
    });
  }) as WithPgClient<PglitePgClient>;
  withPgClient.release = () => {};
  return withPgClient;
}

/**
 * LISTEN/NOTIFY for subscriptions: PGlite's own notifications, one LISTEN per topic while it has
 * subscribers (topics are per conversation, user or booking, so they come and go).
 */
export class PgliteSubscriber {
  private readonly events = new EventEmitter();
  private readonly listening = new Map<string, { subscribers: number; unlisten: Promise<() => Promise<void>> }>();

  constructor(private readonly db: PGlite) {
    this.events.setMaxListeners(0);
  }

  subscribe(topic: string): AsyncIterableIterator<string> {
    const queue: string[] = [];
    const waiting: ((result: IteratorResult<string>) => void)[] = [];
    let done = false;
    const receive = (payload: string) => {
      const waiter = waiting.shift();
      if (waiter) waiter({ done: false, value: payload });
      else queue.push(payload);
    };
    this.events.on(topic, receive);
    const entry = this.listening.get(topic) ?? {
      subscribers: 0,
      // PGlite puts the name into LISTEN as given: quoted, as topics hold `:` and `-`.
      unlisten: this.db.listen(`"${topic.replaceAll('"', '""')}"`, (payload) => this.events.emit(topic, payload)),
    };
    entry.subscribers += 1;
    this.listening.set(topic, entry);
    const finish = async (): Promise<IteratorResult<string>> => {
      if (!done) {
        done = true;
        this.events.off(topic, receive);
        for (const waiter of waiting.splice(0)) waiter({ done: true, value: undefined });
        entry.subscribers -= 1;
        if (entry.subscribers === 0 && this.listening.get(topic) === entry) {
          this.listening.delete(topic);
          await entry.unlisten.then((unlisten) => unlisten()).catch(() => {});
        }
      }
      return { done: true, value: undefined };
    };
    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      next() {
        const value = queue.shift();
        if (value !== undefined) return Promise.resolve({ done: false, value });
        if (done) return Promise.resolve({ done: true, value: undefined });
        return new Promise((resolve) => waiting.push(resolve));
      },
      return: finish,
      throw: finish,
    };
  }

  release(): void {
    for (const { unlisten } of this.listening.values()) void unlisten.then((u) => u()).catch(() => {});
    this.listening.clear();
  }
}
