import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SqlConnection } from '../src/connection.ts';
import { migrate } from '../src/migrate.ts';
import { availableTestKinds, createTestDatabase, type TestDatabase } from '../src/testing.ts';
import { openRaw } from './raw.ts';
import { expectedShape, liveShape, loadDatamodel } from './schema-shape.ts';

describe.each(availableTestKinds())('the migrated %s database', (kind) => {
  const expected = expectedShape(loadDatamodel());
  let t: TestDatabase;
  let raw: { conn: SqlConnection; close(): Promise<void> };

  beforeAll(async () => {
    t = await createTestDatabase({ kind });
    raw = await openRaw(t);
    await migrate(raw.conn);
  });
  afterAll(async () => {
    await raw?.close();
    await t?.drop();
  });

  it('has exactly the tables, columns, keys, indexes and foreign keys of schema.prisma', async () => {
    expect(Object.keys(expected).sort()).toEqual([
      'api_keys',
      'audit_events',
      'change_requests',
      'check_runs',
      'check_suites',
      'deployments',
      'external_identities',
      'generations',
      'github_connections',
      'github_deliveries',
      'instance_routes',
      'instance_uids',
      'invitations',
      'memberships',
      'oauth_payloads',
      'oauth_signing_keys',
      'orgs',
      'preview_targets',
      'published_templates',
      'rate_limit_counts',
      'reconciler_states',
      'replay_recordings',
      'replay_settings',
      'secrets',
      'server_domains',
      'server_logs',
      'server_metrics',
      'servers',
      'stripe_events',
      'template_forks',
      'usage_alerts',
      'usage_counts',
      'users',
      'web_sessions',
    ]);
    expect(await liveShape(raw.conn)).toEqual(expected);
  });

  it.each([
    ['a dropped index', 'DROP INDEX "servers_org_id_idx"'],
    ['a renamed unique index', 'ALTER INDEX "orgs_slug_key" RENAME TO "orgs_slug_unique"'],
    ['a column made nullable', 'ALTER TABLE "orgs" ALTER COLUMN "name" DROP NOT NULL'],
    ['a changed column type', 'ALTER TABLE "deployments" ALTER COLUMN "started_at" TYPE TIMESTAMPTZ(3)'],
    ['a changed default', `ALTER TABLE "change_requests" ALTER COLUMN "state" SET DEFAULT 'draft'`],
    [
      'a foreign key with another ON DELETE',
      `ALTER TABLE "audit_events" DROP CONSTRAINT "audit_events_org_id_fkey";
       ALTER TABLE "audit_events" ADD CONSTRAINT "audit_events_org_id_fkey" FOREIGN KEY ("org_id")
         REFERENCES "orgs"("id") ON DELETE CASCADE ON UPDATE CASCADE`,
    ],
    ['an extra column', 'ALTER TABLE "users" ADD COLUMN "nickname" TEXT'],
    ['an extra table', 'CREATE TABLE "stray" ("id" INTEGER)'],
  ])('reports %s as a mismatch', async (_what, tamper) => {
    // DDL is transactional in Postgres: tamper, look, and roll back so the next case starts clean.
    await raw.conn.exec('BEGIN');
    try {
      await raw.conn.exec(tamper);
      expect(await liveShape(raw.conn)).not.toEqual(expected);
    } finally {
      await raw.conn.exec('ROLLBACK');
    }
    expect(await liveShape(raw.conn)).toEqual(expected);
  });
});
