import type { Database } from '../db/database.js';
import { sql } from '../db/sql.js';
import type { Logger } from '../log.js';
import { matches } from './filter.js';
import type { Hub } from './hub.js';
import type { Member } from './member.js';
import { NotifiedBatches, RETENTION_SECONDS } from './notified.js';
import { wants } from './subscriptions.js';

/**
 * postgres_changes delivery (decision 0017). The capture triggers of migration 0031 write
 * rows into realtime.changes and notify `loconomy_realtime_changes` with the transaction id
 * at commit. The feed collects the notified transactions, reads their changes in one query,
 * finds the subscriptions that want each change (table, event, filter), groups the
 * subscribers by role + JWT claims, and asks realtime.visible_changes once per batch what
 * each group may see, with the columns it may read. Batches run one at a time, so changes
 * reach every client in commit order.
 */

export const CHANGES_CHANNEL = 'loconomy_realtime_changes';

interface ChangeRow {
  id: string;
  schema_name: string;
  table_name: string;
  op: 'INSERT' | 'UPDATE' | 'DELETE';
  record: Record<string, unknown> | null;
  old_record: Record<string, unknown> | null;
  commit_timestamp: string;
}

interface VisibleRow {
  change_id: string;
  group_index: number;
  record: Record<string, unknown> | null;
  old_record: Record<string, unknown> | null;
  columns: { name: string; type: string }[];
}

interface Group {
  readonly role: string;
  readonly claims: object;
  /** Members of the group with the subscription ids that want each change id. */
  readonly wanted: Map<string, Map<Member, number[]>>;
}

export class ChangeFeed extends NotifiedBatches<string> {
  constructor(
    db: Database,
    private readonly hub: Hub,
    log: Logger,
  ) {
    super(db, CHANGES_CHANNEL, log, 'captured changes');
  }

  protected parse(payload: string): string[] {
    return /^\d+$/.test(payload) ? [payload] : [];
  }

  protected async deliver(xids: readonly string[]): Promise<void> {
    const members = [...this.hub.changeMembers()];
    if (members.length === 0) return;
    const { rows: changes } = await this.db.query<ChangeRow>(sql`
      select id, schema_name, table_name, op, record, old_record,
             to_char(changed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as commit_timestamp
        from realtime.changes where xid = any (${xids}::bigint[]) order by id`);
    if (changes.length === 0) return;

    const groups = new Map<string, Group>();
    for (const change of changes) {
      // A DELETE is matched on the deleted row, an INSERT or UPDATE on the new one.
      const row = change.op === 'DELETE' ? change.old_record : change.record;
      for (const member of members) {
        const ids = member.changes
          .filter(
            (s) =>
              wants(s, change.schema_name, change.table_name, change.op) &&
              (s.filter === undefined || matches(s.filter, row)),
          )
          .map((s) => s.id);
        if (ids.length === 0) continue;
        const key = JSON.stringify([member.caller.role, member.caller.claims]);
        let group = groups.get(key);
        if (group === undefined) {
          group = { role: member.caller.role, claims: member.caller.claims, wanted: new Map() };
          groups.set(key, group);
        }
        let byMember = group.wanted.get(change.id);
        if (byMember === undefined) {
          byMember = new Map();
          group.wanted.set(change.id, byMember);
        }
        byMember.set(member, ids);
      }
    }
    if (groups.size === 0) return;

    const list = [...groups.values()];
    const candidates = [...new Set(list.flatMap((g) => [...g.wanted.keys()]))];
    const { rows: visible } = await this.db.query<VisibleRow>(sql`
      select change_id, group_index, record, old_record, columns
        from realtime.visible_changes(${candidates}::bigint[], ${JSON.stringify(
          list.map((g) => ({ role: g.role, claims: g.claims })),
        )}::jsonb)`);

    const byChange = new Map(changes.map((c) => [c.id, c]));
    const allowed = new Map<string, Map<number, VisibleRow>>();
    for (const row of visible) {
      let perGroup = allowed.get(row.change_id);
      if (perGroup === undefined) {
        perGroup = new Map();
        allowed.set(row.change_id, perGroup);
      }
      perGroup.set(row.group_index, row);
    }
    // In commit order: each change to each group that may see it.
    for (const change of changes) {
      const perGroup = allowed.get(change.id);
      if (perGroup === undefined) continue;
      for (const [index, row] of perGroup) {
        const group = list[index];
        const source = byChange.get(change.id);
        if (group === undefined || source === undefined) continue;
        const readable = new Set(row.columns.map((c) => c.name));
        for (const [member, ids] of group.wanted.get(change.id) ?? []) {
          if (member.closed) continue;
          // A filter on a column the role may not read would tell what the column holds.
          const shown = ids.filter((id) => {
            const filter = member.changes.find((s) => s.id === id)?.filter;
            return filter === undefined || readable.has(filter.column);
          });
          if (shown.length === 0) continue;
          member.fastlane('postgres_changes', {
            ids: shown,
            data: {
              schema: source.schema_name,
              table: source.table_name,
              commit_timestamp: source.commit_timestamp,
              type: source.op,
              columns: row.columns,
              ...(source.op === 'DELETE' ? {} : { record: row.record ?? {} }),
              ...(source.op === 'INSERT' ? {} : { old_record: row.old_record ?? {} }),
              errors: null,
            },
          });
        }
      }
    }
  }

  protected async prune(): Promise<void> {
    await this.db.query(
      sql`delete from realtime.changes where changed_at < now() - make_interval(secs => ${RETENTION_SECONDS})`,
    );
  }
}
