import { defineTool } from '@bmms/runner-template/runtime';
import { z } from 'zod';
import { github, githubCall, repository } from '../github.ts';

export default defineTool({
  name: 'create_issue',
  input: {
    repo: z
      .string()
      .regex(/^[\w.-]+\/[\w.-]+$/)
      .optional(),
    title: z.string().min(1).max(256),
    body: z.string().max(65_000).optional(),
    labels: z.array(z.string().min(1)).max(20).optional(),
  },
  async handler({ repo, title, body, labels }, ctx) {
    const where = repository(repo);
    const { data } = await githubCall('create issue', () =>
      github(ctx).rest.issues.create({ ...where, title, ...(body ? { body } : {}), ...(labels ? { labels } : {}) }),
    );
    ctx.log('info', 'issue created', { repo: `${where.owner}/${where.repo}`, number: data.number });
    return { number: data.number, url: data.html_url };
  },
});
