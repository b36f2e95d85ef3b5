import type { ChangeRequest, Deployment, Server } from '@bmms/prisma';
import { readConditions } from '@bmms/reconciler';
import type { SuiteWithRuns } from '../checks/suites.ts';

/** The absolute MCP endpoint URL of a server. */
export function mcpUrl(baseUrl: string, name: string): string {
  return `${baseUrl}/s/${name}/mcp`;
}

/** A server as the API shows it. */
export function serverView(server: Server, baseUrl: string, history: Deployment[] = []) {
  return {
    name: server.name,
    description: server.description,
    template: server.template,
    url: mcpUrl(baseUrl, server.name),
    gitUrl: `${baseUrl}/git/${server.name}.git`,
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
    createdAt: server.createdAt.toISOString(),
    updatedAt: server.updatedAt.toISOString(),
  };
}

/** A change request as the API shows it, with the check runs of its head's tree. */
export function changeView(change: ChangeRequest, suite: SuiteWithRuns | null) {
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
    createdAt: change.createdAt.toISOString(),
    updatedAt: change.updatedAt.toISOString(),
    mergedAt: change.mergedAt?.toISOString() ?? null,
    closedAt: change.closedAt?.toISOString() ?? null,
  };
}
