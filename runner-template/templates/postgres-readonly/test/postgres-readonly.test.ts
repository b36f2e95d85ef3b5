import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { config } from '../src/config.ts';
import { checkReadOnly } from '../src/guard.ts';
import describeTable from '../src/tools/describe_table.ts';
import listTables from '../src/tools/list_tables.ts';
import runQuery from '../src/tools/run_query.ts';
import { call, fakeContext, json } from './fake-ctx.ts';

const CONNECTION = 'postgresql://reader:test-only@db.invalid/app';

describe('the read-only guard', () => {
  const accepted = [
    'SELECT 1',
    'select * from users where name = $1;',
    "WITH t AS (SELECT 'drop table x; delete' AS s) SELECT s FROM t",
    'SELECT "update", "insert" FROM t -- delete everything;',
    'SELECT $$ ; insert $$ AS body',
    "SELECT E'it\\'s; drop' AS s",
    'VALUES (1), (2)',
    'EXPLAIN SELECT * FROM t',
    'SHOW server_version',
    'TABLE users',
    'SELECT /* nested /* comment; */ update */ 1',
  ];
  for (const sql of accepted) {
    it(`accepts ${sql}`, () => assert.deepEqual(checkReadOnly(sql).ok, true));
  }
  const refused: [string, RegExp][] = [
    ['SELECT 1; DELETE FROM users', /only one statement/],
    ['DELETE FROM users', /"DELETE" statements are not allowed/],
    ['WITH gone AS (DELETE FROM users RETURNING *) SELECT * FROM gone', /"DELETE" is not allowed/],
    ['SELECT * INTO copy_of_users FROM users', /"INTO" is not allowed/],
    ['SELECT * FROM users FOR UPDATE', /"UPDATE" is not allowed/],
    ['SELECT * FROM users FOR SHARE', /row locks/],
    ['EXPLAIN ANALYZE DELETE FROM users', /not allowed/],
    ['SELECT pg_terminate_backend(42)', /pg_terminate_backend\(\) has side effects/],
    ["SELECT set_config('x', 'y', false)", /set_config\(\) has side effects/],
    ["SELECT nextval('seq')", /nextval\(\) has side effects/],
    ["SELECT query_to_xml('delete from users', true, true, '')", /query_to_xml\(\) has side effects/],
    ['SELECT pg_advisory_lock(1)', /has side effects/],
    ["SELECT 'unterminated", /not closed/],
    ['SELECT $x$ open', /not closed/],
    ['/* just a comment */', /empty/],
    ['SET search_path = evil', /"SET" statements are not allowed/],
    ['COPY users TO STDOUT', /"COPY" statements/],
  ];
  for (const [sql, reason] of refused) {
    it(`refuses ${sql}`, () => {
      const verdict = checkReadOnly(sql);
      assert.equal(verdict.ok, false);
      assert.match(verdict.ok ? '' : verdict.reason, reason);
    });
  }
});

describe('tools', () => {
  const answer = (result: object) => () => json({ results: [result] });

  it('run_query sends one read-only batch with the connection string in a header', async () => {
    const ctx = fakeContext({
      secrets: { [config.secretName]: CONNECTION },
      respond: answer({ command: 'SELECT', rowCount: 1, fields: [{ name: 'n' }], rows: [{ n: '1' }] }),
    });
    const result = await call(runQuery, { sql: 'SELECT $1::int AS n;', params: [1] }, ctx);
    assert.deepEqual(result, { command: 'SELECT', rowCount: 1, columns: ['n'], rows: [{ n: '1' }], truncated: false });
    const [sent] = ctx.requests;
    assert.equal(sent?.method, 'POST');
    assert.equal(sent?.url.href, config.endpoint);
    assert.equal(sent?.headers.get('neon-connection-string'), CONNECTION);
    assert.equal(sent?.headers.get('neon-batch-read-only'), 'true');
    assert.deepEqual(JSON.parse(sent?.body ?? ''), { queries: [{ query: 'SELECT $1::int AS n', params: [1] }] });
  });

  it('run_query refuses a write before anything is sent', async () => {
    const ctx = fakeContext({ secrets: { [config.secretName]: CONNECTION } });
    await assert.rejects(call(runQuery, { sql: 'UPDATE users SET admin = true' }, ctx), /refused: "UPDATE" statements/);
    assert.equal(ctx.requests.length, 0);
  });

  it('run_query cuts the rows at maxRows and reports it', async () => {
    const rows = Array.from({ length: config.maxRows + 5 }, (_, i) => ({ i: String(i) }));
    const ctx = fakeContext({
      secrets: { [config.secretName]: CONNECTION },
      respond: answer({ command: 'SELECT', rowCount: rows.length, fields: [{ name: 'i' }], rows }),
    });
    const result = (await call(runQuery, { sql: 'SELECT i FROM generate_series(1, 1000) i' }, ctx)) as {
      rows: unknown[];
      truncated: boolean;
    };
    assert.equal(result.rows.length, config.maxRows);
    assert.equal(result.truncated, true);
  });

  it('reports database errors with their SQLSTATE and without the connection string', async () => {
    const ctx = fakeContext({
      secrets: { [config.secretName]: CONNECTION },
      respond: () => json({ message: 'cannot execute UPDATE in a read-only transaction', code: '25006' }, 400),
    });
    await assert.rejects(call(runQuery, { sql: 'SELECT 1' }, ctx), (error: Error) => {
      assert.match(error.message, /HTTP 400: cannot execute UPDATE in a read-only transaction \(SQLSTATE 25006\)/);
      assert.ok(!error.message.includes('test-only'));
      return true;
    });
  });

  it('list_tables and describe_table query information_schema with parameters', async () => {
    const ctx = fakeContext({
      secrets: { [config.secretName]: CONNECTION },
      respond: (req) =>
        JSON.parse(req.body).queries[0].query.includes('information_schema.tables')
          ? json({
              results: [
                {
                  command: 'SELECT',
                  rows: [{ table_schema: 'public', table_name: 'users', table_type: 'BASE TABLE' }],
                },
              ],
            })
          : json({
              results: [
                {
                  command: 'SELECT',
                  rows: [{ column_name: 'id', data_type: 'integer', is_nullable: 'NO', column_default: null }],
                },
              ],
            }),
    });
    assert.deepEqual(await call(listTables, {}, ctx), {
      tables: [{ table_schema: 'public', table_name: 'users', table_type: 'BASE TABLE' }],
      truncated: false,
    });
    const described = (await call(describeTable, { table: 'users' }, ctx)) as { columns: unknown[] };
    assert.equal(described.columns.length, 1);
    assert.deepEqual(JSON.parse(ctx.requests[1]?.body ?? '').queries[0].params, ['public', 'users']);
  });

  it('describe_table says when the table does not exist', async () => {
    const ctx = fakeContext({
      secrets: { [config.secretName]: CONNECTION },
      respond: answer({ command: 'SELECT', rows: [] }),
    });
    await assert.rejects(call(describeTable, { table: 'nope' }, ctx), /no table "public.nope"/);
  });
});
