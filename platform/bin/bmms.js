#!/usr/bin/env node
// The `bmms` bin. The CLI is TypeScript that Node 26 runs directly (type stripping); an older `node` first on PATH
// (outside `npx`, which puts the checkout's Node 26 first) hands over to the checkout's node_modules/.bin/node.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const major = Number(process.versions.node.split('.')[0]);
if (major >= 26) {
  await import('../src/cli/bin.ts');
} else {
  const node = fileURLToPath(new URL('../../node_modules/.bin/node', import.meta.url));
  if (!existsSync(node)) {
    process.stderr.write(`bmms: needs Node 26 or later (this is ${process.version}); run it with npx bmms\n`);
    process.exit(1);
  }
  const script = fileURLToPath(new URL('../src/cli/bin.ts', import.meta.url));
  const child = spawnSync(node, [script, ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(child.status ?? 1);
}
