import { describe, expect, it } from 'vitest';
import { PLANS } from '../../plans.ts';
import { convertDocument } from './convert.ts';
import { validateTolerant } from './document.ts';
import { listOperations } from './operations.ts';

// What MCP 2025-11-25 lets a tool say about itself, from what the operation says: a title, an output schema (its
// results then carry structuredContent) and annotations.

const pet = {
  type: 'object',
  required: ['id', 'name'],
  properties: {
    id: { type: 'integer', format: 'int64' },
    name: { type: 'string', description: 'The name.', enum: ['Rex', 'Tom'] },
    owner: {
      type: 'object',
      nullable: true,
      properties: { email: { type: 'string', format: 'email' }, pets: { type: 'array', items: { type: 'string' } } },
    },
    tags: { type: 'array', items: { $ref: '#/components/schemas/Tag' } },
  },
};

async function tools(doc: Record<string, unknown>) {
  const { doc: read } = await validateTolerant(doc);
  return convertDocument(read, listOperations(read), 'pets', PLANS.hobby, {}).spec.tools;
}

describe('tools from OpenAPI operations, as MCP 2025-11-25 describes tools', () => {
  it('take their title from the summary, an outputSchema from a JSON object answer, and annotations from the method', async () => {
    const [get, update, remove, list] = await tools({
      openapi: '3.0.3',
      info: { title: 'Pets', version: '1' },
      servers: [{ url: 'https://pets.example.com' }],
      paths: {
        '/pets/{id}': {
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'integer' } }],
          get: {
            operationId: 'getPet',
            summary: 'Get a pet.',
            responses: {
              200: {
                description: 'ok',
                content: { 'application/json': { schema: { $ref: '#/components/schemas/Pet' } } },
              },
              404: { description: 'gone', content: { 'application/json': { schema: { type: 'object' } } } },
            },
          },
          delete: { operationId: 'deletePet', responses: { 204: { description: 'gone' } } },
          put: {
            operationId: 'updatePet',
            summary: 'Replace a pet',
            requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/Pet' } } } },
            responses: {
              200: {
                description: 'ok',
                content: {
                  'application/merge-patch+json': { schema: { allOf: [{ $ref: '#/components/schemas/Pet' }] } },
                },
              },
            },
          },
        },
        '/pets': {
          get: {
            operationId: 'listPets',
            summary: 'List pets',
            responses: {
              200: { description: 'ok', content: { 'application/json': { schema: { type: 'array', items: pet } } } },
            },
          },
        },
      },
      components: {
        schemas: {
          Pet: pet,
          Tag: { type: 'object', properties: { label: { type: 'string' } } },
        },
      },
    });
    expect(get?.title).toBe('Get a pet');
    expect(get?.annotations).toEqual({
      readOnlyHint: true,
      destructiveHint: false,
      idempotentHint: true,
      openWorldHint: true,
    });
    // Types and structure, nothing that would refuse a real answer: no required, enum, format or prose.
    expect(get?.outputSchema).toEqual({
      type: 'object',
      properties: {
        id: { type: 'integer' },
        name: { type: 'string' },
        owner: {
          type: ['object', 'null'],
          properties: { email: { type: 'string' }, pets: { type: 'array', items: { type: 'string' } } },
        },
        tags: { type: 'array', items: { type: 'object', properties: { label: { type: 'string' } } } },
      },
    });
    // Its handler returns the API's JSON object (the result's structuredContent), and says so when it is none.
    expect(get?.source).toContain('return answer as { [key: string]: JsonValue };');
    expect(get?.source).toContain('not the JSON object its document describes');

    // An array answer becomes `{ items }` (MCP wants structuredContent to be an object).
    expect(list?.title).toBe('List pets');
    expect(list?.outputSchema).toEqual({
      type: 'object',
      properties: {
        items: { type: 'array', items: expect.objectContaining({ type: 'object', properties: expect.any(Object) }) },
      },
    });
    expect(list?.source).toContain('return { items: answer as JsonValue[] };');
    expect(list?.source).toContain('not the JSON array its document describes');

    expect(remove?.title).toBeUndefined();
    expect(remove?.outputSchema).toBeUndefined();
    expect(remove?.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true, idempotentHint: true });

    expect(update?.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: false, idempotentHint: true });
    expect(update?.outputSchema).toMatchObject({ type: 'object', properties: { id: { type: 'integer' } } });
  });

  it('read the answer schema of Swagger 2.0 operations, unless they produce no JSON', async () => {
    const [json, xml] = await tools({
      swagger: '2.0',
      info: { title: 'Pets', version: '1' },
      host: 'pets.example.com',
      paths: {
        '/pet': {
          get: {
            operationId: 'getPet',
            responses: {
              200: { description: 'ok', schema: { type: 'object', properties: { id: { type: 'integer' } } } },
            },
          },
        },
        '/pet.xml': {
          get: {
            operationId: 'getPetXml',
            produces: ['application/xml'],
            responses: {
              200: { description: 'ok', schema: { type: 'object', properties: { id: { type: 'integer' } } } },
            },
          },
        },
      },
    });
    expect(json?.outputSchema).toEqual({ type: 'object', properties: { id: { type: 'integer' } } });
    expect(xml?.outputSchema).toBeUndefined();
  });
});
