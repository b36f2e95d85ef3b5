import { afterAll, describe, expect, it } from 'vitest';
import { renderTemplate, templates } from '../src/index.ts';
import { removeTempDirs, typecheck, writeRepo } from './helpers.ts';

afterAll(removeTempDirs);

describe('rendered repositories type-check', () => {
  for (const name of Object.keys(templates)) {
    it(`${name} passes tsc -p with zero errors`, async () => {
      const dir = writeRepo(renderTemplate(name, `${name}-demo`, {}));
      const result = await typecheck(dir);
      expect(result.output).toBe('');
      expect(result.code).toBe(0);
    });
  }

  it('a broken tool file makes tsc fail', async () => {
    const files = renderTemplate('echo', 'broken-demo');
    files['src/tools/add.ts'] = (files['src/tools/add.ts'] ?? '').replace('String(a + b)', 'a.toUpperCase()');
    const result = await typecheck(writeRepo(files));
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(
      /src\/tools\/add\.ts\(\d+,\d+\): error TS2339: Property 'toUpperCase' does not exist/,
    );
  });

  it('a tool returning something that is not a tool result makes tsc fail', async () => {
    const files = renderTemplate('echo', 'broken-demo');
    files['src/tools/echo.ts'] = (files['src/tools/echo.ts'] ?? '').replace('=> text', '=> new Date()');
    const result = await typecheck(writeRepo(files));
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('src/tools/echo.ts');
  });
});
