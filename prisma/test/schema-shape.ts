// Builds one comparable shape of the database twice: from schema.prisma (Prisma's own parser) and
// from the live catalog, so a test can assert they are equal and print the difference when not.
import { readFileSync } from 'node:fs';
import type * as DMMF from '@prisma/dmmf';
import { getDMMF } from '@prisma/get-dmmf';
import type { SqlConnection } from '../src/connection.ts';

export interface ColumnShape {
  type: string;
  nullable: boolean;
  default: string | null;
}

export interface ForeignKeyShape {
  columns: string[];
  references: string;
  referencedColumns: string[];
  onDelete: string;
  onUpdate: string;
}

export interface TableShape {
  columns: Record<string, ColumnShape>;
  primaryKey: { name: string; columns: string[] } | null;
  uniqueIndexes: Record<string, string[]>;
  indexes: Record<string, string[]>;
  foreignKeys: Record<string, ForeignKeyShape>;
}

export type DatabaseShape = Record<string, TableShape>;

export const SCHEMA_PATH = new URL('../schema.prisma', import.meta.url);

type DmmfModel = DMMF.Model;
type DmmfField = DMMF.Field;

/** Parses schema.prisma with Prisma's schema engine (wasm) and returns its data model. */
export function loadDatamodel(source: string = readFileSync(SCHEMA_PATH, 'utf8')): DMMF.Datamodel {
  const dmmf = getDMMF({ datamodel: source });
  if (!('datamodel' in dmmf)) throw new Error(`schema.prisma does not parse: ${JSON.stringify(dmmf)}`);
  return dmmf.datamodel;
}

const SCALAR_TYPES: Record<string, string> = {
  String: 'text',
  Int: 'integer',
  BigInt: 'bigint',
  Float: 'double precision',
  Decimal: 'numeric(65,30)',
  Boolean: 'boolean',
  DateTime: 'timestamp(3) without time zone',
  Json: 'jsonb',
  Bytes: 'bytea',
};

const NATIVE_TYPES: Record<string, string> = {
  Uuid: 'uuid',
  Text: 'text',
  Integer: 'integer',
  JsonB: 'jsonb',
  Json: 'json',
  Timestamptz: 'timestamp(3) with time zone',
  Date: 'date',
};

// Prisma fills these in the client: no database default.
const CLIENT_DEFAULTS = new Set(['uuid', 'cuid', 'nanoid', 'ulid']);

const REFERENTIAL_ACTIONS: Record<string, string> = {
  Cascade: 'CASCADE',
  Restrict: 'RESTRICT',
  NoAction: 'NO ACTION',
  SetNull: 'SET NULL',
  SetDefault: 'SET DEFAULT',
};

function columnType(field: DmmfField): string {
  const native = field.nativeType as [string, string[]] | null | undefined;
  const base = native ? NATIVE_TYPES[native[0]] : SCALAR_TYPES[field.type];
  if (!base) throw new Error(`schema-shape: no mapping for ${field.type} ${JSON.stringify(native)}`);
  return field.isList ? `${base}[]` : base;
}

function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

function columnDefault(field: DmmfField, type: string, table: string): string | null {
  if (!field.hasDefaultValue) return null;
  const value = field.default as unknown;
  if (typeof value === 'object' && value !== null && 'name' in value) {
    const fn = (value as { name: string }).name;
    if (CLIENT_DEFAULTS.has(fn)) return null;
    if (fn === 'now') return 'CURRENT_TIMESTAMP';
    // SERIAL/BIGSERIAL: the sequence Postgres names after the table and column.
    if (fn === 'autoincrement') return `nextval('${table}_${field.dbName ?? field.name}_seq'::regclass)`;
    throw new Error(`schema-shape: unsupported default function ${fn}()`);
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return `${quoteLiteral(value)}::${type}`;
  throw new Error(`schema-shape: unsupported default ${JSON.stringify(value)}`);
}

/** The shape `prisma migrate` would create for the data model (Prisma's default constraint names). */
export function expectedShape(datamodel: DMMF.Datamodel): DatabaseShape {
  const shape: DatabaseShape = {};
  const tableOf = (model: string) => {
    const m = datamodel.models.find((x) => x.name === model);
    if (!m) throw new Error(`unknown model ${model}`);
    return m.dbName ?? m.name;
  };
  const columnOf = (model: DmmfModel, field: string) => {
    const f = model.fields.find((x) => x.name === field);
    if (!f) throw new Error(`unknown field ${model.name}.${field}`);
    return f.dbName ?? f.name;
  };
  for (const model of datamodel.models) {
    const table = tableOf(model.name);
    const t: TableShape = { columns: {}, primaryKey: null, uniqueIndexes: {}, indexes: {}, foreignKeys: {} };
    for (const field of model.fields) {
      if (field.kind === 'object') {
        const from = field.relationFromFields ?? [];
        if (from.length === 0) continue;
        const columns = from.map((f) => columnOf(model, f));
        const target = datamodel.models.find((x) => x.name === field.type);
        if (!target) throw new Error(`unknown model ${field.type}`);
        const onDelete = field.relationOnDelete ?? (field.isRequired ? 'Restrict' : 'SetNull');
        const onUpdate = (field as { relationOnUpdate?: string }).relationOnUpdate ?? 'Cascade';
        t.foreignKeys[`${table}_${columns.join('_')}_fkey`] = {
          columns,
          references: tableOf(target.name),
          referencedColumns: (field.relationToFields ?? []).map((f) => columnOf(target, f)),
          onDelete: REFERENTIAL_ACTIONS[onDelete] ?? onDelete,
          onUpdate: REFERENTIAL_ACTIONS[onUpdate] ?? onUpdate,
        };
        continue;
      }
      const type = columnType(field);
      t.columns[field.dbName ?? field.name] = {
        type,
        // Prisma never puts NOT NULL on Postgres list columns.
        nullable: !field.isRequired || field.isList,
        default: columnDefault(field, type, table),
      };
    }
    for (const index of datamodel.indexes.filter((i) => i.model === model.name)) {
      const columns = index.fields.map((f) => columnOf(model, f.name));
      const suffix = columns.join('_');
      if (index.type === 'id') t.primaryKey = { name: index.dbName ?? `${table}_pkey`, columns };
      else if (index.type === 'unique') t.uniqueIndexes[index.dbName ?? `${table}_${suffix}_key`] = columns;
      else if (index.type === 'normal') t.indexes[index.dbName ?? `${table}_${suffix}_idx`] = columns;
      else throw new Error(`schema-shape: unsupported index type ${index.type}`);
    }
    shape[table] = t;
  }
  return shape;
}

const ACTION_CODES: Record<string, string> = {
  a: 'NO ACTION',
  r: 'RESTRICT',
  c: 'CASCADE',
  n: 'SET NULL',
  d: 'SET DEFAULT',
};

/** Reads the same shape from the live database's catalog (schema `public`, minus `_prisma_migrations`). */
export async function liveShape(conn: SqlConnection): Promise<DatabaseShape> {
  const shape: DatabaseShape = {};
  const tables = await conn.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> '_prisma_migrations'`,
  );
  for (const { name } of tables) {
    shape[name] = { columns: {}, primaryKey: null, uniqueIndexes: {}, indexes: {}, foreignKeys: {} };
  }
  const columns = await conn.query<{
    table: string;
    column: string;
    type: string;
    notnull: boolean;
    def: string | null;
  }>(
    `SELECT c.relname AS table, a.attname AS column, format_type(a.atttypid, a.atttypmod) AS type,
            a.attnotnull AS notnull, pg_get_expr(d.adbin, d.adrelid) AS def
     FROM pg_attribute a
     JOIN pg_class c ON c.oid = a.attrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE n.nspname = 'public' AND a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p')`,
  );
  for (const c of columns) {
    const t = shape[c.table];
    if (t) t.columns[c.column] = { type: c.type, nullable: !c.notnull, default: c.def };
  }
  const indexes = await conn.query<{
    table: string;
    name: string;
    unique: boolean;
    primary: boolean;
    columns: string[];
  }>(
    `SELECT t.relname AS table, i.relname AS name, x.indisunique AS unique, x.indisprimary AS primary,
            ARRAY(SELECT a.attname::text FROM unnest(x.indkey::int2[]) WITH ORDINALITY k(attnum, ord)
                  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum ORDER BY k.ord) AS columns
     FROM pg_index x
     JOIN pg_class i ON i.oid = x.indexrelid
     JOIN pg_class t ON t.oid = x.indrelid
     JOIN pg_namespace n ON n.oid = t.relnamespace
     WHERE n.nspname = 'public'`,
  );
  for (const i of indexes) {
    const t = shape[i.table];
    if (!t) continue;
    if (i.primary) t.primaryKey = { name: i.name, columns: i.columns };
    else if (i.unique) t.uniqueIndexes[i.name] = i.columns;
    else t.indexes[i.name] = i.columns;
  }
  const constraints = await conn.query<{
    table: string;
    name: string;
    type: string;
    columns: string[];
    references: string | null;
    referenced_columns: string[] | null;
    on_delete: string;
    on_update: string;
  }>(
    `SELECT t.relname AS table, con.conname AS name, con.contype::text AS type,
            ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(attnum, ord)
                  JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.ord) AS columns,
            r.relname AS references,
            ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(attnum, ord)
                  JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.ord)
              AS referenced_columns,
            con.confdeltype::text AS on_delete, con.confupdtype::text AS on_update
     FROM pg_constraint con
     JOIN pg_class t ON t.oid = con.conrelid
     JOIN pg_namespace n ON n.oid = t.relnamespace
     LEFT JOIN pg_class r ON r.oid = con.confrelid
     -- Postgres 18 (PGlite) also lists NOT NULL as constraints ('n'); nullability is compared per column.
     WHERE n.nspname = 'public' AND con.contype <> 'n'`,
  );
  for (const c of constraints) {
    const t = shape[c.table];
    if (!t) continue;
    if (c.type === 'f') {
      t.foreignKeys[c.name] = {
        columns: c.columns,
        references: c.references ?? '?',
        referencedColumns: c.referenced_columns ?? [],
        onDelete: ACTION_CODES[c.on_delete] ?? c.on_delete,
        onUpdate: ACTION_CODES[c.on_update] ?? c.on_update,
      };
    } else if (c.type === 'p') {
      if (t.primaryKey?.name !== c.name)
        t.primaryKey = { name: `constraint ${c.name} without index`, columns: c.columns };
    } else if (c.type === 'u') {
      // Prisma makes unique indexes, never UNIQUE constraints: show one as an extra, named entry.
      t.uniqueIndexes[`constraint ${c.name}`] = c.columns;
    } else {
      t.indexes[`constraint ${c.name} (${c.type})`] = c.columns;
    }
  }
  return shape;
}
