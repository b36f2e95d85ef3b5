import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { config } from '../src/config.ts';
import commentOnIssue from '../src/tools/comment_on_issue.ts';
import createIssue from '../src/tools/create_issue.ts';
import getIssue from '../src/tools/get_issue.ts';
import listIssues from '../src/tools/list_issues.ts';
import { call, fakeContext, json, type SentRequest } from './fake-ctx.ts';

const TOKEN = 'test-token-value';
const REPO = config.repositories[0] ?? 'octocat/hello-world';

const issue = (number: number, extra: Record<string, unknown> = {}) => ({
  number,
  title: `Issue ${number}`,
  state: 'open',
  html_url: `https://github.com/${REPO}/issues/${number}`,
  comments: 1,
  created_at: '2026-11-01T10:00:00Z',
  updated_at: '2026-11-02T10:00:00Z',
  user: { login: 'octocat' },
  labels: [{ name: 'bug' }],
  assignees: [],
  body: 'Steps to reproduce…',
  ...extra,
});

/** A fake api.github.com: answers by method and path. */
function githubApi(request: SentRequest): Response {
  const path = `${request.method} ${request.url.pathname}`;
  if (path === `GET /repos/${REPO}/issues`) {
    return json([issue(1), issue(2, { pull_request: { url: 'x' } }), issue(3, { labels: ['question'] })]);
  }
  if (path === `GET /repos/${REPO}/issues/1`) return json(issue(1));
  if (path === `GET /repos/${REPO}/issues/1/comments`) {
    return json([{ user: { login: 'hubot' }, created_at: '2026-11-03T10:00:00Z', body: 'Confirmed.' }]);
  }
  if (path === `POST /repos/${REPO}/issues`) return json(issue(4), 201);
  if (path === `POST /repos/${REPO}/issues/1/comments`)
    return json({ id: 99, html_url: 'https://github.com/c/99' }, 201);
  return json({ message: 'Not Found' }, 404);
}

const context = () => fakeContext({ secrets: { [config.secretName]: TOKEN }, respond: githubApi });

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

  it('reports GitHub errors with the status, and refuses repositories outside the configured ones', async () => {
    await assert.rejects(call(getIssue, { number: 404 }, context()), /get issue #404: GitHub answered HTTP 404/);
    await assert.rejects(call(listIssues, { repo: 'someone/else' }, context()), /not one this server may use/);
  });
});
