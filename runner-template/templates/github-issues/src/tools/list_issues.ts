import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';
import { github, githubCall, issueSummary, repository } from '../github.ts';

export default defineTool({
  name: 'list_issues',
  input: {
    repo: z
      .string()
      .regex(/^[\w.-]+\/[\w.-]+$/)
      .optional(),
    state: z.enum(['open', 'closed', 'all']).default('open'),
    labels: z.array(z.string().min(1)).max(20).optional(),
    since: z.iso.datetime({ offset: true }).optional(),
    limit: z.int().min(1).max(100).default(30),
  },
  async handler({ repo, state, labels, since, limit }, ctx) {
    const where = repository(repo);
    const { data } = await githubCall('list issues', () =>
      github(ctx).rest.issues.listForRepo({
        ...where,
        state,
        per_page: limit,
        sort: 'updated',
        ...(labels ? { labels: labels.join(',') } : {}),
        ...(since ? { since } : {}),
      }),
    );
    // The issues endpoint lists pull requests too: keep the issues.
    const issues = data.filter((issue) => !issue.pull_request).map(issueSummary);
    return { repo: `${where.owner}/${where.repo}`, count: issues.length, issues };
  },
});
