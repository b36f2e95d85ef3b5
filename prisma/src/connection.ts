import type { PGlite } from '@electric-sql/pglite';
import type pg from 'pg';

/** One database session (advisory locks and transactions belong to a session). */
export interface SqlConnection {
  /** Runs one statement with `$n` parameters and returns its rows. */
  query<T extends object>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs a script of one or more statements without parameters. */
  exec(sql: string): Promise<void>;
}

/** Wraps a connected node-postgres client. */
export function pgConnection(client: pg.ClientBase): SqlConnection {
  return {
    async query<T extends object>(sql: string, params: unknown[] = []) {
      const result = await client.query<T & pg.QueryResultRow>(sql, params);
      return result.rows;
    },
    async exec(sql: string) {
      await client.query(sql);
    },
  };
}

/** Wraps an open PGlite instance (always a single session). */
export function pgliteConnection(db: PGlite): SqlConnection {
  return {
    async query<T extends object>(sql: string, params: unknown[] = []) {
      const result = await db.query<T>(sql, params);
      return result.rows;
    },
    async exec(sql: string) {
      await db.exec(sql);
    },
  };
}
