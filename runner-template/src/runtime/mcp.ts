import type { IncomingMessage, ServerResponse } from 'node:http';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  type CallToolResult,
  ErrorCode,
  ListToolsRequestSchema,
  McpError,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import { ToolTimeoutError } from '../errors.ts';
import { formatPath, type Manifest } from '../spec.ts';
import { createEgressFetch } from './context.ts';
import type { Caller } from './credential.ts';
import { classify, readIncoming, sendError, sendResult } from './direct.ts';
import { createSocketFetch, type FetchHop } from './egress-socket.ts';
import type { Logger } from './log.ts';
import { normalizeResult, type ToolContext, type ToolDefinition, type ToolReturn } from './tool.ts';
import { type RequestTrace, traced } from './trace.ts';
import { returnsStructure, serveViews, toolMeta } from './views.ts';

/** Everything one MCP request needs; built once at start. */
export interface McpDeps {
  manifest: Manifest;
  tools: ReadonlyMap<string, ToolDefinition>;
  secret(name: string): string;
  redact(text: string): string;
  /** The platform's egress proxy socket (`BMMS_EGRESS_SOCKET`); without it ctx.fetch connects directly. */
  egressSocket?: string;
  /** One hop to the egress proxy that is not a socket path (the confined runtime's channel); wins over egressSocket. */
  egressHop?: FetchHop;
  /** Verifies the gateway's credential (`BMMS_GATEWAY_KEY` set): every call must carry one. */
  verifyCaller?: (authorization: string | undefined) => Caller;
  /**
   * True behind the platform's gateway, which keeps one log record of every call (tool, status, latency,
   * outcome): the instance then logs only the requests and tool calls that failed, not a second and third line
   * per call. Standalone (`npm start`), every request and call is logged.
   */
  gatewayRecordsCalls?: boolean;
  /**
   * Answer single `tools/call` and `tools/list` requests without the SDK's per-request Server (default true; see
   * direct.ts). False sends every request through the SDK: the reference the direct path is tested against.
   */
  direct?: boolean;
  /** The built HTML of each `ui://` view of the manifest, by URI (views.ts). */
  views?: ReadonlyMap<string, string>;
}

/** The `tools/list` answer: exactly the manifest's tools (MCP fields only). */
export function listedTools(manifest: Manifest): Tool[] {
  return manifest.tools.map((tool) => {
    const listed: Tool = { name: tool.name, description: tool.description, inputSchema: tool.inputSchema };
    if (tool.title !== undefined) listed.title = tool.title;
    if (tool.outputSchema !== undefined) listed.outputSchema = tool.outputSchema;
    if (tool.annotations !== undefined) listed.annotations = tool.annotations;
    const meta = toolMeta(tool);
    if (meta !== undefined) listed._meta = meta;
    return listed;
  });
}

function raceAbort(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

/** Where a tool error for invalid arguments carries the validation issues (path and message of each). */
export const INPUT_ISSUES_META = 'dev.bmms/input-issues';

/** Runs one tool call: validates the arguments, enforces the timeout, turns errors into `isError` results. */
export async function callTool(
  deps: McpDeps,
  log: Logger,
  name: string,
  args: Record<string, unknown> | undefined,
  caller?: Caller,
): Promise<CallToolResult> {
  const tool = deps.tools.get(name);
  if (tool === undefined) throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name}`);
  const spec = deps.manifest.tools.find((t) => t.name === name);
  const needed = spec?.scopes ?? [];
  const missing = caller ? needed.filter((s) => !caller.scopes.includes(s) && !caller.scopes.includes('*')) : [];
  if (missing.length > 0) {
    throw new McpError(ErrorCode.InvalidRequest, `Tool ${name} requires scope ${missing.join(' ')}`);
  }
  const prepared = tool.prepare(args);
  if (!prepared.ok) {
    // A tool error, not JSON-RPC -32602: the 2025-11-25 specification (SEP-1303) asks for input validation errors
    // as tool execution errors, so that the model sees what was wrong and calls again. The issues ride in _meta.
    const detail = prepared.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`).join('; ');
    log.child({ tool: name }).log('info', 'tool call refused: invalid arguments', { ok: false, error: detail });
    const issues = prepared.issues.map((issue) => ({
      path: issue.path.map((k) => (typeof k === 'symbol' ? String(k) : k)),
      message: issue.message,
    }));
    return {
      content: [{ type: 'text', text: `Invalid arguments for tool ${name}: ${detail}` }],
      isError: true,
      _meta: { [INPUT_ISSUES_META]: issues },
    };
  }
  const toolLog = log.child({ tool: name });
  const { timeoutMs } = deps.manifest.limits;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new ToolTimeoutError(name, timeoutMs)), timeoutMs);
  const ctx: ToolContext = {
    fetch: createEgressFetch(
      deps.manifest.egress,
      controller.signal,
      deps.egressHop ?? (deps.egressSocket ? createSocketFetch(deps.egressSocket) : fetch),
    ),
    secret: deps.secret,
    log: toolLog.log,
    signal: controller.signal,
  };
  const started = performance.now();
  try {
    const value: ToolReturn = await Promise.race([
      Promise.resolve().then(() => prepared.run(ctx)),
      raceAbort(controller.signal),
    ]);
    const result = normalizeResult(value, returnsStructure(spec));
    if (result.isError || !deps.gatewayRecordsCalls) {
      toolLog.log('info', 'tool call', { durationMs: Math.round(performance.now() - started), ok: !result.isError });
    }
    return result;
  } catch (error) {
    const message = deps.redact(error instanceof Error ? error.message : String(error));
    toolLog.log('error', 'tool call failed', {
      durationMs: Math.round(performance.now() - started),
      ok: false,
      error: message,
      code: (error as { code?: unknown }).code,
    });
    return { content: [{ type: 'text', text: message }], isError: true };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One JSON Schema validator for every request: the SDK builds a new Ajv instance per Server otherwise, which was
 * the largest share of a call's CPU time (the server validates no tool input with it; zod does that).
 */
const sharedValidator = new AjvJsonSchemaValidator();
/** The tools/list answer per manifest, built once. */
const listedByManifest = new WeakMap<Manifest, Tool[]>();

/** The `tools/list` answer of a manifest, built on first use. */
function toolsOf(manifest: Manifest): Tool[] {
  let tools = listedByManifest.get(manifest);
  if (!tools) {
    tools = listedTools(manifest);
    listedByManifest.set(manifest, tools);
  }
  return tools;
}

/**
 * Serves one stateless Streamable HTTP request: a single `tools/call` or `tools/list` directly (direct.ts), any
 * other with a fresh SDK Server and transport. With a `trace` (the gateway sent a traceparent) each tool call is a
 * span reported in the answer's spans header.
 */
export async function handleMcpRequest(
  deps: McpDeps,
  log: Logger,
  req: IncomingMessage,
  res: ServerResponse,
  caller?: Caller,
  trace?: RequestTrace,
): Promise<void> {
  let parsedBody: unknown;
  if (deps.direct !== false) {
    const incoming = await readIncoming(req, res);
    if (incoming?.answered) return;
    if (incoming) {
      parsedBody = incoming.body;
      const request = classify(req, incoming.body);
      if (request) {
        try {
          if (request.kind === 'list') {
            sendResult(res, request, { tools: toolsOf(deps.manifest) });
          } else {
            const call = () => callTool(deps, log, request.name, request.arguments, caller);
            sendResult(res, request, await (trace ? traced(trace, res, request.name, call) : call()));
          }
        } catch (error) {
          sendError(res, request, error);
        }
        return;
      }
    }
  }
  const capabilities = { tools: {} };
  const server = new Server(
    { name: deps.manifest.name, version: deps.manifest.version },
    { capabilities, jsonSchemaValidator: sharedValidator },
  );
  if (deps.manifest.resources.length > 0) serveViews(server, deps.manifest, deps.views ?? new Map(), capabilities);
  const listed = toolsOf(deps.manifest);
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: listed }));
  server.setRequestHandler(CallToolRequestSchema, (request) => {
    const call = () => callTool(deps, log, request.params.name, request.params.arguments, caller);
    return trace ? traced(trace, res, request.params.name, call) : call();
  });
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  // Closing the server closes its transport.
  res.on('close', () => void server.close());
  await server.connect(transport);
  await transport.handleRequest(req, res, parsedBody);
}
