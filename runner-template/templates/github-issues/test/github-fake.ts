// A stand-in for api.github.com, shared by the read and the write tests.
import { config } from '../src/config.ts';
import { fakeContext, json, type SentRequest } from './fake-ctx.ts';

export const TOKEN = 'test-token-value';
export const REPO = config.repositories[0] ?? 'octocat/hello-world';

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

export const context = () => fakeContext({ secrets: { [config.secretName]: TOKEN }, respond: githubApi });
