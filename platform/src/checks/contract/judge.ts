import type { ValidateFunction } from 'ajv/dist/2020.js';
import type { Answer, ToolResult } from './call.ts';
import type { ContractCase } from './inputs.ts';

/** What went wrong with one answer: a rule id and what a reviewer reads. */
export interface Problem {
  rule:
    | 'contract-crash'
    | 'contract-hang'
    | 'contract-server-down'
    | 'contract-malformed'
    | 'contract-rejected-valid'
    | 'contract-accepted-invalid'
    | 'contract-output-schema'
    | 'contract-not-idempotent';
  message: string;
  fix: string;
}

/**
 * Messages V8 gives its own TypeError, RangeError and ReferenceError: a tool error that reads like one is a handler
 * that crashed on the input (a bug), not a tool error it meant to return.
 */
const ENGINE_ERRORS = [
  /^Cannot read propert(y|ies) of (undefined|null)/,
  /^Cannot set propert(y|ies) of (undefined|null)/,
  /^Cannot destructure /,
  /^Cannot convert undefined or null to object/,
  /\bis not a function\b/,
  /\bis not iterable\b/,
  /\bis not a constructor\b/,
  /^\S+ is not defined$/,
  /^Cannot access '[^']+' before initialization/,
  /^Maximum call stack size exceeded/,
  /^Invalid array length/,
  /^Invalid time value/,
  /^Do not know how to serialize a BigInt/,
  /^Converting circular structure to JSON/,
  /^Reduce of empty array with no initial value/,
];

/** The runtime's tool error for arguments its zod input refused (2025-11-25: a validation error is a tool error). */
const INPUT_REFUSED = /^Invalid arguments for tool \S+: /;

const TIMED_OUT = /^Tool "[^"]+" timed out after \d+ ms\.?$/;

/** The text of a tool error, first content item. */
export function errorText(result: ToolResult): string {
  const first = result.content[0] as { type?: unknown; text?: unknown } | undefined;
  return first?.type === 'text' && typeof first.text === 'string' ? first.text : '';
}

/**
 * Judges one answer to one generated input. Valid and edge inputs must come back as a result or a tool error;
 * invalid ones as the specification's validation error (a tool error, per 2025-11-25, or JSON-RPC Invalid params
 * -32602, as earlier versions had it). Neither may crash, hang or answer malformed; a structured result must match
 * the tool's outputSchema.
 */
export function judge(kase: ContractCase, answer: Answer, outputSchema?: ValidateFunction): Problem | undefined {
  const broken = transportProblem(answer);
  if (broken) return broken;
  if (answer.kind === 'error') {
    if (answer.code === -32602 && !/^Invalid tools\/call result/.test(answer.message)) {
      if (kase.kind === 'invalid') return undefined;
      return {
        rule: 'contract-rejected-valid',
        message: `rejected an input its inputSchema accepts: ${answer.message}`,
        fix: 'make the zod input of the tool agree with its inputSchema in mcp.json',
      };
    }
    if (answer.code === -32603) return crash(`answered JSON-RPC Internal error: ${answer.message}`);
    return {
      rule: 'contract-malformed',
      message: `answered JSON-RPC error ${answer.code} (${answer.message}) instead of a result or a tool error`,
      fix: 'return a result, or throw to return a tool error (isError: true)',
    };
  }
  if (answer.kind !== 'result') return undefined;
  const { result } = answer;
  if (result.isError) {
    const text = errorText(result);
    if (kase.kind !== 'invalid' && INPUT_REFUSED.test(text)) {
      return {
        rule: 'contract-rejected-valid',
        message: `rejected an input its inputSchema accepts: ${text}`,
        fix: 'make the zod input of the tool agree with its inputSchema in mcp.json',
      };
    }
    if (TIMED_OUT.test(text)) {
      return {
        rule: 'contract-hang',
        message: `ran until its timeout: ${text}`,
        fix: 'answer within limits.timeoutMs, for this input too (an input the tool cannot serve is a tool error)',
      };
    }
    if (ENGINE_ERRORS.some((re) => re.test(text))) return crash(`the handler crashed: ${text}`);
    return undefined;
  }
  if (kase.kind === 'invalid') {
    return {
      rule: 'contract-accepted-invalid',
      message: 'answered a result to an input its inputSchema rejects, instead of a validation error',
      fix: 'validate the input as mcp.json declares it (the zod input of the tool), so the caller learns what was wrong',
    };
  }
  if (outputSchema) {
    if (result.structuredContent === undefined) {
      return {
        rule: 'contract-output-schema',
        message: 'declares an outputSchema but returned no structuredContent',
        fix: 'return an object (it becomes structuredContent), or drop outputSchema from mcp.json',
      };
    }
    if (!outputSchema(result.structuredContent)) {
      const first = outputSchema.errors?.[0];
      const where = first?.instancePath || '(root)';
      return {
        rule: 'contract-output-schema',
        message: `structuredContent does not match its outputSchema: ${where} ${first?.message ?? 'is invalid'}`,
        fix: 'return what outputSchema in mcp.json declares, or correct the schema',
      };
    }
  }
  return undefined;
}

/** Answers that are wrong whatever the input: no answer, an HTTP error, a malformed message. */
function transportProblem(answer: Answer): Problem | undefined {
  switch (answer.kind) {
    case 'unreachable':
      return {
        rule: 'contract-server-down',
        message: `the server stopped answering: ${answer.detail}`,
        fix: 'the process exited or crashed on this input (an error thrown outside the handler, process.exit, running out of memory); answer every input with a result or a tool error',
      };
    case 'timeout':
      return {
        rule: 'contract-hang',
        message: `no answer within ${answer.ms / 1000} s`,
        fix: 'the handler blocked the event loop or never settled; answer within limits.timeoutMs',
      };
    case 'http':
      return answer.status >= 500
        ? crash(`answered HTTP ${answer.status}: ${answer.body}`)
        : {
            rule: 'contract-malformed',
            message: `answered HTTP ${answer.status}: ${answer.body}`,
            fix: 'answer tools/call with a JSON-RPC message',
          };
    case 'malformed':
      return {
        rule: 'contract-malformed',
        message: answer.detail,
        fix: 'return text, a JSON value or a CallToolResult ({ content: [...] }) from the handler',
      };
    default:
      return undefined;
  }
}

function crash(message: string): Problem {
  return {
    rule: 'contract-crash',
    message,
    fix: 'handle this input: return a result, or throw an Error that says what is wrong with it (a tool error)',
  };
}

/** Whether two answers to the same input agree (for readOnlyHint and idempotentHint tools). */
export function sameAnswer(a: Answer, b: Answer): boolean {
  return JSON.stringify(comparable(a)) === JSON.stringify(comparable(b));
}

function comparable(answer: Answer): unknown {
  if (answer.kind !== 'result') return answer.kind === 'error' ? { code: answer.code } : answer.kind;
  const { content, structuredContent, isError } = answer.result;
  return { content, structuredContent, isError: isError === true };
}
