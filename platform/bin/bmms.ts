#!/usr/bin/env node
// The `bmms` bin: Node 24 runs this TypeScript directly (type stripping), as `npm start` runs platform/src/main.ts.
import { main } from '../src/cli/main.ts';

process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
});
