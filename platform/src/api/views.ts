import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Router } from 'express';
import { requirePermission } from '../accounts/roles.ts';
import { ApiError, badGateway, notFound, serverUnavailable } from '../errors.ts';
import { previewName } from '../previews.ts';
import { findChange } from '../services/changes.ts';
import { findServer } from '../services/servers.ts';
import { hostCsp, type ViewCsp } from '../views/host-csp.ts';
import { input } from './operation.ts';
import { ops } from './operations.ts';
import { numericPathParams, principalOf } from './request.ts';
import { socketFetch, type ToolsApiDeps, viewsOf } from './tools.ts';

/** The MIME type of an MCP Apps view. */
const UI_MIME_TYPE = 'text/html;profile=mcp-app';

/** How long reading a view from a preview may take. */
const READ_TIMEOUT_MS = 30_000;

/**
 * A change's views under /api/v1/servers/:name/changes/:number/views/:view: the HTML the preview serves for the
 * view (resources/read), as a document for a sandboxed iframe of the change review page, which plays MCP Apps host
 * for it. The document carries the CSP hosts build from the view's `_meta.ui.csp`, plus `sandbox allow-scripts`
 * (an opaque origin even if opened on its own: it never acts as the signed-in user) and `frame-ancestors 'self'`.
 */
export function viewsRouter(ctx: ToolsApiDeps): Router {
  const router = Router();
  numericPathParams(router);

  router.get('/servers/:name/changes/:number/views/:view', async (req, res) => {
    const { params } = input(req, ops.previewView);
    const p = principalOf(res);
    requirePermission(p, 'read');
    const server = await findServer(ctx, p, params.name);
    const change = await findChange(ctx, server, params.number);
    const uri = `ui://${server.name}/${params.view}`;
    const declared = viewsOf(await ctx.git.readFile(server.name, change.headSha, 'mcp.json'));
    if (!declared.some((v) => v.uri === uri)) {
      throw notFound(
        `view ${uri}`,
        `change #${change.number} declares ${declared.map((v) => v.uri).join(', ') || 'no view'}`,
      );
    }
    const lease = ctx.routes.acquire(previewName(server.name, change.number));
    if (!lease) {
      throw serverUnavailable(
        `the preview of change #${change.number} is not serving (it starts once the static checks passed)`,
        5,
      );
    }
    try {
      const credential = ctx.credentials.mint({
        server: server.name,
        sub: p.userId,
        scopes: p.scopes,
        client: p.apiKeyId ? `api-key:${p.apiKeyId}` : 'dashboard',
      });
      const view = await readView(lease.target.socketPath, credential, String(res.locals.requestId), uri);
      res.setHeader('Content-Type', 'text/html; charset=utf-8');
      res.setHeader('Content-Security-Policy', `${hostCsp(view.csp)}; sandbox allow-scripts; frame-ancestors 'self'`);
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Referrer-Policy', 'no-referrer');
      res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
      res.send(view.html);
    } finally {
      lease.release();
    }
  });

  return router;
}

/** resources/read of `uri` on an instance, as a client that declares the MCP Apps extension. */
async function readView(
  socketPath: string,
  credential: string,
  requestId: string,
  uri: string,
): Promise<{ html: string; csp: ViewCsp | undefined }> {
  const transport = new StreamableHTTPClientTransport(new URL('http://instance/mcp'), {
    fetch: socketFetch(socketPath),
    requestInit: { headers: { authorization: `Bearer ${credential}`, 'x-request-id': requestId } },
  });
  const client = new Client(
    { name: 'bmms-dashboard', version: '1.0.0' },
    { capabilities: { extensions: { 'io.modelcontextprotocol/ui': { mimeTypes: [UI_MIME_TYPE] } } } },
  );
  try {
    await client.connect(transport, { timeout: READ_TIMEOUT_MS });
    const read = await client.readResource({ uri }, { timeout: READ_TIMEOUT_MS });
    const content = read.contents.find((c) => c.uri === uri) ?? read.contents[0];
    if (!content || !('text' in content) || content.mimeType !== UI_MIME_TYPE) {
      throw badGateway(`resources/read of ${uri} did not answer ${UI_MIME_TYPE} text`);
    }
    const meta = content._meta as { ui?: { csp?: ViewCsp } } | undefined;
    return { html: content.text, csp: meta?.ui?.csp };
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw badGateway(`resources/read of ${uri}: ${(err as Error).message}`);
  } finally {
    await client.close().catch(() => {});
  }
}
