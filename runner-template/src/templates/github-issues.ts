import { z } from 'zod';
import ownPackage from '../../package.json' with { type: 'json' };
import { SECRET_NAME } from '../spec.ts';
import { type StaticBuild, staticTemplate } from './define.ts';

const REPOSITORY = /^[\w.-]+\/[\w.-]+$/;
const options = z.strictObject({
  repositories: z.array(z.string().regex(REPOSITORY, 'must be "owner/name"')).max(50).default(['octocat/hello-world']),
  secretName: z.string().regex(SECRET_NAME, 'must be UPPER_SNAKE_CASE').default('GITHUB_TOKEN'),
  readOnly: z.boolean().default(false),
});

const WRITE_TOOLS = ['create_issue', 'comment_on_issue'];

const repo = (repos: string[]) => ({
  type: 'string',
  pattern: '^[\\w.-]+/[\\w.-]+$',
  description: repos.length > 0 ? `owner/name, one of ${repos.join(', ')} (default ${repos[0]}).` : 'owner/name.',
});

/** `github-issues`: GitHub issues through Octokit, whose requests go through ctx.fetch. */
export const githubIssuesTemplate = staticTemplate({
  name: 'github-issues',
  title: 'GitHub issues',
  description: 'Lists, reads, opens and comments on GitHub issues with Octokit, using a token secret.',
  options,
  dependencies: { '@octokit/rest': ownPackage.dependencies['@octokit/rest'] },
  build: (o): StaticBuild => {
    const where = o.repositories.length > 0 ? o.repositories.join(', ') : 'GitHub repositories the token can reach';
    const tools: StaticBuild['tools'] = [
      {
        name: 'list_issues',
        title: 'List issues',
        description:
          'Lists issues of a repository (pull requests left out), most recently updated first: number, title, state, author, labels, assignees, comment count, dates and URL.',
        inputSchema: {
          type: 'object',
          properties: {
            repo: repo(o.repositories),
            state: { type: 'string', enum: ['open', 'closed', 'all'], description: 'Default open.' },
            labels: { type: 'array', items: { type: 'string' }, description: 'Only issues with all these labels.' },
            since: { type: 'string', format: 'date-time', description: 'Only issues updated at or after this time.' },
            limit: { type: 'integer', minimum: 1, maximum: 100, description: 'Most issues to return (default 30).' },
          },
        },
        annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
      },
      {
        name: 'get_issue',
        title: 'Get an issue',
        description: 'Reads one issue by number: its summary, body and first comments.',
        inputSchema: {
          type: 'object',
          properties: {
            repo: repo(o.repositories),
            number: { type: 'integer', minimum: 1, description: 'Issue number.' },
            comments: {
              type: 'integer',
              minimum: 0,
              maximum: 100,
              description: 'Most comments to include (default 20).',
            },
          },
          required: ['number'],
        },
        annotations: { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: true },
      },
      {
        name: 'create_issue',
        title: 'Open an issue',
        description:
          'Opens a new issue with a title, an optional Markdown body and labels; returns its number and URL.',
        inputSchema: {
          type: 'object',
          properties: {
            repo: repo(o.repositories),
            title: { type: 'string', minLength: 1, maxLength: 256 },
            body: { type: 'string', description: 'Markdown.' },
            labels: { type: 'array', items: { type: 'string' } },
          },
          required: ['title'],
        },
        annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
      },
      {
        name: 'comment_on_issue',
        title: 'Comment on an issue',
        description: 'Adds a Markdown comment to an issue or pull request; returns the comment URL.',
        inputSchema: {
          type: 'object',
          properties: {
            repo: repo(o.repositories),
            number: { type: 'integer', minimum: 1, description: 'Issue number.' },
            body: { type: 'string', minLength: 1, description: 'Markdown.' },
          },
          required: ['number', 'body'],
        },
        annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: true },
      },
    ];
    return {
      description: `GitHub issues of ${where}${o.readOnly ? ', read only' : ''}.`,
      tools: o.readOnly ? tools.filter((t) => !WRITE_TOOLS.includes(t.name)) : tools,
      omit: o.readOnly ? [...WRITE_TOOLS.map((t) => `src/tools/${t}.ts`), 'test/github-issues-write.test.ts'] : [],
      secrets: [o.secretName],
      egress: ['api.github.com'],
      config: { repositories: o.repositories, secretName: o.secretName },
      notes: `Set a fine-grained token with Issues read/write on these repositories: \`PUT /api/v1/servers/<name>/secrets/${o.secretName}\`. The tools use [Octokit](https://github.com/octokit/rest.js) (\`@octokit/rest\`, vetted in the platform's dependency allowlist) with \`request.fetch\` set to \`ctx.fetch\`, so every request passes the egress allowlist (\`api.github.com\` only). An empty \`repositories\` list lets the tools use any repository the token reaches.`,
    };
  },
});
