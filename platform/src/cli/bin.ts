// The CLI's process entry, loaded by platform/bin/bmms.js: Node 26 runs this TypeScript directly (type stripping), as
// `npm start` runs platform/src/main.ts.
import { main } from './main.ts';

process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
});
