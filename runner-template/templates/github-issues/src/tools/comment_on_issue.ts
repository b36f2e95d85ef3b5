import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';
import { github, githubCall, repository } from '../github.ts';

export default defineTool({
  name: 'comment_on_issue',
  input: {
    repo: z
      .string()
      .regex(/^[\w.-]+\/[\w.-]+$/)
      .optional(),
    number: z.int().min(1),
    body: z.string().min(1).max(65_000),
  },
  async handler({ repo, number, body }, ctx) {
    const where = repository(repo);
    const { data } = await githubCall(`comment on #${number}`, () =>
      github(ctx).rest.issues.createComment({ ...where, issue_number: number, body }),
    );
    return { id: data.id, url: data.html_url };
  },
});
