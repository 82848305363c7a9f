import type { FastifyPluginAsync } from 'fastify';
import type { Database } from '../db/database.js';
import { sql } from '../db/sql.js';

/**
 * GET /health: 200 with the database's kind, PostgreSQL and PostGIS versions and the applied
 * schema version when one query succeeds; 503 "unavailable" when it does not, so a load
 * balancer takes the instance out while its database is unreachable.
 */
export interface HealthBody {
  status: 'ok' | 'unavailable';
  database: {
    kind: Database['kind'];
    version?: string;
    postgis?: string | null;
    schema_version?: string | null;
  };
}

const probe = sql`select
  current_setting('server_version') as version,
  (select extversion from pg_extension where extname = 'postgis') as postgis,
  (select max(version) from loconomy_migrations.applied) as schema_version`;

export const healthPlugin: FastifyPluginAsync<{ db: Database }> = async (app, { db }) => {
  app.get('/health', async (request, reply): Promise<HealthBody> => {
    try {
      const { rows } = await db.query<{ version: string; postgis: string | null; schema_version: string | null }>(
        probe,
      );
      const row = rows[0];
      return { status: 'ok', database: { kind: db.kind, ...row } };
    } catch (error) {
      request.log.warn({ err: error }, 'health check: database query failed');
      reply.code(503);
      return { status: 'unavailable', database: { kind: db.kind } };
    }
  });
};
