import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { scanText } from '@bmms/gitserver';
import { render } from '@bmms/runner-template';
import { beforeAll, describe, expect, it } from 'vitest';
import { analyzeSource } from '../../checks/security/index.ts';
import { tokensOf } from '../../checks/surface.ts';
import { ApiError } from '../../errors.ts';
import { PLANS } from '../../plans.ts';
import { convertDocument } from './convert.ts';
import { type ApiDocument, parseText, validateDocument } from './document.ts';
import { listOperations, selectOperations } from './operations.ts';
import { plainText } from './text.ts';

const GITHUB_DOC = createRequire(import.meta.url).resolve('@octokit/openapi/generated/api.github.com.json');

/** The ApiError a promise rejects with. */
async function apiError(p: Promise<unknown>): Promise<ApiError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiError);
  return err as ApiError;
}

const PETS_YAML = `
openapi: 3.0.3
info:
  title: Pet Store
  version: 1.0.0
  description: Pets, see [the docs](https://docs.example.com/pets).
servers:
  - url: https://{region}.pets.example.com/v1
    variables:
      region:
        default: eu
paths:
  /pets:
    get:
      operationId: listPets
      summary: List pets
      parameters:
        - name: limit
          in: query
          schema: { type: integer, maximum: 100 }
        - name: tags
          in: query
          schema: { type: array, items: { type: string } }
      responses:
        '200': { description: ok }
    post:
      operationId: create-pet
      summary: Create a pet
      requestBody:
        required: true
        content:
          application/json:
            schema: { $ref: '#/components/schemas/Pet' }
      responses:
        '201': { description: created }
  /pets/{petId}:
    parameters:
      - name: petId
        in: path
        required: true
        schema: { type: string }
    get:
      operationId: listPets.get
      summary: Get a pet
      description: Returns one pet. Visit https://evil.example.net/x for more.
      responses:
        '200': { description: ok }
    delete:
      summary: Delete a pet
      parameters:
        - name: X-Request-Reason
          in: header
          schema: { type: string, enum: [sold, lost] }
      responses:
        '204': { description: gone }
components:
  securitySchemes:
    petApiKey:
      type: apiKey
      in: header
      name: X-Pet-Key
  schemas:
    Pet:
      type: object
      required: [name]
      properties:
        name: { type: string, description: The pet's name }
        parent: { $ref: '#/components/schemas/Pet' }
        id: { type: integer, readOnly: true }
security:
  - petApiKey: []
`;

async function load(text: string): Promise<ApiDocument> {
  return validateDocument(parseText(text));
}

describe('OpenAPI 3.0 (YAML, refs, a cycle, server variables, apiKey auth)', () => {
  let doc: ApiDocument;
  beforeAll(async () => {
    doc = await load(PETS_YAML);
  });

  it('turns every operation into a tool with a sanitized unique name', () => {
    const ops = listOperations(doc);
    expect(ops.map((o) => o.id)).toEqual(['listPets', 'create-pet', 'listPets.get', 'DELETE /pets/{petId}']);
    const { spec, tools } = convertDocument(doc, ops, 'pets', PLANS.hobby, {});
    expect(spec.tools.map((t) => t.name)).toEqual(['listPets', 'create_pet', 'listPets_get', 'delete_pets_by_petId']);
    expect(tools[3]).toEqual({
      operation: 'DELETE /pets/{petId}',
      tool: 'delete_pets_by_petId',
      method: 'DELETE',
      path: '/pets/{petId}',
    });
  });

  it('maps security schemes to secrets and servers (variables resolved) to egress', () => {
    const { spec, baseUrl } = convertDocument(doc, listOperations(doc), 'pets', PLANS.hobby, {});
    expect(baseUrl).toBe('https://eu.pets.example.com/v1');
    expect(spec.egress).toEqual(['eu.pets.example.com']);
    expect(spec.secrets).toEqual(['PET_API_KEY']);
    const source = spec.tools[0]?.source ?? '';
    expect(source).toContain('headers["x-pet-key"] = ctx.secret("PET_API_KEY");');
  });

  it('builds input schemas from parameters and bodies, cutting the cycle and read-only fields', () => {
    const { spec } = convertDocument(doc, listOperations(doc), 'pets', PLANS.hobby, {});
    const [list, create, get, del] = spec.tools;
    expect(list?.inputSchema.properties).toEqual({
      limit: { type: 'integer', maximum: 100 },
      tags: { type: 'array', items: { type: 'string' } },
    });
    const body = create?.inputSchema.properties.body as Record<string, unknown>;
    expect(create?.inputSchema.required).toEqual(['body']);
    expect(body.required).toEqual(['name']);
    const props = body.properties as Record<string, Record<string, unknown>>;
    expect(Object.keys(props)).toEqual(['name', 'parent']);
    expect(props.parent).toEqual({});
    expect(get?.inputSchema.required).toEqual(['petId']);
    expect(del?.inputSchema.properties['X-Request-Reason']).toEqual({ type: 'string', enum: ['sold', 'lost'] });
  });

  it('writes descriptions without links, so the surface lint has nothing to flag', () => {
    const { spec } = convertDocument(doc, listOperations(doc), 'pets', PLANS.hobby, {});
    expect(spec.tools[2]?.description).toBe('Get a pet. Returns one pet. Visit for more.');
    expect(spec.description).toBe('Pet Store: 4 operation(s) of the API. Pets, see the docs.');
  });

  it('renders handlers that pass the security rules and the secret scanner', () => {
    const files = render(convertDocument(doc, listOperations(doc), 'pets', PLANS.hobby, {}).spec);
    for (const [path, text] of Object.entries(files).filter(([p]) => p.startsWith('src/'))) {
      expect(analyzeSource(path, text)).toEqual([]);
      expect(scanText(path, text)).toEqual([]);
    }
    const del = files['src/tools/delete_pets_by_petId.ts'] ?? '';
    expect(del).toContain('const path = "/pets/" + encodeURIComponent(String(input["petId"]));');
    expect(del).toContain('"X-Request-Reason": z.enum(["sold", "lost"]).optional(),');
    expect(del).toContain('headers["x-request-reason"] = String(input["X-Request-Reason"]);');
  });

  it('selects operations by operationId or METHOD /path and names the unknown ones', async () => {
    const ops = listOperations(doc);
    expect(selectOperations(ops, ['delete /pets/{petId}', 'listPets']).map((o) => o.id)).toEqual([
      'DELETE /pets/{petId}',
      'listPets',
    ]);
    const err = await apiError(Promise.resolve().then(() => selectOperations(ops, ['listPets', 'nope', 'GET /x'])));
    expect(err.code).toBe('openapi_unknown_operations');
    expect(err.message).toContain('"nope", "GET /x"');
  });

  it('lets the caller override the base URL and the auth', () => {
    const { spec } = convertDocument(doc, listOperations(doc).slice(0, 1), 'pets', PLANS.hobby, {
      baseUrl: 'https://pets.internal-mirror.example.org/api/',
      auth: { type: 'bearer', secret: 'PETS_TOKEN' },
    });
    expect(spec.egress).toEqual(['pets.internal-mirror.example.org']);
    expect(spec.secrets).toEqual(['PETS_TOKEN']);
    expect(spec.tools[0]?.source).toContain('const BASE_URL = "https://pets.internal-mirror.example.org/api";');
    expect(spec.tools[0]?.source).toContain('headers["authorization"] = "Bearer " + ctx.secret("PETS_TOKEN");');
  });
});

describe('Swagger 2.0 and OpenAPI 3.1', () => {
  it('reads Swagger 2.0: host and basePath, body and formData parameters, basic auth', async () => {
    const doc = await load(
      JSON.stringify({
        swagger: '2.0',
        info: { title: 'Legacy', version: '1' },
        host: 'legacy.example.com',
        basePath: '/api',
        schemes: ['https'],
        securityDefinitions: { basic: { type: 'basic' } },
        security: [{ basic: [] }],
        paths: {
          '/orders': {
            post: {
              operationId: 'createOrder',
              parameters: [{ name: 'order', in: 'body', required: true, schema: { $ref: '#/definitions/Order' } }],
              responses: { 200: { description: 'ok' } },
            },
          },
          '/login': {
            post: {
              operationId: 'login',
              consumes: ['application/x-www-form-urlencoded'],
              parameters: [
                { name: 'user', in: 'formData', type: 'string', required: true },
                { name: 'remember', in: 'formData', type: 'boolean' },
              ],
              responses: { 200: { description: 'ok' } },
            },
          },
        },
        definitions: { Order: { type: 'object', properties: { sku: { type: 'string' } } } },
      }),
    );
    const { spec, baseUrl } = convertDocument(doc, listOperations(doc), 'legacy', PLANS.hobby, {});
    expect(baseUrl).toBe('https://legacy.example.com/api');
    expect(spec.secrets).toEqual(['BASIC']);
    const [order, login] = spec.tools;
    expect(order?.inputSchema.properties.body).toMatchObject({
      type: 'object',
      properties: { sku: { type: 'string' } },
    });
    expect(order?.source).toContain('headers["authorization"] = "Basic " + btoa(ctx.secret("BASIC"));');
    expect(login?.inputSchema.properties.body).toMatchObject({ required: ['user'] });
    expect(login?.source).toContain("headers['content-type'] = 'application/x-www-form-urlencoded';");
  });

  it('reads OpenAPI 3.1 type arrays as their non-null type', async () => {
    const doc = await load(
      JSON.stringify({
        openapi: '3.1.0',
        info: { title: 'New', version: '1' },
        servers: [{ url: 'https://new.example.com' }],
        paths: {
          '/things': {
            get: {
              operationId: 'things',
              parameters: [{ name: 'q', in: 'query', schema: { type: ['string', 'null'] } }],
              responses: { 200: { description: 'ok' } },
            },
          },
        },
      }),
    );
    const { spec } = convertDocument(doc, listOperations(doc), 'new-api', PLANS.hobby, {});
    expect(spec.tools[0]?.inputSchema.properties.q).toEqual({ type: 'string' });
    expect(spec.tools[0]?.source).toContain('"q": z.string().optional(),');
  });
});

describe('invalid documents', () => {
  it('names the JSON path of each problem', async () => {
    const err = await apiError(
      load(
        JSON.stringify({
          openapi: '3.0.0',
          info: { title: 'x', version: '1' },
          paths: { '/a': { get: { parameters: [{ name: 'q', in: 'nowhere', schema: {} }], responses: {} } } },
        }),
      ),
    );
    expect(err.code).toBe('openapi_invalid');
    expect(err.status).toBe(400);
    expect(err.message).toContain('#/paths/~1a/get/parameters/0/in: must be equal to one of the allowed values');
  });

  it('names a dangling $ref', async () => {
    const err = await apiError(
      load(
        JSON.stringify({
          openapi: '3.0.0',
          info: { title: 'x', version: '1' },
          paths: { '/a': { get: { responses: { 200: { $ref: '#/components/responses/Nope' } } } } },
        }),
      ),
    );
    expect(err.code).toBe('openapi_invalid');
    expect(err.message).toContain('#/components/responses/Nope');
  });

  it('never follows an external $ref (no file or network reads)', async () => {
    const err = await apiError(
      load(
        JSON.stringify({
          openapi: '3.0.0',
          info: { title: 'x', version: '1' },
          paths: { '/a': { get: { responses: { 200: { $ref: 'file:///etc/passwd' } } } } },
        }),
      ),
    );
    expect(err.code).toBe('openapi_invalid');
  });

  it('reports YAML syntax errors with their line', async () => {
    const err = await apiError(load('openapi: 3.0.0\ninfo:\n  title: [unclosed\n'));
    expect(err.code).toBe('openapi_unreadable');
    expect(err.message).toMatch(/invalid YAML at line \d+/);
  });

  it('refuses what is not OpenAPI 3.0/3.1 or Swagger 2.0', async () => {
    expect((await apiError(load('{"openapi":"4.0.0"}'))).message).toContain('#/openapi');
    expect((await apiError(load('{"hello":"world"}'))).message).toContain('neither OpenAPI 3.x');
  });

  it('asks for a base URL when the document has no absolute server', async () => {
    const doc = await load(
      JSON.stringify({
        openapi: '3.0.0',
        info: { title: 'x', version: '1' },
        servers: [{ url: '/v1' }],
        paths: { '/a': { get: { responses: { 200: { description: 'ok' } } } } },
      }),
    );
    const err = await apiError(
      Promise.resolve().then(() => convertDocument(doc, listOperations(doc), 'x-api', PLANS.hobby, {})),
    );
    expect(err.code).toBe('openapi_no_server');
  });

  it('refuses operations whose descriptions exceed the plan’s token budget even when trimmed', async () => {
    // No plan is this tight today: the smallest one fits 20 tools trimmed to the last step. A plan's budget is data.
    const tight = { ...PLANS.hobby, descriptionTokens: { perTool: 20, total: 20 } };
    const summary = 'Returns every item of the collection with all of its fields expanded and sorted by name';
    const doc = await load(
      JSON.stringify({
        openapi: '3.0.0',
        info: { title: 'x', version: '1' },
        servers: [{ url: 'https://api.example.com' }],
        paths: Object.fromEntries(
          [1, 2, 3, 4, 5].map((i) => [`/a${i}`, { get: { summary, responses: { 200: { description: 'ok' } } } }]),
        ),
      }),
    );
    const err = await apiError(
      Promise.resolve().then(() => convertDocument(doc, listOperations(doc), 'x-api', tight, {})),
    );
    expect(err).toMatchObject({ code: 'openapi_over_budget', status: 400 });
    expect(err.message).toMatch(/description tokens even when trimmed, over the budget of 18: select fewer/);
  });
});

describe("GitHub's published document (@octokit/openapi)", () => {
  let doc: ApiDocument;
  beforeAll(async () => {
    doc = await validateDocument(parseText(await readFile(GITHUB_DOC, 'utf8')));
  }, 60_000);

  it('lists more than 1,000 operations', () => {
    const ops = listOperations(doc);
    expect(ops.length).toBeGreaterThan(1000);
    expect(new Set(ops.map((o) => o.id)).size).toBe(ops.length);
  });

  it('converts any 20 operations within the Hobby plan budget into handlers that pass the rules', () => {
    const ops = listOperations(doc);
    for (const start of [0, 300, 600, 900, ops.length - 20]) {
      const { spec } = convertDocument(doc, ops.slice(start, start + 20), 'github', PLANS.hobby, {
        auth: { type: 'bearer', secret: 'GITHUB_TOKEN' },
      });
      expect(spec.tools).toHaveLength(20);
      expect(spec.egress).toEqual(['api.github.com']);
      let total = 0;
      for (const tool of spec.tools) {
        let n = tokensOf(tool.description);
        JSON.stringify(tool.inputSchema, (key, value) => {
          if (key === 'description' && typeof value === 'string') n += tokensOf(value);
          return value;
        });
        expect(n).toBeLessThanOrEqual(PLANS.hobby.descriptionTokens.perTool);
        total += n;
        expect(tool.description).not.toMatch(/https?:\/\//);
        expect(analyzeSource(`src/tools/${tool.name}.ts`, tool.source)).toEqual([]);
      }
      expect(total).toBeLessThanOrEqual(PLANS.hobby.descriptionTokens.total);
    }
  });
});

describe('plainText', () => {
  it('keeps identifiers and labels, drops links, images, tags and invisible characters', () => {
    expect(
      plainText(
        'Use `per_page` (max **100**). See [docs](https://x.example/a) ![i](https://x/i.png) <b>now</b>\u200b.',
      ),
    ).toBe('Use per_page (max 100). See docs now.');
    expect(plainText('the `.git` extension')).toBe('the .git extension');
  });
});
