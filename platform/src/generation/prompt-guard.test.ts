import { CREDENTIAL_SAMPLES } from '@bmms/gitserver/testing';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../errors.ts';
import { checkPrompt } from './generations.ts';

describe('prompt guard', () => {
  it.each(CREDENTIAL_SAMPLES.map((c) => [c.format, c] as const))(
    'refuses a prompt holding a %s, without repeating it',
    async (_, c) => {
      // A password is only a credential inside its URL: the prompt quotes the line that holds it.
      const quoted = c.rule === 'secret-url-password' ? c.line : c.value;
      const err = await checkPrompt(`A server that calls our billing API. Use this: ${quoted} thanks`).catch(
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError).code).toBe('prompt_contains_secret');
      expect((err as ApiError).status).toBe(400);
      expect((err as ApiError).message).toContain('it was not sent or stored');
      expect(JSON.stringify({ message: (err as ApiError).message, details: (err as ApiError).details })).not.toContain(
        c.value,
      );
    },
  );

  it('lets an ordinary prompt through, including URLs and names of secrets', async () => {
    const prompt =
      'A server that reads https://api.github.com/repos/{owner}/{repo}/issues with the secret GITHUB_TOKEN and posts to postgres://user:password@localhost/db';
    expect(await checkPrompt(prompt)).toBe(prompt);
  });
});
