import { renderTemplate, templates } from '@bmms/runner-template';
import { afterAll, describe, expect, it } from 'vitest';
import { staticChecks } from '../src/checks/index.ts';
import { checkout, cleanup } from './check-helpers.ts';

afterAll(cleanup);

// Every template, rendered with its default options, must pass every static check with zero findings:
// a template that fails its own platform's checks would be a trap for whoever starts from it.
describe('every catalog template passes the static checks', () => {
  for (const name of Object.keys(templates)) {
    it(`${name}: manifest, surface, security, secrets and dependencies are green`, async () => {
      const serverName = `${name}-demo`;
      const input = await checkout(renderTemplate(name, serverName), { serverName });
      for (const check of staticChecks()) {
        const outcome = await check.run(input);
        expect(outcome.findings ?? [], `${check.name}: ${outcome.summary}`).toEqual([]);
        expect(outcome.conclusion, `${check.name}: ${outcome.summary}`).toBe('success');
      }
    });
  }
});
