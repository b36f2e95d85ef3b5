import assert from 'node:assert/strict';
import { it } from 'node:test';
import commentOnIssue from '../src/tools/comment_on_issue.ts';
import createIssue from '../src/tools/create_issue.ts';
import { call } from './fake-ctx.ts';
import { context, REPO } from './github-fake.ts';

it('create_issue and comment_on_issue POST JSON bodies', async () => {
  const ctx = context();
  assert.deepEqual(await call(createIssue, { title: 'Crash on save', body: 'Details', labels: ['bug'] }, ctx), {
    number: 4,
    url: `https://github.com/${REPO}/issues/4`,
  });
  assert.deepEqual(JSON.parse(ctx.requests[0]?.body ?? ''), {
    title: 'Crash on save',
    body: 'Details',
    labels: ['bug'],
  });
  assert.deepEqual(await call(commentOnIssue, { number: 1, body: 'Thanks!' }, ctx), {
    id: 99,
    url: 'https://github.com/c/99',
  });
});
