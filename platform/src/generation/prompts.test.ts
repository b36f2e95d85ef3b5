import { CREDENTIAL_SAMPLES } from '@bmms/gitserver/testing';
import { parseManifest, parseServerSpec, renderTemplate } from '@bmms/runner-template';
import { describe, expect, it } from 'vitest';
import { applyEdit, editSchema, editServerTool } from './prompts.ts';

// An iteration on a server with a view: the data-grid template (egress, a tool opening ui://grid-demo/grid).
const files = renderTemplate('data-grid', 'grid-demo', { url: 'https://api.example.org/items' });
const manifest = parseManifest(files['mcp.json'] ?? '');
const current = parseServerSpec({
  ...manifest,
  tools: manifest.tools.map((t) => ({ ...t, source: files[`src/tools/${t.name}.ts`] ?? '' })),
});
const listRows = current.tools[0];
if (!listRows) throw new Error('data-grid has list_rows');
const edit = (input: Record<string, unknown>) => editSchema.parse({ title: 'T', summary: 'S', ...input });

describe('iteration edits', () => {
  it('leaves secrets, egress and resources as they are when the edit does not name them', () => {
    const parsed = edit({ views: [{ path: 'ui/grid.css', source: 'th { font-weight: 700; }' }] });
    expect(parsed.egress).toBeUndefined();
    expect(parsed.secrets).toBeUndefined();
    const next = applyEdit(current, parsed);
    expect(next.egress).toEqual(['api.example.org']);
    expect(next.resources).toEqual(current.resources);
  });

  it('keeps the view of a tool the edit replaces without its _meta', () => {
    const { _meta, ...rest } = listRows;
    const next = applyEdit(current, edit({ upsert: [{ ...rest, description: 'Reads the rows.' }] }));
    expect(_meta?.ui.resourceUri).toBe('ui://grid-demo/grid');
    expect(next.tools[0]?._meta).toEqual(_meta);
    expect(next.tools[0]?.description).toBe('Reads the rows.');
  });

  it('sends back view files outside ui/, breaking the view rules, or holding a credential, and an edit of nothing', () => {
    const tool = editServerTool(current, () => []);
    const sample = CREDENTIAL_SAMPLES.find((c) => c.rule !== 'secret-url-password');
    expect(editSchema.safeParse({ title: 'T', summary: 'S', views: [{ path: 'src/x.ts', source: 'x' }] }).success).toBe(
      false,
    );
    expect(
      editSchema.safeParse({ title: 'T', summary: 'S', views: [{ path: 'ui/../x.ts', source: 'x' }] }).success,
    ).toBe(false);
    const problems = tool.check?.(
      edit({
        views: [
          { path: 'ui/grid.ts', source: "document.body.innerHTML = 'x';\n" },
          { path: 'ui/grid.html', source: '<button onclick="go()">Go</button>' },
          { path: 'ui/keys.ts', source: `export const key = '${sample?.value}';\n` },
        ],
      }),
    );
    expect(problems?.join('\n')).toContain('ui/grid.ts:1: [view-html-sink]');
    expect(problems?.join('\n')).toContain('ui/grid.html:1: [view-inline-handler]');
    expect(problems?.join('\n')).toMatch(
      /ui\/keys\.ts:1: \[[\w-]+\] a .* is written in the code; a view holds no credential/,
    );
    expect(tool.check?.(edit({}))).toEqual(['no edit: change at least one tool, view file, list, or the description']);
    expect(tool.check?.(edit({ views: [{ path: 'ui/grid.css', source: 'th { font-weight: 700; }' }] }))).toEqual([]);
  });
});
