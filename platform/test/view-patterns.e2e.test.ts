import { parseManifest, VIEW_PATTERNS, type ViewPattern } from '@bmms/runner-template';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChangeBody, HAS_BWRAP, TestStack } from './harness.ts';
import { addRowTools } from './row-tools.ts';

// Acceptance of the view designer: each of the nine patterns, asked for through the API for a sample server
// (the data-grid template, merged and deployed), opens a change whose every check is green — typecheck,
// the static checks (the view's security rules, the manifest's view build and CSP rules, the surface diff)
// and the preview. Then, with two more tools on main, a view fed by two tools that return the same records, and
// the tools a view refuses.

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
    expect(tool.body.error).toEqual({
      code: 'invalid_request',
      message: 'main\'s mcp.json has no tool "nope": a view is fed by tools of main (list_rows)',
      details: { unknown: ['nope'] },
    });
    const pattern = await stack.api('POST', '/api/v1/servers/grid-views/views', {
      pattern: 'gantt',
      tool: 'list_rows',
    });
    expect(pattern.status).toBe(400);
  });
});

interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

describe('a view fed by several tools', () => {
  const propose = (body: Record<string, unknown>) =>
    stack.api<ErrorBody>('POST', '/api/v1/servers/grid-views/views', body);

  beforeAll(async () => {
    await addRowTools(stack, 'grid-views');
  });

  it('opens a change pointing both tools at the view, naming them, whose every check is green', async () => {
    const res = await stack.api<ChangeBody & { title: string; body: string }>(
      'POST',
      '/api/v1/servers/grid-views/views',
      { pattern: 'card-list', view: 'rows-cards', tools: ['list_rows', 'recent_rows'] },
    );
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.title).toBe('View rows-cards: card-list of list_rows and recent_rows');
    expect(res.body.body).toContain(
      'A first version of the view `ui://grid-views/rows-cards` from the **card-list** pattern, fed by `list_rows` and `recent_rows`: mcp.json points each of them at the view.',
    );
    expect(res.body.body).toContain('The fields come from `list_rows`; `recent_rows` declares those the pattern reads');
    const mcp = await stack.platform.ctx.git.readFile('grid-views', res.body.head, 'mcp.json');
    const manifest = parseManifest(mcp ?? '');
    expect(Object.fromEntries(manifest.tools.map((t) => [t.name, t._meta?.ui.resourceUri]))).toEqual({
      list_rows: 'ui://grid-views/rows-cards',
      recent_rows: 'ui://grid-views/rows-cards',
      count_rows: undefined,
    });
    expect(manifest.resources.find((r) => r.uri === 'ui://grid-views/rows-cards')?.description).toBe(
      'Card list: one card per record, fed by list_rows and recent_rows.',
    );
    const change = await stack.waitChecks('grid-views', res.body.number, 300_000);
    for (const check of change.checks) {
      const allowed = check.name === 'preview' && !HAS_BWRAP ? ['success', 'skipped'] : ['success'];
      expect(allowed, `${check.name}: ${check.summary}`).toContain(check.conclusion);
    }
    expect(change.checkSuite.conclusion).toBe('success');
    expect(change.checks.find((c) => c.name === 'surface')?.summary).toContain(
      '+ added view `ui://grid-views/rows-cards` (ui/rows-cards/index.html)',
    );
  }, 360_000);

  it('answers 422 tool_output_incompatible naming a tool that lacks the records the view reads', async () => {
    const res = await propose({ pattern: 'card-list', view: 'rows-count', tools: ['list_rows', 'count_rows'] });
    expect(res.status).toBe(422);
    const problem = {
      tool: 'count_rows',
      field: 'rows',
      message: 'not declared; the view reads the records there (list_rows declares it as array)',
    };
    expect(res.body.error).toEqual({
      code: 'tool_output_incompatible',
      message:
        'ui://grid-views/rows-count shows the fields list_rows returns, and count_rows does not return them alike: count_rows: rows not declared; the view reads the records there (list_rows declares it as array). Declare those fields in the outputSchema of count_rows with the names and types of list_rows, or leave it out',
      details: { tools: ['count_rows'], problems: [problem] },
    });
    // No branch was left behind for it (the one beside it is the change above).
    const branches = await stack.platform.ctx.git.listBranches('grid-views');
    expect(Object.keys(branches).filter((b) => b.startsWith('views/rows-c'))).toEqual([
      expect.stringMatching(/^views\/rows-cards-[0-9a-f]{4}$/),
    ]);
  });

  it('refuses a tool named twice, a tool main lacks, more than eight, and `tool` beside `tools`', async () => {
    const twice = await propose({ pattern: 'data-grid', tools: ['list_rows', 'recent_rows', 'list_rows'] });
    expect(twice.status).toBe(400);
    expect(twice.body.error).toMatchObject({
      code: 'invalid_request',
      message: 'body.tools.2: names "list_rows" twice',
      details: { field: 'tools.2' },
    });
    const unknown = await propose({ pattern: 'data-grid', tools: ['list_rows', 'nope'] });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toEqual({
      code: 'invalid_request',
      message:
        'main\'s mcp.json has no tool "nope": a view is fed by tools of main (list_rows, recent_rows, count_rows)',
      details: { unknown: ['nope'] },
    });
    const nine = await propose({ pattern: 'data-grid', tools: Array.from({ length: 9 }, (_, i) => `tool_${i}`) });
    expect(nine.status).toBe(400);
    expect(nine.body.error.message).toBe('body.tools: at most 8 tools feed one view');
    const none = await propose({ pattern: 'data-grid', tools: [] });
    expect(none.status).toBe(400);
    expect(none.body.error.message).toContain('body.tools:');
    const both = await propose({ pattern: 'data-grid', tool: 'list_rows', tools: ['recent_rows'] });
    expect(both.status).toBe(400);
    expect(both.body.error.message).toBe('body.tool: unknown field');
  });
});
