import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ManifestError,
  parseManifest,
  render,
  renderTemplate,
  type ServerSpec,
  TemplateOptionsError,
  templates,
  UnknownTemplateError,
} from '../src/index.ts';

function echoSpec(): ServerSpec {
  const spec = templates.echo?.spec('echo-demo');
  if (!spec) throw new Error('echo template missing');
  return spec;
}

describe('render', () => {
  it('renders the per-server repository file set', () => {
    expect(Object.keys(render(echoSpec()))).toEqual([
      '.github/workflows/check.yml',
      '.gitignore',
      'README.md',
      'mcp.json',
      'package.json',
      'src/server.ts',
      'src/tools/add.ts',
      'src/tools/echo.ts',
      'tsconfig.json',
    ]);
  });

  it('is deterministic, whatever the key order of the spec', () => {
    const spec = echoSpec();
    const reordered = JSON.parse(JSON.stringify(spec, Object.keys(spec).reverse())) as ServerSpec;
    const shuffled: ServerSpec = {
      ...reordered,
      tools: spec.tools.map((tool) => ({
        source: tool.source,
        inputSchema: { required: tool.inputSchema.required, properties: tool.inputSchema.properties, type: 'object' },
        description: tool.description,
        name: tool.name,
        ...(tool.title ? { title: tool.title } : {}),
        ...(tool.annotations ? { annotations: tool.annotations } : {}),
      })),
    };
    const first = render(spec);
    expect(render(spec)).toEqual(first);
    expect(render(shuffled)).toEqual(first);
  });

  it('writes an mcp.json that parses back to the manifest, with the argument order kept', () => {
    const files = render(echoSpec());
    const manifest = parseManifest(files['mcp.json'] ?? '');
    expect(Object.keys(manifest.tools[1]?.inputSchema.properties ?? {})).toEqual(['a', 'b']);
    expect(files['mcp.json']?.startsWith('{\n  "name": "echo-demo",\n  "version": "0.1.0",')).toBe(true);
  });

  it('writes a server.ts that imports the manifest and every tool', () => {
    expect(render(echoSpec())['src/server.ts']).toBe(
      [
        "import { startServer } from '@bmms/runner-template/runtime';",
        "import manifest from '../mcp.json' with { type: 'json' };",
        "import echo from './tools/echo.ts';",
        "import add from './tools/add.ts';",
        '',
        'await startServer({ manifest, tools: [echo, add] });',
        '',
      ].join('\n'),
    );
  });

  it('pins the vendored runtime, the workspace zod and the workspace compiler and Node types', () => {
    const own = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    const installed = (name: string) =>
      (
        JSON.parse(readFileSync(new URL(`../../node_modules/${name}/package.json`, import.meta.url), 'utf8')) as {
          version: string;
        }
      ).version;
    const pkg = JSON.parse(render(echoSpec())['package.json'] ?? '{}') as Record<string, unknown>;
    expect(pkg).toEqual({
      name: 'echo-demo',
      version: '0.1.0',
      description: echoSpec().description,
      private: true,
      type: 'module',
      scripts: { start: 'node src/server.ts', typecheck: 'tsc -p tsconfig.json' },
      dependencies: {
        '@bmms/runner-template': `file:vendor/bmms-runner-template-${own.version}.tgz`,
        zod: installed('zod'),
      },
      devDependencies: { '@types/node': installed('@types/node'), typescript: installed('typescript') },
    });
  });

  it('carries a GitHub Actions workflow that runs the type check and the tests', () => {
    const workflow = render(echoSpec())['.github/workflows/check.yml'] ?? '';
    expect(workflow).toContain('node-version: 24');
    expect(workflow.split('\n').filter((l) => l.trim().startsWith('- run: '))).toEqual([
      '      - run: npm install --no-audit --no-fund',
      '      - run: npm run typecheck',
      '      - run: npm run --if-present test',
    ]);
  });

  it('documents the tools and the /s/<name>/mcp endpoint in the README', () => {
    const readme = render(echoSpec())['README.md'] ?? '';
    expect(readme).toContain('# echo-demo');
    expect(readme).toContain('- **add** (Add): Adds two numbers');
    expect(readme).toContain('/s/echo-demo/mcp');
  });

  it('refuses an invalid spec with every problem listed', () => {
    const bad = { ...echoSpec(), name: 'Bad Name', tools: [{ ...echoSpec().tools[0], source: '' }] };
    expect(() => render(bad as ServerSpec)).toThrow(ManifestError);
    try {
      render(bad as ServerSpec);
    } catch (error) {
      expect((error as ManifestError).issues.map((i) => i.path)).toEqual(['name', 'tools[0].source']);
    }
  });
});

describe('templates', () => {
  it('lists echo and http-json among the templates', () => {
    expect(Object.keys(templates)).toEqual(expect.arrayContaining(['echo', 'http-json']));
  });

  it('throws UnknownTemplateError naming the known templates', () => {
    expect(() => renderTemplate('nope', 'x-server')).toThrow(UnknownTemplateError);
    expect(() => renderTemplate('constructor', 'x-server')).toThrow(/Known templates: echo, http-json, github-issues/);
  });

  it('http-json puts the base URL host in egress and the secret name in secrets', () => {
    const manifest = parseManifest(
      renderTemplate('http-json', 'gh-api', {
        baseUrl: 'https://api.github.com',
        path: '/repos/{owner}/{repo}',
        headerName: 'Authorization',
        headerPrefix: 'Bearer ',
        secretName: 'GITHUB_TOKEN',
      })['mcp.json'] ?? '',
    );
    expect(manifest.egress).toEqual(['api.github.com']);
    expect(manifest.secrets).toEqual(['GITHUB_TOKEN']);
    expect(manifest.tools[0]?.inputSchema.required).toEqual(['owner', 'repo']);
    const local = parseManifest(
      renderTemplate('http-json', 'local-api', { baseUrl: 'http://127.0.0.1:8080' })['mcp.json'] ?? '',
    );
    expect(local.egress).toEqual(['127.0.0.1:8080']);
    expect(local.secrets).toEqual(['API_KEY']);
  });

  it('http-json rejects bad options with their paths', () => {
    try {
      renderTemplate('http-json', 'x-api', { baseUrl: 'ftp://x', secretName: 'lower' });
      throw new Error('expected TemplateOptionsError');
    } catch (error) {
      expect(error).toBeInstanceOf(TemplateOptionsError);
      expect((error as TemplateOptionsError).issues.map((i) => i.path)).toEqual(['baseUrl', 'secretName']);
    }
  });
});
