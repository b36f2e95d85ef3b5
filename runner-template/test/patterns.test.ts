import { describe, expect, it } from 'vitest';
import { fieldsOf, parseManifest, renderTemplate, renderView, VIEW_PATTERNS } from '../src/index.ts';

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
