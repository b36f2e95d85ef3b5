import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { githubClient, retryDelay } from '../../src/github/client.ts';

// GitHub's answers when it is busy or a token ran out of requests, replayed by a local server: the client waits as
// long as GitHub says (retry-after, x-ratelimit-reset), backs off on a bare 5xx, and gives up on what waiting
// cannot fix.
type Reply = { status: number; headers?: Record<string, string>; body?: unknown };
let replies: Reply[] = [];
let seen: { url: string; auth: string }[] = [];
let server: Server;
let url = '';

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push({ url: req.url ?? '', auth: String(req.headers.authorization ?? '') });
    const reply = replies.shift() ?? { status: 200, body: { login: 'acme-dev' } };
    res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
    res.end(JSON.stringify(reply.body ?? { message: `status ${reply.status}` }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

function client(options: { attempts?: number; maxWaitMs?: number } = {}) {
  const waits: number[] = [];
  const now = Date.parse('2026-12-04T12:00:00Z');
  const octokit = githubClient({
    baseUrl: url,
    auth: 'github_pat_client_test',
    sleep: async (ms) => {
      waits.push(ms);
    },
    now: () => now,
    ...options,
  });
  return { octokit, waits, now };
}

describe('the GitHub client', () => {
  it('waits out a secondary rate limit as long as retry-after says, then succeeds', async () => {
    seen = [];
    replies = [
      { status: 403, headers: { 'retry-after': '7' }, body: { message: 'You have exceeded a secondary rate limit' } },
    ];
    const { octokit, waits } = client();
    const { data } = await octokit.users.getAuthenticated();
    expect(data.login).toBe('acme-dev');
    expect(waits).toEqual([7000]);
    expect(seen).toHaveLength(2);
    expect(seen[1]?.auth).toBe('token github_pat_client_test');
  });

  it('waits until x-ratelimit-reset when no request is left', async () => {
    const { octokit, waits, now } = client();
    replies = [
      {
        status: 403,
        headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(now / 1000 + 42) },
        body: { message: 'API rate limit exceeded' },
      },
    ];
    await octokit.users.getAuthenticated();
    expect(waits).toEqual([42_000]);
  });

  it('backs off on 5xx, doubling, and gives up after its attempts with the last answer', async () => {
    const { octokit, waits } = client({ attempts: 3 });
    replies = [{ status: 502 }, { status: 503 }, { status: 500 }];
    await expect(octokit.users.getAuthenticated()).rejects.toMatchObject({ status: 500 });
    expect(waits).toEqual([500, 1000]);
  });

  it('does not retry what waiting cannot fix, nor wait longer than it may', async () => {
    const { octokit, waits } = client({ maxWaitMs: 10_000 });
    replies = [{ status: 401, body: { message: 'Bad credentials' } }];
    await expect(octokit.users.getAuthenticated()).rejects.toMatchObject({ status: 401 });
    replies = [{ status: 429, headers: { 'retry-after': '3600' } }];
    await expect(octokit.users.getAuthenticated()).rejects.toMatchObject({ status: 429 });
    expect(waits).toEqual([]);
  });

  it('reads an HTTP date in retry-after', () => {
    const now = Date.parse('2026-12-04T12:00:00Z');
    const err = { status: 503, response: { headers: { 'retry-after': 'Fri, 04 Dec 2026 12:00:30 GMT' } } };
    expect(retryDelay(err, 1, now)).toBe(30_000);
    expect(retryDelay({ status: 404, response: { headers: {} } }, 1, now)).toBeNull();
  });
});
