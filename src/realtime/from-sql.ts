import type { Database } from '../db/database.js';
import { sql } from '../db/sql.js';
import type { Logger } from '../log.js';
import { roomOf } from './access.js';
import { fanOut } from './broadcast.js';
import type { Hub } from './hub.js';
import { NotifiedBatches, RETENTION_SECONDS } from './notified.js';

/**
 * Broadcast from SQL (decision 0018): rows inserted into realtime.messages with extension
 * 'broadcast' — by realtime.send(), realtime.broadcast_changes() in a trigger, or an INSERT the
 * policies allow — are notified by id on `loconomy_realtime_messages` when their transaction
 * commits (migration 0032), never when it rolls back. Every server process LISTENs (on
 * PostgreSQL and PGlite alike), reads the rows back and delivers them to its own members of the
 * topic: private rows only to private channels' members allowed to receive broadcasts, public
 * rows to the public channel. Notifications are handled one batch at a time, in the order they
 * arrive, so messages reach clients in commit order. Rows are deleted after the change feed's
 * retention.
 */

export const MESSAGES_CHANNEL = 'loconomy_realtime_messages';
const UUID = /^[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}$/i;

interface MessageRow {
  id: string;
  topic: string;
  event: string | null;
  payload: unknown;
  private: boolean;
}

export class SqlBroadcasts extends NotifiedBatches<string> {
  constructor(
    db: Database,
    private readonly hub: Hub,
    log: Logger,
  ) {
    super(db, MESSAGES_CHANNEL, log, 'messages sent from SQL');
  }

  protected parse(payload: string): string[] {
    return payload.split(',').filter((id) => UUID.test(id));
  }

  protected async deliver(ids: readonly string[]): Promise<void> {
    const { rows } = await this.db.query<MessageRow>(sql`
      select id, topic, event, payload, private from realtime.messages
       where id = any (${ids}::uuid[]) and extension = 'broadcast'`);
    const byId = new Map(rows.map((row) => [row.id, row]));
    for (const id of ids) {
      const row = byId.get(id);
      if (row === undefined || row.event === null) continue;
      // As Supabase delivers them: the row id in meta, and in an object payload that has none.
      const payload =
        typeof row.payload === 'object' && row.payload !== null && !Array.isArray(row.payload) && !('id' in row.payload)
          ? { ...row.payload, id: row.id }
          : row.payload;
      fanOut(
        this.hub,
        roomOf(`realtime:${row.topic}`, row.private),
        row.event,
        { kind: 'json', value: payload },
        undefined,
        {
          id: row.id,
        },
      );
    }
  }

  protected async prune(): Promise<void> {
    await this.db.query(
      sql`delete from realtime.messages where inserted_at < now() - make_interval(secs => ${RETENTION_SECONDS})`,
    );
  }
}
