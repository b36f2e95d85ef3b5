import { defineConfig } from 'prisma/config';

// Prisma 7 reads the schema and migrations location from here. The url is only needed by
// `prisma migrate`/`db` commands; the app applies migrations itself (src/migrate.ts).
export default defineConfig({
  schema: 'schema.prisma',
  migrations: { path: 'migrations' },
  datasource: { url: process.env.DATABASE_URL },
});
