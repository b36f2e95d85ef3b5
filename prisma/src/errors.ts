/** Base class of every error this package throws: a stable `code` and structured `data`. */
export class DatabaseError extends Error {
  readonly code: string;
  readonly data: Record<string, unknown>;

  constructor(code: string, message: string, data: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.data = data;
  }
}

/** An applied migration's file no longer has the checksum recorded when it was applied. */
export class MigrationChecksumMismatchError extends DatabaseError {
  constructor(migration: string, recorded: string, actual: string) {
    super(
      'migration_checksum_mismatch',
      `Migration ${migration} was edited after it was applied (recorded checksum ${recorded}, file has ${actual}). ` +
        'Restore the original file and put the change in a new migration.',
      { migration, recorded, actual },
    );
  }
}

/** `_prisma_migrations` records a migration that started but never finished. */
export class MigrationFailedError extends DatabaseError {
  constructor(migration: string, logs: string | null) {
    super(
      'migration_failed',
      `Migration ${migration} is recorded as failed${logs ? ` (${logs})` : ''}. Check the database, then mark it ` +
        `rolled back (\`prisma migrate resolve --rolled-back ${migration}\` or set rolled_back_at in _prisma_migrations).`,
      { migration, logs },
    );
  }
}

/** A migration's SQL failed while being applied; its transaction was rolled back and the failure recorded. */
export class MigrationApplyError extends DatabaseError {
  constructor(migration: string, reason: string, cause: unknown) {
    super(
      'migration_apply_failed',
      `Migration ${migration} failed and was rolled back: ${reason}. ` +
        'Fix the migration, then mark the failed attempt rolled back before starting again.',
      { migration, reason },
      { cause },
    );
  }
}

/** The database has applied migrations this build does not ship: a newer version migrated it. */
export class MigrationUnknownError extends DatabaseError {
  constructor(migrations: string[]) {
    super(
      'migration_unknown',
      `The database was migrated by a newer version of BuildMyMCPServer: it has applied migration(s) this version ` +
        `does not know (${migrations.join(', ')}). Nothing was changed. Run the newer version (or later), or restore ` +
        'a backup taken with this version into an empty database.',
      { migrations },
    );
  }
}

/** A Postgres test database was requested but BMMS_TEST_DATABASE_URL is not set. */
export class TestDatabaseUnavailableError extends DatabaseError {
  constructor() {
    super(
      'TEST_DATABASE_UNAVAILABLE',
      'A Postgres test database needs BMMS_TEST_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test).',
    );
  }
}
