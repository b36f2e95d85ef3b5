import type { ChangeRequest, Deployment, Server } from '@bmms/prisma';
import { readConditions } from '@bmms/reconciler';
import type { SuiteWithRuns } from '../checks/suites.ts';

/** The absolute MCP endpoint URL of a server. */
export function mcpUrl(baseUrl: string, name: string): string {
  return `${baseUrl}/s/${name}/mcp`;
}

/** A server as the API shows it (`calls24h`: its tool calls in the last 24 hours). */
export function serverView(server: Server, baseUrl: string, history: Deployment[] = [], calls24h = 0) {
  return {
    name: server.name,
    description: server.description,
    template: server.template,
    url: mcpUrl(baseUrl, server.name),
    gitUrl: server.githubUrl ? `${server.githubUrl}.git` : `${baseUrl}/git/${server.name}.git`,
    github:
      server.githubOwner && server.githubRepo
        ? { owner: server.githubOwner, repo: server.githubRepo, url: server.githubUrl }
        : null,
    desiredRevision: server.desiredRevision,
    lastAttemptedRevision: server.lastAttemptedRevision,
    observedRevision: server.observedRevision,
    conditions: readConditions(server.conditions),
    history: history.map((d) => ({
      revision: d.revision,
      tree: d.treeSha,
      state: d.state,
      reason: d.reason,
      message: d.message,
      instance: d.instanceId,
      startedAt: d.startedAt.toISOString(),
      finishedAt: d.finishedAt?.toISOString() ?? null,
    })),
    calls24h,
    createdAt: server.createdAt.toISOString(),
    updatedAt: server.updatedAt.toISOString(),
  };
}

/** Where a change's preview is, and whether it serves now. */
export interface PreviewInfo {
  url: string;
  serving: boolean;
}

/** A change's preview as the API shows it: its URL and how to connect a client to it. */
function previewView(change: ChangeRequest, suite: SuiteWithRuns | null, preview: PreviewInfo | undefined) {
  if (!preview) return null;
  const run = suite?.runs.find((r) => r.name === 'preview');
  const status =
    change.state !== 'open'
      ? 'removed'
      : preview.serving
        ? 'ready'
        : run?.status !== 'completed'
          ? 'pending'
          : run.conclusion === 'success'
            ? 'stopped'
            : 'unavailable';
  const name = new URL(preview.url).pathname.split('/')[2] ?? 'preview';
  return {
    url: preview.url,
    status,
    install: {
      claudeCode: `claude mcp add --transport http ${name} ${preview.url} --header "Authorization: Bearer $KEY"`,
      cursor: { mcpServers: { [name]: { url: preview.url, headers: { Authorization: 'Bearer <api key>' } } } },
      inspector: `npx @modelcontextprotocol/inspector --cli ${preview.url} --transport http --method tools/list --header "Authorization: Bearer $KEY"`,
    },
  };
}

/** A change request as the API shows it, with the check runs of its head's tree and its preview. */
export function changeView(change: ChangeRequest, suite: SuiteWithRuns | null, preview?: PreviewInfo) {
  return {
    number: change.number,
    title: change.title,
    body: change.body,
    state: change.state,
    branch: change.branch,
    head: change.headSha,
    base: change.baseSha,
    mergeSha: change.mergeSha,
    checkSuite: suite
      ? { tree: suite.treeSha, status: suite.status, conclusion: suite.conclusion }
      : { tree: null, status: 'queued', conclusion: null },
    checks: (suite?.runs ?? []).map((r) => ({
      name: r.name,
      status: r.status,
      conclusion: r.conclusion,
      summary: r.summary,
      durationMs: r.durationMs,
      startedAt: r.startedAt?.toISOString() ?? null,
      completedAt: r.completedAt?.toISOString() ?? null,
    })),
    preview: previewView(change, suite, preview),
    pullRequest: change.githubPull === null ? null : { number: change.githubPull, url: null as string | null },
    createdAt: change.createdAt.toISOString(),
    updatedAt: change.updatedAt.toISOString(),
    mergedAt: change.mergedAt?.toISOString() ?? null,
    closedAt: change.closedAt?.toISOString() ?? null,
  };
}
