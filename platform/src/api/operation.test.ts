import type { Request } from 'express';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../errors.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';

/** A request as express hands it to a route handler of `method path`. */
const request = (method: string, path: string, parts: { params?: object; query?: object; body?: unknown }) =>
  ({ method, route: { path }, params: {}, query: {}, ...parts }) as unknown as Request;

/** The error `input` throws for a request, as the API renders it. */
function refusal(req: Request, op: Parameters<typeof input>[1]) {
  try {
    input(req, op);
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    return { status: err.status, code: err.code, message: err.message, details: err.details };
  }
  throw new Error('the request was accepted');
}

describe('input', () => {
  const create = (body: unknown) => request('POST', '/servers', { body });

  it('returns the parsed parameters, query and body', () => {
    const got = input(
      request('GET', '/servers/:name/tools', { params: { name: 'demo' }, query: { change: '0012' } }),
      ops.listTools,
    );
    expect(got).toEqual({ params: { name: 'demo' }, query: { change: 12 }, body: undefined });
    // No body at all counts as {}.
    expect(input(create(undefined), ops.createServer)).toEqual({ params: {}, query: {}, body: {} });
  });

  it('names the field, its expected type and what came instead', () => {
    expect(refusal(create({ name: 'demo', template: 5 }), ops.createServer)).toEqual({
      status: 400,
      code: 'invalid_request',
      message: 'body.template: expected string, got number',
      details: { field: 'template', issues: [{ path: 'body.template', message: 'expected string, got number' }] },
    });
    expect(refusal(create({ name: 'demo', template: 'echo', options: null }), ops.createServer).message).toBe(
      'body.options: expected object, got null',
    );
    const missing = refusal(
      request('POST', '/servers/:name/changes', { params: { name: 'demo' }, body: {} }),
      ops.openChange,
    );
    expect(missing.message).toBe('body.branch: missing (expected string)');
  });

  it('names each unknown field', () => {
    expect(refusal(create({ name: 'demo', template: 'echo', tmplate: 'x' }), ops.createServer).message).toBe(
      'body.tmplate: unknown field',
    );
  });

  it('speaks of the shape a body means when a route takes several', () => {
    // With `openapi` it is an import: its own fields are wrong, not `openapi` unknown to the template shape.
    expect(refusal(create({ name: 'demo', openapi: 5 }), ops.createServer).message).toBe(
      'body.openapi: expected string or object, got number',
    );
    expect(
      refusal(create({ name: 'demo', openapi: 'https://x/o.json', auth: { type: 'cookie' } }), ops.createServer)
        .message,
    ).toBe(
      'body.auth.type: Invalid option: expected one of "bearer"|"header"|"query"; body.auth.secret: missing (expected string)',
    );
  });

  it('lets through what a service checks with its own code', () => {
    expect(input(create({ name: 42, template: 'echo' }), ops.createServer).body).toEqual({
      name: 42,
      template: 'echo',
    });
    expect(input(create({ template: 'echo' }), ops.createServer).body).toEqual({ template: 'echo' });
  });

  it('lists at most five problems in the message, all of them in the details', () => {
    const body = Object.fromEntries(['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((k) => [k, 1]));
    const r = refusal(create({ name: 'demo', template: 'echo', ...body }), ops.createServer);
    expect(r.message).toMatch(/^body\.a: unknown field; .*; body\.e: unknown field; and 2 more$/);
    expect(r.details?.issues).toHaveLength(7);
  });

  it('refuses to parse a route with another route’s operation', () => {
    expect(() => input(request('GET', '/servers/:name', { params: { name: 'x' } }), ops.listServers)).toThrow(
      'GET /servers/:name parses its input as GET /servers',
    );
    expect(() => input(request('HEAD', '/servers', {}), ops.listServers)).not.toThrow();
  });
});
