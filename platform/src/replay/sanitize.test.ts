import { describe, expect, it } from 'vitest';
import {
  SECRET_MARK,
  sanitizeBody,
  sanitizeHeaders,
  sanitizeText,
  sanitizeUrl,
  sanitizeValue,
  TOKEN_MARK,
} from './sanitize.ts';

const SECRET = 'hunter2-s3cret-value';

describe('sanitizing what a recording keeps', () => {
  it('replaces every occurrence of a secret value, wherever it sits in a string', () => {
    expect(sanitizeText(`before ${SECRET} and ${SECRET}after`, [SECRET])).toBe(
      `before ${SECRET_MARK} and ${SECRET_MARK}after`,
    );
  });

  it('replaces bearer tokens, JWTs, API keys with known prefixes and long opaque keys', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJlLXZhbHVl';
    const text = [
      'Bearer abcdefgh12345678',
      jwt,
      'bmms_0123456789abcdefABCDEF',
      'ghp_0123456789abcdefghijABCDEFGHIJ012345',
      'sk-live-0123456789abcdef',
      'AKIAIOSFODNN7EXAMPLE',
      'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8',
    ].join(' | ');
    const out = sanitizeText(text, []);
    expect(out.split(' | ')).toEqual(Array(7).fill(TOKEN_MARK));
  });

  it('keeps ordinary words, numbers and short identifiers', () => {
    expect(sanitizeText('hello world 42, order ABC-123, a-very-long-but-plain-hyphenated-phrase', [])).toBe(
      'hello world 42, order ABC-123, a-very-long-but-plain-hyphenated-phrase',
    );
  });

  it('replaces the values of fields named like credentials, at any depth, and sanitizes keys and strings', () => {
    const value = {
      text: `my key is ${SECRET}`,
      nested: [{ api_key: 'anything', Authorization: 'x', password: 'p', count: 3, note: null }],
      accessToken: 'whatever',
    };
    expect(sanitizeValue(value, [SECRET])).toEqual({
      text: `my key is ${SECRET_MARK}`,
      nested: [{ api_key: TOKEN_MARK, Authorization: TOKEN_MARK, password: TOKEN_MARK, count: 3, note: null }],
      accessToken: TOKEN_MARK,
    });
  });

  it('drops user info and credential query parameters from URLs, keeping the rest', () => {
    expect(sanitizeUrl(`https://user:pw@api.test/items/7?api_key=${SECRET}&q=blue`, [SECRET])).toBe(
      `https://api.test/items/7?api_key=${encodeURIComponent(TOKEN_MARK)}&q=blue`,
    );
  });

  it('keeps only harmless response headers', () => {
    expect(
      sanitizeHeaders(
        {
          'content-type': 'application/json',
          'set-cookie': ['a=b'],
          'x-api-token': 't',
          authorization: 'Bearer x',
          date: 'now',
        },
        [],
      ),
    ).toEqual({ 'content-type': 'application/json' });
  });

  it('sanitizes JSON bodies field by field and other bodies as text', () => {
    expect(JSON.parse(sanitizeBody(JSON.stringify({ token: 'abc', echo: SECRET }), [SECRET]))).toEqual({
      token: TOKEN_MARK,
      echo: SECRET_MARK,
    });
    expect(sanitizeBody(`plain ${SECRET}`, [SECRET])).toBe(`plain ${SECRET_MARK}`);
  });
});
