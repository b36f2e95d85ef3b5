import { z } from 'zod';
import { parseEgressEntry } from './egress/policy.ts';
import { type Issue, ManifestError } from './errors.ts';
import { isServerName, SERVER_NAME_MESSAGE } from './names.ts';

export const TOOL_NAME = /^[a-zA-Z][a-zA-Z0-9_-]{0,63}$/;
/** A UI resource's URI (MCP Apps): `ui://<server>/<view>`, the view a lowercase name. */
export const UI_URI = /^ui:\/\/([a-z][a-z0-9-]{1,38}[a-z0-9])\/([a-z][a-z0-9-]{0,39})$/;
/** Where a view's HTML lives in the repo: a `.html` file under `ui/`. */
export const UI_SOURCE = /^ui\/(?:[A-Za-z0-9_-]+\/)*[A-Za-z0-9_-]+\.html$/;
/** An origin a view may reach (CSP): https or wss, a DNS name (one leading `*.` label at most), an optional port. */
export const UI_ORIGIN =
  /^(https|wss):\/\/(\*\.)?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+(?::\d{1,5})?$/;
export const SECRET_NAME = /^[A-Z][A-Z0-9_]*$/;
/** An OAuth scope token (RFC 6749 §3.3: printable ASCII without space, `"` or `\\`), at most 64 characters. */
export const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]{1,64}$/;
const scope = z
  .string()
  .regex(SCOPE_TOKEN, 'must be an OAuth scope: 1-64 printable characters without spaces, quotes or backslashes');
const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

const jsonValue = z.json();

export const toolAnnotationsSchema = z.strictObject({
  readOnlyHint: z.boolean().optional(),
  destructiveHint: z.boolean().optional(),
  idempotentHint: z.boolean().optional(),
  openWorldHint: z.boolean().optional(),
});

export const inputSchemaSchema = z
  .looseObject({
    type: z.literal('object'),
    properties: z.record(z.string(), z.record(z.string(), jsonValue)).default({}),
    required: z.array(z.string()).optional(),
  })
  .superRefine((schema, ctx) => {
    for (const [i, key] of (schema.required ?? []).entries()) {
      if (!(key in schema.properties)) {
        ctx.addIssue({ code: 'custom', path: ['required', i], message: `"${key}" is required but not in properties` });
      }
    }
  });

/** A tool's `outputSchema`: the JSON Schema of its `structuredContent` (an object, as MCP requires). */
export const outputSchemaSchema = z.looseObject({ type: z.literal('object') });

/** A tool's `_meta.ui` (MCP Apps): the view its results open in, and who may call it. */
export const toolUiMetaSchema = z.strictObject({
  resourceUri: z.string().regex(UI_URI, 'must be ui://<server>/<view>'),
  visibility: z
    .array(z.enum(['model', 'app']))
    .min(1, 'name at least one of "model", "app"')
    .optional(),
});

export const toolSpecSchema = z.strictObject({
  name: z.string().regex(TOOL_NAME, 'must start with a letter and hold only letters, digits, _ or - (max 64)'),
  title: z.string().min(1).optional(),
  description: z.string().min(1, 'must not be empty'),
  inputSchema: inputSchemaSchema,
  outputSchema: outputSchemaSchema.optional(),
  annotations: toolAnnotationsSchema.optional(),
  scopes: z.array(scope).optional(),
  _meta: z.strictObject({ ui: toolUiMetaSchema }).optional(),
});

/** One `egress` entry, judged by the shared egress policy (egress/policy.ts). */
export const egressEntrySchema = z.string().superRefine((entry, ctx) => {
  const parsed = parseEgressEntry(entry);
  if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.problem.message });
});

const origins = (what: string) =>
  z.array(z.string().regex(UI_ORIGIN, `must be an origin such as "https://api.example.com" (${what})`)).optional();

/** A view's content-security policy: the origins it may connect to, load from and frame (none by default). */
export const uiCspSchema = z.strictObject({
  connectDomains: origins('fetch, XHR, WebSocket'),
  resourceDomains: origins('images, scripts, styles, fonts, media'),
  frameDomains: origins('nested frames'),
});

/** A view's `_meta.ui`: its CSP, the browser permissions it asks for, and whether it wants a border. */
export const uiResourceMetaSchema = z.strictObject({
  csp: uiCspSchema.optional(),
  permissions: z
    .strictObject({
      camera: z.strictObject({}).optional(),
      microphone: z.strictObject({}).optional(),
      geolocation: z.strictObject({}).optional(),
      clipboardWrite: z.strictObject({}).optional(),
    })
    .optional(),
  prefersBorder: z.boolean().optional(),
});

/** A UI resource (MCP Apps): a `ui://` view served as `text/html;profile=mcp-app`, built from `source`. */
export const uiResourceSchema = z.strictObject({
  uri: z.string().regex(UI_URI, 'must be ui://<server>/<view> (view: lowercase letters, digits and -)'),
  name: z.string().min(1, 'must not be empty'),
  title: z.string().min(1).optional(),
  description: z.string().min(1).optional(),
  source: z.string().regex(UI_SOURCE, 'must be an .html file under ui/, e.g. "ui/grid.html"'),
  _meta: z.strictObject({ ui: uiResourceMetaSchema }).optional(),
});

/** Cross-field rules: each view is this server's, each tool's view is declared. */
function uiRules(
  manifest: {
    name: string;
    tools: { _meta?: { ui: { resourceUri: string } } | undefined }[];
    resources: { uri: string }[];
  },
  ctx: z.RefinementCtx,
): void {
  const declared = new Set<string>();
  for (const [i, resource] of manifest.resources.entries()) {
    if (declared.has(resource.uri)) {
      ctx.addIssue({ code: 'custom', path: ['resources', i, 'uri'], message: `duplicate resource "${resource.uri}"` });
    }
    declared.add(resource.uri);
    const server = UI_URI.exec(resource.uri)?.[1];
    if (server !== undefined && server !== manifest.name) {
      ctx.addIssue({
        code: 'custom',
        path: ['resources', i, 'uri'],
        message: `must name this server: ui://${manifest.name}/<view>, not ui://${server}/…`,
      });
    }
  }
  for (const [i, tool] of manifest.tools.entries()) {
    const uri = tool._meta?.ui.resourceUri;
    if (uri !== undefined && !declared.has(uri)) {
      ctx.addIssue({
        code: 'custom',
        path: ['tools', i, '_meta', 'ui', 'resourceUri'],
        message: `"${uri}" is not declared in "resources"`,
      });
    }
  }
}

function unique<T extends z.ZodType<string | { name: string }>>(item: T, what: string) {
  return z.array(item).superRefine((items, ctx) => {
    const seen = new Set<string>();
    for (const [i, it] of items.entries()) {
      const key = typeof it === 'string' ? it : (it as { name: string }).name;
      if (seen.has(key)) {
        ctx.addIssue({
          code: 'custom',
          path: typeof it === 'string' ? [i] : [i, 'name'],
          message: `duplicate ${what} "${key}"`,
        });
      }
      seen.add(key);
    }
  });
}

const manifestShape = {
  name: z.string().refine(isServerName, SERVER_NAME_MESSAGE),
  version: z.string().regex(SEMVER, 'must be a semantic version such as 1.0.0'),
  description: z.string().min(1, 'must not be empty'),
  secrets: unique(z.string().regex(SECRET_NAME, 'must be UPPER_SNAKE_CASE, e.g. API_KEY'), 'secret').default([]),
  egress: unique(egressEntrySchema, 'egress entry').default([]),
  limits: z
    .strictObject({
      cpu: z.number().positive().max(8).default(0.5),
      memoryMb: z.int().min(64).max(16384).default(512),
      timeoutMs: z.int().min(100).max(900_000).default(30_000),
    })
    .prefault({}),
  auth: z.strictObject({ scopes: z.array(scope).default(['mcp:tools']) }).prefault({}),
  resources: z.array(uiResourceSchema).default([]),
};

/** The manifest's fields without the cross-field rules (to pick from; validate with manifestSchema). */
export const manifestFieldsSchema = z.strictObject({
  ...manifestShape,
  tools: unique(toolSpecSchema, 'tool name').min(1, 'declare at least one tool'),
});

/** The `mcp.json` schema: the contract the platform, the gateway and the checks read. */
export const manifestSchema = manifestFieldsSchema.superRefine(uiRules);

export const serverToolSchema = toolSpecSchema.extend({ source: z.string().min(1, 'tool source must not be empty') });

/** A manifest plus, per tool, the TypeScript text of `src/tools/<tool>.ts`. */
export const serverSpecSchema = z
  .strictObject({
    ...manifestShape,
    tools: unique(serverToolSchema, 'tool name').min(1, 'declare at least one tool'),
  })
  .superRefine(uiRules);

export type ToolSpec = z.output<typeof toolSpecSchema>;
export type ToolAnnotations = z.output<typeof toolAnnotationsSchema>;
export type UiResource = z.output<typeof uiResourceSchema>;
export type UiResourceMeta = z.output<typeof uiResourceMetaSchema>;
export type Manifest = z.output<typeof manifestSchema>;
export type ManifestInput = z.input<typeof manifestSchema>;
export type ServerTool = z.output<typeof serverToolSchema>;
export type ServerSpec = z.output<typeof serverSpecSchema>;
export type ServerSpecInput = z.input<typeof serverSpecSchema>;

/** Renders a zod issue path as `tools[0].name` (or `(root)`). */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out === '' ? '(root)' : out;
}

/** Converts zod issues to `{ path, message }` pairs. */
export function toIssues(error: z.ZodError): Issue[] {
  return error.issues.map((issue) => ({ path: formatPath(issue.path), message: issue.message }));
}

/** Validates an already-parsed manifest value; throws ManifestError listing every problem. */
export function validateManifest(value: unknown): Manifest {
  const result = manifestSchema.safeParse(value);
  if (!result.success) throw new ManifestError(toIssues(result.error));
  return result.data;
}

/** Parses the text of `mcp.json`; throws ManifestError listing every problem (JSON syntax errors included). */
export function parseManifest(text: string): Manifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ManifestError([{ path: '(root)', message: `invalid JSON: ${(error as Error).message}` }]);
  }
  return validateManifest(value);
}

/** Validates a ServerSpec and applies the manifest defaults; throws ManifestError listing every problem. */
export function parseServerSpec(value: unknown): ServerSpec {
  const result = serverSpecSchema.safeParse(value);
  if (!result.success) throw new ManifestError(toIssues(result.error), 'ServerSpec');
  return result.data;
}

/** The manifest of a spec: the spec without tool sources, defaults applied. */
export function manifestOf(spec: ServerSpecInput): Manifest {
  const parsed = parseServerSpec(spec);
  return {
    ...parsed,
    tools: parsed.tools.map(({ source: _source, ...tool }) => tool),
  };
}
