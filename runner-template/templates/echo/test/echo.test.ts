import assert from 'node:assert/strict';
import { it } from 'node:test';
import add from '../src/tools/add.ts';
import echo from '../src/tools/echo.ts';
import { call, rejects } from './fake-ctx.ts';

it('echo returns its text unchanged', async () => {
  assert.equal(await call(echo, { text: 'hello, world' }), 'hello, world');
  assert.ok(rejects(echo, {}));
});

it('add returns the sum as text', async () => {
  assert.equal(await call(add, { a: 2, b: 3.5 }), '5.5');
  assert.ok(rejects(add, { a: '2', b: 3 }));
});
