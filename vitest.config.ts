import { existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

/**
 * The suites `npm run test:postgres` runs again on Postgres (`BMMS_TEST_PASS=postgres`): those whose subject is the
 * database — its client and migrations, concurrent writers and transactions (audit, metering, usage, billing's
 * webhook idempotency, secrets, rate limits, merges, closes and deletions of one thing at once), locks and
 * notifications (leadership, replicas, the multi-node swarm, invalidation), crash and restart safety, backup and restore, deletion, and the
 * loop itself. Every other suite opens a database only to stand up a platform, and PGlite is the same Postgres
 * engine: a second run of those repeats their timing, not the database's behaviour, and doubled CI's time. Any suite
 * still runs on Postgres alone with BMMS_TEST_DATABASE_URL set.
 */
const POSTGRES_SUITES = [
  'prisma/test/client.test.ts',
  'prisma/test/migrate.test.ts',
  'prisma/test/schema.test.ts',
  'prisma/test/testing.test.ts',
  'platform/src/audit.test.ts',
  'platform/src/usage/meter.test.ts',
  'platform/src/logs/writer.test.ts',
  'platform/src/secrets/store.test.ts',
  'platform/src/gateway/rate-limit.test.ts',
  'platform/test/audit.e2e.test.ts',
  'platform/test/backup.e2e.test.ts',
  'platform/test/billing-stripe.e2e.test.ts',
  'platform/test/deletion.e2e.test.ts',
  'platform/test/faults.e2e.test.ts',
  'platform/test/invalidation.e2e.test.ts',
  'platform/test/limits.e2e.test.ts',
  'platform/test/loop.e2e.test.ts',
  'platform/test/metering-processes.e2e.test.ts',
  'platform/test/postgres-restart.e2e.test.ts',
  'platform/test/races.e2e.test.ts',
  'platform/test/replicas.e2e.test.ts',
  'platform/test/swarm-cluster.e2e.test.ts',
  'platform/test/two-processes.test.ts',
  'platform/test/usage.e2e.test.ts',
  'reconciler/test/leadership.test.ts',
  'reconciler/test/loop.test.ts',
];
const missing = POSTGRES_SUITES.filter((path) => !existsSync(new URL(path, import.meta.url)));
if (missing.length > 0)
  throw new Error(`vitest.config.ts lists Postgres suites that do not exist: ${missing.join(', ')}`);

export default defineConfig({
  test: {
    include:
      process.env.BMMS_TEST_PASS === 'postgres'
        ? POSTGRES_SUITES
        : ['{prisma,runner-template,gitserver,reconciler,platform,site}/**/*.test.ts'],
    // runner-template/templates holds the templates' own repo files: their tests run with node --test in a rendered repo.
    exclude: ['**/node_modules/**', '**/generated/**', '.data/**', 'runner-template/templates/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
