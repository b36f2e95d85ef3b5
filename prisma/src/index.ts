export type {
  ApiKey,
  AuditEvent,
  ChangeRequest,
  CheckRun,
  CheckSuite,
  Deployment,
  Generation,
  GitHubConnection,
  InstanceRoute,
  Membership,
  Org,
  PrismaClient,
  PublishedTemplate,
  Server,
  ServerDomain,
  TemplateFork,
  User,
} from '../generated/client.ts';
export { Prisma } from '../generated/client.ts';
export { type Database, type DatabaseKind, type OpenDatabaseOptions, openDatabase } from './client.ts';
export { pgConnection, pgliteConnection, type SqlConnection } from './connection.ts';
export * from './errors.ts';
export {
  MIGRATIONS_DIR,
  type MigrateOptions,
  type MigrateResult,
  type MigrationFile,
  migrate,
  readMigrations,
} from './migrate.ts';
