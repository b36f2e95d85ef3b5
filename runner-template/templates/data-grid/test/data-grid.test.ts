import assert from 'node:assert/strict';
import { it } from 'node:test';
import { config } from '../src/config.ts';
import { rowsOf } from '../src/rows.ts';
import listRows from '../src/tools/list_rows.ts';
import { call, fakeContext, json } from './fake-ctx.ts';

const RECORDS = [
  { id: 1, name: 'Ada', tags: ['x'] },
  { id: 2, name: 'Grace', active: true },
];

it('reads the records of the API as rows with their columns', async () => {
  const ctx = fakeContext({ respond: () => json(RECORDS) });
  const result = (await call(listRows, {}, ctx)) as Record<string, unknown>;
  assert.equal(ctx.requests[0]?.url.href, config.url);
  assert.equal(ctx.requests[0]?.headers.get('accept'), 'application/json');
  assert.deepEqual(result, {
    title: config.title,
    source: config.url,
    columns: ['id', 'name', 'tags', 'active'],
    rows: [
      { id: 1, name: 'Ada', tags: '["x"]' },
      { id: 2, name: 'Grace', active: true },
    ],
    total: 2,
  });
});

it('keeps at most `limit` rows and reports the total', async () => {
  const ctx = fakeContext({ respond: () => json({ items: RECORDS }) });
  const result = (await call(listRows, { limit: 1 }, ctx)) as { rows: unknown[]; total: number };
  assert.equal(result.rows.length, 1);
  assert.equal(result.total, 2);
});

it('finds the list at a dotted rowsKey, and says when there is none', () => {
  assert.deepEqual(rowsOf({ data: { items: [{ a: 1 }] } }, 'data.items').rows, [{ a: 1 }]);
  assert.throws(() => rowsOf({ data: {} }, 'data.items'), /no list at "data.items"/);
  assert.throws(() => rowsOf({ count: 3 }, null), /holds no list/);
});

it('fails with the HTTP status when the API answers an error', async () => {
  const ctx = fakeContext({ respond: () => json({ error: 'nope' }, 503) });
  await assert.rejects(call(listRows, {}, ctx), /HTTP 503/);
});
