import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NUMERIC_PATH_PARAMS } from '../src/api/request.ts';
import { apiRouter } from '../src/api/router.ts';
import { TestStack } from './harness.ts';
import { type Route, routesOf } from './routes.ts';

/** Path parameters that are names or ids, not numbers: a new parameter must be added here or to NUMERIC_PATH_PARAMS. */
const TEXT_PATH_PARAMS = ['name', 'check', 'secret', 'ref', 'id', 'clientId', 'userId', 'tool', 'view', 'hostname'];

/** What a clumsy or hostile caller puts where a change number goes. */
const BAD_NUMBERS = [
  'abc',
  '-1',
  '0',
  '1.5',
  '1e3',
  '0x10',
  '%201',
  '%D9%A1', // an Arabic-Indic digit one
  '2147483648',
  '99999999999999999999999',
  `1${'0'.repeat(400)}`,
];

/** Acceptance: every numeric path parameter answers 400 naming itself, never 500. */
describe('numbers in paths', () => {
  let stack: TestStack;
  let routes: Route[];

  beforeAll(async () => {
    stack = await TestStack.start();
    const created = await stack.api('POST', '/api/v1/servers', { name: 'demo', template: 'echo' });
    expect(created.status).toBe(201);
    routes = routesOf(apiRouter(stack.platform.ctx));
  }, 120_000);

  afterAll(async () => {
    await stack?.destroy();
  });

  it('knows every path parameter of the API as a number or as text', () => {
    const params = new Set(routes.flatMap((r) => [...r.path.matchAll(/:(\w+)/g)].map((m) => m[1] as string)));
    const known = new Set<string>([...NUMERIC_PATH_PARAMS, ...TEXT_PATH_PARAMS]);
    expect([...params].filter((p) => !known.has(p))).toEqual([]);
  });

  it('answers 400 invalid_request naming the parameter on every route with a number in its path', async () => {
    const numeric = routes.filter((r) => NUMERIC_PATH_PARAMS.some((p) => r.path.includes(`:${p}`)));
    expect(numeric.length).toBeGreaterThanOrEqual(5);
    for (const route of numeric) {
      for (const bad of BAD_NUMBERS) {
        let path = route.path.replace(':name', 'demo').replace(':check', 'typecheck');
        for (const p of NUMERIC_PATH_PARAMS) path = path.replace(`:${p}`, bad);
        const res = await stack.api(
          route.method.toUpperCase(),
          `/api/v1${path}`,
          route.method === 'get' ? undefined : {},
        );
        const what = `${route.method.toUpperCase()} ${path}`;
        expect(res.status, what).toBe(400);
        expect(res.body, what).toEqual({
          error: {
            code: 'invalid_request',
            message: 'path parameter "number" must be a whole number from 1 to 2147483647',
            details: { parameter: 'number' },
          },
        });
      }
    }
  });

  it('still serves the largest valid number as a change that does not exist', async () => {
    const res = await stack.api('GET', '/api/v1/servers/demo/changes/2147483647');
    expect(res.status).toBe(404);
    expect((res.body as { error: { code: string } }).error.code).toBe('not_found');
    expect((await stack.api('GET', '/api/v1/servers/demo/changes/1')).status).toBe(200);
    expect((await stack.api('GET', '/api/v1/servers/demo/changes/0001')).status).toBe(200);
  });

  it('answers 404, not 500, for a preview route with a number past the database range', async () => {
    const res = await stack.api('POST', '/s/demo--pr-99999999999/mcp', { jsonrpc: '2.0', id: 1, method: 'ping' });
    expect(res.status).toBe(404);
  });
});
