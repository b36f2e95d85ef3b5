import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseManifest } from '@bmms/runner-template';
import type { Check, CheckOutcome } from './types.ts';

/** `manifest`: mcp.json exists, is valid, names this server, and every tool has its module. */
export const manifestCheck: Check = {
  name: 'manifest',
  async run({ dir, serverName }): Promise<CheckOutcome> {
    let text: string;
    try {
      text = await readFile(path.join(dir, 'mcp.json'), 'utf8');
    } catch {
      return fail(['mcp.json: missing — every server repo needs a manifest at its root']);
    }
    let manifest: ReturnType<typeof parseManifest>;
    try {
      manifest = parseManifest(text);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      return fail(message.split('\n').map((l) => (l.startsWith('mcp.json') ? l : `mcp.json: ${l}`)));
    }
    const problems: string[] = [];
    if (manifest.name !== serverName) {
      problems.push(`mcp.json: name is "${manifest.name}" but this repository belongs to server "${serverName}"`);
    }
    const names = new Set<string>();
    for (const tool of manifest.tools) {
      if (names.has(tool.name)) problems.push(`mcp.json: tool "${tool.name}" is declared twice`);
      names.add(tool.name);
    }
    if (problems.length > 0) return fail(problems);
    const tools = manifest.tools.map((t) => t.name).join(', ') || 'none';
    const summary = `mcp.json is valid: ${manifest.tools.length} tool(s) (${tools}), ${manifest.secrets.length} secret name(s), egress: ${manifest.egress.join(', ') || 'none'}`;
    return { conclusion: 'success', summary, log: `${summary}\n` };
  },
};

function fail(lines: string[]): CheckOutcome {
  return { conclusion: 'failure', summary: lines.join('\n'), log: `${lines.join('\n')}\n` };
}
