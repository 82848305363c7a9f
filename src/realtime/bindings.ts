import type { Caller } from '../auth/caller.js';
import { type Filter, matches } from './filter.js';
import type { Member } from './member.js';
import type { Subscription } from './subscriptions.js';

/**
 * The postgres_changes subscriptions of a batch's members, grouped and indexed once per batch
 * (src/realtime/changes.ts): members acting with one role and one set of claims form a group,
 * whose visibility SQL decides once (realtime.visible_changes); each subscription is filed
 * under its (schema, table or `*`, event or `*`), so a change finds the groups that want it
 * with four lookups instead of a pass over every member's bindings.
 */

export interface Group {
  readonly role: string;
  readonly claims: object;
  /** Position in the list sent to realtime.visible_changes. */
  readonly index: number;
}

interface Binding {
  readonly member: Member;
  readonly subscription: Subscription;
}

/** The bindings of one group under one index key. */
interface Bucket {
  readonly unfiltered: Binding[];
  readonly filtered: Binding[];
}

/** Everything filed under one index key. */
interface Entry {
  readonly buckets: Map<Group, Bucket>;
  /** The groups with an unfiltered binding: they want every change under the key. */
  readonly unfiltered: Group[];
  /** The filtered bindings, with their group: matched change by change. */
  readonly filtered: { group: Group; binding: Binding }[];
}

/** The group key of a caller, computed once per caller object (a token refresh makes a new one). */
const groupKeys = new WeakMap<Caller, string>();

function groupKey(caller: Caller): string {
  let key = groupKeys.get(caller);
  if (key === undefined) {
    key = JSON.stringify([caller.role, caller.claims]);
    groupKeys.set(caller, key);
  }
  return key;
}

const SEP = '\u0000';
const indexKey = (schema: string, table: string, event: string) => schema + SEP + table + SEP + event;

/** The four keys a change of `op` on `schema`.`table` is filed under (table or *, event or *). */
function keysOf(schema: string, table: string, op: string): string[] {
  return [
    indexKey(schema, table, op),
    indexKey(schema, table, '*'),
    indexKey(schema, '*', op),
    indexKey(schema, '*', '*'),
  ];
}

export class BatchBindings {
  readonly groups: Group[] = [];
  private readonly index = new Map<string, Entry>();

  constructor(members: Iterable<Member>) {
    const byKey = new Map<string, Group>();
    for (const member of members) {
      if (member.closed || member.changes.length === 0) continue;
      const key = groupKey(member.caller);
      let group = byKey.get(key);
      if (group === undefined) {
        group = { role: member.caller.role, claims: member.caller.claims, index: this.groups.length };
        byKey.set(key, group);
        this.groups.push(group);
      }
      for (const subscription of member.changes) {
        const k = indexKey(subscription.schema, subscription.table ?? '*', subscription.event);
        let entry = this.index.get(k);
        if (entry === undefined) {
          entry = { buckets: new Map(), unfiltered: [], filtered: [] };
          this.index.set(k, entry);
        }
        let bucket = entry.buckets.get(group);
        if (bucket === undefined) {
          bucket = { unfiltered: [], filtered: [] };
          entry.buckets.set(group, bucket);
        }
        const binding = { member, subscription };
        if (subscription.filter === undefined) {
          if (bucket.unfiltered.length === 0) entry.unfiltered.push(group);
          bucket.unfiltered.push(binding);
        } else {
          bucket.filtered.push(binding);
          entry.filtered.push({ group, binding });
        }
      }
    }
  }

  /**
   * Adds to `into` the groups with a subscription that wants the change (`row`: the row its
   * filters are matched on); true when there is any. Unfiltered subscriptions are the same for
   * every change under a key, so `seen` (the keys already taken, per batch) skips them.
   */
  collect(
    schema: string,
    table: string,
    op: string,
    row: Record<string, unknown> | null,
    into: Set<Group>,
    seen: Set<string>,
  ): boolean {
    let wanted = false;
    for (const key of keysOf(schema, table, op)) {
      const entry = this.index.get(key);
      if (entry === undefined) continue;
      if (entry.unfiltered.length > 0) {
        wanted = true;
        if (!seen.has(key)) {
          seen.add(key);
          for (const group of entry.unfiltered) into.add(group);
        }
      }
      for (const { group, binding } of entry.filtered) {
        if (matches(binding.subscription.filter as Filter, row)) {
          into.add(group);
          wanted = true;
        }
      }
    }
    return wanted;
  }

  /**
   * Calls `send` once per open member of `group` with the ids of its subscriptions that want the
   * change: all unfiltered ones, and filtered ones that match `row` on a column the group may
   * read (a filter on any other column would tell what the column holds).
   */
  forEachMember(
    group: Group,
    schema: string,
    table: string,
    op: string,
    row: Record<string, unknown> | null,
    readable: (column: string) => boolean,
    send: (member: Member, ids: number[]) => void,
  ): void {
    let hits: Binding[] | undefined;
    for (const key of keysOf(schema, table, op)) {
      const bucket = this.index.get(key)?.buckets.get(group);
      if (bucket === undefined) continue;
      hits ??= [];
      for (const binding of bucket.unfiltered) hits.push(binding);
      for (const binding of bucket.filtered) {
        const filter = binding.subscription.filter as Filter;
        if (readable(filter.column) && matches(filter, row)) hits.push(binding);
      }
    }
    if (hits === undefined) return;
    // Usually one binding per member; a member with several that want the change gets one frame.
    const ids = new Map<Member, number[]>();
    for (const { member, subscription } of hits) {
      if (member.closed) continue;
      const list = ids.get(member);
      if (list === undefined) ids.set(member, [subscription.id]);
      else list.push(subscription.id);
    }
    for (const [member, list] of ids) send(member, list);
  }
}
