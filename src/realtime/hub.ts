import type { Member } from './member.js';

/**
 * Who has joined which topic, in this server process. Broadcast and presence fan out through
 * it; broadcasts from other processes arrive through src/realtime/relay.ts, their presences
 * through src/realtime/tracker.ts.
 */
export class Hub {
  private readonly topics = new Map<string, Set<Member>>();
  /** Members with postgres_changes subscriptions, whatever their topic. */
  private readonly subscribed = new Set<Member>();

  add(member: Member): void {
    let members = this.topics.get(member.room);
    if (members === undefined) {
      members = new Set();
      this.topics.set(member.room, members);
    }
    members.add(member);
    if (member.changes.length > 0) this.subscribed.add(member);
  }

  remove(member: Member): void {
    this.subscribed.delete(member);
    const members = this.topics.get(member.room);
    if (members === undefined) return;
    members.delete(member);
    if (members.size === 0) this.topics.delete(member.room);
  }

  changeMembers(): Iterable<Member> {
    return this.subscribed;
  }

  /** The members of a room: the topic, or `private:<topic>` for private channels (access.ts roomOf). */
  members(room: string): Iterable<Member> {
    return this.topics.get(room) ?? [];
  }
}
