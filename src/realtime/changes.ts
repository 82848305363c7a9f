import type { Database } from '../db/database.js';
import { sql } from '../db/sql.js';
import type { Logger } from '../log.js';
import { BatchBindings, type Group } from './bindings.js';
import type { Hub } from './hub.js';
import { NotifiedBatches, RETENTION_SECONDS } from './notified.js';

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
    const bindings = new BatchBindings(this.hub.changeMembers());
    if (bindings.groups.length === 0) return;
    const { rows: changes } = await this.db.query<ChangeRow>(sql`
      select id, schema_name, table_name, op, record, old_record,
             to_char(changed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as commit_timestamp
        from realtime.changes where xid = any (${xids}::bigint[]) order by id`);
    if (changes.length === 0) return;

    // The changes some subscription wants, and the groups to ask about.
    const candidates: string[] = [];
    const asked = new Set<Group>();
    const seen = new Set<string>();
    for (const change of changes) {
      if (bindings.collect(change.schema_name, change.table_name, change.op, matchedRow(change), asked, seen)) {
        candidates.push(change.id);
      }
    }
    if (candidates.length === 0 || asked.size === 0) return;

    const list = [...asked];
    const { rows: visible } = await this.db.query<VisibleRow>(sql`
      select change_id, group_index, record, old_record, columns
        from realtime.visible_changes(${candidates}::bigint[], ${JSON.stringify(
          list.map((g) => ({ role: g.role, claims: g.claims })),
        )}::jsonb)`);

    const allowed = new Map<string, VisibleRow[]>();
    for (const row of visible) {
      const rows = allowed.get(row.change_id);
      if (rows === undefined) allowed.set(row.change_id, [row]);
      else rows.push(row);
    }
    // In commit order: each change to each group that may see it, one frame per member.
    for (const change of changes) {
      const rows = allowed.get(change.id);
      if (rows === undefined) continue;
      const row = matchedRow(change);
      for (const seenBy of rows) {
        const group = list[seenBy.group_index];
        if (group === undefined) continue;
        const data = {
          schema: change.schema_name,
          table: change.table_name,
          commit_timestamp: change.commit_timestamp,
          type: change.op,
          columns: seenBy.columns,
          ...(change.op === 'DELETE' ? {} : { record: seenBy.record ?? {} }),
          ...(change.op === 'INSERT' ? {} : { old_record: seenBy.old_record ?? {} }),
          errors: null,
        };
        bindings.forEachMember(
          group,
          change.schema_name,
          change.table_name,
          change.op,
          row,
          (column) => seenBy.columns.some((c) => c.name === column),
          (member, ids) => member.fastlane('postgres_changes', { ids, data }),
        );
      }
    }
  }

  protected async prune(): Promise<void> {
    await this.db.query(
      sql`delete from realtime.changes where changed_at < now() - make_interval(secs => ${RETENTION_SECONDS})`,
    );
  }
}

/** The row a change's filters are matched on: a DELETE's deleted row, otherwise the new one. */
function matchedRow(change: ChangeRow): Record<string, unknown> | null {
  return change.op === 'DELETE' ? change.old_record : change.record;
}
