/**
 * A valid OpenAPI 3.0 document of at least `minBytes` of JSON, made up here (no download): resources with a read
 * and a write operation each, their schemas in components with many described properties and nested `$ref`s, as
 * large published documents are. Its operations are `getThing0`, `updateThing0`, `getThing1`, …
 */
export function largeDocument(minBytes: number): { doc: Record<string, unknown>; operations: number; bytes: number } {
  const paths: Record<string, unknown> = {};
  const schemas: Record<string, unknown> = {
    Meta: {
      type: 'object',
      properties: {
        created: { type: 'string', format: 'date-time', description: 'When the resource was created.' },
        etag: { type: 'string', description: 'The version of the resource, for conditional updates.' },
      },
    },
  };
  const prose = 'A property of the resource, described at the length real API documents describe theirs.';
  let bytes = 0;
  let n = 0;
  while (bytes < minBytes) {
    const name = `Thing${n}`;
    const properties: Record<string, unknown> = {
      id: { type: 'integer' },
      meta: { $ref: '#/components/schemas/Meta' },
    };
    for (let p = 0; p < 24; p++) {
      properties[`field_${p}`] =
        p % 3 === 0
          ? { type: 'string', description: `${prose} (${p})`, maxLength: 200 }
          : p % 3 === 1
            ? { type: 'integer', description: `${prose} (${p})`, minimum: 0 }
            : { type: 'array', items: { type: 'string', enum: ['a', 'b', 'c'] }, description: `${prose} (${p})` };
    }
    schemas[name] = { type: 'object', required: ['id'], properties };
    const ref = { $ref: `#/components/schemas/${name}` };
    const path = {
      parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'integer' } }],
      get: {
        operationId: `get${name}`,
        summary: `Get one ${name}`,
        parameters: [{ name: 'fields', in: 'query', schema: { type: 'string' }, description: 'Fields to return.' }],
        responses: { 200: { description: 'The resource.', content: { 'application/json': { schema: ref } } } },
      },
      put: {
        operationId: `update${name}`,
        summary: `Replace one ${name}`,
        requestBody: { required: true, content: { 'application/json': { schema: ref } } },
        responses: { 200: { description: 'The updated resource.', content: { 'application/json': { schema: ref } } } },
      },
    };
    paths[`/things${n}/{id}`] = path;
    bytes += JSON.stringify(path).length + JSON.stringify(schemas[name]).length + 40;
    n++;
  }
  const doc = {
    openapi: '3.0.3',
    info: { title: 'Large', version: '1.0.0', description: 'A large generated document.' },
    servers: [{ url: 'https://api.example.com/v1' }],
    paths,
    components: { schemas },
  };
  return { doc, operations: n * 2, bytes: JSON.stringify(doc).length };
}
