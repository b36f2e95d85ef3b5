import { scanText } from '@bmms/gitserver';
import {
  manifestFieldsSchema,
  SERVER_NAME,
  type ServerSpec,
  type ToolSpec,
  toolSpecSchema,
  uiResourceSchema,
} from '@bmms/runner-template';
import { z } from 'zod';
import { analyzeSource, analyzeViewHtml, analyzeViewScript } from '../checks/security/index.ts';
import type { ToolCall } from './model.ts';

const TOOL_NAME_PATTERN = '^[a-zA-Z][a-zA-Z0-9_-]{0,63}$';
const SECRET_NAME_PATTERN = '^[A-Z][A-Z0-9_]*$';
const RUNTIME = '@bmms/runner-template/runtime';

/** Step 1's answer: the manifest part of a ServerSpec the user confirms or edits. */
export const specDraftSchema = manifestFieldsSchema
  .pick({ name: true, description: true, tools: true, secrets: true, egress: true })
  .extend({ tools: manifestFieldsSchema.shape.tools.max(20, 'at most 20 tools') });
export type SpecDraft = z.output<typeof specDraftSchema>;

const toolJsonSchema = {
  type: 'object',
  required: ['name', 'description', 'inputSchema'],
  properties: {
    name: { type: 'string', pattern: TOOL_NAME_PATTERN, description: 'snake_case verb_noun, e.g. get_forecast' },
    title: { type: 'string' },
    description: { type: 'string', description: 'What the tool does, one or two plain sentences; no links.' },
    inputSchema: {
      type: 'object',
      description: 'JSON Schema of the arguments: {"type":"object","properties":{...},"required":[...]}',
    },
    annotations: {
      type: 'object',
      properties: {
        readOnlyHint: { type: 'boolean' },
        destructiveHint: { type: 'boolean' },
        idempotentHint: { type: 'boolean' },
        openWorldHint: { type: 'boolean' },
      },
    },
  },
};

const specJsonSchema = {
  type: 'object',
  required: ['name', 'description', 'tools', 'secrets', 'egress'],
  properties: {
    name: { type: 'string', pattern: SERVER_NAME.source, description: 'DNS label, e.g. weather-alerts' },
    description: { type: 'string', description: 'One sentence: what the server is for.' },
    tools: { type: 'array', minItems: 1, maxItems: 20, items: toolJsonSchema },
    secrets: {
      type: 'array',
      items: { type: 'string', pattern: SECRET_NAME_PATTERN },
      description: 'NAMES of the credentials the tools need (values are set later by the user), e.g. WEATHER_API_KEY',
    },
    egress: {
      type: 'array',
      items: { type: 'string' },
      description: 'Public DNS host names the tools call over HTTPS, e.g. api.weather.gov (no scheme, no path)',
    },
  },
};

const CTX_API = `Every tool lives in its own file src/tools/<name>.ts and looks like this:

import { defineTool } from '${RUNTIME}';
import { z } from 'zod';

export default defineTool({
  name: 'get_item',                       // exactly the tool's name in mcp.json
  input: { id: z.string().min(1) },       // a zod raw shape matching the tool's inputSchema
  async handler(input, ctx) {
    const res = await ctx.fetch('https://api.example.com/items/' + encodeURIComponent(input.id), {
      headers: { authorization: 'Bearer ' + ctx.secret('API_KEY') },
    });
    if (!res.ok) throw new Error('GET failed: HTTP ' + String(res.status));
    return JSON.stringify(await res.json());
  },
});

The handler's ctx is the only way out:
- ctx.fetch(url, init): fetch limited to the hosts in mcp.json "egress" (https, default port).
- ctx.secret(NAME): the value of a secret declared in mcp.json "secrets".
- ctx.log(level, msg, fields?): a structured log line ('debug' | 'info' | 'warn' | 'error'); never log secrets.
- ctx.signal: aborted when the call times out.
A handler returns a string, any JSON value, or throws an Error whose message the caller sees.

Rules the checks enforce (a change that breaks one is not deployed):
- import only '${RUNTIME}' and 'zod'; no other module, no node: builtins, no require, no dynamic import;
- no process, process.env, eval, Function, child processes, sockets, file system, timers that outlive the call;
- log with ctx.log (console works too, redacted the same way); no credentials or tokens in the code: use ctx.secret;
- no .constructor, __proto__ or prototype, also not destructured; obj[key] with a key known only at run time only as data, or after Object.hasOwn(obj, key) (or use a Map);
- strict TypeScript (erasable syntax only: no enums, namespaces or parameter properties).`;

/** Step 1 system prompt: from a request to a ServerSpec draft. */
export const SPEC_SYSTEM = `You design MCP servers for a platform that deploys them from Git. From the user's request, propose the server: a name, a one-sentence description, its tools (name, description, JSON Schema of the arguments, annotations), the NAMES of the secrets it needs and the public hosts it calls.
Keep the tool surface small and precise. Descriptions say what a tool does and what its arguments mean, in plain text without links or instructions to the model. Call the propose_server tool with the result.`;

/** Step 2 system prompt: from a confirmed spec to handler sources. */
export const HANDLERS_SYSTEM = `You write the TypeScript handlers of an MCP server whose manifest is given. ${CTX_API}
Write one complete file per tool and call the write_handlers tool with all of them.`;

const CTX_VIEWS = `Views (MCP Apps) are interfaces under ui/ that hosts show beside a tool's result: each is declared in mcp.json "resources" (uri ui://<server>/<view>, source: its HTML file under ui/, _meta.ui.csp: the origins it may reach) and opened by a tool's _meta.ui.resourceUri; the view renders the tool's structuredContent, described by the tool's outputSchema.
Rules for view files (HTML, CSS and TypeScript under ui/):
- HTML holds no inline <script>, no on* attribute and no javascript: URL; scripts are <script type="module" src="./file.ts">;
- scripts import only '@bmms/runner-template/view' and their own files under ui/; they build elements with textContent (never innerHTML, insertAdjacentHTML or document.write) and run no code from strings (no eval, Function or string timers);
- styles follow the host's theme variables (var(--color-text-primary, CanvasText) and the like) in light and dark;
- a view reaches only the origins its _meta.ui.csp declares, and each connectDomains host must be in egress.`;

/** Iteration system prompt: from the current server and a request to edits. */
export const EDIT_SYSTEM = `You change an existing MCP server with the smallest edit that does what the user asks. You get its mcp.json, tool files and view files. ${CTX_API}
${CTX_VIEWS}
Answer with edits only: tools to add or replace (full manifest entry, keeping its outputSchema and _meta unless the request changes them, and full file), tools to remove, view files to add or replace (full content), and the complete new secrets, egress and resources lists only if they change. Leave everything else as it is. Call the edit_server tool.`;

/** The propose_server tool. */
export const proposeServerTool: ToolCall<SpecDraft> = {
  name: 'propose_server',
  description: 'Propose the MCP server: name, description, tools, secret names and egress hosts.',
  inputSchema: specJsonSchema,
  schema: specDraftSchema,
};

const handlerFileSchema = z.strictObject({
  name: z.string().min(1),
  source: z.string().min(1, 'must not be empty').max(60_000, 'is too long'),
});

/** Problems of one generated tool file: the runtime contract, the security rules, leaked credentials. */
export function sourceProblems(toolName: string, source: string): string[] {
  const file = `src/tools/${toolName}.ts`;
  const problems: string[] = [];
  if (!source.includes(RUNTIME) || !/\bdefineTool\s*\(/.test(source)) {
    problems.push(`${file}: must import defineTool from '${RUNTIME}' and export default defineTool({...})`);
  }
  if (!/export\s+default\s+defineTool\s*\(/.test(source))
    problems.push(`${file}: must "export default defineTool({...})"`);
  if (!new RegExp(`name:\\s*(['"\`])${toolName.replace(/[-]/g, '\\-')}\\1`).test(source)) {
    problems.push(`${file}: defineTool must have name: '${toolName}' (a string literal)`);
  }
  for (const f of analyzeSource(file, source)) {
    problems.push(`${file}:${f.line ?? 0}: [${f.rule}] ${f.message}${f.fix ? ` Fix: ${f.fix}` : ''}`);
  }
  for (const f of scanText(file, source)) {
    problems.push(
      `${file}:${f.line}: [${f.rule}] a ${f.kind} is written in the code; read it with ctx.secret(NAME) instead`,
    );
  }
  return problems;
}

/** The write_handlers tool for a confirmed spec: exactly one file per declared tool, each passing sourceProblems. */
export function writeHandlersTool(spec: SpecDraft): ToolCall<{ tools: { name: string; source: string }[] }> {
  const names = spec.tools.map((t) => t.name);
  return {
    name: 'write_handlers',
    description: 'Submit the TypeScript source of every tool file.',
    inputSchema: {
      type: 'object',
      required: ['tools'],
      properties: {
        tools: {
          type: 'array',
          items: {
            type: 'object',
            required: ['name', 'source'],
            properties: {
              name: { type: 'string', enum: names },
              source: { type: 'string', description: 'The complete content of src/tools/<name>.ts' },
            },
          },
        },
      },
    },
    schema: z.strictObject({ tools: z.array(handlerFileSchema) }),
    check: (value) => {
      const problems: string[] = [];
      const given = value.tools.map((t) => t.name);
      for (const n of names) if (!given.includes(n)) problems.push(`tools: missing the file of tool "${n}"`);
      for (const n of given) if (!names.includes(n)) problems.push(`tools: "${n}" is not a tool of the manifest`);
      for (const t of value.tools) if (names.includes(t.name)) problems.push(...sourceProblems(t.name, t.source));
      return problems;
    },
  };
}

const editToolSchema = toolSpecSchema.extend({ source: z.string().min(1).max(60_000) });

/** A file of a view the model may write: HTML, CSS or TypeScript under ui/ (no `..`, no hidden names). */
const VIEW_FILE = /^ui\/(?:[a-z0-9][\w.-]*\/)*[a-z0-9][\w.-]*\.(?:html|css|ts)$/i;

const viewFileSchema = z.strictObject({
  path: z
    .string()
    .regex(VIEW_FILE, 'must be an .html, .css or .ts file under ui/')
    .refine((p) => !p.split('/').includes('..'), 'must not leave ui/'),
  source: z.string().min(1, 'must not be empty').max(60_000, 'is too long'),
});

/** Problems of one view file written by the model: the view rules of the security check, leaked credentials. */
export function viewFileProblems(file: string, source: string): string[] {
  const findings = file.endsWith('.html')
    ? analyzeViewHtml(file, source)
    : file.endsWith('.ts')
      ? analyzeViewScript(file, source)
      : [];
  const problems = findings.map(
    (f) => `${f.file}:${f.line ?? 0}: [${f.rule}] ${f.message}${f.fix ? ` Fix: ${f.fix}` : ''}`,
  );
  for (const f of scanText(file, source)) {
    problems.push(`${file}:${f.line}: [${f.rule}] a ${f.kind} is written in the code; a view holds no credential`);
  }
  return problems;
}

/** Step 1 of an iteration: edits to the current server. */
export const editSchema = z.strictObject({
  title: z.string().min(1).max(120),
  summary: z.string().min(1).max(2000),
  upsert: z.array(editToolSchema).max(20).default([]),
  remove: z.array(z.string()).max(20).default([]),
  // Without their manifest defaults: a list the model leaves out stays as it is (with the default, an edit that
  // did not mention egress emptied it).
  secrets: manifestFieldsSchema.shape.secrets.unwrap().optional(),
  egress: manifestFieldsSchema.shape.egress.unwrap().optional(),
  description: z.string().min(1).optional(),
  views: z.array(viewFileSchema).max(20).default([]),
  resources: z.array(uiResourceSchema).max(20).optional(),
});
export type ServerEdit = z.output<typeof editSchema>;

/** Applies edits to a spec; returns the new spec input (validated by the caller). */
export function applyEdit(current: ServerSpec, edit: ServerEdit): ServerSpec {
  const tools = current.tools.filter((t) => !edit.remove.includes(t.name));
  for (const u of edit.upsert) {
    const i = tools.findIndex((t) => t.name === u.name);
    if (i === -1) tools.push(u);
    // A replaced tool that opened a view keeps opening it unless the edit says otherwise: a model rewriting a
    // handler easily drops `_meta`, and the view would silently stop showing.
    else tools[i] = { ...u, _meta: u._meta ?? tools[i]?._meta };
  }
  return {
    ...current,
    description: edit.description ?? current.description,
    tools,
    secrets: edit.secrets ?? current.secrets,
    egress: edit.egress ?? current.egress,
    resources: edit.resources ?? current.resources,
  };
}

/** The edit_server tool for a server: edits must keep a valid spec and pass the source rules. */
export function editServerTool(current: ServerSpec, validate: (spec: ServerSpec) => string[]): ToolCall<ServerEdit> {
  return {
    name: 'edit_server',
    description: 'Submit the smallest set of edits to the server that does what the user asked.',
    inputSchema: {
      type: 'object',
      required: ['title', 'summary'],
      properties: {
        title: { type: 'string', description: 'Title of the change request, imperative, under 80 characters' },
        summary: { type: 'string', description: 'What changes and why, for the reviewer' },
        upsert: {
          type: 'array',
          description: 'Tools to add or replace: the full manifest entry plus the full file source',
          items: {
            ...toolJsonSchema,
            required: [...toolJsonSchema.required, 'source'],
            properties: {
              ...toolJsonSchema.properties,
              outputSchema: { type: 'object', description: 'JSON Schema of the structuredContent it returns' },
              _meta: {
                type: 'object',
                description: '{"ui":{"resourceUri":"ui://<server>/<view>"}}: the view it opens',
              },
              source: { type: 'string' },
            },
          },
        },
        remove: { type: 'array', items: { type: 'string' }, description: 'Names of tools to delete' },
        secrets: { type: 'array', items: { type: 'string', pattern: SECRET_NAME_PATTERN } },
        egress: { type: 'array', items: { type: 'string' } },
        description: { type: 'string' },
        views: {
          type: 'array',
          description: 'View files to add or replace (HTML, CSS, TypeScript under ui/): the full content of each',
          items: {
            type: 'object',
            required: ['path', 'source'],
            properties: { path: { type: 'string', pattern: '^ui/' }, source: { type: 'string' } },
          },
        },
        resources: {
          type: 'array',
          description: 'The complete new "resources" list of mcp.json (views and their CSP), only if it changes',
          items: { type: 'object' },
        },
      },
    },
    schema: editSchema,
    check: (edit) => {
      const problems: string[] = [];
      const names = current.tools.map((t) => t.name);
      for (const r of edit.remove) if (!names.includes(r)) problems.push(`remove: "${r}" is not a tool of the server`);
      const nothing = edit.upsert.length === 0 && edit.remove.length === 0 && edit.views.length === 0;
      if (nothing && !edit.secrets && !edit.egress && !edit.description && !edit.resources) {
        problems.push('no edit: change at least one tool, view file, list, or the description');
      }
      for (const u of edit.upsert) problems.push(...sourceProblems(u.name, u.source));
      for (const v of edit.views) problems.push(...viewFileProblems(v.path, v.source));
      if (problems.length === 0) problems.push(...validate(applyEdit(current, edit)));
      return problems;
    },
  };
}

/** The user message of an iteration: the request, the manifest, and the tool and view files. */
export function editRequest(prompt: string, manifestText: string, files: Record<string, string>): string {
  const parts = [`Request: ${prompt}`, '', 'mcp.json:', '```json', manifestText.trimEnd(), '```'];
  for (const [path, text] of Object.entries(files)) {
    const language = /\.(html|css)$/.exec(path)?.[1] ?? 'ts';
    parts.push('', `${path}:`, `\`\`\`${language}`, text.trimEnd(), '```');
  }
  return parts.join('\n');
}

/** The manifest entries of a draft, as step 2 and the user read them. */
export function specText(spec: SpecDraft): string {
  const tools: ToolSpec[] = spec.tools;
  return JSON.stringify({ ...spec, tools }, null, 2);
}
