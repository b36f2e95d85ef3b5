import { describe, expect, it } from 'vitest';
import { DOCUMENT_FIELDS, firstUnstorable, storableText, unstorable, unstorableRequest } from './storable.ts';

describe('strings the database cannot store', () => {
  it('are the ones with a NUL or an unpaired surrogate; paired surrogates (emoji) and other controls are fine', () => {
    expect(unstorable('a\u0000b')).toMatch(/NUL/);
    expect(unstorable('k\ud800')).toMatch(/unpaired UTF-16 surrogate/);
    expect(unstorable('\udc00k')).toMatch(/unpaired UTF-16 surrogate/);
    for (const fine of ['', 'plain', '😀 emoji', 'tab\tand\u0001bell', '\uFFFD']) expect(unstorable(fine)).toBeNull();
  });

  it('are made storable by replacing each with U+FFFD, keeping emoji', () => {
    expect(storableText('a\u0000b\ud800c😀')).toBe('a\uFFFDb\uFFFDc😀');
  });

  it('are found at their path, field names included, first in document order', () => {
    const body = { name: 'ok', tools: [{ name: 'fine' }, { name: 'x\u0000' }], later: 'y\u0000' };
    expect(firstUnstorable(body, 'body')).toEqual({
      path: 'body.tools.1.name',
      field: 'tools.1.name',
      message: expect.stringMatching(/NUL/),
    });
    expect(firstUnstorable({ options: { 'k\u0000': 1 } }, 'body')).toEqual({
      path: 'body.options."k\\u0000"',
      field: 'options."k\\u0000"',
      message: expect.stringMatching(/^the field name contains a NUL/),
    });
    expect(firstUnstorable({ action: '\u0000' }, 'query')?.path).toBe('query.action');
    expect(firstUnstorable({ a: ['b', { c: [1, null, true, 'd'] }] }, 'body')).toBeNull();
  });

  it('cuts a long field name in the path it reports', () => {
    const found = firstUnstorable({ ['k'.repeat(5000)]: '\u0000' }, 'body');
    expect(found?.path).toBe(`body.${'k'.repeat(100)}…`);
  });

  it('skips what is data (an OpenAPI document) at the top only, and objects that are not parsed JSON', () => {
    const doc = { openapi: { info: { title: 'T\u0000' } }, nested: { openapi: 'x\u0000' } };
    expect(firstUnstorable(doc, 'body', DOCUMENT_FIELDS)?.path).toBe('body.nested.openapi');
    expect(firstUnstorable({ openapi: 'T\ud800' }, 'body', DOCUMENT_FIELDS)).toBeNull();
    expect(firstUnstorable(Buffer.from('\u0000'), 'body')).toBeNull();
  });

  it('walks a deeply nested body without overflowing the stack', () => {
    let deep: unknown = 'bottom\u0000';
    for (let i = 0; i < 200_000; i++) deep = [deep];
    expect(firstUnstorable(deep, 'body')?.message).toMatch(/NUL/);
  });

  it('are refused as 400 invalid_request naming a body field or a parameter', () => {
    const body = unstorableRequest({ path: 'body.name', field: 'name', message: 'contains a NUL' });
    expect(body).toMatchObject({
      code: 'invalid_request',
      status: 400,
      message: 'body.name: contains a NUL',
      details: { field: 'name', issues: [{ path: 'body.name', message: 'contains a NUL' }] },
    });
    const query = unstorableRequest({ path: 'query.q', field: 'q', message: 'contains a NUL' });
    expect(query.details).toEqual({ parameter: 'q', issues: [{ path: 'query.q', message: 'contains a NUL' }] });
  });
});
