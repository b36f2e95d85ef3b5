import { describe, expect, it } from 'vitest';
import {
  isServerName,
  ManifestError,
  manifestOf,
  manifestSchema,
  parseManifest,
  SERVER_NAME_MESSAGE,
  templates,
} from '../src/index.ts';

const good = {
  name: 'weather-api',
  version: '1.2.0',
  description: 'Weather lookups.',
  tools: [
    {
      name: 'get_forecast',
      description: 'Forecast for a city.',
      inputSchema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
      annotations: { readOnlyHint: true },
      scopes: ['weather:read'],
    },
  ],
  secrets: ['WEATHER_KEY'],
  egress: ['api.weather.example', '127.0.0.1:8080'],
};

function issuesOf(text: string): string[] {
  try {
    parseManifest(text);
  } catch (error) {
    expect(error).toBeInstanceOf(ManifestError);
    expect((error as ManifestError).code).toBe('manifest_invalid');
    return (error as ManifestError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  throw new Error('expected a ManifestError');
}

describe('parseManifest', () => {
  it('accepts a good manifest and fills in limits and auth defaults', () => {
    const manifest = parseManifest(JSON.stringify(good));
    expect(manifest.limits).toEqual({ cpu: 0.5, memoryMb: 512, timeoutMs: 30000 });
    expect(manifest.auth).toEqual({ scopes: ['mcp:tools'] });
    expect(manifest.tools[0]?.name).toBe('get_forecast');
    expect(manifest.egress).toEqual(['api.weather.example', '127.0.0.1:8080']);
  });

  it('reports JSON syntax errors as a (root) issue', () => {
    const issues = issuesOf('{"name": "x",');
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatch(/^\(root\): invalid JSON/);
  });

  it('lists every problem with its path', () => {
    const bad = {
      ...good,
      name: 'Weather_API',
      version: 'one',
      tools: [
        { ...good.tools[0], name: '9bad name' },
        { ...good.tools[0], inputSchema: { type: 'array' } },
        { ...good.tools[0], inputSchema: { type: 'object', properties: {}, required: ['ghost'] } },
      ],
      secrets: ['lower_case'],
      egress: ['https://api.example.com', 'host:99999'],
      limits: { timeoutMs: -1 },
      extra: true,
    };
    const paths = issuesOf(JSON.stringify(bad)).map((i) => i.split(':')[0]);
    expect(paths).toEqual(
      expect.arrayContaining([
        'name',
        'version',
        'tools[0].name',
        'tools[1].inputSchema.type',
        'tools[2].inputSchema.required[0]',
        'secrets[0]',
        'egress[0]',
        'egress[1]',
        'limits.timeoutMs',
        '(root)',
      ]),
    );
  });

  it('rejects duplicate tool names, an empty tool list and unknown annotation keys', () => {
    expect(issuesOf(JSON.stringify({ ...good, tools: [good.tools[0], good.tools[0]] }))).toEqual([
      'tools[1].name: duplicate tool name "get_forecast"',
    ]);
    expect(issuesOf(JSON.stringify({ ...good, tools: [] }))[0]).toMatch(/^tools: declare at least one tool/);
    const typo = { ...good, tools: [{ ...good.tools[0], annotations: { readonlyHint: true } }] };
    expect(issuesOf(JSON.stringify(typo))[0]).toMatch(/^tools\[0\]\.annotations/);
  });

  it('puts every problem in the error message', () => {
    expect(() => parseManifest(JSON.stringify({ ...good, name: 'X', version: '' }))).toThrow(
      /mcp\.json is invalid:\n {2}name: .*\n {2}version: /,
    );
  });
});

describe('manifestOf', () => {
  it('drops the tool sources of a spec', () => {
    const spec = templates.echo?.spec('echo-demo');
    if (!spec) throw new Error('echo template missing');
    const manifest = manifestOf(spec);
    expect(manifest.tools.map((t) => t.name)).toEqual(['echo', 'add']);
    expect(manifest.tools.every((t) => !('source' in t))).toBe(true);
    expect(parseManifest(JSON.stringify(manifest))).toEqual(manifest);
  });
});

describe('scopes in mcp.json', () => {
  it('accepts OAuth scope tokens and refuses spaces and quotes', () => {
    const base = {
      name: 'demo',
      version: '1.0.0',
      description: 'd',
      tools: [{ name: 't', description: 'd', inputSchema: { type: 'object' }, scopes: ['notes:write'] }],
    };
    expect(manifestSchema.safeParse(base).success).toBe(true);
    for (const bad of ['notes write', 'a"b', '']) {
      const tools = [{ ...base.tools[0], scopes: [bad] }];
      expect(manifestSchema.safeParse({ ...base, tools }).success, bad).toBe(false);
      expect(manifestSchema.safeParse({ ...base, auth: { scopes: [bad] } }).success, bad).toBe(false);
    }
  });
});

describe('server name in mcp.json', () => {
  it('follows the one server-name rule: a DNS label that never holds the preview separator', () => {
    for (const ok of ['demo', 'a1b', 'my-server', `a${'b'.repeat(38)}c`]) {
      expect(manifestSchema.safeParse({ ...good, name: ok }).success, ok).toBe(true);
      expect(isServerName(ok), ok).toBe(true);
    }
    for (const bad of ['ab', 'Demo', 'my--server', 'demo--pr-1', '-demo', 'demo-', '1demo', `a${'b'.repeat(39)}c`]) {
      expect(issuesOf(JSON.stringify({ ...good, name: bad })), bad).toEqual([`name: ${SERVER_NAME_MESSAGE}`]);
      expect(isServerName(bad), bad).toBe(false);
    }
  });
});
