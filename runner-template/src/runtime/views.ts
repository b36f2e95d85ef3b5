import {
  EXTENSION_ID,
  getUiCapability,
  RESOURCE_MIME_TYPE,
  RESOURCE_URI_META_KEY,
} from '@modelcontextprotocol/ext-apps/server';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import {
  type ClientCapabilities,
  ErrorCode,
  InitializeRequestSchema,
  LATEST_PROTOCOL_VERSION,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  McpError,
  ReadResourceRequestSchema,
  type Resource,
  type ServerCapabilities,
  SUPPORTED_PROTOCOL_VERSIONS,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import type { Manifest, ToolSpec } from '../spec.ts';

/**
 * MCP Apps (the `io.modelcontextprotocol/ui` extension): the server's `ui://` views, served by `resources/list`
 * and `resources/read` as `text/html;profile=mcp-app`. The HTML of each view is built from the repo's `ui/` folder
 * into one self-contained file by the platform's bundler, which hands it to the runtime through VIEWS_KEY.
 */

export { EXTENSION_ID as UI_EXTENSION_ID, RESOURCE_MIME_TYPE as UI_MIME_TYPE };

/** The global the bundler sets before the server's code runs: `{ [uri]: html }` (reconciler/src/views.ts). */
export const VIEWS_KEY = Symbol.for('bmms.views');

/** JSON-RPC error of `resources/read` for a URI the server does not have (MCP's resource-not-found). */
const RESOURCE_NOT_FOUND = -32002;

/** The built views the bundler injected, or undefined when the server runs from source (`npm start`). */
export function injectedViews(): Record<string, string> | undefined {
  const value = (globalThis as Record<symbol, unknown>)[VIEWS_KEY];
  return typeof value === 'object' && value !== null ? (value as Record<string, string>) : undefined;
}

/** The views of a manifest: each declared resource's built HTML; throws naming a declared view without one. */
export function viewsOf(manifest: Manifest, built: Record<string, string> | undefined): Map<string, string> {
  const views = new Map<string, string>();
  if (built === undefined) return views;
  const missing = manifest.resources.filter((r) => typeof built[r.uri] !== 'string').map((r) => r.uri);
  if (missing.length > 0) throw new Error(`views declared in mcp.json but not built: ${missing.join(', ')}`);
  for (const resource of manifest.resources) views.set(resource.uri, built[resource.uri] as string);
  return views;
}

/** A tool's `_meta` on the wire: `ui` as the extension defines it, plus the flat key older hosts read. */
export function toolMeta(tool: ToolSpec): Tool['_meta'] | undefined {
  if (tool._meta === undefined) return undefined;
  return { ui: { ...tool._meta.ui }, [RESOURCE_URI_META_KEY]: tool._meta.ui.resourceUri };
}

/** Whether a tool's results carry `structuredContent`: it declares an output schema or opens a view. */
export function returnsStructure(tool: ToolSpec | undefined): boolean {
  return tool !== undefined && (tool.outputSchema !== undefined || tool._meta !== undefined);
}

/** The `resources/list` answer: every view with the MCP Apps MIME type and its `_meta.ui`. */
export function listedResources(manifest: Manifest): Resource[] {
  return manifest.resources.map((resource) => {
    const listed: Resource = { uri: resource.uri, name: resource.name, mimeType: RESOURCE_MIME_TYPE };
    if (resource.title !== undefined) listed.title = resource.title;
    if (resource.description !== undefined) listed.description = resource.description;
    if (resource._meta !== undefined) listed._meta = { ui: resource._meta.ui };
    return listed;
  });
}

/**
 * Whether a client's `initialize` capabilities declare MCP Apps: the extension, with `text/html;profile=mcp-app`
 * among its MIME types (the extension's own test, `getUiCapability(...)?.mimeTypes?.includes(RESOURCE_MIME_TYPE)`;
 * a client naming the extension for other profiles only cannot show these views).
 */
export function declaresUi(capabilities: ClientCapabilities | undefined): boolean {
  return getUiCapability(capabilities)?.mimeTypes?.includes(RESOURCE_MIME_TYPE) === true;
}

/**
 * Adds the views to one request's SDK Server: the `resources` capability, `resources/list`, `resources/read`, and
 * an `initialize` that answers the extension to a client declaring it (others see plain MCP: tools whose results
 * carry text as well as structure).
 */
export function serveViews(
  server: Server,
  manifest: Manifest,
  views: ReadonlyMap<string, string>,
  serverCapabilities: ServerCapabilities,
): void {
  const capabilities = { ...serverCapabilities, resources: {} };
  server.registerCapabilities({ resources: {} });
  const listed = listedResources(manifest);
  server.setRequestHandler(ListResourcesRequestSchema, () => ({ resources: listed }));
  server.setRequestHandler(ListResourceTemplatesRequestSchema, () => ({ resourceTemplates: [] }));
  server.setRequestHandler(ReadResourceRequestSchema, (request) => {
    const { uri } = request.params;
    const resource = manifest.resources.find((r) => r.uri === uri);
    if (resource === undefined) throw new McpError(RESOURCE_NOT_FOUND, `Resource not found: ${uri}`, { uri });
    const html = views.get(uri);
    if (html === undefined) {
      throw new McpError(
        ErrorCode.InternalError,
        `View ${uri} is not built: views are built from ${resource.source} when the platform bundles the server`,
      );
    }
    const content = { uri, mimeType: RESOURCE_MIME_TYPE, text: html };
    return { contents: [resource._meta ? { ...content, _meta: { ui: resource._meta.ui } } : content] };
  });
  server.setRequestHandler(InitializeRequestSchema, (request) => {
    const requested = request.params.protocolVersion;
    return {
      protocolVersion: SUPPORTED_PROTOCOL_VERSIONS.includes(requested) ? requested : LATEST_PROTOCOL_VERSION,
      capabilities: declaresUi(request.params.capabilities)
        ? { ...capabilities, extensions: { [EXTENSION_ID]: { mimeTypes: [RESOURCE_MIME_TYPE] } } }
        : capabilities,
      serverInfo: { name: manifest.name, version: manifest.version },
    };
  });
}
