import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';
import { github, githubCall, issueSummary, repository } from '../github.ts';

const MAX_BODY = 10_000;
const clip = (text: string | null | undefined) =>
  text && text.length > MAX_BODY ? `${text.slice(0, MAX_BODY)}… (cut)` : (text ?? '');

export default defineTool({
  name: 'get_issue',
  input: {
    repo: z
      .string()
      .regex(/^[\w.-]+\/[\w.-]+$/)
      .optional(),
    number: z.int().min(1),
    comments: z.int().min(0).max(100).default(20),
  },
  async handler({ repo, number, comments }, ctx) {
    const where = repository(repo);
    const client = github(ctx);
    const { data: issue } = await githubCall(`get issue #${number}`, () =>
      client.rest.issues.get({ ...where, issue_number: number }),
    );
    const thread =
      comments > 0 && issue.comments > 0
        ? (
            await githubCall(`list comments of #${number}`, () =>
              client.rest.issues.listComments({ ...where, issue_number: number, per_page: comments }),
            )
          ).data.map((c) => ({ author: c.user?.login ?? null, createdAt: c.created_at, body: clip(c.body) }))
        : [];
    return { ...issueSummary(issue), body: clip(issue.body), thread };
  },
});
