import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { renderTemplate } from '@bmms/runner-template';
import { afterAll, describe, expect, it } from 'vitest';
import { checkout, cleanup, tempDir } from '../../test/check-helpers.ts';
import { typecheckCheck, viewTsconfig } from './typecheck.ts';

afterAll(cleanup);

describe('typecheck check', () => {
  it('compiles with exactly the compiler options of the rendered tsconfig.json', async () => {
    const files = renderTemplate('echo', 'echo-demo');
    // A stand-in compiler entry point that prints the config the check hands to tsc (run by the real check).
    const tsc = path.join(await tempDir('bmms-tsc-'), 'tsc.mjs');
    await writeFile(
      tsc,
      "import { readFileSync } from 'node:fs';\nprocess.stdout.write(readFileSync(process.argv[process.argv.indexOf('-p') + 1], 'utf8'));\n",
    );
    const outcome = await typecheckCheck({ tscPath: tsc }).run(await checkout(files));
    const used = JSON.parse(outcome.log ?? '') as { compilerOptions: Record<string, unknown> };
    const rendered = JSON.parse(files['tsconfig.json'] ?? '') as { compilerOptions: Record<string, unknown> };
    // `pretty: false` only changes how diagnostics are printed, so the check can parse them.
    expect(used.compilerOptions).toEqual({ ...rendered.compilerOptions, pretty: false });
  });

  it('refuses syntax Node cannot strip (an enum), as the rendered tsconfig does', async () => {
    const files = { ...renderTemplate('echo', 'echo-demo'), 'src/colors.ts': 'export enum Color {\n  Red,\n}\n' };
    const outcome = await typecheckCheck().run(await checkout(files));
    expect(outcome.conclusion).toBe('failure');
    expect(outcome.summary).toContain('src/colors.ts:1: TS1294');
  });

  it("type-checks a view's scripts under ui/ with the DOM's types, with the rendered ui/tsconfig.json's options", async () => {
    const files = renderTemplate('data-grid', 'grid-demo', { url: 'https://api.example.com/items' });
    const green = await typecheckCheck().run(await checkout(files));
    expect(green.summary).toBe('tsc: no type errors');
    expect(green.conclusion).toBe('success');

    files['ui/grid.ts'] += "\nconst box = document.getElementById('filter');\nbox.value = 'x';\n";
    const outcome = await typecheckCheck().run(await checkout(files));
    expect(outcome.conclusion).toBe('failure');
    expect(outcome.summary).toMatch(
      /^2 type error\(s\):\nui\/grid\.ts:\d+: TS18047 'box' is possibly 'null'\.\nui\/grid\.ts:\d+: TS2339 Property 'value' does not exist on type 'HTMLElement'\.$/,
    );
    const rendered = JSON.parse(files['ui/tsconfig.json'] ?? '') as { compilerOptions: Record<string, unknown> };
    expect(viewTsconfig().compilerOptions).toEqual({ ...rendered.compilerOptions, pretty: false });
  }, 120_000);
});
