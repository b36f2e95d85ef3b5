import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import getIssue from '../src/tools/get_issue.ts';
import listIssues from '../src/tools/list_issues.ts';
import { call } from './fake-ctx.ts';
import { context, TOKEN } from './github-fake.ts';

describe('github-issues (Octokit through ctx.fetch)', () => {
  it('list_issues sends the token, filters pull requests out and summarises', async () => {
    const ctx = context();
    const result = (await call(listIssues, { state: 'all', labels: ['bug', 'ui'], limit: 10 }, ctx)) as {
      count: number;
      issues: { number: number; labels: string[] }[];
    };
    assert.equal(result.count, 2);
    assert.deepEqual(
      result.issues.map((i) => [i.number, i.labels]),
      [
        [1, ['bug']],
        [3, ['question']],
      ],
    );
    const [sent] = ctx.requests;
    assert.equal(sent?.url.origin, 'https://api.github.com');
    assert.equal(sent?.url.searchParams.get('state'), 'all');
    assert.equal(sent?.url.searchParams.get('labels'), 'bug,ui');
    assert.equal(sent?.url.searchParams.get('per_page'), '10');
    assert.equal(sent?.headers.get('authorization'), `token ${TOKEN}`);
  });

  it('get_issue returns the body and the comment thread', async () => {
    const result = (await call(getIssue, { number: 1 }, context())) as Record<string, unknown>;
    assert.equal(result.title, 'Issue 1');
    assert.equal(result.body, 'Steps to reproduce…');
    assert.deepEqual(result.thread, [{ author: 'hubot', createdAt: '2026-11-03T10:00:00Z', body: 'Confirmed.' }]);
  });

  it('reports GitHub errors with the status, and refuses repositories outside the configured ones', async () => {
    await assert.rejects(call(getIssue, { number: 404 }, context()), /get issue #404: GitHub answered HTTP 404/);
    await assert.rejects(call(listIssues, { repo: 'someone/else' }, context()), /not one this server may use/);
  });
});
