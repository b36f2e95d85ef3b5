import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { finished } from 'node:stream/promises';
import { Prisma, type PrismaClient } from '@bmms/prisma';

/** The table Prisma Migrate keeps its history in: restore re-creates it by migrating, so it is not dumped. */
const MIGRATIONS_TABLE = '_prisma_migrations';
/** Rows per INSERT when loading. */
const BATCH = 500;

/** One dumped table: its rows as JSON lines in `file` (relative to the backup dir). */
export interface DumpedTable {
  name: string;
  file: string;
  rows: number;
}

/** What the snapshot saw, read in the same transaction as the rows. */
export interface DatabaseSnapshot {
  tables: DumpedTable[];
  /** Applied migrations, in order: the schema version of the rows. */
  migrations: string[];
  /** Key versions that sealed values (secrets, OAuth signing keys) are encrypted under, with their counts. */
  sealed: Record<string, number>;
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * Writes every table of the current schema as JSON lines under `<dir>/database/`, all read in one
 * REPEATABLE READ transaction so the rows are one consistent snapshot.
 */
export async function dumpDatabase(db: PrismaClient, dir: string): Promise<DatabaseSnapshot> {
  return db.$transaction(
    async (tx) => {
      const tables = (
        await tx.$queryRawUnsafe<{ name: string }[]>(
          `SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() AND tablename <> $1 ORDER BY tablename`,
          MIGRATIONS_TABLE,
        )
      ).map((t) => t.name);
      const migrations = (
        await tx.$queryRawUnsafe<{ name: string }[]>(
          `SELECT migration_name AS name FROM ${quote(MIGRATIONS_TABLE)} WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY migration_name`,
        )
      ).map((m) => m.name);
      const dumped: DumpedTable[] = [];
      for (const name of tables) {
        const file = path.posix.join('database', `${name}.jsonl`);
        const out = createWriteStream(path.join(dir, file), { mode: 0o600 });
        // Row text straight from Postgres: numbers, bytea and timestamps round-trip exactly, never through JS values.
        const rows = await tx.$queryRawUnsafe<{ j: string }[]>(`SELECT to_jsonb(t)::text AS j FROM ${quote(name)} t`);
        for (const row of rows) {
          if (!out.write(`${row.j}\n`)) await once(out, 'drain');
        }
        out.end();
        await finished(out);
        dumped.push({ name, file, rows: rows.length });
      }
      const sealed: Record<string, number> = {};
      for (const table of ['secrets', 'oauth_signing_keys'].filter((t) => tables.includes(t))) {
        const counts = await tx.$queryRawUnsafe<{ v: string; n: number }[]>(
          `SELECT key_version AS v, count(*)::int AS n FROM ${quote(table)} GROUP BY key_version`,
        );
        for (const { v, n } of counts) sealed[v] = (sealed[v] ?? 0) + n;
      }
      return { tables: dumped, migrations, sealed };
    },
    { isolationLevel: Prisma.TransactionIsolationLevel.RepeatableRead, timeout: 10 * 60_000, maxWait: 60_000 },
  );
}

/** Names of the tables in the current schema that hold at least one row (besides migration history). */
export async function nonEmptyTables(db: PrismaClient): Promise<string[]> {
  const tables = await db.$queryRawUnsafe<{ name: string }[]>(
    `SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() AND tablename <> $1`,
    MIGRATIONS_TABLE,
  );
  const full: string[] = [];
  for (const { name } of tables) {
    const rows = await db.$queryRawUnsafe<unknown[]>(`SELECT 1 FROM ${quote(name)} LIMIT 1`);
    if (rows.length > 0) full.push(name);
  }
  return full;
}

/** Orders tables so every table comes after the tables its foreign keys point to. */
async function loadOrder(tx: Prisma.TransactionClient, names: string[]): Promise<string[]> {
  const edges = await tx.$queryRawUnsafe<{ child: string; parent: string }[]>(
    `SELECT c.conrelid::regclass::text AS child, c.confrelid::regclass::text AS parent
       FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
      WHERE c.contype = 'f' AND n.nspname = current_schema()`,
  );
  const unquote = (n: string) => n.replace(/^"(.*)"$/, '$1').replaceAll('""', '"');
  const parents = new Map(names.map((n) => [n, new Set<string>()]));
  for (const e of edges) {
    const child = unquote(e.child);
    const parent = unquote(e.parent);
    if (child !== parent) parents.get(child)?.add(parent);
  }
  const order: string[] = [];
  const placed = new Set<string>();
  const visit = (name: string, path: string[]) => {
    if (placed.has(name) || path.includes(name)) return;
    for (const p of parents.get(name) ?? []) if (parents.has(p)) visit(p, [...path, name]);
    placed.add(name);
    order.push(name);
  };
  for (const n of [...names].sort()) visit(n, []);
  return order;
}

/** Loads dumped tables into an empty, migrated database in one transaction, parents before children. */
export async function loadDatabase(db: PrismaClient, dir: string, tables: DumpedTable[]): Promise<void> {
  await db.$transaction(
    async (tx) => {
      const byName = new Map(tables.map((t) => [t.name, t]));
      for (const name of await loadOrder(tx, [...byName.keys()])) {
        const table = byName.get(name) as DumpedTable;
        const lines = createInterface({ input: createReadStream(path.join(dir, table.file)), crlfDelay: Infinity });
        let batch: string[] = [];
        const flush = async () => {
          if (batch.length === 0) return;
          await tx.$executeRawUnsafe(
            `INSERT INTO ${quote(name)} SELECT * FROM jsonb_populate_recordset(NULL::${quote(name)}, $1::jsonb)`,
            `[${batch.join(',')}]`,
          );
          batch = [];
        };
        for await (const line of lines) {
          if (line === '') continue;
          batch.push(line);
          if (batch.length >= BATCH) await flush();
        }
        await flush();
        // Serial columns continue after the restored rows rather than colliding with them.
        const serials = await tx.$queryRawUnsafe<{ col: string; seq: string }[]>(
          `SELECT a.attname AS col, pg_get_serial_sequence($1, a.attname) AS seq
             FROM pg_attribute a WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
              AND pg_get_serial_sequence($1, a.attname) IS NOT NULL`,
          quote(name),
        );
        for (const { col, seq } of serials) {
          await tx.$executeRawUnsafe(
            `SELECT setval($1::regclass, COALESCE((SELECT max(${quote(col)}) FROM ${quote(name)}), 0) + 1, false)`,
            seq,
          );
        }
      }
    },
    { timeout: 30 * 60_000, maxWait: 60_000 },
  );
}
