import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ManifestError, parseManifest } from '@bmms/runner-template';
import type { Check, CheckOutcome } from './types.ts';

/** `manifest`: mcp.json exists, is valid (schema, unique tool names) and names this server. */
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
      if (err instanceof ManifestError) return fail(err.issues.map((i) => `mcp.json: ${i.path}: ${i.message}`));
      return fail([`mcp.json: ${err instanceof Error ? err.message : String(err)}`]);
    }
    if (manifest.name !== serverName) {
      return fail([`mcp.json: name: is "${manifest.name}" but this repository belongs to server "${serverName}"`]);
    }
    const tools = manifest.tools.map((t) => t.name).join(', ') || 'none';
    const summary = `mcp.json is valid: ${manifest.tools.length} tool(s) (${tools}), ${manifest.secrets.length} secret name(s), egress: ${manifest.egress.join(', ') || 'none'}`;
    return { conclusion: 'success', summary, log: `${summary}\n` };
  },
};

function fail(lines: string[]): CheckOutcome {
  return { conclusion: 'failure', summary: lines.join('\n'), log: `${lines.join('\n')}\n` };
}
