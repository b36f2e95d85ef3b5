import { describe, expect, it } from 'vitest';
import {
  fieldChoices,
  fieldProblems,
  fieldsOf,
  parseManifest,
  renderTemplate,
  renderView,
  VIEW_PATTERNS,
} from '../src/index.ts';

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
    const { files } = renderView(manifest, { pattern: 'kanban', tool: 'echo' }, fields);
    expect(files['ui/kanban/config.ts']).toContain('label: "headline" as string | null');
    expect(files['ui/kanban/config.ts']).toContain('status: "lane" as string | null');
  });

  it('renders a pattern into ui/<view>/ and wires the tool to the view in the manifest', () => {
    const manifest = parseManifest(renderTemplate('echo', 'echo-demo')['mcp.json'] ?? '');
    for (const pattern of VIEW_PATTERNS) {
      const { files, manifest: next } = renderView(manifest, { pattern, tool: 'echo', view: `${pattern}-view` });
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
    expect(() => renderView(manifest, { pattern: 'kanban', tool: 'nope' })).toThrow('no tool "nope" in mcp.json');
  });
});
