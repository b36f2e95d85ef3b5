// Runs server scenarios of the official conformance CLI one after the other in one process, each as the CLI's own
// `server --scenario` command, unchanged. The CLI runs one scenario or a whole suite per process, and its start
// (loading its modules) was most of a short run: here it is loaded once, as one file (cli-bundle.ts), and its
// program parses each command in turn. The CLI ends each command with process.exit(code), which this process takes
// as the command's exit code.
//
//   node runner.ts <CLI bundle> <url> <output dir> <scenario to leave out>...
//
// writes to its stdout the CLI's output, and to its descriptor 3 (where the CLI, and what it prints of the server's
// answers, never write) one line `scenarios <name> <name>…`, then for each scenario `running <name>` and `ended <name>
// <exit code>`; the same lines go to stdout, between the CLI's, as `=== … ===`.

import { writeSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface Program {
  parseAsync(args: string[], options: { from: 'user' }): Promise<unknown>;
}

const [bundle, url, outDir, ...leftOut] = process.argv.slice(2);
if (!bundle || !url || !outDir) {
  console.error('usage: runner.ts <CLI bundle> <url> <output dir> [scenario to leave out]...');
  process.exit(2);
}
const exit = process.exit.bind(process);
let exitCode: number | undefined;
process.exit = ((code?: number | string | null) => {
  exitCode = Number(code ?? process.exitCode ?? 0);
}) as typeof process.exit;
const { program } = (await import(pathToFileURL(bundle).href)) as { program: Program };

/** Runs one CLI command to its end; its exit code. */
async function command(args: string[]): Promise<number> {
  exitCode = undefined;
  await program.parseAsync(args, { from: 'user' });
  return exitCode ?? 0;
}

const listed: string[] = [];
const log = console.log;
console.log = (...parts: unknown[]) => {
  const m = /^\s+- (\S+)/.exec(parts.map(String).join(' '));
  if (m?.[1]) listed.push(m[1]);
};
await command(['list', '--server']);
console.log = log;
/** Tells the check (descriptor 3) and the log (stdout). */
const say = (line: string) => {
  writeSync(3, `${line}\n`);
  log(`=== ${line} ===`);
};
const skip = new Set(leftOut);
const scenarios = listed.filter((s) => !skip.has(s));
say(`scenarios ${scenarios.join(' ')}`);
for (const scenario of scenarios) {
  say(`running ${scenario}`);
  const code = await command(['server', '--url', url, '--scenario', scenario, '--output-dir', outDir]);
  say(`ended ${scenario} ${code}`);
}
exit(0);
