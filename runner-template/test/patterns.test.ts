import { describe, expect, it } from 'vitest';
import {
  feedProblems,
  fieldChoices,
  fieldProblems,
  fieldsOf,
  parseManifest,
  renderTemplate,
  renderView,
  type ToolSpec,
  VIEW_PATTERNS,
} from '../src/index.ts';

/** A tool whose result has `tasks`, a list of records with these properties. */
function tasksTool(name: string, properties: Record<string, unknown> | undefined): ToolSpec {
  return {
    name,
    description: `${name}.`,
    inputSchema: { type: 'object', properties: {} },
    ...(properties === undefined
      ? {}
      : {
          outputSchema: {
            type: 'object',
            properties: { tasks: { type: 'array', items: { type: 'object', properties } } },
          },
        }),
  };
}

describe('view patterns', () => {
  it('reads the records and their label, date, status and number from an output schema', () => {
    expect(
      fieldsOf({
        type: 'object',
        properties: {
          columns: { type: 'array', items: { type: 'string' } },
          issues: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                id: { type: 'integer' },
                title: { type: 'string' },
                state: { type: 'string', enum: ['open', 'closed'] },
                created: { type: 'string', format: 'date-time' },
                comments: { type: 'integer' },
              },
            },
          },
        },
      }),
    ).toEqual({ list: 'issues', label: 'title', date: 'created', status: 'state', number: 'comments' });
    expect(fieldsOf(undefined)).toEqual({ list: null, label: null, date: null, status: null, number: null });
  });

  it('lists the names a config may use, and names each field the schema does not declare', () => {
    const schema = {
      type: 'object',
      properties: {
        tasks: { type: 'array', items: { type: 'object', properties: { headline: {}, lane: {} } } },
        total: { type: 'integer' },
      },
    };
    const choices = fieldChoices(schema);
    expect(choices).toEqual({ lists: ['tasks'], fields: { '': ['tasks', 'total'], tasks: ['headline', 'lane'] } });
    const fit = { list: 'tasks', label: 'headline', date: null, status: 'lane', number: null };
    expect(fieldProblems(fit, choices)).toEqual([]);
    expect(fieldProblems({ ...fit, list: 'total', label: 'title' }, choices)).toEqual([
      'list: "total" is not a list of the output schema (tasks)',
      'label: "title" is not a field of total (none)',
      'status: "lane" is not a field of total (none)',
    ]);
    expect(fieldProblems({ ...fit, list: null, number: 'total' }, choices)).toEqual([
      'label: "headline" is not a field of the result (tasks, total)',
      'status: "lane" is not a field of the result (tasks, total)',
    ]);
  });

  it('renders the fields it is given instead of those read from the schema', () => {
    const manifest = parseManifest(renderTemplate('echo', 'echo-demo')['mcp.json'] ?? '');
    const fields = { list: 'items', label: 'headline', date: null, status: 'lane', number: null };
    const { files } = renderView(manifest, { pattern: 'kanban', tools: ['echo'] }, fields);
    expect(files['ui/kanban/config.ts']).toContain('label: "headline" as string | null');
    expect(files['ui/kanban/config.ts']).toContain('status: "lane" as string | null');
  });

  it('renders a pattern into ui/<view>/ and wires the tool to the view in the manifest', () => {
    const manifest = parseManifest(renderTemplate('echo', 'echo-demo')['mcp.json'] ?? '');
    for (const pattern of VIEW_PATTERNS) {
      const { files, manifest: next } = renderView(manifest, { pattern, tools: ['echo'], view: `${pattern}-view` });
      expect(Object.keys(files).sort()).toEqual([
        ...['config.ts', 'fields.ts', 'index.html', 'style.css', 'view.ts'].map((f) => `ui/${pattern}-view/${f}`),
        'ui/tsconfig.json',
      ]);
      expect(files[`ui/${pattern}-view/config.ts`]).toContain('tool: "echo"');
      expect(next.resources.map((r) => [r.uri, r.source])).toEqual([
        [`ui://echo-demo/${pattern}-view`, `ui/${pattern}-view/index.html`],
      ]);
      expect(next.tools.find((t) => t.name === 'echo')?._meta?.ui.resourceUri).toBe(`ui://echo-demo/${pattern}-view`);
    }
    expect(() => renderView(manifest, { pattern: 'kanban', tools: ['nope'] })).toThrow('no tool "nope" in mcp.json');
  });

  it('wires every tool of the view to it and says in config.ts which others feed it', () => {
    const manifest = parseManifest(renderTemplate('echo', 'echo-demo')['mcp.json'] ?? '');
    const { files, manifest: next } = renderView(manifest, { pattern: 'card-list', tools: ['echo', 'add'] });
    expect(next.tools.map((t) => [t.name, t._meta?.ui.resourceUri])).toEqual([
      ['echo', 'ui://echo-demo/card-list'],
      ['add', 'ui://echo-demo/card-list'],
    ]);
    expect(files['ui/card-list/config.ts']).toContain('tool: "echo"');
    expect(files['ui/card-list/config.ts']).toContain('// Also fed by add, whose results declare the fields it shows');
    expect(next.resources[0]?.description).toBe('Card list: one card per record, fed by echo and add.');
    expect(() => renderView(manifest, { pattern: 'kanban', tools: [] })).toThrow('a view needs a tool to feed it');
  });

  it('names each field a second tool lacks or declares with another type, for the fields the pattern reads', () => {
    const fields = { list: 'tasks', label: 'headline', date: 'due', status: 'lane', number: 'points' };
    const source = tasksTool('list_tasks', {
      headline: { type: 'string' },
      due: { type: 'string', format: 'date' },
      lane: { type: 'string', enum: ['todo', 'done'] },
      points: { type: 'integer' },
    });
    const alike = tasksTool('search_tasks', {
      headline: { type: ['string', 'null'] },
      lane: { type: 'string' },
      points: { type: 'number' },
      extra: { type: 'boolean' },
    });
    expect(feedProblems('kanban', fields, source, alike)).toEqual([]);
    expect(feedProblems('chart', fields, source, alike)).toEqual([]);
    expect(feedProblems('timeline', fields, source, alike)).toEqual([
      {
        field: 'tasks[].due',
        message: 'not declared; the view reads the date there (list_tasks declares it as string)',
      },
    ]);
    const other = tasksTool('other_tasks', { headline: { type: 'integer' }, lane: { type: 'string' } });
    expect(feedProblems('kanban', fields, source, other)).toEqual([
      {
        field: 'tasks[].headline',
        message: 'declared as number; the view reads the label there, declared as string by list_tasks',
      },
    ]);
    // Patterns that read no field of the records take any tool.
    for (const pattern of ['dashboard', 'form', 'detail'] as const) {
      expect(feedProblems(pattern, fields, source, tasksTool('bare', undefined))).toEqual([]);
    }
    expect(feedProblems('data-grid', fields, source, tasksTool('bare', undefined))).toEqual([
      { field: 'outputSchema', message: 'not declared; the view reads tasks from the result' },
    ]);
    const noList = {
      ...tasksTool('count_tasks', undefined),
      outputSchema: { type: 'object' as const, properties: { tasks: { type: 'integer' } } },
    };
    expect(feedProblems('card-list', fields, source, noList)).toEqual([
      {
        field: 'tasks',
        message: 'declared as number; the view reads the records there, declared as array by list_tasks',
      },
    ]);
  });
});
