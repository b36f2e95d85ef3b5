// Runs server scenarios of the official conformance CLI one after the other in one process, each as the CLI's own
// `server --scenario` command, unchanged. The CLI runs one scenario or a whole suite per process, and its start
// (importing its modules, ≈ 0.3 s) was most of a short run: here its entry is evaluated again for each command (a new
// module URL), while the modules it imports stay loaded. The CLI ends each command with process.exit(code), which
// this process takes as the command's end.
//
//   node runner.ts <CLI entry> <url> <output dir> <scenario to leave out>...
//
// prints `=== Scenarios: <name> <name>… (of <n> listed) ===`, then for each scenario `=== Running scenario: <name> ===`,
// the CLI's output, and `=== Scenario ended: <name> (exit <code>) ===`.

import { pathToFileURL } from 'node:url';

const [entry, url, outDir, ...leftOut] = process.argv.slice(2);
if (!entry || !url || !outDir) {
  console.error('usage: runner.ts <CLI entry> <url> <output dir> [scenario to leave out]...');
  process.exit(2);
}
const exit = process.exit.bind(process);
const log = console.log;
let evaluations = 0;

/** Runs one CLI command to its process.exit, or to its end when it does not exit (`list`); its exit code. */
async function command(args: string[], print: (line: string) => void = log, exits = true): Promise<number> {
  const ended = new Promise<number>((resolve) => {
    process.exit = ((code?: number | string | null) => {
      resolve(Number(code ?? process.exitCode ?? 0));
    }) as typeof process.exit;
  });
  console.log = (...parts: unknown[]) => print(parts.map(String).join(' '));
  process.argv = [process.argv[0] as string, entry as string, ...args];
  try {
    await import(`${pathToFileURL(entry as string).href}?command=${++evaluations}`);
    return exits ? await ended : 0;
  } finally {
    console.log = log;
  }
}

const listed: string[] = [];
await command(
  ['list', '--server'],
  (line) => {
    const m = /^\s+- (\S+)/.exec(line);
    if (m?.[1]) listed.push(m[1]);
  },
  false,
);
const skip = new Set(leftOut);
const scenarios = listed.filter((s) => !skip.has(s));
log(`=== Scenarios: ${scenarios.join(' ')} (of ${listed.length} listed) ===`);
for (const scenario of scenarios) {
  log(`=== Running scenario: ${scenario} ===`);
  const code = await command(['server', '--url', url, '--scenario', scenario, '--output-dir', outDir]);
  log(`=== Scenario ended: ${scenario} (exit ${code}) ===`);
}
exit(0);
