import { VIEW_PATTERNS, type ViewPattern } from '@bmms/runner-template';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChangeBody, HAS_BWRAP, TestStack } from './harness.ts';

// Acceptance of the view designer: each of the nine patterns, asked for through the API for a sample server
// (the data-grid template, merged and deployed), opens a change whose every check is green — typecheck,
// the static checks (the view's security rules, the manifest's view build and CSP rules, the surface diff)
// and the preview.

let stack: TestStack;
const changes: Partial<Record<ViewPattern, ChangeBody & { title?: string }>> = {};
const opened: Partial<Record<ViewPattern, { status: number; body: Record<string, unknown> }>> = {};

beforeAll(async () => {
  stack = await TestStack.start();
  await stack.createAndDeploy('grid-views', 'data-grid');
  // Three at a time: each suite runs tsc and a preview instance on a two-core machine.
  for (let i = 0; i < VIEW_PATTERNS.length; i += 3) {
    await Promise.all(
      VIEW_PATTERNS.slice(i, i + 3).map(async (pattern) => {
        const res = await stack.api('POST', '/api/v1/servers/grid-views/views', { pattern, tool: 'list_rows' });
        opened[pattern] = res;
        if (res.status === 201)
          changes[pattern] = await stack.waitChecks('grid-views', res.body.number as number, 300_000);
      }),
    );
  }
}, 1_200_000);
afterAll(async () => {
  await stack?.destroy();
});

describe('views designed from the nine patterns', () => {
  it('lists the nine patterns', async () => {
    const res = await stack.api<{ patterns: { name: string }[] }>('GET', '/api/v1/view-patterns');
    expect(res.body.patterns.map((p) => p.name)).toEqual([...VIEW_PATTERNS]);
  });

  for (const pattern of VIEW_PATTERNS) {
    it(`${pattern}: opens a change whose every check is green`, () => {
      expect(opened[pattern]?.status, JSON.stringify(opened[pattern]?.body)).toBe(201);
      const change = changes[pattern];
      expect(change?.title).toBe(`View ${pattern}: ${pattern} of list_rows`);
      for (const check of change?.checks ?? []) {
        const allowed = check.name === 'preview' && !HAS_BWRAP ? ['success', 'skipped'] : ['success'];
        expect(allowed, `${pattern} ${check.name}: ${check.summary}`).toContain(check.conclusion);
      }
      const surface = change?.checks.find((c) => c.name === 'surface');
      expect(surface?.summary).toContain(`+ added view \`ui://grid-views/${pattern}\` (ui/${pattern}/index.html)`);
      expect(change?.checks.find((c) => c.name === 'manifest')?.summary).toContain(`ui://grid-views/${pattern}`);
    });
  }

  it('refuses a tool main does not have, and a pattern that does not exist', async () => {
    const tool = await stack.api('POST', '/api/v1/servers/grid-views/views', { pattern: 'kanban', tool: 'nope' });
    expect(tool.status).toBe(400);
    expect((tool.body.error as { message: string }).message).toContain(
      '"tool" must name a tool of main\'s mcp.json: list_rows',
    );
    const pattern = await stack.api('POST', '/api/v1/servers/grid-views/views', {
      pattern: 'gantt',
      tool: 'list_rows',
    });
    expect(pattern.status).toBe(400);
  });
});
