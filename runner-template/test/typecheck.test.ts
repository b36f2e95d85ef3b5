import { afterAll, describe, expect, it } from 'vitest';
import { parseManifest, renderTemplate, renderView, templates, VIEW_PATTERNS } from '../src/index.ts';
import { removeTempDirs, typecheck, writeRepo } from './helpers.ts';

afterAll(removeTempDirs);

describe('rendered repositories type-check', () => {
  for (const name of Object.keys(templates)) {
    it(`${name} passes tsc -p with zero errors`, async () => {
      const dir = writeRepo(renderTemplate(name, `${name}-demo`, {}));
      const result = await typecheck(dir);
      expect(result.output).toBe('');
      expect(result.code).toBe(0);
    });
  }

  it("a repo with views type-checks its views' scripts with the DOM's types (ui/tsconfig.json, in npm run typecheck)", async () => {
    const files = renderTemplate('data-grid', 'grid-demo', { url: 'https://api.example.com/items' });
    expect(JSON.parse(files['package.json'] ?? '{}').scripts.typecheck).toBe(
      'tsc -p tsconfig.json && tsc -p ui/tsconfig.json',
    );
    const manifest = parseManifest(files['mcp.json'] ?? '');
    for (const pattern of VIEW_PATTERNS)
      Object.assign(files, renderView(manifest, { pattern, tools: ['list_rows'] }).files);
    const clean = await typecheck(writeRepo(files), 'ui/tsconfig.json');
    expect(clean.output).toBe('');
    expect(clean.code).toBe(0);

    files['ui/grid.ts'] =
      `${files['ui/grid.ts']}\nconst input = document.getElementById('filter');\ninput.value = 'x';\n`;
    const broken = await typecheck(writeRepo(files), 'ui/tsconfig.json');
    expect(broken.code).not.toBe(0);
    expect(broken.output).toMatch(/grid\.ts\(\d+,\d+\): error TS18047: 'input' is possibly 'null'/);
  });

  it('a broken tool file makes tsc fail', async () => {
    const files = renderTemplate('echo', 'broken-demo');
    files['src/tools/add.ts'] = (files['src/tools/add.ts'] ?? '').replace('String(a + b)', 'a.toUpperCase()');
    const result = await typecheck(writeRepo(files));
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(
      /src\/tools\/add\.ts\(\d+,\d+\): error TS2339: Property 'toUpperCase' does not exist/,
    );
  });

  it('a tool returning something that is not a tool result makes tsc fail', async () => {
    const files = renderTemplate('echo', 'broken-demo');
    files['src/tools/echo.ts'] = (files['src/tools/echo.ts'] ?? '').replace('=> text', '=> new Date()');
    const result = await typecheck(writeRepo(files));
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('src/tools/echo.ts');
  });
});
