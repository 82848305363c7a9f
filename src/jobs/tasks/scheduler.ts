import type { Database } from '../../db/database.js';
import type { Query } from '../../db/sql.js';

/**
 * Runs one scheduler function as `service_role`, the role their grants name: the worker
 * connects as the database owner, but a task has no more rights than the scheduler needs.
 */
export async function asScheduler<T>(db: Database, query: Query): Promise<T> {
  const { rows } = await db.asRole('service_role', { role: 'service_role' }, (tx) => tx.query<{ result: T }>(query));
  return (rows[0] as { result: T }).result;
}
