// A stand-in for the platform's ToolContext, for tests that call tools in-process: fetch answers from
// `respond` and records every request, the egress allowlist of mcp.json is enforced as in production,
// secrets come from a fixed map.
import { readFileSync } from 'node:fs';
import { assertEgressAllowed, type ToolContext, type ToolDefinition } from '@bmms/runner-template/runtime';

/** One request a tool sent through ctx.fetch. */
export interface SentRequest {
  url: URL;
  method: string;
  headers: Headers;
  body: string;
}

export interface FakeContext extends ToolContext {
  /** Every request sent, in order. */
  requests: SentRequest[];
  /** Every log line written. */
  logs: { level: string; msg: string }[];
}

const manifest = JSON.parse(readFileSync(new URL('../mcp.json', import.meta.url), 'utf8')) as {
  secrets: string[];
  egress: string[];
};

/** A context whose fetch answers with `respond` (default: 404) and whose secrets are `secrets`. */
export function fakeContext(
  options: { secrets?: Record<string, string>; respond?: (request: SentRequest) => Response | Promise<Response> } = {},
): FakeContext {
  const requests: SentRequest[] = [];
  const logs: { level: string; msg: string }[] = [];
  return {
    requests,
    logs,
    signal: new AbortController().signal,
    async fetch(input, init) {
      const request = new Request(input, init);
      const url = new URL(request.url);
      assertEgressAllowed(url, manifest.egress);
      const sent = { url, method: request.method, headers: request.headers, body: await request.text() };
      requests.push(sent);
      return options.respond ? options.respond(sent) : new Response('not found', { status: 404 });
    },
    secret(name) {
      if (!manifest.secrets.includes(name)) throw new Error(`secret ${name} is not declared in mcp.json`);
      const value = options.secrets?.[name];
      if (value === undefined) throw new Error(`secret ${name} has no value in this test`);
      return value;
    },
    log(level, msg) {
      logs.push({ level, msg });
    },
  };
}

/** A JSON response. */
export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
}

/** Validates `args` as the platform would and runs the tool; throws on invalid arguments. */
export async function call(tool: ToolDefinition, args: unknown, ctx: ToolContext = fakeContext()): Promise<unknown> {
  const prepared = tool.prepare(args);
  if (!prepared.ok) throw new Error(`invalid arguments: ${prepared.issues.map((i) => i.message).join('; ')}`);
  return prepared.run(ctx);
}

/** Whether `args` are rejected by the tool's input schema. */
export function rejects(tool: ToolDefinition, args: unknown): boolean {
  return !tool.prepare(args).ok;
}

/** A tool result parsed as JSON (tools return JSON text or JSON values). */
export function parsed<T = Record<string, unknown>>(result: unknown): T {
  return (typeof result === 'string' ? JSON.parse(result) : result) as T;
}
