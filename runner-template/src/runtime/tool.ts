import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { LogFields, LogLevel } from './log.ts';

/** What a handler receives besides its input: the only sanctioned way out of the sandbox. */
export interface ToolContext {
  /** `fetch`, limited to the hosts in the manifest's `egress`; throws EgressDeniedError otherwise. */
  fetch(url: string | URL, init?: RequestInit): Promise<Response>;
  /** The value of a secret declared in the manifest's `secrets`. */
  secret(name: string): string;
  /** A structured log line tagged with the request id and tool name. */
  log(level: LogLevel, msg: string, fields?: LogFields): void;
  /** Aborted when the call exceeds `limits.timeoutMs`. */
  signal: AbortSignal;
}

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
/** A handler may return text, any JSON value (sent as JSON text) or a full MCP CallToolResult. */
// biome-ignore lint/suspicious/noConfusingVoidType: lets a handler that returns nothing type-check.
export type ToolReturn = string | JsonValue | CallToolResult | undefined | void;

/** Outcome of validating arguments: ready to run, or the zod issues. */
export type PreparedCall =
  | { ok: true; run(ctx: ToolContext): ToolReturn | Promise<ToolReturn> }
  | { ok: false; issues: z.core.$ZodIssue[] };

/** A tool implementation, as `src/tools/<tool>.ts` exports it by default. */
export interface ToolDefinition {
  readonly name: string;
  /** Validates raw `tools/call` arguments against the tool's zod schema. */
  prepare(args: unknown): PreparedCall;
}

/** Defines a tool: its name (as in mcp.json), a zod raw shape for its input and its handler. */
export function defineTool<Shape extends z.ZodRawShape>(def: {
  name: string;
  input: Shape;
  handler(input: z.output<z.ZodObject<Shape>>, ctx: ToolContext): ToolReturn | Promise<ToolReturn>;
}): ToolDefinition {
  const schema = z.object(def.input);
  return {
    name: def.name,
    prepare(args) {
      const result = schema.safeParse(args ?? {});
      if (!result.success) return { ok: false, issues: result.error.issues };
      return { ok: true, run: (ctx) => def.handler(result.data, ctx) };
    },
  };
}

function isCallToolResult(value: unknown): value is CallToolResult {
  return typeof value === 'object' && value !== null && Array.isArray((value as { content?: unknown }).content);
}

/**
 * Turns whatever a handler returned into a CallToolResult. With `structured` (the tool declares an output schema
 * or a view), a returned object is also the result's `structuredContent`: the view renders it, and a client
 * without views still reads the same data as JSON text.
 */
export function normalizeResult(value: ToolReturn, structured = false): CallToolResult {
  if (value === undefined) return { content: [] };
  if (typeof value === 'string') return { content: [{ type: 'text', text: value }] };
  if (isCallToolResult(value)) return value;
  const content: CallToolResult['content'] = [{ type: 'text', text: JSON.stringify(value) }];
  if (structured && typeof value === 'object' && value !== null && !Array.isArray(value)) {
    return { content, structuredContent: value };
  }
  return { content };
}
