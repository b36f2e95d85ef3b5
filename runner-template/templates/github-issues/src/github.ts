import type { ToolContext } from '@bmms/runner-template/runtime';
import { Octokit } from '@octokit/rest';
import { config } from './config.ts';

/** An Octokit client whose every request goes through ctx.fetch (the egress allowlist) with the server's token. */
export function github(ctx: ToolContext): Octokit {
  return new Octokit({
    auth: ctx.secret(config.secretName),
    baseUrl: 'https://api.github.com',
    userAgent: 'bmms-github-issues',
    request: { fetch: (url: string | URL, init?: RequestInit) => ctx.fetch(url, init), signal: ctx.signal },
  });
}

/** `owner/name` split, defaulting to the first configured repository and limited to the configured ones. */
export function repository(input: string | undefined): { owner: string; repo: string } {
  const name = input ?? config.repositories[0];
  if (name === undefined) throw new Error('pass repo as "owner/name"');
  const allowed = config.repositories.map((r) => r.toLowerCase());
  if (allowed.length > 0 && !allowed.includes(name.toLowerCase())) {
    throw new Error(`repository "${name}" is not one this server may use (${config.repositories.join(', ')})`);
  }
  const [owner = '', repo = ''] = name.split('/');
  return { owner, repo };
}

/** Runs a GitHub call, turning Octokit's errors into a short message with the HTTP status. */
export async function githubCall<T>(what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    const status = (error as { status?: unknown }).status;
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(
      typeof status === 'number' ? `${what}: GitHub answered HTTP ${status}: ${message}` : `${what}: ${message}`,
    );
  }
}

/** The fields of an issue a model needs, without GitHub's URLs and ids of everything. */
export function issueSummary(issue: {
  number: number;
  title: string;
  state: string;
  html_url: string;
  comments: number;
  created_at: string;
  updated_at: string;
  user: { login: string } | null;
  labels: (string | { name?: string | undefined })[];
  assignees?: { login: string }[] | null | undefined;
}) {
  return {
    number: issue.number,
    title: issue.title,
    state: issue.state,
    author: issue.user?.login ?? null,
    labels: issue.labels.map((l) => (typeof l === 'string' ? l : (l.name ?? ''))),
    assignees: (issue.assignees ?? []).map((a) => a.login),
    comments: issue.comments,
    createdAt: issue.created_at,
    updatedAt: issue.updated_at,
    url: issue.html_url,
  };
}
