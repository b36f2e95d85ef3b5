import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { z } from 'zod';
import { TemplateOptionsError } from '../errors.ts';
import type { RenderExtras } from '../render.ts';
import { parseServerSpec, type ServerSpecInput, type ToolSpec, toIssues, type UiResource } from '../spec.ts';
import type { Template } from './types.ts';

/** Where the templates' repo files live: `runner-template/templates/<template>/` (`_shared/` goes into every one). */
export const TEMPLATE_FILES_ROOT = fileURLToPath(new URL('../../templates/', import.meta.url));

const cache = new Map<string, Record<string, string>>();

/** The files of one folder under TEMPLATE_FILES_ROOT, repo-relative path → text (read once). */
export function templateFiles(folder: string): Record<string, string> {
  let files = cache.get(folder);
  if (!files) {
    const root = join(TEMPLATE_FILES_ROOT, folder);
    files = {};
    for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile()) continue;
      const full = join(entry.parentPath, entry.name);
      files[relative(root, full).split(sep).join('/')] = readFileSync(full, 'utf8');
    }
    cache.set(folder, files);
  }
  return { ...files };
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** A JSON value as TypeScript source in the repo's style (single quotes, bare keys, trailing commas). */
export function tsLiteral(value: Json, indent = ''): string {
  if (typeof value === 'string') return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    const flat = value.map((v) => tsLiteral(v, inner));
    const line = `[${flat.join(', ')}]`;
    if (!line.includes('\n') && indent.length + line.length < 90) return line;
    return `[\n${flat.map((v) => `${inner}${v},`).join('\n')}\n${indent}]`;
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return '{}';
  const body = entries.map(([k, v]) => `${inner}${IDENTIFIER.test(k) ? k : tsLiteral(k)}: ${tsLiteral(v, inner)},`);
  return `{\n${body.join('\n')}\n${indent}}`;
}

/** The text of a rendered `src/config.ts`: the template's options, where the tools read them. */
export function configFile(config: Json): string {
  return `// The settings this server was created with; the tools read them from here. Edit them in a pull request.\nexport const config = ${tsLiteral(config)};\n`;
}

/** Whether a URL's port is one the egress proxy lets tools reach (the scheme's default, 80 or 443). */
export function webPort(url: string): boolean {
  const port = new URL(url).port;
  return port === '' || port === '80' || port === '443';
}

export const WEB_PORT_MESSAGE = 'must use port 80 or 443: tools reach only the web ports';

/**
 * A tool of a static template: its manifest entry (the source is `src/tools/<name>.ts` of the template's folder);
 * `view` names one of the build's views, which becomes the tool's `_meta.ui.resourceUri`.
 */
export type StaticTool = Omit<ToolSpec, '_meta'> & { view?: { name: string; visibility?: ('model' | 'app')[] } };

/** A view of a static template (MCP Apps): a resource whose URI is `ui://<server>/<name>`. */
export type StaticView = Omit<UiResource, 'uri'>;

/** What a static template computes from its validated options. */
export interface StaticBuild {
  description: string;
  tools: StaticTool[];
  secrets?: string[];
  egress?: string[];
  /** The object `src/config.ts` exports (omitted: the template has no config file). */
  config?: Json;
  notes?: string;
  /** Files of the template's folder left out of this rendering (tools and tests an option turns off). */
  omit?: string[];
  /** Views (MCP Apps) under `ui/` of the template's folder. */
  views?: StaticView[];
}

/**
 * A template whose repo files are real files under `runner-template/templates/<name>/` (type-checked and
 * linted with this workspace): tools from `src/tools/`, helpers under `src/`, tests under `test/`.
 */
export function staticTemplate<S extends z.ZodType<Record<string, unknown>>>(def: {
  name: string;
  title: string;
  description: string;
  options: S;
  /** Runtime packages besides the pinned ones (vetted in the platform's dependency allowlist). */
  dependencies?: Record<string, string>;
  build(options: z.output<S>): StaticBuild;
}): Template {
  const parse = (options: Record<string, unknown> | undefined): z.output<S> => {
    const parsed = def.options.safeParse(options ?? {});
    if (!parsed.success) throw new TemplateOptionsError(def.name, toIssues(parsed.error));
    return parsed.data;
  };
  const assemble = (serverName: string, options: Record<string, unknown> | undefined) => {
    const built = def.build(parse(options));
    const files = { ...templateFiles('_shared'), ...templateFiles(def.name) };
    for (const path of built.omit ?? []) delete files[path];
    const uri = (view: string) => `ui://${serverName}/${view}`;
    const tools = built.tools.map(({ view, ...tool }) => {
      const path = `src/tools/${tool.name}.ts`;
      const source = files[path];
      if (source === undefined) throw new Error(`template ${def.name}: ${path} is missing`);
      delete files[path];
      if (view === undefined) return { ...tool, source };
      const ui = { resourceUri: uri(view.name), ...(view.visibility ? { visibility: view.visibility } : {}) };
      return { ...tool, source, _meta: { ui } };
    });
    const stray = Object.keys(files).filter((f) => f.startsWith('src/tools/'));
    if (stray.length > 0) throw new Error(`template ${def.name}: ${stray.join(', ')} declare no tool in the manifest`);
    if (built.config !== undefined) files['src/config.ts'] = configFile(built.config);
    const spec: ServerSpecInput = {
      name: serverName,
      version: '0.1.0',
      description: built.description,
      tools,
      secrets: built.secrets ?? [],
      egress: built.egress ?? [],
      resources: (built.views ?? []).map((view) => ({ uri: uri(view.name), ...view })),
    };
    const extras: RenderExtras = {
      files,
      scripts: { test: 'node --test' },
      ...(def.dependencies ? { dependencies: def.dependencies } : {}),
      ...(built.notes ? { notes: built.notes } : {}),
    };
    return { spec, extras };
  };
  return {
    name: def.name,
    title: def.title,
    description: def.description,
    options: def.options,
    spec: (serverName, options) => parseServerSpec(assemble(serverName, options).spec),
    extras: (serverName, options) => assemble(serverName, options).extras,
  };
}
