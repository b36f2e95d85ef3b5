import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { render } from '@bmms/runner-template';

/** The check a hostile server must fail, and the rule that must name it. */
export interface Expect {
  what: string;
  check: 'security' | 'secrets' | 'dependencies' | 'manifest' | 'surface';
  rule: string;
}

type ArgType = 'string' | 'number' | 'integer' | 'boolean';

/** One tool of a fixture: its manifest entry and the full text of `src/tools/<name>.ts`. */
export interface ToolDef {
  name: string;
  description: string;
  /** Arguments as in the zod shape: `?` suffix = optional. */
  args?: Record<string, [ArgType, string]>;
  readOnly?: boolean;
  source: string;
}

/** A whole server repo of the corpus. */
export interface Fixture {
  name: string;
  description: string;
  tools: ToolDef[];
  secrets?: string[];
  egress?: string[];
  /** Hostile only: what it tries and which check/rule must reject it. */
  expect?: Expect;
  /** Edits the rendered files: for what render() refuses to produce (an invalid manifest, a stray file). */
  patch?: (files: Record<string, string>) => void;
}

/** The files of a fixture, exactly as render() writes a server repo (plus the fixture's patch and EXPECT.json). */
export function fixtureFiles(f: Fixture): Record<string, string> {
  const files = render({
    name: f.name,
    version: '1.0.0',
    description: f.description,
    secrets: f.secrets ?? [],
    egress: f.egress ?? [],
    tools: f.tools.map((t) => {
      const entries = Object.entries(t.args ?? {});
      return {
        name: t.name,
        description: t.description,
        inputSchema: {
          type: 'object' as const,
          properties: Object.fromEntries(
            entries.map(([key, [type, description]]) => [key.replace(/\?$/, ''), { type, description }]),
          ),
          required: entries.filter(([key]) => !key.endsWith('?')).map(([key]) => key),
        },
        annotations: {
          readOnlyHint: t.readOnly ?? true,
          destructiveHint: false,
          idempotentHint: t.readOnly ?? true,
          openWorldHint: (f.egress ?? []).length > 0,
        },
        source: t.source,
      };
    }),
  });
  f.patch?.(files);
  if (f.expect) files['EXPECT.json'] = `${JSON.stringify(f.expect, null, 2)}\n`;
  return files;
}

/** Writes fixtures under `root/<kind>/<name>/`, replacing what was there. */
export async function writeFixtures(root: string, kind: 'hostile' | 'legit', fixtures: Fixture[]): Promise<void> {
  await rm(path.join(root, kind), { recursive: true, force: true });
  for (const f of fixtures) {
    for (const [file, text] of Object.entries(fixtureFiles(f))) {
      const target = path.join(root, kind, f.name, file);
      await mkdir(path.dirname(target), { recursive: true });
      await writeFile(target, text);
    }
  }
}

/** A deterministic pseudo-random string (so the corpus is the same bytes on every run, and no real key is in Git). */
export function fakeKey(alphabet: string, length: number, seed: number): string {
  let x = seed >>> 0 || 1;
  let out = '';
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out += alphabet[x % alphabet.length];
  }
  return out;
}

export const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
export const UPPER_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
export const BASE64 = `${ALNUM}+/`;

/** The usual first lines of a tool file. */
export const HEAD = "import { defineTool } from '@bmms/runner-template/runtime';\nimport { z } from 'zod';\n";
